/**
 * Retrieval quality on the fixture bank: recall@10, nDCG@10 and MRR of each retriever, per principal class,
 * against the graded labels of fixtures/relevance.yaml (resolved to chunk ids after ingest), judged per
 * principal among what that principal may read; the share of extractive answers that cite a relevant
 * chunk; the README's question as four people ask it; and hybrid against dense-only search at 100,000
 * chunks in the embedded store. Writes bench/results/quality.md.
 *
 *   npm run bench:quality                 the offline embedder (hashing), BM25, hybrid blends, RRF
 *   OPENAI_API_KEY=... npm run bench:quality   also an OpenAI-compatible embedding server (dense, hybrid)
 */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { ingestManifest } from "../ingest/ingest.ts";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { createOpenAiEmbedder } from "../src/adapters/openai/openai-embedder.ts";
import { loadConfig } from "../src/config.ts";
import type { Chunk, EmbeddedChunk, ScoredChunk } from "../src/core/chunk.ts";
import { DEFAULT_DENSE_WEIGHT, type Ranking } from "../src/core/lexical.ts";
import { PUBLIC_BACKGROUND } from "../src/core/lexical-background.ts";
import { createRetrievalEngine, readableResources } from "../src/core/retrieval.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { Embedder } from "../src/ports/embedder.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import { machine, percentile, writeResults } from "./bench-support.ts";
import { fmt, markdownTable, textTable } from "./tables.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const K = 10;
const ANSWER_K = 4;
const RRF_K = 60;
const RRF_DEPTH = 100;
const README_QUESTION = "Is the Pier Street branch closing, and what happens to my safe deposit box?";

const labelSchema = z
  .strictObject({
    document: z.string().optional(),
    section: z.string().optional(),
    contains: z.string().optional(),
    grade: z.union([z.literal(1), z.literal(2)]),
  })
  .refine((l) => (l.document === undefined) !== (l.section === undefined), "document or section");
const relevanceSchema = z.object({
  questions: z
    .array(
      z.strictObject({
        text: z.string(),
        askers: z.array(z.string()).optional(),
        relevant: z.array(labelSchema).min(1),
      }),
    )
    .min(82),
});
const visibilitySchema = z.object({
  principals: z.array(z.object({ user: z.string(), agents: z.array(z.string()).default([]) })),
});

type Label = z.infer<typeof labelSchema>;
type Question = z.infer<typeof relevanceSchema>["questions"][number];
interface Principal {
  readonly userId: string;
  readonly agentIds: readonly string[];
}

async function yamlOf<T>(name: string, schema: z.ZodType<T>): Promise<T> {
  return schema.parse(parse(await readFile(new URL(name, FIXTURES), "utf8")));
}

