/**
 * npm run bench:retrieval [-- --quick] [--authorizers embedded,permify] [--permify-endpoint host:port]
 *                         [--permify-token t] [--strategy-budget-s 60] [--seed 7]
 *
 * Authorized top-10 over 100,000 chunks in 10,000 documents, for readers of 0.1%, 1%, 10%, 50% and 100%
 * of the bank, by every strategy: the naive post-filter (search 10, then check them, as Auth0's
 * FGARetriever does), pre-filter, post-filter, container pre-filter and adaptive, next to the same search
 * with no authorization, with the embedded evaluator and with a local Permify (with Qdrant instead of the
 * embedded store when QDRANT_URL is set). Per cell: recall@10 against the oracle (the store's exact
 * ranking cut by the generator's ground truth of who may read what), p50 and p95 latency, and
 * authorization calls per query. Writes bench/results/retrieval.md.
 *
 * Strategies run interleaved, query by query, in a shuffled order, so that a noisy machine slows them
 * alike. A strategy whose queries in one cell have taken longer than the budget stops there (its row says
 * how many ran); adaptive and the unauthorized search always run every query.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { createQdrantVectorStore } from "../src/adapters/qdrant/qdrant-vector-store.ts";
import { deriveContainerModel } from "../src/authz-schema/container-model.ts";
import type { EmbeddedChunk } from "../src/core/chunk.ts";
import type { ContainerModel } from "../src/core/container-model.ts";
import { principalSubjects } from "../src/core/principal.ts";
import {
  createRetrievalEngine,
  type RetrievalEngine,
  type RetrievalPorts,
  readableResources,
  STRATEGIES,
} from "../src/core/retrieval.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import { seededRandom, shuffle } from "./authz-graph.ts";
import { connectPermify, machine, percentile, writeResults } from "./bench-support.ts";
import { chunkText, TOPICS } from "./e2e-corpus.ts";
import {
  FULL_RETRIEVAL_CORPUS,
  generateRetrievalCorpus,
  QUICK_RETRIEVAL_CORPUS,
  type Reader,
  type RetrievalCorpus,
} from "./retrieval-corpus.ts";
import { markdownTable } from "./tables.ts";

const K = 10;
const WRITE_BATCH = 1_000;
const WARMUP_QUERIES = 2;
const LANES = ["unauthorized", "naive", ...STRATEGIES, "adaptive"] as const;
type Lane = (typeof LANES)[number];
const EXACT: readonly Lane[] = [...STRATEGIES, "adaptive"];

const USAGE =
  "usage: npm run bench:retrieval -- [--quick] [--authorizers embedded,permify] [--permify-endpoint host:port] " +
  "[--permify-token t] [--strategy-budget-s N] [--seed N]";

interface Options {
  readonly quick: boolean;
  readonly authorizers: readonly ("embedded" | "permify")[];
  readonly permifyEndpoint?: string;
  readonly permifyToken?: string;
  readonly strategyBudgetMs: number;
  readonly seed: number;
}

function parseOptions(argv: readonly string[]): Options {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean", default: false },
        authorizers: { type: "string", default: "embedded,permify" },
        "permify-endpoint": { type: "string" },
        "permify-token": { type: "string" },
        "strategy-budget-s": { type: "string", default: "60" },
        seed: { type: "string", default: String(FULL_RETRIEVAL_CORPUS.seed) },
      },
      strict: true,
    });
    const authorizers = (values.authorizers ?? "").split(",").map((name) => name.trim());
    for (const name of authorizers) {
      if (name !== "embedded" && name !== "permify") throw new Error(`unknown authorizer "${name}"`);
    }
    const budget = Number(values["strategy-budget-s"]);
    const seed = Number(values.seed);
    if (!Number.isFinite(budget) || budget <= 0)
      throw new Error("--strategy-budget-s must be a positive number");
    if (!Number.isSafeInteger(seed)) throw new Error("--seed must be an integer");
    return {
      quick: values.quick ?? false,
      authorizers: authorizers as ("embedded" | "permify")[],
      ...(values["permify-endpoint"] === undefined ? {} : { permifyEndpoint: values["permify-endpoint"] }),
      ...(values["permify-token"] === undefined ? {} : { permifyToken: values["permify-token"] }),
      strategyBudgetMs: budget * 1_000,
      seed,
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Building the bank

async function buildStore(corpus: RetrievalCorpus): Promise<{ store: VectorStore; description: string }> {
  const embedder = createHashingEmbedder();
  const url = process.env.QDRANT_URL || undefined;
  const store = url
    ? await createQdrantVectorStore({
        url,
        ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}),
        collection: `clearance-bench-${Date.now().toString(36)}`,
        dimensions: embedder.dimensions,
        timeoutMs: 60_000,
      })
    : await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  const random = seededRandom(corpus.shape.seed + 1);
  const { chunksPerDocument } = corpus.shape;
  const started = performance.now();
  for (const [index, document] of corpus.documents.entries()) {
    const texts = Array.from({ length: chunksPerDocument }, () =>
      chunkText(document.topic, document.id, random),
    );
    const vectors = await embedder.embedDocuments(texts);
    const chunks: EmbeddedChunk[] = texts.map((text, ordinal) => {
      const inSection = document.section !== undefined && ordinal >= chunksPerDocument - 2;
      return {
        id: `${document.id}:${ordinal}`,
        resource: inSection ? `section:${document.section}` : `document:${document.id}`,
        documentId: document.id,
        ...(inSection ? { sectionId: document.section } : {}),
        title: document.id,
        text,
        ordinal,
        metadata: {
          collection: document.collection,
          owner: document.owner,
          ...(document.customer === undefined ? {} : { customer: document.customer }),
        },
        vector: vectors[ordinal] as Float32Array,
      };
    });
    await store.replaceDocument(document.id, chunks);
    if ((index + 1) % 2_000 === 0) {
      console.log(`  stored ${index + 1} of ${corpus.documents.length} documents`);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return {
    store,
    description: url
      ? `Qdrant at ${url} (exact search), filled in ${seconds} s`
      : `embedded store (memory, exact), filled in ${seconds} s`,
  };
}

const SCHEMA_FILE = new URL("../fixtures/schema.perm", import.meta.url);

/** The container pre-filter's model, derived from the bank's schema as `serve` derives it. */
async function bankContainerModel(): Promise<ContainerModel> {
  const derived = deriveContainerModel(await readFile(SCHEMA_FILE, "utf8"));
  if (!derived.ok) throw new Error(`the bank's schema gives no container model: ${derived.reason}`);
  return derived.model;
}

