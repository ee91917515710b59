/**
 * End-to-end retrieval benchmark: `POST /v1/search` through the real app (JWT verification, validation,
 * retrieval, audit, JSON response) on the embedded adapters, for principals who may read about 1%, 10% and
 * 100% of a synthetic bank corpus, against the same app with authorization taken out.
 *
 *   npm run bench:e2e -- [--quick] [--seed N]
 *
 * The corpus (e2e-corpus.ts) is 5,000 documents of 20 chunks (100,000 chunks; `--quick`: 500 documents,
 * 10,000 chunks) under the bank schema (fixtures/schema.perm): a forest of collections with owners, team,
 * user and agent viewers; teams, some nested; customer documents; and one document in ten with a section
 * narrower than the document (its last five chunks, readable only by an audience team). Chunk text is
 * drawn from banking topic vocabularies (one topic per collection) and embedded with the hashing embedder
 * (384 dimensions), so queries rank chunks by shared words, as they would in the demo.
 *
 * Cases run interleaved, one request each per round in a shuffled order, so machine noise hits all alike.
 * Every round also makes one unrelated write to the authorizer and then runs each authorized case once
 * more: those "after a write" samples cannot reuse a list the authorizer computed before, so they show
 * the cost of authorization when the data has just changed. Every response is checked against the
 * benchmarks' reference of who may read what (bank-reference.ts); a passage outside it stops the benchmark. Timing aims
 * are reported, never enforced.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { pino } from "pino";
import { createMemoryAuditLog } from "../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { composeApp } from "../src/composition.ts";
import type { EmbeddedChunk } from "../src/core/chunk.ts";
import { delegationData } from "../src/core/delegation.ts";
import type { Principal } from "../src/core/principal.ts";
import type { RetrievalPorts, RetrievalRequest, RetrievalResult } from "../src/core/retrieval.ts";
import type { App } from "../src/http/app-env.ts";
import { createTokenVerifier } from "../src/http/token-verifier.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { Embedder } from "../src/ports/embedder.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import { seededRandom, shuffle } from "./authz-graph.ts";
import { bankReference } from "./bank-reference.ts";
import { machine, percentile, writeResults } from "./bench-support.ts";
import {
  type ChunkData,
  type Corpus,
  corpusTuples,
  type DocumentData,
  FULL_CORPUS,
  generateCorpus,
  QUICK_CORPUS,
  SECTION_CHUNKS,
} from "./e2e-corpus.ts";
import { count, fmt, markdownTable, textTable } from "./tables.ts";

const AIM_RATIO = 1.5;
const K = 10;
const DIMENSIONS = 384;
const WRITE_BATCH = 1_000;
const ISSUER = "https://id.bench.example";
const AUDIENCE = "clearance";
const SCHEMA = readFileSync(new URL("../fixtures/schema.perm", import.meta.url), "utf8");

// ---------------------------------------------------------------------------------------------------------
// The apps

export interface Bench {
  readonly corpus: Corpus;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  /** The real app. */
  readonly authorized: App;
  /** The same app and adapters with a retrieval that searches every chunk: the baseline. */
  readonly unauthorized: App;
  /** A bearer token per probe, in `corpus.probes` order. */
  readonly tokens: readonly string[];
  /** Per probe: the reference resources and how many chunks they hold. */
  readonly references: readonly { readonly resources: Set<string>; readonly chunks: number }[];
  readonly setup: {
    readonly tuples: number;
    readonly loadMs: number;
    readonly embedMs: number;
    readonly ingestMs: number;
  };
  /** An unrelated write, so that no lookup list computed before it can be reused. */
  touch(): Promise<void>;
}

/**
 * The baseline: everything the real retrieval does except authorization, so that the difference between
 * the two apps is exactly the cost of listing the readable resources and searching only inside them.
 */
async function retrieveUnauthorized(
  deps: RetrievalPorts,
  request: RetrievalRequest,
): Promise<RetrievalResult> {
  const started = performance.now();
  const vector = await deps.embedder.embedQuery(request.query);
  const embedMs = performance.now() - started;
  const searchStarted = performance.now();
  const found = await deps.vectorStore.search({ vector, k: request.k });
  const searchMs = performance.now() - searchStarted;
  return {
    passages: found,
    stats: {
      strategy: "pre-filter",
      chosenBy: "configuration",
      finishedWith: "pre-filter",
      candidates: found.length,
      authzCalls: 0,
      authzRounds: 0,
      withheld: 0,
      returned: found.length,
      timingsMs: { authorize: 0, embed: embedMs, search: searchMs, total: performance.now() - started },
    },
  };
}