/** Case, whitespace and Markdown emphasis do not matter when a label quotes a chunk. */
const normalize = (text: string): string =>
  text.replace(/[*_`]/g, "").replace(/\s+/g, " ").toLowerCase().trim();

/** Each question's labels as chunk id -> grade; throws on a label that matches no chunk. */
function resolveLabels(
  questions: readonly Question[],
  chunks: readonly Chunk[],
): Map<string, Map<string, number>> {
  const normalized = chunks.map((chunk) => ({ chunk, text: normalize(chunk.text) }));
  const out = new Map<string, Map<string, number>>();
  for (const question of questions) {
    const grades = new Map<string, number>();
    for (const label of question.relevant) {
      const matched = normalized.filter(({ chunk, text }) => matches(label, chunk, text));
      if (matched.length === 0)
        throw new Error(`no chunk matches ${JSON.stringify(label)} (${question.text})`);
      for (const { chunk } of matched) grades.set(chunk.id, Math.max(grades.get(chunk.id) ?? 0, label.grade));
    }
    out.set(question.text, grades);
  }
  return out;
}

function matches(label: Label, chunk: Chunk, text: string): boolean {
  if (label.document !== undefined && chunk.documentId !== label.document) return false;
  if (label.section !== undefined && chunk.resource !== `section:${label.section}`) return false;
  return label.contains === undefined || text.includes(normalize(label.contains));
}

function principalClass(p: Principal): string {
  if (p.agentIds.length > 0) return "agent for a user";
  const classes: Record<string, string> = {
    maria: "customer",
    james: "customer",
    tom: "teller",
    sofia: "support and disputes",
    dana: "support and disputes",
    ravi: "fraud",
    lena: "legal and compliance",
    cora: "legal and compliance",
    victor: "executive",
    helen: "executive",
  };
  return classes[p.userId] ?? "other staff";
}
const CLASS_ORDER = [
  "customer",
  "agent for a user",
  "teller",
  "support and disputes",
  "fraud",
  "legal and compliance",
  "executive",
  "other staff",
];

interface Scores {
  recall: number;
  ndcg: number;
  mrr: number;
}

/** recall@k over grade ≥ 1, nDCG@k with gain 2^grade − 1, reciprocal rank of the first chunk of the best grade. */
function score(ranked: readonly string[], grades: ReadonlyMap<string, number>): Scores {
  const top = ranked.slice(0, K);
  const relevant = [...grades.values()];
  const found = top.filter((id) => (grades.get(id) ?? 0) > 0).length;
  const dcg = top.reduce((sum, id, i) => sum + (2 ** (grades.get(id) ?? 0) - 1) / Math.log2(i + 2), 0);
  const ideal = relevant
    .sort((a, b) => b - a)
    .slice(0, K)
    .reduce((sum, g, i) => sum + (2 ** g - 1) / Math.log2(i + 2), 0);
  const best = Math.max(...relevant);
  const first = top.findIndex((id) => grades.get(id) === best);
  return { recall: found / relevant.length, ndcg: dcg / ideal, mrr: first < 0 ? 0 : 1 / (first + 1) };
}

interface Bank {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chunks: readonly Chunk[];
}

async function openBank(embedder: Embedder): Promise<Bank> {
  const authorizer = await createEmbeddedAuthorizer();
  const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  const report = await ingestManifest({
    schemaChange: { allow: true },
    relationshipScope: "any",
    manifestPath: new URL("manifest.yaml", FIXTURES).pathname,
    authorizer,
    vectorStore,
    embedder,
  });
  if (report.failed > 0) throw new Error(`${report.failed} fixture documents failed to ingest`);
  const chunks: Chunk[] = [];
  for (const id of await vectorStore.listDocuments()) chunks.push(...(await vectorStore.documentChunks(id)));
  return { authorizer, vectorStore, embedder, chunks };
}

type Search = (principal: Principal, query: string, k: number) => Promise<readonly ScoredChunk[]>;

function engineSearch(bank: Bank, ranking: Ranking): Search {
  const engine = createRetrievalEngine({ ...bank, strategy: "pre-filter", ranking });
  return async (principal, query, k) => (await engine.retrieve({ principal, query, k })).passages;
}

/** Reciprocal rank fusion of two rankings of the principal's readable chunks (a comparison, not in the product). */
function rrfSearch(dense: Search, lexical: Search): Search {
  return async (principal, query, k) => {
    const [a, b] = await Promise.all([
      dense(principal, query, RRF_DEPTH),
      lexical(principal, query, RRF_DEPTH),
    ]);
    const fused = new Map<string, { chunk: ScoredChunk; score: number }>();
    for (const list of [a, b]) {
      list.forEach((chunk, rank) => {
        const entry = fused.get(chunk.id) ?? { chunk, score: 0 };
        entry.score += 1 / (RRF_K + rank + 1);
        fused.set(chunk.id, entry);
      });
    }
    return [...fused.values()]
      .sort((x, y) => y.score - x.score || (x.chunk.id < y.chunk.id ? -1 : 1))
      .slice(0, k)
      .map(({ chunk, score }) => ({ ...chunk, score }));
  };
}

interface Pair {
  readonly principal: Principal;
  readonly question: string;
  readonly grades: ReadonlyMap<string, number>;
}

/** Every (principal, question) with at least one relevant chunk the principal may read. */
async function judgedPairs(
  bank: Bank,
  principals: readonly Principal[],
  questions: readonly Question[],
  labels: ReadonlyMap<string, ReadonlyMap<string, number>>,
): Promise<Pair[]> {
  const resourceOf = new Map(bank.chunks.map((chunk) => [chunk.id, chunk.resource]));
  const pairs: Pair[] = [];
  for (const principal of principals) {
    const readable = await readableResources(bank.authorizer, principal);
    for (const question of questions) {
      if (question.askers !== undefined && !question.askers.includes(principal.userId)) continue;
      const grades = new Map(
        [...(labels.get(question.text) ?? [])].filter(([id]) => readable.has(resourceOf.get(id) as string)),
      );
      if (grades.size > 0) pairs.push({ principal, question: question.text, grades });
    }
  }
  return pairs;
}

interface Evaluation {
  readonly byClass: Map<string, Scores & { n: number }>;
  readonly all: Scores & { n: number };
  readonly answerRelevant: number;
  readonly answerAnswering: number;
  readonly p50Ms: number;
}

async function evaluate(search: Search, pairs: readonly Pair[], withAnswers: boolean): Promise<Evaluation> {
  const answerer = createExtractiveAnswerer();
  const sums = new Map<string, Scores & { n: number }>();
  const add = (key: string, s: Scores) => {
    const entry = sums.get(key) ?? { recall: 0, ndcg: 0, mrr: 0, n: 0 };
    entry.recall += s.recall;
    entry.ndcg += s.ndcg;
    entry.mrr += s.mrr;
    entry.n++;
    sums.set(key, entry);
  };
  const times: number[] = [];
  let relevantAnswers = 0;
  let answeringAnswers = 0;
  for (const pair of pairs) {
    const started = performance.now();
    const passages = await search(pair.principal, pair.question, K);
    times.push(performance.now() - started);
    const s = score(
      passages.map((p) => p.id),
      pair.grades,
    );
    add(principalClass(pair.principal), s);
    add("all", s);
    if (withAnswers) {
      const answer = await answerer.answer({
        question: pair.question,
        passages: passages.slice(0, ANSWER_K),
      });
      const cited = answer.citations.map((id) => pair.grades.get(id) ?? 0);
      if (cited.some((g) => g > 0)) relevantAnswers++;
      if (cited.some((g) => g === 2)) answeringAnswers++;
    }
  }
  const mean = (e: Scores & { n: number }) => ({
    recall: e.recall / e.n,
    ndcg: e.ndcg / e.n,
    mrr: e.mrr / e.n,
    n: e.n,
  });
  const byClass = new Map([...sums].filter(([key]) => key !== "all").map(([key, e]) => [key, mean(e)]));
  return {
    byClass,
    all: mean(sums.get("all") as Scores & { n: number }),
    answerRelevant: relevantAnswers / pairs.length,
    answerAnswering: answeringAnswers / pairs.length,
    p50Ms: percentile(
      times.sort((a, b) => a - b),
      50,
    ),
  };
}

const f3 = (n: number) => n.toFixed(3);
const pct = (n: number) => `${(100 * n).toFixed(1)}%`;

async function main(): Promise<void> {
  const relevance = await yamlOf("relevance.yaml", relevanceSchema);
  const { questions: fixtureQuestions } = await yamlOf(
    "questions.yaml",
    z.object({ questions: z.array(z.string()) }),
  );
  const labelled = new Set(relevance.questions.map((q) => q.text));
  const missing = fixtureQuestions.filter((q) => !labelled.has(q));
  if (missing.length > 0) throw new Error(`questions.yaml questions without labels: ${missing.join(" | ")}`);
  const { principals: rows } = await yamlOf("expected-visibility.yaml", visibilitySchema);
  const principals: Principal[] = rows.map((r) => ({ userId: r.user, agentIds: r.agents }));

  const hashing = await openBank(createHashingEmbedder());
  const labels = resolveLabels(relevance.questions, hashing.chunks);
  const pairs = await judgedPairs(hashing, principals, relevance.questions, labels);
  console.log(
    `${relevance.questions.length} questions, ${labels.size} labelled, ${pairs.length} (principal, question) pairs judged`,
  );

  const hybrid = (weight: number): Ranking => ({
    kind: "hybrid",
    denseWeight: weight,
    statistics: PUBLIC_BACKGROUND,
  });
  const dense = engineSearch(hashing, { kind: "dense" });
  const bm25 = engineSearch(hashing, hybrid(0));
  const retrievers: [string, Search, boolean][] = [
    ["hashing embedder (dense; before)", dense, true],
    ["BM25 (fixed public statistics)", bm25, true],
    [
      `hybrid: blend, cosine weight ${DEFAULT_DENSE_WEIGHT} (default)`,
      engineSearch(hashing, hybrid(DEFAULT_DENSE_WEIGHT)),
      true,
    ],
    ["hybrid: RRF over the readable set (comparison only)", rrfSearch(dense, bm25), true],
  ];

  const config = loadConfig(process.env);
  const extraNotes: string[] = [];
  if (config.openai !== undefined) {
    const remote = await openBank(
      createOpenAiEmbedder({
        apiKey: config.openai.apiKey,
        ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
        model: config.openai.embeddingModel,
        ...(config.openai.embeddingDimensions === undefined
          ? {}
          : { dimensions: config.openai.embeddingDimensions }),
        timeoutMs: config.openai.timeoutMs,
      }),
    );
    retrievers.push([
      `${config.openai.embeddingModel} (dense)`,
      engineSearch(remote, { kind: "dense" }),
      true,
    ]);
    retrievers.push([
      `${config.openai.embeddingModel} + BM25 (blend ${DEFAULT_DENSE_WEIGHT})`,
      engineSearch(remote, hybrid(DEFAULT_DENSE_WEIGHT)),
      true,
    ]);
  } else {
    extraNotes.push("No OpenAI-compatible embedding server configured (OPENAI_API_KEY unset): not measured.");
  }
  extraNotes.push("Local ONNX model (EMBEDDER=onnx): not built yet, not measured.");

  const results: [string, Evaluation][] = [];
  for (const [name, search, withAnswers] of retrievers) {
    results.push([name, await evaluate(search, pairs, withAnswers)]);
    console.log(`measured ${name}`);
  }

  const mainHeaders = [
    "retriever",
    "recall@10",
    "nDCG@10",
    "MRR",
    "answers citing a relevant chunk",
    "... an answering chunk",
    "p50 ms",
  ];
  const mainRows = results.map(([name, e]) => [
    name,
    f3(e.all.recall),
    f3(e.all.ndcg),
    f3(e.all.mrr),
    pct(e.answerRelevant),
    pct(e.answerAnswering),
    fmt(e.p50Ms),
  ]);
  const classHeaders = ["principal class", "pairs", ...results.map(([name]) => name.replace(/ \(.*\)$/, ""))];
  const classRows = (metric: keyof Scores) =>
    CLASS_ORDER.filter((c) => results[0]?.[1].byClass.has(c)).map((c) => [
      c,
      String(results[0]?.[1].byClass.get(c)?.n ?? 0),
      ...results.map(([, e]) => f3(e.byClass.get(c)?.[metric] ?? Number.NaN)),
    ]);

  // The blend's weight, on all pairs: how the default was chosen.
  const sweep: string[][] = [];
  for (const weight of [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1]) {
    const e = await evaluate(engineSearch(hashing, hybrid(weight)), pairs, false);
    sweep.push([String(weight), f3(e.all.recall), f3(e.all.ndcg), f3(e.all.mrr)]);
  }

  // The README's question, as four people ask it.
  const readme: string[][] = [];
  const askers: [string, Principal][] = [
    ["Maria, customer", { userId: "maria", agentIds: [] }],
    ["Tom, head teller", { userId: "tom", agentIds: [] }],
    ["Victor, VP", { userId: "victor", agentIds: [] }],
    ["support assistant for Victor", { userId: "victor", agentIds: ["support-assistant"] }],
  ];
  const answerer = createExtractiveAnswerer();
  for (const [who, principal] of askers) {
    const row = [who];
    for (const search of [dense, engineSearch(hashing, hybrid(DEFAULT_DENSE_WEIGHT))]) {
      const passages = (await search(principal, README_QUESTION, ANSWER_K)) as ScoredChunk[];
      const answer = await answerer.answer({ question: README_QUESTION, passages });
      const cited = passages.filter((p) => answer.citations.includes(p.id)).map((p) => p.documentId);
      row.push([...new Set(cited)].join(", ") || "(no answer)");
    }
    readme.push(row);
  }

  const perf = await performanceAt100k();

  console.log(`\n${textTable(mainHeaders, mainRows)}\n`);
  console.log(textTable(classHeaders, classRows("ndcg")));
  console.log(`\n${textTable(["cosine weight", "recall@10", "nDCG@10", "MRR"], sweep)}`);
  console.log(`\n${textTable(["who", "dense: cited documents", "hybrid: cited documents"], readme)}`);
  console.log(`\n${textTable(perf.headers, perf.rows)}`);

  await writeResults(
    "quality.md",
    `# Retrieval quality on the fixture bank

\`npm run bench:quality\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}.

${relevance.questions.length} questions of fixtures/relevance.yaml (the ${fixtureQuestions.length} of questions.yaml and ${relevance.questions.length - fixtureQuestions.length} more), asked by each of the
${principals.length} principals of fixtures/expected-visibility.yaml and judged among what that principal may read: ${pairs.length}
(principal, question) pairs with at least one relevant readable chunk. Authorized top-${K} through the
retrieval engine (pre-filter; every strategy returns the same passages). recall@10 counts chunks of grade 1 or
2; nDCG@10 uses gain 2^grade − 1; MRR is the reciprocal rank of the first chunk of the best grade the principal
may read. Answers: the extractive answerer on the top ${ANSWER_K} passages; "citing a relevant chunk" means at least one
citation of grade ≥ 1, "an answering chunk" grade 2. Means over pairs.

${markdownTable(mainHeaders, mainRows)}

${extraNotes.map((n) => `- ${n}`).join("\n")}

## nDCG@10 per principal class

${markdownTable(classHeaders, classRows("ndcg"))}

## recall@10 per principal class

${markdownTable(classHeaders, classRows("recall"))}

## MRR per principal class

${markdownTable(classHeaders, classRows("mrr"))}

## The blend's weight

The fused score is \`w × cosine + (1 − w) × normalised BM25\`; w = 0 is BM25 alone, w = 1 the hashing
embedder alone. The default was chosen here, on all pairs (the relevance set is also the test set: a
held-out split would be smaller than the differences it should show; treat the weight as tuned).

${markdownTable(["cosine weight", "recall@10", "nDCG@10", "MRR"], sweep)}

## The README's question

"${README_QUESTION}", top ${ANSWER_K}, the documents the extractive answer cites:

${markdownTable(["who", "hashing embedder (before)", "hybrid (default)"], readme)}

## Hybrid against dense-only search at 100,000 chunks (embedded store)

${perf.note}

${markdownTable(perf.headers, perf.rows)}
`,
  );
}