async function fillAuthorizer(authorizer: Authorizer, corpus: RetrievalCorpus): Promise<void> {
  const schema = await readFile(SCHEMA_FILE, "utf8");
  await authorizer.writeSchema(schema);
  for (let i = 0; i < corpus.tuples.length; i += WRITE_BATCH) {
    await authorizer.writeData({ tuples: corpus.tuples.slice(i, i + WRITE_BATCH) });
  }
}

function queriesOf(corpus: RetrievalCorpus, seed: number): string[] {
  const random = seededRandom(seed + 2);
  return Array.from({ length: corpus.shape.queries }, () => {
    const topic = TOPICS[Math.floor(random() * TOPICS.length)] as readonly string[];
    return shuffle([...topic], random)
      .slice(0, 5)
      .join(" ");
  });
}

/** Per query, the store's exact ranking of every chunk: the oracle cuts it by each reader's ground truth. */
async function rankings(
  store: VectorStore,
  queries: readonly string[],
): Promise<{ id: string; resource: string }[][]> {
  const embedder = createHashingEmbedder();
  const total = await store.count();
  const all: { id: string; resource: string }[][] = [];
  for (const query of queries) {
    const vector = await embedder.embedQuery(query);
    const ranked = await store.search({ vector, k: total });
    all.push(ranked.map((chunk) => ({ id: chunk.id, resource: chunk.resource })));
  }
  return all;
}

