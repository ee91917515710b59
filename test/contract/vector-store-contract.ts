/**
 * The VectorStore port's contract as one suite that every adapter runs: the embedded store always, Qdrant
 * when QDRANT_URL is set. It asserts behaviour through the port only, against a brute-force oracle (naive
 * cosine over the chunks the test wrote), so an adapter passes by doing what the JSDoc says, not by
 * sharing the embedded store's internals.
 *
 * Scores are compared with a tolerance (a server may compute in float32 with its own summation order).
 * The tie rule (equal scores by chunk id ascending) is pinned with chunks whose vectors are identical,
 * which any store scores identically; two different vectors whose cosines are equal only on paper may
 * legitimately come out a rounding error apart.
 *
 * Reproduce a property failure with FC_SEED=<seed> FC_PATH=<path>; FC_NUM_RUNS=<n> runs a longer soak.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EmbeddedChunk, ScoredChunk } from "../../src/core/chunk.ts";
import { isAppError } from "../../src/core/errors.ts";
import type { VectorSearchRequest, VectorStore } from "../../src/ports/vector-store.ts";
import { cosine } from "../helpers/cosine.ts";

export interface VectorStoreOpenOptions {
  readonly dimensions: number;
  /**
   * A fresh directory per test, created and removed by the suite. Opening twice with the same `dataDir`
   * means "the same store again" (a restart); a server-backed opener maps it to one collection.
   */
  readonly dataDir: string;
}

export type OpenVectorStore = (options: VectorStoreOpenOptions) => Promise<VectorStore>;

export interface VectorStoreCapabilities {
  /** The content survives `close` and a new `open` on the same `dataDir`. */
  readonly persistent?: boolean;
}

const SCORE_TOLERANCE = 1e-5;
const DIMS = 4;

function runParameters(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  const runs = process.env.FC_NUM_RUNS;
  return {
    numRuns: runs ? Number(runs) : numRuns,
    ...(seed ? { seed: Number(seed) } : {}),
    ...(path ? { path } : {}),
  };
}

interface ChunkSpec {
  readonly vector: readonly number[];
  readonly section?: string;
  /** Defaults to `<documentId>.<ordinal>`. */
  readonly id?: string;
}

function makeChunk(documentId: string, ordinal: number, spec: ChunkSpec): EmbeddedChunk {
  return {
    id: spec.id ?? `${documentId}.${ordinal}`,
    resource: spec.section ? `section:${spec.section}` : `document:${documentId}`,
    documentId,
    ...(spec.section ? { sectionId: spec.section } : {}),
    title: `Title of ${documentId}`,
    text: `Text ${ordinal} of ${documentId}.`,
    ordinal,
    metadata: { collection: "public", owner: "user:alice", ...(ordinal % 2 ? { customer: "c1" } : {}) },
    vector: Float32Array.from(spec.vector),
  };
}

function makeDocument(documentId: string, specs: readonly ChunkSpec[]): EmbeddedChunk[] {
  return specs.map((spec, ordinal) => makeChunk(documentId, ordinal, spec));
}

/** What the port hands back for a stored chunk: every field but the vector. */
function withoutVector(chunk: EmbeddedChunk): Omit<EmbeddedChunk, "vector"> {
  const { vector: _vector, ...rest } = chunk;
  return rest;
}

