/**
 * The HTTP app serving the fixture bank from a real Permify on PostgreSQL: what happens to requests when
 * Permify stops or hangs in the middle of a run, and that a revocation made through `clearance revoke` is
 * in force for the very next query.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ingestManifest } from "../../ingest/ingest.ts";
import { createMemoryAuditLog } from "../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import {
  createPermifyAuthorizer,
  type PermifyAuthorizer,
} from "../../src/adapters/permify/permify-authorizer.ts";
import { grantCommand } from "../../src/cli/grant-command.ts";
import { revokeCommand } from "../../src/cli/revoke-command.ts";
import { composeApp } from "../../src/composition.ts";
import type { App } from "../../src/http/app-env.ts";
import type { ChatModel } from "../../src/ports/chat-model.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { bankContainerModel } from "../helpers/container-models.ts";
import {
  describeWithPermify,
  type PermifyOnPostgres,
  startPermify,
  startPermifyOnPostgres,
} from "../helpers/permify.ts";
import { postJson } from "../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../helpers/test-identity.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TENANT = "t1";
/**
 * Deadlines for one Permify read: generous where the test is about what is answered (a loaded CI machine
 * must not turn a slow answer into a 503), short where it is about failing within the deadline.
 */
const READ_TIMEOUT_MS = 15_000;
const FAULT_READ_TIMEOUT_MS = 2_000;
const FAILURE_BOUND_MS = 3 * FAULT_READ_TIMEOUT_MS;
const RECOVERY_BOUND_MS = 20_000;
const REVOCATION_ROUNDS = 100;
/** Documents maria (a customer) cannot read, each with a query that finds it once she may. */
const GRANTABLE = [
  { document: "wealth-suitability-playbook", query: "investment suitability and best-interest playbook" },
  { document: "disputes-chargeback-reason-codes", query: "chargeback reason code guide" },
  { document: "teller-safe-deposit-boxes", query: "safe deposit box rental, access and drilling" },
  { document: "fraud-account-takeover", query: "account takeover response procedure" },
];

interface SearchBody {
  passages?: { chunkId: string; documentId: string }[];
  answer?: unknown;
  error?: { code: string };
}