function oracle(ranking: readonly { id: string; resource: string }[], reader: Reader): string[] {
  const kept: string[] = [];
  for (const chunk of ranking) {
    if (kept.length === K) break;
    if (reader.readable.has(chunk.resource)) kept.push(chunk.id);
  }
  return kept;
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

interface LaneSamples {
  ms: number[];
  authzCalls: number[];
  recall: number[];
  totalMs: number;
  chosen: Map<string, number>;
  stopped: boolean;
  /** Queries that failed (the caller would have had a 503), and the first failure's message. */
  errors: number;
  firstError?: string;
}

interface CellResult {
  readonly reader: Reader;
  readonly readableChunks: number;
  readonly lanes: ReadonlyMap<Lane, LaneSamples>;
}

async function runCell(
  deps: RetrievalPorts,
  engines: ReadonlyMap<Lane, RetrievalEngine>,
  reader: Reader,
  queries: readonly string[],
  oracles: readonly string[][],
  options: Options,
  random: () => number,
): Promise<Map<Lane, LaneSamples>> {
  const lanes = new Map<Lane, LaneSamples>(
    LANES.map((lane) => [
      lane,
      { ms: [], authzCalls: [], recall: [], totalMs: 0, chosen: new Map(), stopped: false, errors: 0 },
    ]),
  );
  const subjects = principalSubjects(reader.principal);
  const run = async (
    lane: Lane,
    query: string,
  ): Promise<{ ids: string[]; authzCalls: number; path?: string }> => {
    if (lane === "unauthorized") {
      const vector = await deps.embedder.embedQuery(query);
      const found = await deps.vectorStore.search({ vector, k: K });
      return { ids: found.map((chunk) => chunk.id), authzCalls: 0 };
    }
    if (lane === "naive") {
      const vector = await deps.embedder.embedQuery(query);
      const found = await deps.vectorStore.search({ vector, k: K });
      const outcomes = await deps.authorizer.checkMany(
        found.flatMap((chunk) => {
          const [type, id] = chunk.resource.split(":") as [string, string];
          return subjects.map((subject) => ({ entity: { type, id }, permission: "view", subject }));
        }),
      );
      const ids = found
        .filter((_, index) => subjects.every((_, s) => outcomes[index * subjects.length + s] === "allowed"))
        .map((chunk) => chunk.id);
      return { ids, authzCalls: 1 };
    }
    const engine = engines.get(lane) as RetrievalEngine;
    const result = await engine.retrieve({ principal: reader.principal, query, k: K });
    return {
      ids: result.passages.map((passage) => passage.id),
      authzCalls: result.stats.authzCalls,
      path:
        result.stats.strategy === result.stats.finishedWith
          ? result.stats.strategy
          : `${result.stats.strategy}→${result.stats.finishedWith}`,
    };
  };
  for (const [index, query] of queries.entries()) {
    const warmUp = index < WARMUP_QUERIES;
    for (const lane of shuffle([...LANES], random)) {
      const samples = lanes.get(lane) as LaneSamples;
      const capped = lane !== "adaptive" && lane !== "unauthorized";
      if (samples.stopped) continue;
      const started = performance.now();
      let outcome: Awaited<ReturnType<typeof run>>;
      try {
        outcome = await run(lane, query);
      } catch (error) {
        // Reported, not fatal: an upstream failure is what a caller would have met (a 503).
        samples.errors++;
        samples.firstError ??= (error as Error).message;
        samples.totalMs += performance.now() - started;
        if (samples.errors >= 3) samples.stopped = true;
        continue;
      }
      const ms = performance.now() - started;
      samples.totalMs += ms;
      const overBudget = capped && samples.totalMs > options.strategyBudgetMs;
      // A lane over its budget already in warm-up (minutes per query) keeps that run as its one sample.
      if (warmUp && !overBudget) continue;
      const expected = oracles[index] as string[];
      const found = new Set(outcome.ids);
      samples.ms.push(ms);
      samples.authzCalls.push(outcome.authzCalls);
      samples.recall.push(
        expected.length === 0 ? 1 : expected.filter((id) => found.has(id)).length / expected.length,
      );
      if (EXACT.includes(lane) && JSON.stringify(outcome.ids) !== JSON.stringify(expected)) {
        throw new Error(
          `${lane} for ${reader.principal.userId} returned other passages than the oracle for "${query}"`,
        );
      }
      if (outcome.path !== undefined)
        samples.chosen.set(outcome.path, (samples.chosen.get(outcome.path) ?? 0) + 1);
      if (overBudget) samples.stopped = true;
    }
  }
  return lanes;
}

// ---------------------------------------------------------------------------------------------------------
// Reporting

const fmt = (ms: number): string =>
  Number.isNaN(ms) ? "—" : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
const mean = (values: readonly number[]): number =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
const p = (samples: LaneSamples, q: number): number =>
  percentile(
    [...samples.ms].sort((a, b) => a - b),
    q,
  );

function cellRows(cell: CellResult): string[][] {
  const rows: string[][] = [];
  for (const lane of LANES) {
    const samples = cell.lanes.get(lane) as LaneSamples;
    rows.push([
      `${(cell.reader.share * 100).toString()}% (${cell.readableChunks.toLocaleString("en-US")} chunks)`,
      lane,
      samples.recall.length === 0 ? "—" : mean(samples.recall).toFixed(3),
      fmt(p(samples, 50)),
      fmt(p(samples, 95)),
      fmt(mean(samples.authzCalls)),
      `${samples.ms.length}${samples.stopped && samples.errors < 3 ? " (budget)" : ""}${
        samples.errors > 0 ? `, ${samples.errors} failed (${samples.firstError})` : ""
      }`,
      [...samples.chosen].map(([path, n]) => `${path} ×${n}`).join(", "),
    ]);
  }
  return rows;
}

interface Verdict {
  readonly recallOk: boolean;
  readonly fastestExact: { lane: Lane; p50: number };
  readonly adaptiveP50: number;
  readonly vsFastest: number;
  readonly vsUnauthorized: number;
}

function verdict(cell: CellResult): Verdict {
  const adaptive = cell.lanes.get("adaptive") as LaneSamples;
  let fastest: { lane: Lane; p50: number } = { lane: "pre-filter", p50: Number.POSITIVE_INFINITY };
  for (const lane of STRATEGIES) {
    const samples = cell.lanes.get(lane) as LaneSamples;
    const p50 = p(samples, 50);
    if (samples.ms.length > 0 && p50 < fastest.p50) fastest = { lane, p50 };
  }
  const adaptiveP50 = p(adaptive, 50);
  return {
    recallOk: adaptive.errors === 0 && adaptive.recall.every((r) => r === 1),
    fastestExact: fastest,
    adaptiveP50,
    vsFastest: adaptiveP50 / Math.min(fastest.p50, adaptiveP50),
    vsUnauthorized: adaptiveP50 / p(cell.lanes.get("unauthorized") as LaneSamples, 50),
  };
}

/** Empty cells stay blank here: a lane with no path to report. */
const table = (headers: readonly string[], rows: readonly (readonly string[])[]): string =>
  markdownTable(headers, rows, { empty: "" });

const CELL_HEADERS = [
  "readable",
  "strategy",
  "recall@10",
  "p50 ms",
  "p95 ms",
  "authz calls / query",
  "queries",
  "paths",
];
const VERDICT_HEADERS = [
  "readable",
  "adaptive recall = 1",
  "adaptive p50 ms",
  "fastest exact strategy (p50 ms)",
  "adaptive / fastest (aim ≤ 1.2)",
  "adaptive / unauthorized",
];

function verdictRows(cells: readonly CellResult[], embedded: boolean): string[][] {
  return cells.map((cell) => {
    const v = verdict(cell);
    const unauthorizedAim =
      embedded && cell.reader.share >= 0.1 ? ` (aim ≤ 2: ${v.vsUnauthorized <= 2 ? "met" : "missed"})` : "";
    return [
      `${cell.reader.share * 100}%`,
      v.recallOk ? "yes" : "**no**",
      fmt(v.adaptiveP50),
      `${v.fastestExact.lane} (${fmt(v.fastestExact.p50)})`,
      `${v.vsFastest.toFixed(2)} (${v.vsFastest <= 1.2 ? "met" : "missed"})`,
      `${v.vsUnauthorized.toFixed(2)}${unauthorizedAim}`,
    ];
  });
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const shape = { ...(options.quick ? QUICK_RETRIEVAL_CORPUS : FULL_RETRIEVAL_CORPUS), seed: options.seed };
  const corpus = generateRetrievalCorpus(shape);
  const totalChunks = shape.documents * shape.chunksPerDocument;
  console.log(
    `retrieval benchmark: ${shape.documents} documents, ${totalChunks} chunks, ${corpus.tuples.length} relationships`,
  );
  const { store, description: storeDescription } = await buildStore(corpus);
  const queries = queriesOf(corpus, options.seed);
  const ranked = await rankings(store, queries);
  const embedder = createHashingEmbedder();
  const chunkCounts = await Promise.all(
    corpus.readers.map((reader) => store.count(new Set(reader.readable))),
  );

  const sections: string[] = [];
  /** Writes the results so far: a run that dies later (Permify can drop a connection) keeps them. */
  const write = (done: readonly string[], inProgress?: string) =>
    writeResults(
      options.quick ? "retrieval-quick.md" : "retrieval.md",
      [
        "# Retrieval benchmark: authorized top-10 by strategy",
        "",
        `- date: ${new Date().toISOString()}`,
        `- machine: ${machine()}`,
        `- corpus: ${shape.documents.toLocaleString("en-US")} documents × ${shape.chunksPerDocument} chunks = ${totalChunks.toLocaleString("en-US")} chunks in ${Math.ceil(shape.documents / shape.documentsPerCollection)} collections; ${shape.customers} customers of ${shape.documentsPerCustomer} documents; ${shape.sectionShare * 100}% of documents with a legal-only section (2 chunks); ${corpus.tuples.length.toLocaleString("en-US")} relationships (fixtures/schema.perm)`,
        `- readers: one per share, reading about 80% of it through collections (a team), the rest through customers they hold and documents granted to them directly`,
        `- store: ${storeDescription}; vectors: hashing embedder (384 dimensions)`,
        `- queries: ${queries.length} per cell (${WARMUP_QUERIES} warm-up, not counted), k = ${K}; strategies interleaved in a shuffled order per query; a strategy stops in a cell once its queries there took over ${options.strategyBudgetMs / 1000} s, keeping one sample at least (adaptive and unauthorized never stop); a query that fails is counted as failed, and a lane stops after 3`,
        `- command: npm run bench:retrieval${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
        "",
        "Recall@10 is against the oracle: the store's exact ranking of every chunk, cut at the 10th chunk the",
        "generator's ground truth lets the reader see. Every exact strategy (pre-filter, post-filter, container",
        "pre-filter, adaptive) is also required to return exactly the oracle's passages in its order, or the run",
        'fails. "paths" says which strategy ran and, after an arrow, which one finished (a scan that spent its',
        "budget, or that adaptive found cheaper to abandon, finishes with pre-filter). Latency is of",
        "`engine.retrieve` (embedding, authorization and search), without HTTP.",
        "",
        ...done,
        ...(inProgress === undefined ? [] : [inProgress]),
      ].join("\n"),
    );
  const random = seededRandom(options.seed + 3);
  for (const name of options.authorizers) {
    let authorizer: Authorizer;
    let authorizerDescription: string;
    let stop: () => Promise<void>;
    if (name === "embedded") {
      authorizer = await createEmbeddedAuthorizer();
      authorizerDescription = "embedded evaluator (memory)";
      stop = () => authorizer.close();
    } else {
      const permify = await connectPermify({
        ...(options.permifyEndpoint === undefined ? {} : { endpoint: options.permifyEndpoint }),
        ...(options.permifyToken === undefined ? {} : { token: options.permifyToken }),
        readMs: 30 * 60_000,
        writeMs: 60_000,
      });
      authorizer = permify.authorizer;
      authorizerDescription = `Permify ${permify.version}, ${permify.description}`;
      stop = () => permify.stop();
    }
    try {
      console.log(`\n${name}: writing ${corpus.tuples.length} relationships`);
      await fillAuthorizer(authorizer, corpus);
      const deps: RetrievalPorts = { authorizer, vectorStore: store, embedder };
      const containerModel = await bankContainerModel();
      // One engine per strategy for the whole run, as a server keeps one: adaptive learns across readers.
      const engines = new Map<Lane, RetrievalEngine>([
        ...STRATEGIES.map((strategy): [Lane, RetrievalEngine] => [
          strategy,
          createRetrievalEngine({ ...deps, strategy, containerModel }),
        ]),
        ["adaptive", createRetrievalEngine({ ...deps, containerModel })],
      ]);
      const cells: CellResult[] = [];
      const embeddedAuthorizer = name === "embedded";
      const section = (done: readonly CellResult[]) =>
        [
          `## ${embeddedAuthorizer ? "Embedded evaluator" : "Permify"}`,
          "",
          `- authorizer: ${authorizerDescription}`,
          "",
          table(VERDICT_HEADERS, verdictRows(done, embeddedAuthorizer)),
          "",
          table(CELL_HEADERS, done.flatMap(cellRows)),
          "",
        ].join("\n");
      for (const [index, reader] of corpus.readers.entries()) {
        if (name === "embedded") {
          // The ground truth and the authorizer must agree, or recall would measure the generator.
          const listed = await readableResources(authorizer, reader.principal);
          if (listed.size !== reader.readable.size || [...listed].some((r) => !reader.readable.has(r))) {
            throw new Error(
              `the authorizer and the generator disagree on what ${reader.principal.userId} may read`,
            );
          }
        }
        const oracles = ranked.map((ranking) => oracle(ranking, reader));
        const lanes = await runCell(deps, engines, reader, queries, oracles, options, random);
        const cell = { reader, readableChunks: chunkCounts[index] as number, lanes };
        cells.push(cell);
        console.log(table(CELL_HEADERS, cellRows(cell)));
        if (cells.length < corpus.readers.length) await write(sections, `${section(cells)}\n(in progress)\n`);
      }
      sections.push(section(cells));
      console.log(`\n${table(VERDICT_HEADERS, verdictRows(cells, embeddedAuthorizer))}`);
    } finally {
      await stop();
    }
  }
  await store.close();

  await write(sections);
}

await main();
