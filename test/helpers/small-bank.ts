/**
 * A small bank on the real embedded adapters, for HTTP tests that are about the request path rather than
 * the fixture corpus: a public help page, a customer's statement, a compliance policy with a legal-only
 * section, and a memo nobody but the VP may read.
 */
import { readFileSync } from "node:fs";
import { type Logger, pino } from "pino";
import { createMemoryAuditLog } from "../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import { createPrometheusMetrics } from "../../src/adapters/prometheus/prometheus-metrics.ts";
import { type AppDeps, composeApp } from "../../src/composition.ts";
import type { Chunk, ChunkMetadata } from "../../src/core/chunk.ts";
import { delegationData } from "../../src/core/delegation.ts";
import { parseTuple } from "../../src/core/permify-notation.ts";
import type { App } from "../../src/http/app-env.ts";
import { createMetricsApp } from "../../src/http/metrics-app.ts";
import type { RequestLimits } from "../../src/http/schemas.ts";
import type { AuditLog } from "../../src/ports/audit-log.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import type { ChatModel } from "../../src/ports/chat-model.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { bankContainerModel } from "./container-models.ts";
import { testTokenVerifier } from "./test-identity.ts";

const SCHEMA = readFileSync(new URL("../../fixtures/schema.perm", import.meta.url), "utf8");

const RELATIONSHIPS = [
  "team:customers#member@user:maria",
  "team:customers#member@user:tom",
  "team:legal#member@user:lena",
  "customer:cust-maria#holder@user:maria",
  "collection:help-center#viewer@team:customers#member",
  "collection:help-center#viewer@agent:support-assistant",
  "collection:compliance#viewer@user:lena",
  "collection:compliance#viewer@user:victor",
  "document:help-disputes#collection@collection:help-center",
  "document:maria-statement#customer@customer:cust-maria",
  "document:aml-policy#collection@collection:compliance",
  "section:aml-legal-hold#document@document:aml-policy",
  "section:aml-legal-hold#audience@team:legal#member",
  "document:exec-memo#owner@user:victor",
];

/** The users who delegated to `agent:support-assistant`. */
export const DELEGATING_USERS = ["maria", "tom", "lena", "victor"];

/**
 * Chunk metadata matching the relationships above, as ingest keeps it: each document's collection and
 * customer (the container pre-filter narrows by them). Documents without a collection relationship name
 * one nobody can view; the owners here hold no relationship and are never listed as containers.
 */
const METADATA: Record<string, ChunkMetadata> = {
  "help-disputes": { collection: "help-center", owner: "user:nadia" },
  "maria-statement": { collection: "statements", customer: "cust-maria", owner: "user:nadia" },
  "aml-policy": { collection: "compliance", owner: "user:lena" },
  "exec-memo": { collection: "memos", owner: "user:victor" },
};

type SmallChunk = Omit<Chunk, "ordinal" | "metadata">;

const CHUNKS: SmallChunk[] = [
  chunk(
    "help-disputes",
    undefined,
    "Disputing a card transaction",
    "To dispute a card transaction, call us within 60 days of the statement date. A provisional credit is posted within 10 business days.",
  ),
  chunk(
    "maria-statement",
    undefined,
    "Statement for Maria Lopez",
    "Your card transaction at Harbor Grocers on May 3 for 84.20 dollars is listed on this statement, together with the dispute you opened.",
  ),
  chunk(
    "aml-policy",
    undefined,
    "Anti-money-laundering policy",
    "Every card transaction above the reporting threshold is screened for money laundering before settlement.",
  ),
  chunk(
    "aml-policy",
    "aml-legal-hold",
    "Anti-money-laundering policy",
    "Legal hold: when a dispute becomes litigation, the legal team preserves every card transaction record and notifies the regulator.",
  ),
  chunk(
    "exec-memo",
    undefined,
    "Memo: dispute volumes",
    "Card transaction disputes rose 14 percent this quarter; the executive committee will review dispute staffing.",
  ),
];

function chunk(documentId: string, sectionId: string | undefined, title: string, text: string): SmallChunk {
  return {
    id: `${sectionId ?? documentId}:0`,
    resource: sectionId ? `section:${sectionId}` : `document:${documentId}`,
    documentId,
    ...(sectionId ? { sectionId } : {}),
    title,
    text,
  };
}

export interface SmallBank {
  readonly app: App;
  /** The metrics listener's app: the same series, served apart from `app` (as `clearance serve` does). */
  readonly metricsApp: App;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  /** Agent memory's own store. */
  readonly memoryStore: VectorStore;
  readonly auditLog: ReturnType<typeof createMemoryAuditLog>;
  /** How many times the chat model was asked. */
  readonly modelCalls: () => number;
}

