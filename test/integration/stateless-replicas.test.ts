/**
 * Two clearance replicas, each opened from its own configuration the way `clearance serve` opens one
 * (AUTHZ=permify, VECTORS=qdrant, a data directory of its own), sharing one Permify on PostgreSQL (one
 * tenant) and one Qdrant collection. What one replica writes is in force on the other for its very next
 * request: an ingest is searchable, a grant is visible, a revocation withholds. The reader's local state
 * is warmed first (its per-principal estimates, its cached store size, its learned costs), so that a
 * decision served from it would show: nothing a replica keeps may answer for Permify's head.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ingestManifest } from "../../ingest/ingest.ts";
import { createMemoryAuditLog } from "../../src/adapters/audit/memory-audit-trail.ts";
import { composeApp, containerModelFor, openRuntime, type Runtime } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import { exactTupleFilter } from "../../src/core/authz-model.ts";
import { formatTuple, parseTuple } from "../../src/core/permify-notation.ts";
import type { App } from "../../src/http/app-env.ts";
import { describeWithPermify, type PermifyOnPostgres, startPermifyOnPostgres } from "../helpers/permify.ts";
import { postJson } from "../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../helpers/test-identity.ts";
import { describeWithQdrant, dropQdrantCollection, uniqueCollection } from "../helpers/vector-stores.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TENANT = "t1";
/** Documents maria (a customer) cannot read, each with a query that finds it once she may. */
const GRANTABLE = [
  { document: "wealth-suitability-playbook", query: "investment suitability and best-interest playbook" },
  { document: "disputes-chargeback-reason-codes", query: "chargeback reason code guide" },
  { document: "teller-safe-deposit-boxes", query: "safe deposit box rental, access and drilling" },
  { document: "fraud-account-takeover", query: "account takeover response procedure" },
];
/** Each grant and revocation is written through one replica and read through the other, both ways. */
const ROUNDS = 8;
/** Requests the reading replica makes between a grant and its revocation: its estimates learn the grant. */
const WARM_REQUESTS = 3;

interface Replica {
  readonly name: "A" | "B";
  readonly runtime: Runtime;
  readonly app: App;
  readonly dataDir: string;
}

interface SearchBody {
  passages?: { chunkId: string; documentId: string }[];
  error?: { code: string };
}