describeWithPermify("serving the fixture bank from Permify on PostgreSQL", () => {
  let servers: PermifyOnPostgres;
  let authorizer: PermifyAuthorizer;
  let vectorStore: VectorStore;
  let app: App;
  let makeApp: (authorizer: PermifyAuthorizer) => App;
  let modelCalls = 0;
  let victor: string;
  /** The CLI's data directory: its audit trail (relationships go to Permify). */
  let cliDataDir: string;

  beforeAll(async () => {
    cliDataDir = await mkdtemp(path.join(tmpdir(), "clearance-permify-serving-"));
    servers = await startPermifyOnPostgres();
    authorizer = createPermifyAuthorizer({
      endpoint: servers.permify.endpoint,
      tenant: TENANT,
      timeouts: { readMs: READ_TIMEOUT_MS },
    });
    const embedder = createHashingEmbedder();
    vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
    const report = await ingestManifest({
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: path.join(repoRoot, "fixtures/manifest.yaml"),
      authorizer,
      vectorStore,
      embedder,
    });
    expect(report.failed).toBe(0);
    const answerer = createExtractiveAnswerer();
    const countingModel: ChatModel = {
      ...answerer,
      answer(request) {
        modelCalls += 1;
        return answerer.answer(request);
      },
    };
    makeApp = (servingAuthorizer) =>
      composeApp({
        retrieval: { containerModel: bankContainerModel() },
        authorizer: servingAuthorizer,
        vectorStore,
        embedder,
        chatModel: countingModel,
        auditLog: createMemoryAuditLog(),
        tokenVerifier: testTokenVerifier(),
        logger: pino({ level: process.env.SERVING_LOG_LEVEL ?? "silent" }),
        limits: { defaultK: 8, maxK: 50, queryMaxChars: 2_000 },
      }).app;
    app = makeApp(authorizer);
    victor = await signTestToken({ sub: "victor" });
  }, 120_000);

  afterAll(async () => {
    await authorizer?.close();
    await vectorStore?.close();
    await servers?.stop();
    if (cliDataDir) await rm(cliDataDir, { recursive: true, force: true });
  });

  const ask = async (route: "/v1/search" | "/v1/answer", token: string, query: string, via = app) => {
    const response = await postJson(via, route, { query }, token);
    return { status: response.status, body: (await response.json()) as SearchBody };
  };

  /** Both routes answer 503 quickly, with no passage, and never reach the model. */
  const expectUnavailable = async (via: App) => {
    for (const route of ["/v1/search", "/v1/answer"] as const) {
      const calls = modelCalls;
      const started = performance.now();
      const { status, body } = await ask(route, victor, "branch consolidation safe deposit box", via);
      expect(performance.now() - started, `${route} took too long`).toBeLessThan(FAILURE_BOUND_MS);
      expect(status).toBe(503);
      expect(body.error?.code).toBe("UPSTREAM_UNAVAILABLE");
      expect(body.passages).toBeUndefined();
      expect(body.answer).toBeUndefined();
      expect(modelCalls).toBe(calls);
    }
  };

  const waitUntilServing = async (expected: string[], via: App) => {
    const deadline = performance.now() + RECOVERY_BOUND_MS;
    for (;;) {
      const { status, body } = await ask("/v1/search", victor, "branch consolidation safe deposit box", via);
      if (status === 200) {
        expect(body.passages?.map((passage) => passage.chunkId)).toEqual(expected);
        return;
      }
      expect(status).toBe(503);
      if (performance.now() > deadline)
        throw new Error("requests did not succeed again after Permify came back");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  /**
   * Runs a CLI command the way an operator would, against the same Permify, and returns its output. A write
   * that Permify failed (a heavily loaded Permify on PostgreSQL sometimes answers SCAN or CANCELLED; the
   * command then exits 1 having written nothing) is run again, as an operator would.
   */
  const cli = async (command: typeof grantCommand, args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      const out: string[] = [];
      const code = await command.run(args, {
        io: { stdout: (line) => out.push(line), stderr: (line) => out.push(line) },
        env: {
          AUTHZ: "permify",
          PERMIFY_ENDPOINT: servers.permify.endpoint,
          PERMIFY_TENANT: TENANT,
          CLEARANCE_DATA_DIR: cliDataDir,
        },
      });
      if (code !== 0 && attempt < 5 && out.join("\n").includes("Permify failed")) {
        writesRetried += 1;
        continue;
      }
      expect(code, out.join("\n")).toBe(0);
      return out;
    }
  };
  let writesRetried = 0;

  it(`has a revocation through \`clearance revoke\` in force for the very next query (${REVOCATION_ROUNDS} rounds)`, async () => {
    const maria = await signTestToken({ sub: "maria" });
    let unavailable = 0;
    /**
     * The documents of maria's passages. A 503 (an upstream error, never a stale answer) is asked again, as
     * a client would: a heavily loaded Permify on PostgreSQL sometimes fails a lookup (CANCELLED, SCAN).
     */
    const documentsFound = async (query: string) => {
      for (let attempt = 1; ; attempt++) {
        const { status, body } = await ask("/v1/search", maria, query);
        if (status === 503 && attempt < 5) {
          unavailable += 1;
          continue;
        }
        expect(status, JSON.stringify(body)).toBe(200);
        return new Set(body.passages?.map((passage) => passage.documentId));
      }
    };
    for (const { document, query } of GRANTABLE)
      expect((await documentsFound(query)).has(document)).toBe(false);

    let staleReads = 0;
    let seenAfterGrant = 0;
    for (let round = 0; round < REVOCATION_ROUNDS; round++) {
      const { document, query } = GRANTABLE[round % GRANTABLE.length] as (typeof GRANTABLE)[number];
      const tuple = `document:${document}#viewer@user:maria`;
      expect((await cli(grantCommand, [tuple])).join("\n")).toContain("granted");
      if ((await documentsFound(query)).has(document)) seenAfterGrant += 1;
      expect((await cli(revokeCommand, [tuple])).join("\n")).toContain(`revoked ${tuple}`);
      if ((await documentsFound(query)).has(document)) staleReads += 1;
    }
    console.log(
      `revocation on PostgreSQL: ${REVOCATION_ROUNDS} rounds, ${staleReads} stale reads, ` +
        `${seenAfterGrant} grants visible to the next query, ${unavailable} queries asked again after a 503, ` +
        `${writesRetried} writes run again after Permify failed them`,
    );
    expect(staleReads).toBe(0);
    // The other direction: each grant was in force for the query right after it, so nothing is hidden wrongly.
    expect(seenAfterGrant).toBe(REVOCATION_ROUNDS);
  }, 120_000);

  it("reads at head: a read pinned to an older snap token would miss a later revocation", async () => {
    // Why the server never pins its reads to a stored token: on PostgreSQL, Permify evaluates a read *at*
    // the snapshot a token names, not at least as fresh as it.
    const check = {
      entity: { type: "document", id: "exec-branch-consolidation" },
      permission: "view",
      subject: { type: "user", id: "maria" },
    } as const;
    const writer = createPermifyAuthorizer({
      endpoint: servers.permify.endpoint,
      tenant: TENANT,
      readConsistency: "own-writes",
    });
    try {
      await writer.writeData({
        tuples: [{ entity: check.entity, relation: "viewer", subject: { type: "user", id: "maria" } }],
      });
      expect(await writer.check(check)).toBe(true);
      await cli(revokeCommand, ["document:exec-branch-consolidation#viewer@user:maria"]);
      expect(await writer.check(check), "pinned to the grant's snapshot").toBe(true);
      expect(await authorizer.check(check), "the server's head read").toBe(false);
    } finally {
      await writer.close();
    }
  });

  it("fails closed while Permify is stopped or hung, and serves again once it is back, without a restart", async () => {
    const before = await ask("/v1/search", victor, "branch consolidation safe deposit box");
    expect(before.status).toBe(200);
    const expected = before.body.passages?.map((passage) => passage.chunkId) ?? [];
    expect(expected.length).toBeGreaterThan(0);

    // A server whose deadline for Permify is short, so that the failures below come quickly.
    const faultAuthorizer = createPermifyAuthorizer({
      endpoint: servers.permify.endpoint,
      tenant: TENANT,
      timeouts: { readMs: FAULT_READ_TIMEOUT_MS },
    });
    const faultApp = makeApp(faultAuthorizer);
    try {
      // Hung: the port accepts connections but nothing answers, so only the deadline ends the call.
      servers.permify.pause();
      try {
        await expectUnavailable(faultApp);
      } finally {
        servers.permify.resume();
      }
      await waitUntilServing(expected, faultApp);

      // Stopped: connections are refused.
      const { ports } = servers.permify;
      await servers.permify.stop();
      await expectUnavailable(faultApp);
      const back = await startPermify({ engine: "postgres", databaseUri: servers.databaseUri }, { ports });
      try {
        await waitUntilServing(expected, faultApp);
        const answered = await ask("/v1/answer", victor, "branch consolidation safe deposit box", faultApp);
        expect(answered.status).toBe(200);
      } finally {
        await back.stop();
      }
    } finally {
      await faultAuthorizer.close();
    }
  }, 90_000);
});