function withoutScore(chunk: ScoredChunk): Omit<ScoredChunk, "score"> {
  const { score: _score, ...rest } = chunk;
  return rest;
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The brute-force oracle: the candidates in `resources`, best first by naive cosine, ties by id. */
function oracleRanking(
  chunks: readonly EmbeddedChunk[],
  query: readonly number[],
  resources?: ReadonlySet<string>,
): { chunk: EmbeddedChunk; score: number }[] {
  return chunks
    .filter((chunk) => resources === undefined || resources.has(chunk.resource))
    .map((chunk) => ({ chunk, score: cosine(chunk.vector, query) }))
    .sort((a, b) => b.score - a.score || byId(a.chunk, b.chunk));
}

function sameVector(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * `hits` is the page [offset, offset + k) of the oracle ranking: the right length, only candidates, each
 * chunk as written with its cosine, best first with exact ties by id, and at every position the oracle's
 * score (so a near-tie may swap places but nothing better is ever left out). Chunks with identical
 * vectors must follow the id rule across the page's edges too.
 */
function expectOraclePage(
  hits: readonly ScoredChunk[],
  chunks: readonly EmbeddedChunk[],
  query: readonly number[],
  k: number,
  resources: ReadonlySet<string> | undefined,
  offset = 0,
): void {
  const oracle = oracleRanking(chunks, query, resources);
  expect(hits).toHaveLength(Math.max(0, Math.min(k, oracle.length - offset)));
  const stored = new Map(chunks.map((chunk) => [chunk.id, chunk]));
  expect(new Set(hits.map((hit) => hit.id)).size).toBe(hits.length);
  hits.forEach((hit, i) => {
    const chunk = stored.get(hit.id);
    expect(chunk, `${hit.id} was never written`).toBeDefined();
    if (resources) expect(resources.has(hit.resource), `${hit.id} lies outside the resources`).toBe(true);
    expect(withoutScore(hit)).toEqual(withoutVector(chunk as EmbeddedChunk));
    expect(Math.abs(hit.score - cosine((chunk as EmbeddedChunk).vector, query))).toBeLessThan(
      SCORE_TOLERANCE,
    );
    expect(Math.abs(hit.score - (oracle[offset + i]?.score as number))).toBeLessThan(SCORE_TOLERANCE);
    const previous = hits[i - 1];
    if (previous) {
      expect(previous.score).toBeGreaterThanOrEqual(hit.score);
      if (previous.score === hit.score) expect(byId(previous, hit)).toBe(-1);
    }
  });
  // Identical vectors score identically, so their order is the id order wherever the page cuts.
  for (const hit of hits) {
    const vector = (stored.get(hit.id) as EmbeddedChunk).vector;
    for (const { chunk } of oracle) {
      if (chunk.id === hit.id || !sameVector(chunk.vector, vector)) continue;
      if (hits.some((other) => other.id === chunk.id)) continue;
      if (chunk.id < hit.id)
        expect(offset, `${chunk.id} ties with ${hit.id}: it comes first`).toBeGreaterThan(0);
      else expect(hits.length, `${chunk.id} ties with ${hit.id}: it comes after`).toBe(k);
    }
  }
}

async function expectBadRequest(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isAppError(error, "BAD_REQUEST"), `expected AppError BAD_REQUEST, got ${String(error)}`).toBe(true);
}

/** A small corpus in 4 dimensions with exact ties (twins and a triple), sections and ids out of order. */
function sampleCorpus(): Map<string, EmbeddedChunk[]> {
  return new Map([
    [
      "alpha",
      makeDocument("alpha", [
        { vector: [1, 0, 0, 0], id: "m-alpha" },
        { vector: [1, 1, 0, 0], id: "b-alpha" },
        { vector: [0, 1, 0, 0], id: "z-alpha", section: "alpha-private" },
        { vector: [0, 0, 1, 0], id: "k-alpha" },
      ]),
    ],
    [
      "beta",
      makeDocument("beta", [
        { vector: [1, 0, 0, 0], id: "a-beta" },
        { vector: [1, 1, 0, 0], id: "y-beta", section: "beta-vip" },
        { vector: [-1, 0, 0, 0], id: "c-beta" },
      ]),
    ],
    [
      "gamma",
      makeDocument("gamma", [
        { vector: [1, 0, 0, 0], id: "n-gamma", section: "gamma-s" },
        { vector: [2, 1, 0, 1], id: "d-gamma" },
        { vector: [0, 0, 0, 3], id: "e-gamma" },
        { vector: [1, 2, 3, 4], id: "f-gamma" },
        { vector: [0.5, 0.5, 0, 0], id: "g-gamma" },
      ]),
    ],
  ]);
}

const QUERIES: readonly (readonly number[])[] = [
  [1, 0, 0, 0],
  [1, 1, 0, 0],
  [0, 0, 0, 1],
  [-1, 2, 0.5, 0],
  [3, 1, 4, 1],
];

export function describeVectorStoreContract(
  name: string,
  open: OpenVectorStore,
  capabilities: VectorStoreCapabilities = {},
): void {
  describe(`VectorStore contract: ${name}`, () => {
    let dataDir = "";
    let opened: VectorStore[] = [];

    beforeEach(async () => {
      dataDir = await mkdtemp(join(tmpdir(), "clearance-contract-"));
      opened = [];
    });

    afterEach(async () => {
      const stores = opened;
      opened = [];
      await Promise.all(stores.map((store) => store.close()));
      await rm(dataDir, { recursive: true, force: true });
    });

    async function openStore(options: { dimensions?: number; dataDir?: string } = {}): Promise<VectorStore> {
      const store = await open({
        dimensions: options.dimensions ?? DIMS,
        dataDir: options.dataDir ?? dataDir,
      });
      opened.push(store);
      return store;
    }

    async function closeStore(store: VectorStore): Promise<void> {
      opened = opened.filter((other) => other !== store);
      await store.close();
    }

    async function load(store: VectorStore, corpus: Map<string, EmbeddedChunk[]>): Promise<EmbeddedChunk[]> {
      for (const [documentId, chunks] of corpus) await store.replaceDocument(documentId, chunks);
      return [...corpus.values()].flat();
    }

    function search(store: VectorStore, query: readonly number[], rest: Omit<VectorSearchRequest, "vector">) {
      return store.search({ vector: Float32Array.from(query), ...rest });
    }

    it("reads back what replaceDocument wrote: chunks in ordinal order, documents ascending, counts", async () => {
      const store = await openStore();
      expect(await store.count()).toBe(0);
      expect(await store.listDocuments()).toEqual([]);
      // Written out of ordinal order, and documents out of id order.
      const zeta = makeDocument("zeta", [
        { vector: [1, 0, 0, 0] },
        { vector: [0, 1, 0, 0], section: "zeta-s" },
      ]);
      const shuffled = [zeta[1] as EmbeddedChunk, zeta[0] as EmbeddedChunk];
      await store.replaceDocument("zeta", shuffled);
      const corpus = sampleCorpus();
      const all = [...(await load(store, corpus)), ...zeta];

      expect(await store.listDocuments()).toEqual(["alpha", "beta", "gamma", "zeta"]);
      expect(await store.count()).toBe(all.length);
      for (const [documentId, chunks] of [...corpus, ["zeta", zeta] as const]) {
        const read = await store.documentChunks(documentId);
        expect(read.map(withoutScore)).toEqual(chunks.map(withoutVector));
      }
      expect(await store.documentChunks("absent")).toEqual([]);
    });

    it("is idempotent: writing the same chunks again changes nothing", async () => {
      const store = await openStore();
      const corpus = sampleCorpus();
      const all = await load(store, corpus);
      const before = await Promise.all(QUERIES.map((query) => search(store, query, { k: all.length })));
      await load(store, corpus);
      await load(store, sampleCorpus());
      expect(await store.count()).toBe(all.length);
      expect(await store.listDocuments()).toEqual(["alpha", "beta", "gamma"]);
      const after = await Promise.all(QUERIES.map((query) => search(store, query, { k: all.length })));
      expect(after).toEqual(before);
    });

    it("replacing a document with fewer chunks removes the ones it no longer has", async () => {
      const store = await openStore();
      const corpus = sampleCorpus();
      await load(store, corpus);
      const gamma = makeDocument("gamma", [
        { vector: [0, 0, 0, 1], id: "e-gamma" },
        { vector: [0, 1, 0, 0], id: "h-gamma" },
      ]);
      await store.replaceDocument("gamma", gamma);
      corpus.set("gamma", gamma);
      const all = [...corpus.values()].flat();

      expect(await store.count()).toBe(all.length);
      expect((await store.documentChunks("gamma")).map(withoutScore)).toEqual(gamma.map(withoutVector));
      expect(await store.count(new Set(["section:gamma-s"]))).toBe(0);
      const everything = await search(store, [1, 2, 3, 4], { k: 100 });
      expect(everything.map((hit) => hit.id).sort()).toEqual(all.map((chunk) => chunk.id).sort());
      for (const query of QUERIES)
        expectOraclePage(await search(store, query, { k: 100 }), all, query, 100, undefined);
    });

    it("ranks best first by cosine with ties by chunk id, scores the cosine, and returns at most k", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      for (const query of QUERIES) {
        for (const k of [0, 1, 2, 3, 5, all.length, all.length + 5])
          expectOraclePage(await search(store, query, { k }), all, query, k, undefined);
      }
      // The triple [1,0,0,0] ties exactly; its order is the id order, and k cuts it by id too.
      const top = await search(store, [1, 0, 0, 0], { k: 2 });
      expect(top.map((hit) => hit.id)).toEqual(["a-beta", "m-alpha"]);
      expect(top[0]?.score).toBeCloseTo(1, 5);
      const opposite = await search(store, [1, 0, 0, 0], { k: all.length });
      expect(opposite.at(-1)?.id).toBe("c-beta");
      expect(opposite.at(-1)?.score).toBeCloseTo(-1, 5);
    });

    it("searches only inside a resource set; an empty set matches nothing", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      const sets = [
        ["document:alpha"],
        ["section:alpha-private", "document:beta"],
        ["section:beta-vip", "section:gamma-s", "document:nowhere"],
        ["document:nowhere", "section:nowhere"],
      ];
      for (const names of sets) {
        const resources = new Set(names);
        for (const query of QUERIES) {
          for (const k of [1, 2, all.length]) {
            const hits = await search(store, query, { k, resources });
            expectOraclePage(hits, all, query, k, resources);
          }
        }
      }
      expect(await search(store, [1, 0, 0, 0], { k: 10, resources: new Set() })).toEqual([]);
      // A document's resource does not reach the chunks of its narrower sections.
      const alpha = await search(store, [0, 1, 0, 0], { k: 10, resources: new Set(["document:alpha"]) });
      expect(alpha.map((hit) => hit.id).sort()).toEqual(["b-alpha", "k-alpha", "m-alpha"]);
    });

    it("restricts to a set of 5,000 resources, most of them absent, exactly", async () => {
      const store = await openStore();
      const corpus = new Map<string, EmbeddedChunk[]>();
      for (let d = 0; d < 40; d++) {
        const documentId = `doc${d}`;
        corpus.set(
          documentId,
          makeDocument(
            documentId,
            Array.from({ length: 3 }, (_, c) => ({
              vector: [((d * 7 + c) % 5) - 2, ((d + c * 3) % 4) - 1, (d % 3) + 1, c - 1],
              ...(c === 2 ? { section: `${documentId}-s` } : {}),
            })),
          ),
        );
      }
      const all = await load(store, corpus);
      const present = [
        "document:doc3",
        "section:doc3-s",
        "document:doc17",
        "section:doc28-s",
        "document:doc39",
      ];
      const resources = new Set(present);
      for (let i = 0; resources.size < 5_000; i++)
        resources.add(i % 2 ? `document:absent${i}` : `section:absent${i}`);
      const inside = all.filter((chunk) => resources.has(chunk.resource));
      expect(inside).toHaveLength(8);

      expect(await store.count(resources)).toBe(8);
      for (const query of QUERIES) {
        const hits = await search(store, query, { k: 50, resources });
        expect(hits.map((hit) => hit.id).sort()).toEqual(inside.map((chunk) => chunk.id).sort());
        expectOraclePage(hits, all, query, 50, resources);
        expectOraclePage(await search(store, query, { k: 3, resources }), all, query, 3, resources);
      }
    });

    it("never returns a chunk outside the resource set: equals the filtered brute-force ranking", async () => {
      const documents = ["d0", "d1", "d2", "d3"];
      const sections = ["s0", "s1"];
      const resourceNames = [
        ...documents.map((d) => `document:${d}`),
        ...sections.map((s) => `section:${s}`),
      ];
      const nonZero = (dims: number) =>
        fc
          .array(fc.integer({ min: -2, max: 2 }), { minLength: dims, maxLength: dims })
          .filter((vector) => vector.some((value) => value !== 0));
      const caseArb = fc.integer({ min: 1, max: 5 }).chain((dims) =>
        fc.record({
          dims: fc.constant(dims),
          documents: fc.uniqueArray(
            fc.record({
              documentId: fc.constantFrom(...documents),
              chunks: fc.array(
                fc.record({
                  vector: nonZero(dims),
                  section: fc.option(fc.constantFrom(...sections), { nil: undefined }),
                }),
                { minLength: 1, maxLength: 5 },
              ),
            }),
            { selector: (document) => document.documentId, maxLength: documents.length },
          ),
          queries: fc.array(
            fc.record({
              vector: nonZero(dims),
              k: fc.integer({ min: 1, max: 8 }),
              resources: fc.subarray([...resourceNames, "document:ghost"]),
            }),
            { minLength: 1, maxLength: 4 },
          ),
        }),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(caseArb, async (sample) => {
          const runDir = join(dataDir, `run-${run++}`);
          await mkdir(runDir);
          const store = await openStore({ dimensions: sample.dims, dataDir: runDir });
          try {
            const all: EmbeddedChunk[] = [];
            for (const { documentId, chunks } of sample.documents) {
              // Ids interleave across documents and disagree with ordinal order.
              const written = chunks.map((spec, ordinal) =>
                makeChunk(documentId, ordinal, {
                  ...spec,
                  id: `c${(ordinal * 7) % 5}-${documentId}-${ordinal}`,
                }),
              );
              await store.replaceDocument(documentId, written);
              all.push(...written);
            }
            for (const { vector, k, resources: names } of sample.queries) {
              const resources = new Set(names);
              const query = Float32Array.from(vector);
              const hits = await store.search({ vector: query, k, resources });
              expectOraclePage(hits, all, vector, k, resources);
              // The same ranking as the unrestricted search, filtered and cut.
              const ranking = await store.search({ vector: query, k: all.length });
              expect(hits.map((hit) => hit.id)).toEqual(
                ranking
                  .filter((hit) => resources.has(hit.resource))
                  .slice(0, k)
                  .map((hit) => hit.id),
              );
              expect(await store.count(resources)).toBe(all.filter((c) => resources.has(c.resource)).length);
            }
          } finally {
            await closeStore(store);
          }
        }),
        runParameters(50),
      );
    });

    it("pages by offset: consecutive pages concatenate to the full ranking", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      const restricted = new Set(["document:alpha", "document:gamma", "section:beta-vip"]);
      for (const query of QUERIES) {
        for (const resources of [undefined, restricted]) {
          const scope = resources ? { resources } : {};
          const full = await search(store, query, { k: all.length, ...scope });
          const pages: ScoredChunk[] = [];
          for (let offset = 0; offset < full.length + 3; offset += 3) {
            const page = await search(store, query, { k: 3, offset, ...scope });
            expectOraclePage(page, all, query, 3, resources, offset);
            pages.push(...page);
          }
          expect(pages).toEqual(full);
          expect(await search(store, query, { k: 3, offset: full.length, ...scope })).toEqual([]);
          expect(await search(store, query, { k: 3, offset: full.length + 100, ...scope })).toEqual([]);
          expect(await search(store, query, { k: 3, offset: 0, ...scope })).toEqual(full.slice(0, 3));
          expect(await search(store, query, { k: 0, offset: 2, ...scope })).toEqual([]);
        }
      }
    });

    it("rejects a negative or non-integer offset with BAD_REQUEST", async () => {
      const store = await openStore();
      await load(store, sampleCorpus());
      for (const offset of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
        await expectBadRequest(search(store, [1, 0, 0, 0], { k: 3, offset }));
    });

    it("deletes a document's chunks, leaves the others, and counts 0 for an absent document", async () => {
      const store = await openStore();
      const corpus = sampleCorpus();
      const all = await load(store, corpus);
      const gamma = corpus.get("gamma") as EmbeddedChunk[];
      const before = await store.documentChunks("alpha");

      expect(await store.deleteDocument("gamma")).toBe(gamma.length);
      const rest = all.filter((chunk) => chunk.documentId !== "gamma");
      expect(await store.count()).toBe(rest.length);
      expect(await store.listDocuments()).toEqual(["alpha", "beta"]);
      expect(await store.documentChunks("gamma")).toEqual([]);
      expect(await store.documentChunks("alpha")).toEqual(before);
      expect(await store.count(new Set(["document:gamma", "section:gamma-s"]))).toBe(0);
      for (const query of QUERIES)
        expectOraclePage(await search(store, query, { k: 100 }), rest, query, 100, undefined);

      expect(await store.deleteDocument("gamma")).toBe(0);
      expect(await store.deleteDocument("never-written")).toBe(0);
      expect(await store.count()).toBe(rest.length);
    });

    it.skipIf(!capabilities.persistent)("keeps its content across a restart on the same data", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      await store.deleteDocument("beta");
      await store.replaceDocument("delta", makeDocument("delta", [{ vector: [0, 1, 1, 0] }]));
      const restricted = new Set(["document:alpha", "document:delta"]);
      const snapshot = async (s: VectorStore) => ({
        documents: await s.listDocuments(),
        count: await s.count(),
        counted: await s.count(restricted),
        chunks: await Promise.all(["alpha", "gamma", "delta"].map((d) => s.documentChunks(d))),
        hits: await Promise.all(QUERIES.map((query) => search(s, query, { k: all.length }))),
        restricted: await Promise.all(
          QUERIES.map((query) => search(s, query, { k: 3, resources: restricted })),
        ),
      });
      const before = await snapshot(store);
      expect(before.documents).toEqual(["alpha", "delta", "gamma"]);
      await closeStore(store);

      const reopened = await openStore();
      expect(await snapshot(reopened)).toEqual(before);
    });

    it("counts only the chunks in the given resources", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      const cases = [
        [],
        ["document:alpha"],
        ["section:alpha-private"],
        ["document:alpha", "section:alpha-private", "document:nowhere"],
        ["document:beta", "section:beta-vip", "section:gamma-s", "document:gamma"],
      ];
      for (const names of cases) {
        const resources = new Set(names);
        expect(await store.count(resources)).toBe(
          all.filter((chunk) => resources.has(chunk.resource)).length,
        );
      }
      expect(await store.count()).toBe(all.length);
    });
  });
}