describeWithQdrant("stateless replicas", (qdrantUrl) => {
  describeWithPermify("two clearance replicas on one Permify (PostgreSQL) and one Qdrant", () => {
    let servers: PermifyOnPostgres;
    let collection: string;
    const replicas: Replica[] = [];
    let maria: string;
    let victor: string;
    const log = (message: string) => console.log(`[replicas] ${message}`);

    beforeAll(async () => {
      servers = await startPermifyOnPostgres();
      collection = uniqueCollection("replicas");
      for (const name of ["A", "B"] as const) {
        const dataDir = mkdtempSync(path.join(tmpdir(), `clearance-replica-${name}-`));
        const config = loadConfig({
          CLEARANCE_DATA_DIR: dataDir,
          AUTHZ: "permify",
          PERMIFY_ENDPOINT: servers.permify.endpoint,
          PERMIFY_TENANT: TENANT,
          PERMIFY_TIMEOUT_MS: "15000",
          AUTHZ_SCHEMA_FILE: path.join(repoRoot, "fixtures/schema.perm"),
          VECTORS: "qdrant",
          QDRANT_URL: qdrantUrl,
          QDRANT_API_KEY: process.env.QDRANT_API_KEY || undefined,
          QDRANT_COLLECTION: collection,
        });
        // The server's own runtime: Permify read at head, the configured Qdrant collection.
        const runtime = await openRuntime(config);
        // `clearance schema push`, once, before either replica serves.
        if (name === "A")
          await runtime.authorizer.writeSchema(await readFile(config.authz.schemaFile, "utf8"));
        const containers = await containerModelFor(runtime);
        const { app } = composeApp({
          authorizer: runtime.authorizer,
          vectorStore: runtime.vectorStore,
          embedder: runtime.embedder,
          chatModel: runtime.chatModel,
          auditLog: createMemoryAuditLog(),
          tokenVerifier: testTokenVerifier(),
          logger: pino({ level: process.env.SERVING_LOG_LEVEL ?? "silent" }),
          limits: config.retrieval,
          retrieval: {
            strategy: config.retrieval.strategy,
            budget: config.retrieval.scanBudget,
            containerModel: containers.model,
          },
        });
        replicas.push({ name, runtime, app, dataDir });
      }
      maria = await signTestToken({ sub: "maria" });
      victor = await signTestToken({ sub: "victor" });
    }, 120_000);

    afterAll(async () => {
      await Promise.allSettled(replicas.map((replica) => replica.runtime.close()));
      for (const replica of replicas) rmSync(replica.dataDir, { recursive: true, force: true });
      await servers?.stop();
      if (collection !== undefined) await dropQdrantCollection(qdrantUrl, collection);
    });

    const replica = (name: "A" | "B") => replicas.find((r) => r.name === name) as Replica;

    let unavailable = 0;

    /**
     * The passages of a search. A 503 (an upstream error, never a stale answer) is asked again, as a
     * client would: a loaded Permify on PostgreSQL sometimes fails a lookup (CANCELLED, SCAN).
     */
    async function search(via: Replica, token: string, query: string) {
      for (let attempt = 1; ; attempt++) {
        const response = await postJson(via.app, "/v1/search", { query }, token);
        const body = (await response.json()) as SearchBody;
        if (response.status === 503 && attempt < 5) {
          unavailable++;
          continue;
        }
        expect(response.status, JSON.stringify(body)).toBe(200);
        return body.passages ?? [];
      }
    }

    it("finds through one replica what was ingested through the other, on its very next request", async () => {
      const asks = [
        { token: victor, query: "branch consolidation plan" },
        { token: maria, query: "How do I dispute a debit card transaction I don't recognize?" },
        { token: victor, query: "safe deposit box rental, access and drilling" },
      ];
      // B has looked before: an empty store, cached as empty, estimates of nothing readable.
      for (const ask of asks) {
        for (let i = 0; i < WARM_REQUESTS; i++)
          expect(await search(replica("B"), ask.token, ask.query)).toEqual([]);
      }
      const a = replica("A").runtime;
      const report = await ingestManifest({
        // The operator loads the fixture bank: its relationships file writes teams and collections too.
        schemaChange: { allow: true },
        relationshipScope: "any",
        manifestPath: path.join(repoRoot, "fixtures/manifest.yaml"),
        authorizer: a.authorizer,
        vectorStore: a.vectorStore,
        embedder: a.embedder,
      });
      expect(report.failed).toBe(0);
      log(`ingested ${report.documents.length} documents through replica A`);
      for (const ask of asks) {
        const throughB = await search(replica("B"), ask.token, ask.query);
        const throughA = await search(replica("A"), ask.token, ask.query);
        log(
          `replica B's next request for "${ask.query}": ${throughB.length} passages (replica A: ${throughA.length})`,
        );
        expect(throughB.length).toBeGreaterThan(0);
        expect(throughB).toEqual(throughA);
      }
    }, 120_000);

    it(`has a grant or revocation through either replica in force on the other's next request (${ROUNDS} rounds)`, async () => {
      const documentsFound = async (via: Replica, query: string) =>
        new Set((await search(via, maria, query)).map((passage) => passage.documentId));
      for (const { document, query } of GRANTABLE) {
        for (const via of replicas) expect((await documentsFound(via, query)).has(document)).toBe(false);
      }
      let staleReads = 0;
      let grantsSeen = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const { document, query } = GRANTABLE[round % GRANTABLE.length] as (typeof GRANTABLE)[number];
        const writer = replica(round % 2 === 0 ? "A" : "B");
        const reader = replica(round % 2 === 0 ? "B" : "A");
        const tuple = parseTuple(`document:${document}#viewer@user:maria`);

        await writer.runtime.authorizer.writeData({ tuples: [tuple] });
        const afterGrant = await documentsFound(reader, query);
        if (afterGrant.has(document)) grantsSeen++;
        // The reader learns the grant: its estimates for maria now count this document as readable.
        for (let i = 0; i < WARM_REQUESTS; i++)
          expect((await documentsFound(reader, query)).has(document)).toBe(true);

        const { snapToken } = await writer.runtime.authorizer.deleteData({ tuples: exactTupleFilter(tuple) });
        const afterRevoke = await documentsFound(reader, query);
        const stale = afterRevoke.has(document);
        if (stale) staleReads++;
        log(
          `round ${round + 1}: revoked ${formatTuple(tuple)} through replica ${writer.name} (snap token ${snapToken}); ` +
            `replica ${reader.name}'s next request ${stale ? "STILL RETURNED" : "withheld"} ${document}`,
        );
        expect((await documentsFound(writer, query)).has(document)).toBe(false);
      }
      log(
        `${ROUNDS} rounds: ${grantsSeen} grants in force on the other replica's next request, ${staleReads} stale reads, ` +
          `${unavailable} requests asked again after a 503`,
      );
      expect(staleReads).toBe(0);
      expect(grantsSeen).toBe(ROUNDS);
    }, 180_000);
  });
});