/**
 * p50 of hybrid and dense-only top-10 searches over 100,000 chunks of the e2e benchmark's generated text,
 * in the embedded store, unrestricted and restricted to 10% of the resources (one run, 50 queries each).
 */
async function performanceAt100k(): Promise<{ headers: string[]; rows: string[][]; note: string }> {
  const { FULL_CORPUS, generateCorpus } = await import("./e2e-corpus.ts");
  const corpus = generateCorpus(FULL_CORPUS);
  const embedder = createHashingEmbedder();
  const store = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  const byDocument = new Map<string, EmbeddedChunk[]>();
  const texts = corpus.chunks.map((c) => c.text);
  const vectors = await embedder.embedDocuments(texts);
  corpus.chunks.forEach((c, i) => {
    const chunk: EmbeddedChunk = {
      id: c.id,
      resource: c.resource,
      documentId: c.documentId,
      ...(c.sectionId === undefined ? {} : { sectionId: c.sectionId }),
      title: c.title,
      text: c.text,
      ordinal: c.ordinal,
      metadata: { collection: "bench", owner: "user:bench" },
      vector: vectors[i] as Float32Array,
    };
    byDocument.set(c.documentId, [...(byDocument.get(c.documentId) ?? []), chunk]);
  });
  for (const [id, chunks] of byDocument) await store.replaceDocument(id, chunks);
  const resources = [...new Set(corpus.chunks.map((c) => c.resource))];
  const tenth = new Set(resources.filter((_, i) => i % 10 === 0));
  const queries = corpus.chunks
    .filter((_, i) => i % 2_000 === 7)
    .map((c) => c.text.split(" ").slice(0, 8).join(" "));
  const ranking = {
    kind: "hybrid",
    denseWeight: DEFAULT_DENSE_WEIGHT,
    statistics: PUBLIC_BACKGROUND,
  } as const;
  const { lexicalQuery } = await import("../src/core/lexical.ts");
  // The first hybrid search builds the term postings; it is reported apart.
  const buildStarted = performance.now();
  await store.search({
    vector: await embedder.embedQuery("warm"),
    k: K,
    lexical: lexicalQuery("warm", ranking),
  });
  const buildMs = performance.now() - buildStarted;
  const rows: string[][] = [];
  for (const [scope, set] of [
    ["every chunk", undefined],
    ["10% of resources", tenth],
  ] as const) {
    const times = { dense: [] as number[], hybrid: [] as number[] };
    for (const query of queries) {
      const vector = await embedder.embedQuery(query);
      const lexical = lexicalQuery(query, ranking);
      for (const kind of ["dense", "hybrid"] as const) {
        const started = performance.now();
        await store.search({
          vector,
          k: K,
          ...(set === undefined ? {} : { resources: set }),
          ...(kind === "hybrid" ? { lexical } : {}),
        });
        times[kind].push(performance.now() - started);
      }
    }
    const dense = percentile(
      times.dense.sort((a, b) => a - b),
      50,
    );
    const hybrid = percentile(
      times.hybrid.sort((a, b) => a - b),
      50,
    );
    rows.push([scope, fmt(dense), fmt(hybrid), `${(hybrid / dense).toFixed(2)}×`]);
  }
  await store.close();
  return {
    headers: ["search scope", "dense p50 ms", "hybrid p50 ms", "hybrid / dense"],
    rows,
    note: `${corpus.chunks.length.toLocaleString("en-US")} chunks of bench/e2e-corpus.ts text, ${queries.length} queries (the first words of sampled chunks), interleaved. Building the term postings on the first hybrid search took ${fmt(buildMs)} ms (once per process; kept up to date by writes after that). Qdrant: hybrid is not available yet, so not measured.`,
  };
}

await main();
