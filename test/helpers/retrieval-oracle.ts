/**
 * The retrieval engine against the oracle, as a property any vector store can run: an exact scan of every
 * chunk, in score order with ties by chunk id, keeping a chunk when a check of `view` on its resource
 * allows the user and every agent. Every strategy (and the adaptive choice, whatever it picks, with
 * estimates carried between queries) must return exactly the oracle's passages in the oracle's order, over
 * random banks (with many equal scores), principals and k, with the default budget and with a budget so
 * small that scans page and fall back to pre-filter. With a hybrid ranking, chunks and queries get words (drawn
 * from their vectors, so that many share terms and scores tie) and the oracle is the store's exact fused
 * ranking.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { EmbeddedChunk } from "../../src/core/chunk.ts";
import { lexicalQuery, type Ranking } from "../../src/core/lexical.ts";
import { parseTuple } from "../../src/core/permify-notation.ts";
import { principalSubjects } from "../../src/core/principal.ts";
import {
  createRetrievalEngine,
  type RetrievalEngine,
  type RetrievalPorts,
  type ScanBudget,
  STRATEGIES,
  type StrategySetting,
} from "../../src/core/retrieval.ts";
import type { Embedder } from "../../src/ports/embedder.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { containerModelOf } from "./container-models.ts";
import { BANK_DIMENSIONS, BANK_SCHEMA, randomBankArb } from "./random-bank.ts";

/** The query text starts with the index of a query vector: the engine embeds it like any other. */
function fixedEmbedder(queries: readonly Float32Array[]): Embedder {
  return {
    model: "fixed",
    dimensions: BANK_DIMENSIONS,
    embedQuery: async (text: string) => queries[Number.parseInt(text, 10)] as Float32Array,
    embedDocuments: async () => [],
  };
}

const WORDS = ["vault", "wire", "deposit", "box", "branch", "kite"] as const;

/** Words for a vector: each word whose component is positive, repeated more often the larger it is. */
function wordsOf(vector: Float32Array): string {
  const out: string[] = [];
  WORDS.forEach((word, i) => {
    const value = vector[i % vector.length] ?? 0;
    for (let r = 0; r < Math.ceil(value * 3); r++) out.push(word);
  });
  return out.join(" ");
}

function queryText(index: number, queries: readonly Float32Array[], ranking: Ranking): string {
  return ranking.kind === "hybrid" ? `${index} ${wordsOf(queries[index] as Float32Array)}` : String(index);
}

/**
 * The store's own exact ranking of every chunk (its scores and tie-break are tested against a reference
 * cosine elsewhere), cut at the k-th chunk the user and every agent may view, each checked one by one.
 */
async function oracle(
  deps: RetrievalPorts,
  total: number,
  query: Float32Array,
  text: string,
  ranking: Ranking,
  principal: { userId: string; agentIds: readonly string[] },
  k: number,
): Promise<string[]> {
  const { authorizer } = deps;
  const ranked = await deps.vectorStore.search({
    vector: query,
    k: total,
    ...(ranking.kind === "hybrid" ? { lexical: lexicalQuery(text, ranking) } : {}),
  });
  const kept: string[] = [];
  for (const chunk of ranked) {
    if (kept.length === k) break;
    const [type, id] = chunk.resource.split(":") as [string, string];
    let allowed = true;
    for (const subject of principalSubjects(principal)) {
      allowed &&= await authorizer.check({ entity: { type, id }, permission: "view", subject });
    }
    if (allowed) kept.push(chunk.id);
  }
  return kept;
}

const SETTINGS: readonly StrategySetting[] = ["adaptive", ...STRATEGIES];
const TINY_BUDGET: ScanBudget = { maxRounds: 1, maxCandidates: 3, maxMs: 1_000 };

/**
 * Runs the property `numRuns` times; `openStore` gives a new, empty store of `BANK_DIMENSIONS` for each
 * bank, which the property closes. Every path a strategy forced by configuration can take must have run;
 * with `adaptivePaths`, also adaptive's choice of each (its choice depends on measured times, so only a
 * run long enough to see both is asked for them).
 */
export async function expectStrategiesEqualOracle(
  openStore: () => Promise<VectorStore>,
  options: { numRuns: number; adaptivePaths: boolean; ranking?: Ranking },
): Promise<void> {
  const ranking: Ranking = options.ranking ?? { kind: "dense" };
  // What ran, so that the property cannot pass by never exercising a path.
  const seen = new Map<string, number>();
  const tally = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
  await fc.assert(
    fc.asyncProperty(randomBankArb, fc.integer({ min: 1, max: 12 }), async (bank, k) => {
      const authorizer = await createEmbeddedAuthorizer();
      await authorizer.writeSchema(BANK_SCHEMA);
      await authorizer.writeData({ tuples: bank.tuples.map(parseTuple) });
      const vectorStore = await openStore();
      const byDocument = new Map<string, EmbeddedChunk[]>();
      const chunks =
        ranking.kind === "hybrid"
          ? bank.chunks.map((chunk) => ({ ...chunk, text: `${chunk.text} ${wordsOf(chunk.vector)}` }))
          : bank.chunks;
      for (const chunk of chunks) {
        byDocument.set(chunk.documentId, [...(byDocument.get(chunk.documentId) ?? []), chunk]);
      }
      for (const [documentId, chunks] of byDocument) await vectorStore.replaceDocument(documentId, chunks);
      const deps: RetrievalPorts = { authorizer, vectorStore, embedder: fixedEmbedder(bank.queries) };
      const containerModel = containerModelOf(BANK_SCHEMA);
      const engines: [string, RetrievalEngine][] = SETTINGS.flatMap((strategy) => [
        [strategy, createRetrievalEngine({ ...deps, strategy, containerModel, ranking })],
        [
          `${strategy} (tiny budget)`,
          createRetrievalEngine({ ...deps, strategy, budget: TINY_BUDGET, containerModel, ranking }),
        ],
      ]);
      try {
        // Each principal asks every query twice, so the adaptive engines also run on their estimates.
        for (const principal of bank.principals) {
          for (const round of [0, 1]) {
            for (const [index, query] of bank.queries.entries()) {
              const text = queryText(index, bank.queries, ranking);
              const expected = await oracle(deps, bank.chunks.length, query, text, ranking, principal, k);
              for (const [name, engine] of engines) {
                const result = await engine.retrieve({ principal, query: text, k });
                expect(
                  result.passages.map((passage) => passage.id),
                  `${name}, round ${round}, ${JSON.stringify(principal)}, query ${index}, k ${k}`,
                ).toEqual(expected);
                expect(result.stats.returned).toBe(expected.length);
                tally(`${result.stats.chosenBy} ${result.stats.strategy} -> ${result.stats.finishedWith}`);
              }
            }
          }
        }
      } finally {
        await Promise.all([authorizer.close(), vectorStore.close()]);
      }
    }),
    { numRuns: options.numRuns },
  );
  for (const path of [
    ...(options.adaptivePaths
      ? ["adaptive post-filter -> post-filter", "adaptive pre-filter -> pre-filter"]
      : []),
    "configuration post-filter -> pre-filter",
    "configuration container-pre-filter -> container-pre-filter",
    "configuration container-pre-filter -> pre-filter",
  ]) {
    expect(seen.get(path), `${path} in ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
  }
}