export async function setUpBench(corpus: Corpus): Promise<Bench> {
  const authorizer = await createEmbeddedAuthorizer();
  await authorizer.writeSchema(SCHEMA);
  const tuples = corpusTuples(corpus);
  const loadStarted = performance.now();
  for (let i = 0; i < tuples.length; i += WRITE_BATCH) {
    await authorizer.writeData({ tuples: tuples.slice(i, i + WRITE_BATCH) });
  }
  // Every agent a probe names acts with its user's consent (a delegation without expiry).
  for (const { principal } of corpus.probes) {
    for (const agentId of principal.agentIds) {
      await authorizer.writeData(delegationData(principal.userId, agentId));
    }
  }
  const loadMs = performance.now() - loadStarted;

  const embedder = createHashingEmbedder({ dimensions: DIMENSIONS });
  const vectorStore = await createEmbeddedVectorStore({
    dimensions: embedder.dimensions,
    model: embedder.model,
  });
  const documentsById = new Map(corpus.documents.map((d) => [d.id, d]));
  let embedMs = 0;
  let ingestMs = 0;
  const perDocument = corpus.shape.chunksPerDocument;
  for (let start = 0; start < corpus.chunks.length; start += perDocument) {
    const slice = corpus.chunks.slice(start, start + perDocument);
    const embedStarted = performance.now();
    const vectors = await embedder.embedDocuments(slice.map((c) => c.text));
    embedMs += performance.now() - embedStarted;
    const first = slice[0] as ChunkData;
    const doc = documentsById.get(first.documentId) as DocumentData;
    const embedded: EmbeddedChunk[] = slice.map((c, i) => ({
      ...c,
      metadata: {
        collection: doc.collection,
        owner: `user:${doc.owner}`,
        ...(doc.customer === undefined ? {} : { customer: doc.customer }),
      },
      vector: vectors[i] as Float32Array,
    }));
    const ingestStarted = performance.now();
    await vectorStore.replaceDocument(first.documentId, embedded);
    ingestMs += performance.now() - ingestStarted;
  }

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const deps = {
    authorizer,
    vectorStore,
    embedder,
    chatModel: createExtractiveAnswerer(),
    auditLog: createMemoryAuditLog(),
    tokenVerifier: createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ["ES256"],
      key: publicKey,
      clockToleranceSeconds: 5,
    }),
    logger: pino({ level: "silent" }),
    limits: { defaultK: K, maxK: 50, queryMaxChars: 500 },
  };
  const { app: authorized } = composeApp(deps);
  const { app: unauthorized } = composeApp({
    ...deps,
    retrieve: (request) => retrieveUnauthorized(deps, request),
  });
  const tokens = await Promise.all(corpus.probes.map((probe) => signToken(privateKey, probe.principal)));

  const chunksOf = new Map<string, number>();
  for (const chunk of corpus.chunks) chunksOf.set(chunk.resource, (chunksOf.get(chunk.resource) ?? 0) + 1);
  const reference = bankReference(tuples);
  const references = corpus.probes.map((probe) => {
    const resources = reference.readable(probe.principal);
    let chunks = 0;
    for (const resource of resources) chunks += chunksOf.get(resource) ?? 0;
    return { resources, chunks };
  });

  let touches = 0;
  return {
    corpus,
    authorizer,
    vectorStore,
    embedder,
    authorized,
    unauthorized,
    tokens,
    references,
    setup: { tuples: tuples.length, loadMs, embedMs, ingestMs },
    async touch() {
      touches += 1;
      await authorizer.writeData({
        tuples: [
          {
            entity: { type: "team", id: "bench-noise" },
            relation: "member",
            subject: { type: "user", id: `noise-${touches}` },
          },
        ],
      });
    },
  };
}

async function signToken(privateKey: KeyObject, principal: Principal): Promise<string> {
  const act = [...principal.agentIds]
    .reverse()
    .reduce<Record<string, unknown> | undefined>(
      (inner, sub) => (inner ? { sub, act: inner } : { sub }),
      undefined,
    );
  return new SignJWT(act ? { act } : {})
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(principal.userId)
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(privateKey);
}

export interface SearchPassage {
  readonly chunkId: string;
  readonly documentId: string;
  readonly sectionId: string | null;
  readonly score: number;
}

