/**
 * The end-to-end benchmark's setup on its quick corpus (10,000 chunks), checked for correctness and never
 * timed: the principals read about the shares they were built for, the authorizer agrees with the
 * generator's reference, and every search returns the oracle's authorized top-k and nothing else.
 */
import { beforeAll, describe, expect, test } from "vitest";
import {
  type Bench,
  passageResource,
  runBench,
  type SearchPassage,
  search,
  setUpBench,
} from "../../../bench/e2e.ts";
import { generateCorpus, QUICK_CORPUS } from "../../../bench/e2e-corpus.ts";
import { hashText } from "../../../src/adapters/offline/hashing-embedder.ts";
import { readableResources } from "../../../src/core/retrieval.ts";

const K = 10;
/** Scores within this of each other may come back in either order (float32 sums in another order). */
const TIE = 1e-5;

let bench: Bench;
/** Each chunk's vector, computed here rather than read back from the store under test. */
let vectors: Float32Array[];

beforeAll(async () => {
  bench = await setUpBench(generateCorpus(QUICK_CORPUS));
  vectors = bench.corpus.chunks.map((chunk) => hashText(chunk.text, bench.embedder.dimensions));
});

/** Exact scan over every chunk the reference permits: the k best scores, best first. */
function oracleScores(query: string, readable: ReadonlySet<string>): number[] {
  const dims = bench.embedder.dimensions;
  const q = hashText(query, dims);
  const scores: number[] = [];
  for (const [index, chunk] of bench.corpus.chunks.entries()) {
    if (!readable.has(chunk.resource)) continue;
    const v = vectors[index] as Float32Array;
    let dot = 0;
    for (let i = 0; i < dims; i++) dot += (v[i] as number) * (q[i] as number);
    scores.push(dot);
  }
  return scores.sort((a, b) => b - a).slice(0, K);
}

function expectOracle(passages: readonly SearchPassage[], expected: readonly number[], where: string): void {
  expect(passages.length, where).toBe(expected.length);
  passages.forEach((passage, i) => {
    expect(Math.abs(passage.score - (expected[i] as number)), `${where}: score #${i}`).toBeLessThan(TIE);
  });
}

describe("e2e benchmark setup (quick corpus)", () => {
  test("builds 10,000 chunks, some in sections narrower than their document", () => {
    const { corpus } = bench;
    expect(corpus.chunks).toHaveLength(10_000);
    expect(new Set(corpus.chunks.map((c) => c.id)).size).toBe(10_000);
    const sectionChunks = corpus.chunks.filter((c) => c.resource.startsWith("section:"));
    expect(sectionChunks.length).toBeGreaterThan(0);
    expect(sectionChunks.length).toBeLessThan(corpus.chunks.length / 5);
  });

  test("each principal reads about the share it was built for", () => {
    const shares = bench.references.map((r) => r.chunks / bench.corpus.chunks.length);
    const byName = Object.fromEntries(bench.corpus.probes.map((p, i) => [p.name, shares[i]]));
    expect(byName["1%"]).toBeGreaterThanOrEqual(0.005);
    expect(byName["1%"]).toBeLessThanOrEqual(0.02);
    expect(byName["10%"]).toBeGreaterThanOrEqual(0.07);
    expect(byName["10%"]).toBeLessThanOrEqual(0.14);
    expect(byName["100%"]).toBe(1);
    expect(byName["10% (agent for the 100% user)"]).toBeGreaterThanOrEqual(0.07);
    expect(byName["10% (agent for the 100% user)"]).toBeLessThanOrEqual(0.14);
  });

  test("the authorizer permits exactly the reference's resources for every principal", async () => {
    for (const [i, probe] of bench.corpus.probes.entries()) {
      const readable = await readableResources(bench.authorizer, probe.principal);
      expect([...readable].sort(), probe.name).toEqual([...(bench.references[i]?.resources ?? [])].sort());
    }
  });

  test("searches return the authorized top-k of an exact scan, and only readable chunks", async () => {
    for (const [i, probe] of bench.corpus.probes.entries()) {
      const reference = bench.references[i]?.resources ?? new Set<string>();
      for (const query of bench.corpus.queries.slice(0, 5)) {
        const where = `${probe.name}: "${query}"`;
        const passages = await search(bench.authorized, bench.tokens[i] as string, query);
        for (const passage of passages) expect(reference.has(passageResource(passage)), where).toBe(true);
        expectOracle(passages, oracleScores(query, reference), where);
      }
    }
  });

  test("the baseline searches every chunk, and equals the 100% principal's results", async () => {
    const all = new Set(bench.corpus.chunks.map((c) => c.resource));
    const full = bench.corpus.probes.findIndex((p) => p.name === "100%");
    for (const query of bench.corpus.queries.slice(0, 5)) {
      const baseline = await search(bench.unauthorized, bench.tokens[0] as string, query);
      expectOracle(baseline, oracleScores(query, all), `baseline: "${query}"`);
      const authorized = await search(bench.authorized, bench.tokens[full] as string, query);
      expect(authorized.map((p) => p.chunkId)).toEqual(baseline.map((p) => p.chunkId));
    }
  });

  test("the measurement loop runs every case and checks every response", async () => {
    const result = await runBench(bench, { rounds: 2, warmupRounds: 1, seed: 1 });
    expect(result.baseline.samples).toBe(2);
    expect(result.warm.map((c) => c.samples)).toEqual(bench.corpus.probes.map(() => 2));
    expect(result.afterWrite.map((c) => c.samples)).toEqual(bench.corpus.probes.map(() => 2));
    // The writes it makes between rounds must not change who reads what.
    for (const [i, probe] of bench.corpus.probes.entries()) {
      const readable = await readableResources(bench.authorizer, probe.principal);
      expect(readable.size, probe.name).toBe(bench.references[i]?.resources.size);
    }
  });
});
