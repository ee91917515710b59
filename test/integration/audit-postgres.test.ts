/**
 * The PostgreSQL audit trail on a real cluster (test/helpers/postgres-server.ts): the role clearance uses
 * has INSERT and SELECT only; the tamper table; two servers writing one chain under load; PostgreSQL
 * unreachable gives 503 with no passage and no model call, and the same app recovers.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createPostgresAuditTrail,
  initAuditSchema,
} from "../../src/adapters/postgres/postgres-audit-trail.ts";
import { composeApp } from "../../src/composition.ts";
import { canonicalJson, verifyTrail } from "../../src/core/audit-chain.ts";
import { main } from "../../src/main.ts";
import type { AuditTrail, ChainedAuditRecord } from "../../src/ports/audit-log.ts";
import { sampleRecord, TAMPERINGS } from "../helpers/audit-tampering.ts";
import {
  findPostgresBinDir,
  type PostgresServer,
  startPostgres,
  uniqueDatabaseName,
} from "../helpers/postgres-server.ts";
import { createSmallBank, postJson } from "../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../helpers/test-identity.ts";

const available = findPostgresBinDir() !== undefined;
if (!available && process.env.CI)
  throw new Error("PostgreSQL is required under CI (apt-get install postgresql)");
if (!available)
  console.warn("\n*** PostgreSQL not found: the PostgreSQL audit trail tests are SKIPPED ***\n");

const ROLE = "clearance_audit";
const { privateKey } = generateKeyPairSync("ed25519");
/** The load test's length: 30 s by hand (the figure in bench/results/audit.md), shorter under CI. */
const LOAD_SECONDS = Number(process.env.AUDIT_LOAD_SECONDS ?? (process.env.CI ? 8 : 30));
const TWO_DAYS_AGO = new Date(Date.now() - 2 * 86_400_000);

let server: PostgresServer;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  if (!available) return;
  server = await startPostgres();
  dir = await mkdtemp(path.join(tmpdir(), "clearance-audit-pg-"));
  keyFile = path.join(dir, "checkpoint.pem");
  await writeFile(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  const admin = new pg.Client({ connectionString: server.uri("postgres") });
  await admin.connect();
  await admin.query(`CREATE ROLE ${ROLE} LOGIN`);
  await admin.end();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A database with the audit tables, created by the owner; clearance's URL connects as the restricted role. */
async function auditDatabase(): Promise<{ url: string; ownerUrl: string }> {
  const name = uniqueDatabaseName("audit");
  const ownerUrl = await server.createDatabase(name);
  await initAuditSchema({ connectionString: ownerUrl, grantTo: ROLE });
  return { url: ownerUrl.replace("postgres@", `${ROLE}@`), ownerUrl };
}

async function asOwner<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function verifyCli(url: string): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await main(["audit", "verify"], {
    io: { stdout: (line) => out.push(line), stderr: (line) => out.push(line) },
    env: {
      CLEARANCE_DATA_DIR: dir,
      AUDIT: "postgres",
      AUDIT_DATABASE_URL: url,
      AUDIT_CHECKPOINT_KEY_FILE: keyFile,
    },
  });
  return { code, out: out.join("\n") };
}