export async function createSmallBank(
  options: {
    /** The authorizer the bank's schema and relationships are written to and served from (default: embedded). */
    backing?: Authorizer;
    /** Serves from this authorizer instead (e.g. a fault-injecting wrapper around `bank.authorizer`). */
    authorizer?: Authorizer;
    /** The vector store the bank's chunks are written to and served from (default: a new embedded one). */
    vectorBacking?: VectorStore;
    /** Serves from this vector store instead of the bank's embedded one (e.g. one whose upstream fails). */
    vectorStore?: VectorStore;
    chatModel?: ChatModel;
    /** Replaces the memory audit log in the app (e.g. one that fails); `auditLog` then stays empty. */
    failingAuditLog?: AuditLog;
    limits?: Partial<RequestLimits>;
    /** Replaces the silent logger (e.g. one that keeps the lines, to read the request log). */
    logger?: Logger;
    /** The retrieval engine's options (default: adaptive). */
    retrieval?: AppDeps["retrieval"];
    /** Browser clients: allowed origins and the web surface (default: none). */
    corsAllowedOrigins?: AppDeps["corsAllowedOrigins"];
    web?: AppDeps["web"];
    /** Wall-clock milliseconds for delegation expiry (default `Date.now`). */
    clock?: () => number;
    /** Verifies tokens instead of the fixed-clock test verifier (e.g. one on a real identity provider). */
    tokenVerifier?: AppDeps["tokenVerifier"];
    /** The OAuth protected resource the app presents (default: none configured). */
    protectedResource?: AppDeps["protectedResource"];
  } = {},
): Promise<SmallBank> {
  const embedder = createHashingEmbedder();
  const authorizer = options.backing ?? (await createEmbeddedAuthorizer());
  await authorizer.writeSchema(SCHEMA);
  await authorizer.writeData({ tuples: RELATIONSHIPS.map(parseTuple) });
  // Each user consented to the support assistant acting for them (issue 16).
  for (const user of DELEGATING_USERS) await authorizer.writeData(delegationData(user, "support-assistant"));
  const vectorStore =
    options.vectorBacking ?? (await createEmbeddedVectorStore({ dimensions: embedder.dimensions }));
  const vectors = await embedder.embedDocuments(CHUNKS.map((c) => c.text));
  const byDocument = new Map<string, (Chunk & { vector: Float32Array })[]>();
  CHUNKS.forEach((c, index) => {
    const list = byDocument.get(c.documentId) ?? [];
    list.push({
      ...c,
      ordinal: list.length,
      metadata: METADATA[c.documentId] as ChunkMetadata,
      vector: vectors[index] as Float32Array,
    });
    byDocument.set(c.documentId, list);
  });
  for (const [documentId, chunks] of byDocument) await vectorStore.replaceDocument(documentId, chunks);

  const answerer = options.chatModel ?? createExtractiveAnswerer();
  let calls = 0;
  const countingModel: ChatModel = {
    model: answerer.model,
    answer(request) {
      calls += 1;
      return answerer.answer(request);
    },
    ...(answerer.streamAnswer === undefined
      ? {}
      : {
          streamAnswer: (request) => {
            calls += 1;
            return (answerer.streamAnswer as NonNullable<ChatModel["streamAnswer"]>)(request);
          },
        }),
    probe: () => answerer.probe(),
  };
  const auditLog = createMemoryAuditLog();
  const metrics = createPrometheusMetrics();
  const memoryStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  const { app } = composeApp({
    memoryStore,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    metrics,
    authorizer: options.authorizer ?? authorizer,
    vectorStore: options.vectorStore ?? vectorStore,
    embedder,
    chatModel: countingModel,
    auditLog: options.failingAuditLog ?? auditLog,
    tokenVerifier: options.tokenVerifier ?? testTokenVerifier(),
    logger: options.logger ?? pino({ level: "silent" }),
    retrieval: { containerModel: bankContainerModel(), ...options.retrieval },
    limits: { defaultK: 5, maxK: 20, queryMaxChars: 500, ...options.limits },
    ...(options.corsAllowedOrigins ? { corsAllowedOrigins: options.corsAllowedOrigins } : {}),
    ...(options.web ? { web: options.web } : {}),
    ...(options.protectedResource ? { protectedResource: options.protectedResource } : {}),
  });
  return {
    app,
    metricsApp: createMetricsApp(metrics),
    authorizer,
    vectorStore,
    memoryStore,
    auditLog,
    modelCalls: () => calls,
  };
}

/** `app.request` for a JSON POST with a bearer token. */
export function postJson(app: App, path: string, body: unknown, token?: string): Promise<Response> {
  return Promise.resolve(
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}