/** One `POST /v1/search`; throws unless it answered 200. */
export async function search(app: App, token: string, query: string, k = K): Promise<SearchPassage[]> {
  const response = await app.request("/v1/search", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, k }),
  });
  const body = (await response.json()) as { passages?: SearchPassage[] };
  if (response.status !== 200 || !body.passages) {
    throw new Error(`search answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.passages;
}

export function passageResource(passage: SearchPassage): string {
  return passage.sectionId === null ? `document:${passage.documentId}` : `section:${passage.sectionId}`;
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

export interface CaseResult {
  readonly name: string;
  /** Chunks the principal may read, and their share of all chunks; undefined for the baseline. */
  readonly readable?: { readonly chunks: number; readonly share: number };
  readonly samples: number;
  readonly medianMs: number;
  readonly p95Ms: number;
}

export interface BenchResult {
  readonly baseline: CaseResult;
  readonly warm: readonly CaseResult[];
  readonly afterWrite: readonly CaseResult[];
}

/**
 * Runs `rounds` rounds after `warmupRounds` untimed ones. A round sends one request for the baseline and
 * one for each probe, in an order shuffled per round; then writes once to the authorizer and sends one
 * more request for each probe (shuffled), timed separately as "after a write". Every passage is checked
 * against the probe's reference.
 */
export async function runBench(
  bench: Bench,
  options: { readonly rounds: number; readonly warmupRounds: number; readonly seed: number },
): Promise<BenchResult> {
  const random = seededRandom(options.seed);
  const { corpus } = bench;
  const probes = corpus.probes.map((probe, index) => ({ probe, index }));
  const warm: number[][] = probes.map(() => []);
  const afterWrite: number[][] = probes.map(() => []);
  const baseline: number[] = [];
  let queryIndex = 0;
  const nextQuery = (): string => corpus.queries[queryIndex++ % corpus.queries.length] as string;

  const timed = async (app: App, token: string, query: string): Promise<[number, SearchPassage[]]> => {
    const started = performance.now();
    const passages = await search(app, token, query);
    return [performance.now() - started, passages];
  };
  const probeRequest = async (index: number, into: number[][], keep: boolean): Promise<void> => {
    const [ms, passages] = await timed(bench.authorized, bench.tokens[index] as string, nextQuery());
    const reference = bench.references[index]?.resources ?? new Set<string>();
    for (const passage of passages) {
      if (!reference.has(passageResource(passage))) {
        throw new Error(
          `LEAK: ${corpus.probes[index]?.name} received ${passage.chunkId} (${passageResource(passage)})`,
        );
      }
    }
    if (keep) into[index]?.push(ms);
  };

  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    const keep = round >= options.warmupRounds;
    for (const step of shuffle([-1, ...probes.map((p) => p.index)], random)) {
      if (step === -1) {
        const [ms] = await timed(bench.unauthorized, bench.tokens[0] as string, nextQuery());
        if (keep) baseline.push(ms);
      } else {
        await probeRequest(step, warm, keep);
      }
    }
    await bench.touch();
    for (const step of shuffle(
      probes.map((p) => p.index),
      random,
    )) {
      await probeRequest(step, afterWrite, keep);
    }
  }

  const summarize = (name: string, samples: readonly number[], index?: number): CaseResult => {
    const sorted = [...samples].sort((a, b) => a - b);
    const reference = index === undefined ? undefined : bench.references[index];
    return {
      name,
      ...(reference
        ? { readable: { chunks: reference.chunks, share: reference.chunks / corpus.chunks.length } }
        : {}),
      samples: samples.length,
      medianMs: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
    };
  };
  return {
    baseline: summarize("no authorization (baseline)", baseline),
    warm: probes.map(({ probe, index }) => summarize(probe.name, warm[index] ?? [], index)),
    afterWrite: probes.map(({ probe, index }) =>
      summarize(`${probe.name}, after a write`, afterWrite[index] ?? [], index),
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Report

interface Row {
  readonly case: string;
  readonly readable: string;
  readonly median: string;
  readonly p95: string;
  readonly ratio: string;
  readonly aim: string;
}

function rowsOf(result: BenchResult): Row[] {
  const base = result.baseline;
  const row = (c: CaseResult, withAim: boolean): Row => {
    const ratio = c.medianMs / base.medianMs;
    const p95Ratio = c.p95Ms / base.p95Ms;
    return {
      case: c.name,
      readable: c.readable ? `${count(c.readable.chunks)} (${(100 * c.readable.share).toFixed(1)}%)` : "all",
      median: fmt(c.medianMs),
      p95: fmt(c.p95Ms),
      ratio: c === base ? "1" : `${ratio.toFixed(2)} / ${p95Ratio.toFixed(2)}`,
      aim:
        c === base || !withAim
          ? ""
          : `≤ ${AIM_RATIO}x: ${ratio <= AIM_RATIO && p95Ratio <= AIM_RATIO ? "met" : ratio <= AIM_RATIO ? "median met, p95 NOT" : "NOT met"}`,
    };
  };
  return [
    row(base, false),
    ...result.warm.map((c) => row(c, true)),
    ...result.afterWrite.map((c) => row(c, true)),
  ];
}

const HEADER: Row = {
  case: "case",
  readable: "readable chunks",
  median: "median ms",
  p95: "p95 ms",
  ratio: "ratio median / p95",
  aim: "aim",
};

const cellsOf = (r: Row): string[] => (Object.keys(HEADER) as (keyof Row)[]).map((key) => r[key]);

/** The shared text table, under the rule this benchmark has always printed: the header line and 8 more. */
function consoleTable(rows: readonly Row[]): string {
  const [header = "", , ...lines] = textTable(cellsOf(HEADER), rows.map(cellsOf)).split("\n");
  return [header, "-".repeat(header.length + 8), ...lines].join("\n");
}

function describeCorpus(bench: Bench): string {
  const { corpus } = bench;
  const sections = corpus.documents.filter((d) => d.section !== undefined).length;
  const customerDocs = corpus.documents.filter((d) => d.customer !== undefined).length;
  return (
    `${count(corpus.documents.length)} documents × ${corpus.shape.chunksPerDocument} chunks = ${count(corpus.chunks.length)} chunks; ` +
    `${count(sections)} documents have a section narrower than the document (their last ${SECTION_CHUNKS} chunks, ` +
    `${count(sections * SECTION_CHUNKS)} chunks) readable only by an audience team; ${count(customerDocs)} customer documents; ` +
    `${count(corpus.collections.length)} collections (${corpus.roots} roots, depth ≤ ${corpus.shape.maxCollectionDepth}), ` +
    `${count(corpus.teamMembers.size)} teams (some nested), ${count(corpus.users.length)} users, ` +
    `${count(corpus.customers.size)} customers, ${count(bench.setup.tuples)} relationships (schema fixtures/schema.perm); ` +
    `vectors: hashing embedder (${bench.embedder.model}) over synthetic banking text, one topic per collection`
  );
}

// ---------------------------------------------------------------------------------------------------------

const USAGE = "usage: npm run bench:e2e -- [--quick] [--seed N]";

function parseOptions(argv: readonly string[]): { quick: boolean; seed: number } {
  let values: { quick?: boolean; seed?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean", default: false },
        seed: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const seed = values.seed === undefined ? FULL_CORPUS.seed : Number(values.seed);
  if (!Number.isInteger(seed)) {
    console.error(`--seed must be an integer\n${USAGE}`);
    process.exit(2);
  }
  return { quick: values.quick ?? false, seed };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const shape = { ...(options.quick ? QUICK_CORPUS : FULL_CORPUS), seed: options.seed };
  const generated = performance.now();
  const corpus = generateCorpus(shape);
  console.log(`corpus (seed ${shape.seed}) generated in ${fmt(performance.now() - generated)} ms`);
  const bench = await setUpBench(corpus);
  console.log(
    `loaded ${count(bench.setup.tuples)} relationships in ${fmt(bench.setup.loadMs)} ms; embedded ${count(corpus.chunks.length)} chunks ` +
      `in ${fmt(bench.setup.embedMs)} ms; stored them in ${fmt(bench.setup.ingestMs)} ms`,
  );
  const rounds = options.quick ? 30 : 100;
  const warmupRounds = options.quick ? 5 : 10;
  let result: BenchResult;
  try {
    result = await runBench(bench, { rounds, warmupRounds, seed: shape.seed + 1 });
  } finally {
    await bench.authorizer.close();
    await bench.vectorStore.close();
  }
  const rows = rowsOf(result);
  const date = new Date().toISOString();
  const title = `End-to-end search benchmark${options.quick ? " (quick corpus)" : ""}`;
  console.log(`\n${title}\n${machine()}\n${date}\n\n${consoleTable(rows)}\n`);

  const markdown = [
    `# ${title}`,
    "",
    `- date: ${date}`,
    `- machine: ${machine()}`,
    `- corpus: ${describeCorpus(bench)}`,
    "- adapters: embedded authorizer (memory), embedded vector store (memory, exact cosine scan), hashing embedder; " +
      "the real app (`composeApp`) with ES256 token verification, a memory audit log and a silent pino logger",
    `- requests: \`POST /v1/search\` through \`app.request\`, k = ${K}, ${corpus.queries.length} varied queries in turn; ` +
      `${warmupRounds} warm-up rounds, then ${rounds} rounds, each case once per round in a shuffled order`,
    `- command: \`npm run bench:e2e${options.quick ? " -- --quick" : ""}\``,
    "",
    markdownTable(cellsOf(HEADER), rows.map(cellsOf)),
    "",
    "The baseline is the same app on the same adapters with `retrieve` replaced by one that embeds the query and",
    "searches every chunk (no `resources`): the rest of the request (token, validation, audit, response) is the same.",
    "Ratios are the case's median and p95 over the baseline's. Rows \"after a write\" are requests sent right after",
    "an unrelated write to the authorizer, so the readable resources are listed afresh instead of coming from the",
    "lists the authorizer keeps for unchanged data. Every passage returned was checked against the generator's",
    "reference of who may read what. Aims are reported, not enforced.",
    "",
  ].join("\n");
  await writeResults(options.quick ? "e2e-quick.md" : "e2e.md", markdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