describe.skipIf(!available)("the PostgreSQL audit trail", () => {
  it("writes with INSERT and SELECT only; no one updates or deletes, not even the owner; an untouched trail verifies", async () => {
    const { url, ownerUrl } = await auditDatabase();
    const trail = await createPostgresAuditTrail({ connectionString: url, checkpointKey: privateKey });
    await Promise.all(Array.from({ length: 25 }, (_, i) => trail.record(sampleRecord(i, new Date()))));
    await trail.close();
    await asOwner(url, async (client) => {
      await expect(client.query("UPDATE clearance_audit_records SET user_id = 'x'")).rejects.toThrow(
        /permission denied/,
      );
      await expect(client.query("DELETE FROM clearance_audit_records")).rejects.toThrow(/permission denied/);
    });
    await asOwner(ownerUrl, async (client) => {
      await expect(client.query("DELETE FROM clearance_audit_records")).rejects.toThrow(/append-only/);
      await expect(client.query("TRUNCATE clearance_audit_records")).rejects.toThrow(/append-only/);
    });
    const { code, out } = await verifyCli(url);
    expect(out).toContain("verified: 25 records (seq 1 to 25)");
    expect(code).toBe(0);
  });

  for (const tampering of TAMPERINGS) {
    it(`audit verify catches ${tampering.name}, names the record and exits 1`, async () => {
      const { url, ownerUrl } = await auditDatabase();
      const trail = await createPostgresAuditTrail({ connectionString: url, checkpointKey: privateKey });
      for (let i = 0; i < 12; i++) {
        await trail.record(sampleRecord(i, tampering.dropCheckpoints ? TWO_DAYS_AGO : new Date()));
      }
      await trail.close();
      // The owner switches the trigger off, as a database administrator could.
      await asOwner(ownerUrl, async (client) => {
        const rows = await client.query<{ entry: string }>(
          "SELECT entry FROM clearance_audit_records ORDER BY seq",
        );
        const records = rows.rows.map((row) => JSON.parse(row.entry) as ChainedAuditRecord);
        const altered = tampering.alter(records);
        await client.query("ALTER TABLE clearance_audit_records DISABLE TRIGGER USER");
        await client.query("ALTER TABLE clearance_audit_checkpoints DISABLE TRIGGER USER");
        await client.query("DELETE FROM clearance_audit_records");
        if (tampering.dropCheckpoints) await client.query("DELETE FROM clearance_audit_checkpoints");
        for (const [index, record] of altered.entries()) {
          await client.query(
            "INSERT INTO clearance_audit_records (seq, time, user_id, agent_ids, surface, action, outcome, resources, hash, entry) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
              index + 1,
              record.time,
              record.userId,
              record.agentIds,
              record.surface,
              record.action,
              record.outcome.status,
              [],
              record.hash,
              canonicalJson(record),
            ],
          );
        }
        const { code, out } = await verifyCli(url);
        expect(out).toMatch(tampering.says);
        expect(out).toMatch(new RegExp(`seq ${tampering.names(records)}\\b`));
        expect(code).toBe(1);
      });
    });
  }

  it(
    `two servers, 2 × 50 clients for ${LOAD_SECONDS} s: every answered request has exactly one record, and the chain verifies`,
    async () => {
      const { url } = await auditDatabase();
      const bank = await createSmallBank();
      const servers: { app: ReturnType<typeof composeApp>["app"]; trail: AuditTrail }[] = [];
      for (let i = 0; i < 2; i++) {
        // Each server has its own pool, as two processes would; the chain is shared through the database.
        const trail = await createPostgresAuditTrail({
          connectionString: url,
          checkpointKey: privateKey,
          checkpointIntervalMs: 1_000,
        });
        const { app } = composeApp({
          authorizer: bank.authorizer,
          vectorStore: bank.vectorStore,
          embedder: (await import("../../src/adapters/offline/hashing-embedder.ts")).createHashingEmbedder(),
          chatModel: (
            await import("../../src/adapters/offline/extractive-answerer.ts")
          ).createExtractiveAnswerer(),
          auditLog: trail,
          tokenVerifier: testTokenVerifier(),
          logger: pino({ level: "silent" }),
          limits: { defaultK: 5, maxK: 20, queryMaxChars: 500 },
        });
        servers.push({ app, trail });
      }
      const token = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
      const answered: string[] = [];
      let failed = 0;
      const deadline = Date.now() + LOAD_SECONDS * 1_000;
      await Promise.all(
        servers.flatMap(({ app }) =>
          Array.from({ length: 50 }, async (_, client) => {
            for (let i = 0; Date.now() < deadline; i++) {
              const response = await postJson(
                app,
                "/v1/search",
                { query: `dispute ${client} ${i}`, k: 3 },
                token,
              );
              if (response.status === 200) answered.push(response.headers.get("x-request-id") as string);
              else failed += 1;
            }
          }),
        ),
      );
      await Promise.all(servers.map(({ trail }) => trail.close()));
      expect(failed).toBe(0);
      const reader = await createPostgresAuditTrail({ connectionString: url, readOnly: true });
      try {
        const ids = new Map<string, number>();
        for await (const item of reader.scan()) {
          if (item.kind === "record")
            ids.set(item.record.requestId, (ids.get(item.record.requestId) ?? 0) + 1);
        }
        expect(ids.size).toBe(answered.length);
        for (const id of answered) expect(ids.get(id), id).toBe(1);
        const report = await verifyTrail(reader, { key: privateKey });
        expect(report.problem).toBeUndefined();
        expect(report.records).toBe(answered.length);
        console.info(
          `audit load: ${answered.length} requests in ${LOAD_SECONDS} s on two servers, one chain`,
        );
      } finally {
        await reader.close();
      }
    },
    (LOAD_SECONDS + 60) * 1_000,
  );

  it("PostgreSQL unreachable: 503 with no passage and no model call; the same app serves again once it is back", async () => {
    const { url, ownerUrl } = await auditDatabase();
    const trail = await createPostgresAuditTrail({ connectionString: url, timeoutMs: 1_000 });
    const bank = await createSmallBank({ failingAuditLog: trail });
    const token = await signTestToken({ sub: "maria" });
    expect((await postJson(bank.app, "/v1/answer", { query: "dispute" }, token)).status).toBe(200);
    const calls = bank.modelCalls();
    // The role can no longer log in, and its connections are cut: to clearance, the server is gone.
    await asOwner(ownerUrl, async (client) => {
      await client.query(`ALTER ROLE ${ROLE} NOLOGIN`);
      await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [ROLE]);
    });
    try {
      for (const route of ["/v1/answer", "/v1/search"]) {
        const response = await postJson(bank.app, route, { query: "dispute" }, token);
        expect(response.status).toBe(503);
        const body = (await response.json()) as Record<string, unknown> & { error: { code: string } };
        expect(Object.keys(body)).toEqual(["error"]);
        expect(body.error.code).toBe("UPSTREAM_UNAVAILABLE");
      }
      expect(bank.modelCalls()).toBe(calls);
    } finally {
      await asOwner(ownerUrl, (client) => client.query(`ALTER ROLE ${ROLE} LOGIN`));
    }
    const again = await postJson(bank.app, "/v1/answer", { query: "dispute" }, token);
    expect(again.status).toBe(200);
    await trail.close();
    expect((await verifyCli(url)).code).toBe(0);
  });
});
