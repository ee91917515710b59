/**
 * The VectorStore port's contract as one suite that every adapter runs: the embedded store and a real
 * Qdrant (test/contract/qdrant.test.ts). It asserts behaviour through the port only, against a brute-force oracle (naive
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
import {
  type ChunkMetadata,
  containerKeys,
  type EmbeddedChunk,
  type ScoredChunk,
} from "../../src/core/chunk.ts";
import type { VectorSearchRequest, VectorStore } from "../../src/ports/vector-store.ts";
import { cosine } from "../helpers/cosine.ts";
import { expectAppError } from "../helpers/errors.ts";
import { runParameters } from "../helpers/fast-check.ts";

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

interface ChunkSpec {
  readonly vector: readonly number[];
  readonly section?: string;
  /** Defaults to `<documentId>.<ordinal>`. */
  readonly id?: string;
}

/** The ACL metadata of a document: every chunk of one document carries the same. */
const PUBLIC_METADATA: ChunkMetadata = { collection: "public", owner: "user:alice" };

function makeChunk(
  documentId: string,
  ordinal: number,
  spec: ChunkSpec,
  metadata: ChunkMetadata = PUBLIC_METADATA,
): EmbeddedChunk {
  return {
    id: spec.id ?? `${documentId}.${ordinal}`,
    resource: spec.section ? `section:${spec.section}` : `document:${documentId}`,
    documentId,
    ...(spec.section ? { sectionId: spec.section } : {}),
    title: `Title of ${documentId}`,
    text: `Text ${ordinal} of ${documentId}.`,
    ordinal,
    metadata,
    vector: Float32Array.from(spec.vector),
  };
}

function makeDocument(
  documentId: string,
  specs: readonly ChunkSpec[],
  metadata: ChunkMetadata = PUBLIC_METADATA,
): EmbeddedChunk[] {
  return specs.map((spec, ordinal) => makeChunk(documentId, ordinal, spec, metadata));
}

function cosineOf(vector: Float32Array, query: readonly number[]): number {
  let dot = 0;
  let a = 0;
  let b = 0;
  query.forEach((q, i) => {
    const v = vector[i] ?? 0;
    dot += v * q;
    a += v * v;
    b += q * q;
  });
  return a === 0 || b === 0 ? 0 : dot / Math.sqrt(a * b);
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

/** What restricts a search: absent both, every chunk is a candidate. */
type Scope = Pick<VectorSearchRequest, "resources" | "containers">;

/**
 * The port's candidate rule: with `resources` or `containers`, a chunk whose resource is in `resources` or
 * that carries a container key (`containerKeys`) in `containers`, an absent set counting as empty.
 */
function inScope(chunk: EmbeddedChunk | ScoredChunk, scope: Scope | undefined): boolean {
  const { resources, containers } = scope ?? {};
  if (resources === undefined && containers === undefined) return true;
  if (resources?.has(chunk.resource)) return true;
  return containers !== undefined && containerKeys(chunk).some((key) => containers.has(key));
}

/** The brute-force oracle: the candidates in `scope`, best first by naive cosine, ties by id. */
function oracleRanking(
  chunks: readonly EmbeddedChunk[],
  query: readonly number[],
  scope?: Scope,
): { chunk: EmbeddedChunk; score: number }[] {
  return chunks
    .filter((chunk) => inScope(chunk, scope))
    .map((chunk) => ({ chunk, score: cosine(chunk.vector, query) }))
    .sort((a, b) => b.score - a.score || byId(a.chunk, b.chunk));
}

function sameVector(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * `hits` is the page [offset, offset + k) of the oracle ranking over `scope`: the right length, only
 * candidates, each chunk as written with its cosine, best first with exact ties by id, and at every
 * position the oracle's score (so a near-tie may swap places but nothing better is ever left out). Chunks
 * with identical vectors must follow the id rule across the page's edges too.
 */
function expectOraclePage(
  hits: readonly ScoredChunk[],
  chunks: readonly EmbeddedChunk[],
  query: readonly number[],
  k: number,
  scope: Scope | undefined,
  offset = 0,
): void {
  const oracle = oracleRanking(chunks, query, scope);
  expect(hits).toHaveLength(Math.max(0, Math.min(k, oracle.length - offset)));
  const stored = new Map(chunks.map((chunk) => [chunk.id, chunk]));
  expect(new Set(hits.map((hit) => hit.id)).size).toBe(hits.length);
  hits.forEach((hit, i) => {
    const chunk = stored.get(hit.id);
    expect(chunk, `${hit.id} was never written`).toBeDefined();
    expect(inScope(hit, scope), `${hit.id} lies outside the scope`).toBe(true);
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

const RETAIL_METADATA: ChunkMetadata = { collection: "retail", owner: "team:legal#member", customer: "c1" };
const BOB_METADATA: ChunkMetadata = { collection: "public", owner: "user:bob", customer: "c2" };

/**
 * A small corpus in 4 dimensions with exact ties (twins and a triple), sections and ids out of order, and
 * three documents in different containers: alpha (public, alice), beta (retail, a team, customer c1),
 * gamma (public, bob, customer c2).
 */
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
      makeDocument(
        "beta",
        [
          { vector: [1, 0, 0, 0], id: "a-beta" },
          { vector: [1, 1, 0, 0], id: "y-beta", section: "beta-vip" },
          { vector: [-1, 0, 0, 0], id: "c-beta" },
        ],
        RETAIL_METADATA,
      ),
    ],
    [
      "gamma",
      makeDocument(
        "gamma",
        [
          { vector: [1, 0, 0, 0], id: "n-gamma", section: "gamma-s" },
          { vector: [2, 1, 0, 1], id: "d-gamma" },
          { vector: [0, 0, 0, 3], id: "e-gamma" },
          { vector: [1, 2, 3, 4], id: "f-gamma" },
          { vector: [0.5, 0.5, 0, 0], id: "g-gamma" },
        ],
        BOB_METADATA,
      ),
    ],
  ]);
}

/**
 * The sample corpus and one more document whose container keys are near misses of others': customer c1
 * in another collection, and the owner `team:legal`, the team itself rather than its members.
 */
function containerCorpus(): Map<string, EmbeddedChunk[]> {
  const corpus = sampleCorpus();
  corpus.set(
    "delta",
    makeDocument(
      "delta",
      [
        { vector: [1, 0, 0, 0], id: "h-delta" },
        { vector: [0, 1, 1, 0], id: "p-delta", section: "delta-s" },
        { vector: [1, 1, 0, 0], id: "b2-delta" },
      ],
      { collection: "branch", owner: "team:legal", customer: "c1" },
    ),
  );
  return corpus;
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
    /**
     * One test's directory and stores. A test that outlives its timeout keeps running in the background:
     * what it holds is its own scope, which refuses new stores once the test is over, so it can never
     * open a store in (or leave one to) the next test.
     */
    interface TestScope {
      readonly dataDir: string;
      readonly opened: Set<VectorStore>;
      over: boolean;
    }
    let current: TestScope | undefined;

    beforeEach(async () => {
      current = {
        dataDir: await mkdtemp(join(tmpdir(), "clearance-contract-")),
        opened: new Set(),
        over: false,
      };
    });

    afterEach(async () => {
      const scope = current as TestScope;
      current = undefined;
      scope.over = true;
      await Promise.all([...scope.opened].map((store) => store.close()));
      await rm(scope.dataDir, { recursive: true, force: true });
    });

    function testScope(): TestScope {
      if (current === undefined) throw new Error("no test is running");
      return current;
    }

    async function openStore(
      options: { dimensions?: number; dataDir?: string; scope?: TestScope } = {},
    ): Promise<VectorStore> {
      const scope = options.scope ?? testScope();
      if (scope.over) throw new Error("the test is over: no new store");
      const store = await open({
        dimensions: options.dimensions ?? DIMS,
        dataDir: options.dataDir ?? scope.dataDir,
      });
      if (scope.over) {
        await store.close();
        throw new Error("the test is over: no new store");
      }
      scope.opened.add(store);
      return store;
    }

    async function closeStore(store: VectorStore, scope = current): Promise<void> {
      scope?.opened.delete(store);
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
        expect(read).toEqual(chunks.map(withoutVector));
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
      expect(await store.documentChunks("gamma")).toEqual(gamma.map(withoutVector));
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
            expectOraclePage(hits, all, query, k, { resources });
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
        expectOraclePage(hits, all, query, 50, { resources });
        expectOraclePage(await search(store, query, { k: 3, resources }), all, query, 3, { resources });
      }
    });

    it("searches inside containers alone: a chunk matches through any one of its container keys", async () => {
      const store = await openStore();
      const all = await load(store, containerCorpus());
      const sets = [
        ["collection:public"],
        ["collection:retail"],
        ["owner:user:bob", "collection:nowhere"],
        ["collection:branch", "owner:user:alice"],
        ["document:gamma"],
        ["customer:nobody", "owner:user:nobody", "collection:nowhere", "document:nowhere"],
      ];
      for (const keys of sets) {
        const scope = { containers: new Set(keys) };
        for (const query of QUERIES) {
          for (const k of [1, 2, all.length])
            expectOraclePage(await search(store, query, { k, ...scope }), all, query, k, scope);
        }
      }
      // A container reaches every chunk of its documents, sections included.
      const retail = await search(store, [1, 0, 0, 0], {
        k: 100,
        containers: new Set(["collection:retail"]),
      });
      expect(retail.map((hit) => hit.id).sort()).toEqual(["a-beta", "c-beta", "y-beta"]);
      expect(
        await search(store, [1, 0, 0, 0], { k: 10, containers: new Set(["collection:nowhere"]) }),
      ).toEqual([]);
    });

    it("searches the union of resources and containers, ranked like the brute-force scan of the union", async () => {
      const store = await openStore();
      const all = await load(store, containerCorpus());
      const scopes: Scope[] = [
        // Disjoint: a public document's resource and the retail collection.
        { resources: new Set(["document:alpha"]), containers: new Set(["collection:retail"]) },
        // Overlapping: the resource lies in the container too, and is returned once.
        { resources: new Set(["document:beta", "section:gamma-s"]), containers: new Set(["owner:user:bob"]) },
        {
          resources: new Set(["section:alpha-private", "document:nowhere"]),
          containers: new Set(["customer:c1"]),
        },
        { resources: new Set(["document:delta"]), containers: new Set() },
        { resources: new Set(), containers: new Set(["collection:branch"]) },
      ];
      for (const scope of scopes) {
        for (const query of QUERIES) {
          for (const k of [1, 3, all.length]) {
            const hits = await search(store, query, { k, ...scope });
            expectOraclePage(hits, all, query, k, scope);
            // The union, exactly: the reference ranking over every chunk in either.
            const union = all.filter(
              (chunk) =>
                scope.resources?.has(chunk.resource) ||
                containerKeys(chunk).some((key) => scope.containers?.has(key)),
            );
            const reference = union
              .map((chunk) => ({ id: chunk.id, score: cosine(chunk.vector, query) }))
              .sort((a, b) => b.score - a.score || byId(a, b));
            expect(hits.length).toBe(Math.min(k, reference.length));
            for (const [i, hit] of hits.entries())
              expect(Math.abs(hit.score - (reference[i]?.score as number))).toBeLessThan(SCORE_TOLERANCE);
          }
        }
      }
      // A document's resource still does not reach its sections when a container is asked for beside it.
      const alpha = await search(store, [0, 1, 0, 0], {
        k: 100,
        resources: new Set(["document:alpha"]),
        containers: new Set(["collection:retail"]),
      });
      expect(alpha.map((hit) => hit.id).sort()).toEqual([
        "a-beta",
        "b-alpha",
        "c-beta",
        "k-alpha",
        "m-alpha",
        "y-beta",
      ]);
    });

    it("matches nothing when the scope is empty: empty containers with resources absent or empty", async () => {
      const store = await openStore();
      await load(store, containerCorpus());
      for (const query of QUERIES) {
        expect(await search(store, query, { k: 10, containers: new Set() })).toEqual([]);
        expect(await search(store, query, { k: 10, containers: new Set(), resources: new Set() })).toEqual(
          [],
        );
        expect(await search(store, query, { k: 10, containers: new Set(), offset: 2 })).toEqual([]);
      }
    });

    it("a customer key matches only the chunks of that customer's documents", async () => {
      const store = await openStore();
      const all = await load(store, containerCorpus());
      for (const customer of ["c1", "c2"]) {
        const scope = { containers: new Set([`customer:${customer}`]) };
        const hits = await search(store, [1, 1, 1, 1], { k: 100, ...scope });
        expect(hits.map((hit) => hit.id).sort()).toEqual(
          all
            .filter((chunk) => chunk.metadata.customer === customer)
            .map((chunk) => chunk.id)
            .sort(),
        );
        for (const hit of hits) expect(hit.metadata.customer).toBe(customer);
        expectOraclePage(hits, all, [1, 1, 1, 1], 100, scope);
      }
      // alpha has no customer: no customer key reaches it.
      const any = await search(store, [1, 0, 0, 0], {
        k: 100,
        containers: new Set(["customer:c1", "customer:c2"]),
      });
      expect(any.some((hit) => hit.documentId === "alpha")).toBe(false);
    });

    it("an owner key works for userset subjects (owner:team:legal#member), exactly, not by prefix", async () => {
      const store = await openStore();
      const all = await load(store, containerCorpus());
      const members = await search(store, [1, 0, 0, 0], {
        k: 100,
        containers: new Set(["owner:team:legal#member"]),
      });
      expect(members.map((hit) => hit.id).sort()).toEqual(["a-beta", "c-beta", "y-beta"]);
      const team = await search(store, [1, 0, 0, 0], { k: 100, containers: new Set(["owner:team:legal"]) });
      expect(team.map((hit) => hit.id).sort()).toEqual(["b2-delta", "h-delta", "p-delta"]);
      for (const keys of [
        ["owner:team:legal#member"],
        ["owner:team:legal"],
        ["owner:team"],
        ["owner:team:"],
      ]) {
        const scope = { containers: new Set(keys) };
        for (const query of QUERIES)
          expectOraclePage(await search(store, query, { k: 4, ...scope }), all, query, 4, scope);
      }
      expect(await search(store, [1, 0, 0, 0], { k: 100, containers: new Set(["owner:team"]) })).toEqual([]);
    });

    it("restricts to a set of 5,000 container keys, most of them absent, exactly", async () => {
      const store = await openStore();
      const corpus = new Map<string, EmbeddedChunk[]>();
      for (let d = 0; d < 40; d++) {
        const documentId = `doc${d}`;
        const metadata: ChunkMetadata = {
          collection: `col${d % 8}`,
          owner: d % 5 === 0 ? `team:t${d % 3}#member` : `user:u${d % 7}`,
          ...(d % 4 === 1 ? { customer: `cust${d % 6}` } : {}),
        };
        corpus.set(
          documentId,
          makeDocument(
            documentId,
            Array.from({ length: 3 }, (_, c) => ({
              vector: [((d * 7 + c) % 5) - 2, ((d + c * 3) % 4) - 1, (d % 3) + 1, c - 1],
              ...(c === 2 ? { section: `${documentId}-s` } : {}),
            })),
            metadata,
          ),
        );
      }
      const all = await load(store, corpus);
      const present = ["collection:col3", "customer:cust5", "owner:team:t1#member"];
      const containers = new Set(present);
      const kinds = ["collection:absent", "customer:absent", "owner:user:absent", "owner:team:absent#member"];
      for (let i = 0; containers.size < 5_000; i++) containers.add(`${kinds[i % kinds.length]}${i}`);
      const scope = { containers };
      const inside = all.filter((chunk) => inScope(chunk, scope));
      expect(inside.length).toBeGreaterThan(6);
      expect(inside.length).toBeLessThan(all.length / 2);

      for (const query of QUERIES) {
        const hits = await search(store, query, { k: 50, containers });
        expect(hits.map((hit) => hit.id).sort()).toEqual(inside.map((chunk) => chunk.id).sort());
        expectOraclePage(hits, all, query, 50, scope);
        expectOraclePage(await search(store, query, { k: 3, containers }), all, query, 3, scope);
        const withResources = { containers, resources: new Set(["document:doc2", "section:doc4-s"]) };
        expectOraclePage(
          await search(store, query, { k: 50, ...withResources }),
          all,
          query,
          50,
          withResources,
        );
      }
    });

    it("rejects containers that are not a Set with BAD_REQUEST", async () => {
      const store = await openStore();
      await load(store, sampleCorpus());
      for (const containers of [["collection:public"], "collection:public", { "collection:public": true }])
        await expectAppError(
          search(store, [1, 0, 0, 0], { k: 3, containers: containers as unknown as ReadonlySet<string> }),
          "BAD_REQUEST",
        );
    });

    it("never returns a chunk outside the resource set or containers: equals the filtered brute-force ranking", async ({
      signal,
    }) => {
      const scope = testScope();
      const documents = ["d0", "d1", "d2", "d3"];
      const sections = ["s0", "s1"];
      const resourceNames = [
        ...documents.map((d) => `document:${d}`),
        ...sections.map((s) => `section:${s}`),
      ];
      const metadataPool: ChunkMetadata[] = [
        PUBLIC_METADATA,
        RETAIL_METADATA,
        BOB_METADATA,
        { collection: "retail", owner: "user:alice", customer: "c2" },
      ];
      // Sections are shared by documents, so one section's chunks may lie in several containers.
      const containerNames = [
        ...new Set(metadataPool.flatMap((metadata) => containerKeys({ documentId: "d0", metadata }))),
        ...documents.map((d) => `document:${d}`),
        "collection:ghost",
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
              metadata: fc.constantFrom(...metadataPool),
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
              containers: fc.option(fc.subarray(containerNames), { nil: undefined }),
            }),
            { minLength: 1, maxLength: 4 },
          ),
        }),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(caseArb, async (sample) => {
          // Past the test's timeout, stop rather than run on against the next test's stores.
          if (signal.aborted) throw new Error("the test timed out");
          const runDir = join(scope.dataDir, `run-${run++}`);
          await mkdir(runDir);
          const store = await openStore({ dimensions: sample.dims, dataDir: runDir, scope });
          try {
            const all: EmbeddedChunk[] = [];
            for (const { documentId, metadata, chunks } of sample.documents) {
              // Ids interleave across documents and disagree with ordinal order.
              const written = chunks.map((spec, ordinal) =>
                makeChunk(
                  documentId,
                  ordinal,
                  { ...spec, id: `c${(ordinal * 7) % 5}-${documentId}-${ordinal}` },
                  metadata,
                ),
              );
              await store.replaceDocument(documentId, written);
              all.push(...written);
            }
            for (const { vector, k, resources: names, containers: keys } of sample.queries) {
              const resources = new Set(names);
              const scope = { resources, ...(keys === undefined ? {} : { containers: new Set(keys) }) };
              const query = Float32Array.from(vector);
              const hits = await store.search({ vector: query, k, ...scope });
              expectOraclePage(hits, all, vector, k, scope);
              // The same ranking as the unrestricted search, filtered and cut.
              const ranking = await store.search({ vector: query, k: all.length });
              expect(hits.map((hit) => hit.id)).toEqual(
                ranking
                  .filter((hit) => inScope(hit, scope))
                  .slice(0, k)
                  .map((hit) => hit.id),
              );
              expect(await store.count(resources)).toBe(all.filter((c) => resources.has(c.resource)).length);
            }
          } finally {
            await closeStore(store, scope);
          }
        }),
        runParameters(50),
      );
      // Fifty stores: a server under load needs more than the default 30 s.
    }, 90_000);

    it("pages by offset: consecutive pages concatenate to the full ranking, under any scope", async () => {
      const store = await openStore();
      const all = await load(store, containerCorpus());
      const restricted = new Set(["document:alpha", "document:gamma", "section:beta-vip"]);
      const scopes: Scope[] = [
        {},
        { resources: restricted },
        { containers: new Set(["collection:public", "customer:c1"]) },
        { resources: new Set(["section:delta-s"]), containers: new Set(["owner:team:legal#member"]) },
      ];
      for (const query of QUERIES) {
        for (const scope of scopes) {
          const full = await search(store, query, { k: all.length, ...scope });
          expectOraclePage(full, all, query, all.length, scope);
          const pages: ScoredChunk[] = [];
          for (let offset = 0; offset < full.length + 3; offset += 3) {
            const page = await search(store, query, { k: 3, offset, ...scope });
            expectOraclePage(page, all, query, 3, scope, offset);
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

    it("pages through long runs of equal scores: every chunk once, in score then id order, whatever k", async () => {
      const store = await openStore();
      // Runs of about 20 identical vectors (and one run of all 78 for a query orthogonal to every chunk), ids
      // shuffled against the write order: a store that orders ties as it likes cuts them differently per page.
      const shapes = [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
      ];
      const corpus = new Map<string, EmbeddedChunk[]>();
      for (let d = 0; d < 6; d++) {
        const documentId = `run${d}`;
        corpus.set(
          documentId,
          makeDocument(
            documentId,
            Array.from({ length: 13 }, (_, c) => ({
              vector: shapes[(d * 13 + c) % shapes.length] as number[],
              id: `t${((d * 13 + c) * 37) % 78}`,
              ...(c % 5 === 4 ? { section: `${documentId}-s` } : {}),
            })),
          ),
        );
      }
      const all = await load(store, corpus);
      const scopes: Scope[] = [
        {},
        { resources: new Set(["document:run1", "document:run4", "section:run5-s"]) },
      ];
      for (const query of [
        [1, 0, 0, 0],
        [0, 0, 0, 1],
      ]) {
        for (const scope of scopes) {
          const full = await search(store, query, { k: all.length, ...scope });
          expectOraclePage(full, all, query, all.length, scope);
          // k = 1 makes a request per chunk: once, in the smaller scope.
          for (const k of scope.resources === undefined ? [4, 25] : [1, 7]) {
            const pages: ScoredChunk[] = [];
            for (let offset = 0; offset < full.length; offset += k)
              pages.push(...(await search(store, query, { k, offset, ...scope })));
            expect(pages.map((hit) => hit.id)).toEqual(full.map((hit) => hit.id));
          }
        }
      }
    });

    it("rejects a negative or non-integer offset with BAD_REQUEST", async () => {
      const store = await openStore();
      await load(store, sampleCorpus());
      for (const offset of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
        await expectAppError(search(store, [1, 0, 0, 0], { k: 3, offset }), "BAD_REQUEST");
    });

    it("updates a document's metadata in place: same vectors and text, searches by the new containers only", async () => {
      const store = await openStore();
      const corpus = sampleCorpus();
      await load(store, corpus);
      const alpha = corpus.get("alpha") as EmbeddedChunk[];
      const before = await store.documentChunks("alpha");
      const moved: ChunkMetadata = { collection: "moved", owner: "user:carol", customer: "cust-9" };

      expect(await store.updateDocumentMetadata("alpha", moved)).toBe(alpha.length);
      const after = await store.documentChunks("alpha");
      expect(after).toEqual(before.map((chunk) => ({ ...chunk, metadata: moved })));
      for (const keys of [["collection:moved"], ["customer:cust-9"], ["owner:user:carol"]]) {
        const found = await search(store, [1, 0, 0, 0], { k: 100, containers: new Set(keys) });
        expect(found.map((hit) => hit.id).sort()).toEqual(alpha.map((chunk) => chunk.id).sort());
      }
      const old = await search(store, [1, 0, 0, 0], { k: 100, containers: new Set(["document:alpha"]) });
      expect(old.map((hit) => hit.id).sort()).toEqual(alpha.map((chunk) => chunk.id).sort());
      // The vectors did not change: the same query scores the same.
      const scored = await search(store, [1, 0, 0, 0], { k: 100, resources: new Set(["document:alpha"]) });
      for (const hit of scored) {
        const original = alpha.find((chunk) => chunk.id === hit.id) as EmbeddedChunk;
        expect(hit.score).toBeCloseTo(cosineOf(original.vector, [1, 0, 0, 0]), 5);
      }
      expect(await store.updateDocumentMetadata("alpha", moved)).toBe(0);
      expect(await store.updateDocumentMetadata("never-written", moved)).toBe(0);
    });

    it("says which chunk ids are stored now", async () => {
      const store = await openStore();
      const all = await load(store, sampleCorpus());
      const ids = all.map((chunk) => chunk.id);
      expect([...(await store.presentChunks([...ids, "nope"]))].sort()).toEqual([...ids].sort());
      await store.deleteDocument("gamma");
      const left = all.filter((chunk) => chunk.documentId !== "gamma").map((chunk) => chunk.id);
      expect([...(await store.presentChunks(ids))].sort()).toEqual(left.sort());
      expect((await store.presentChunks([])).size).toBe(0);
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
      await store.replaceDocument(
        "delta",
        makeDocument("delta", [{ vector: [0, 1, 1, 0] }], RETAIL_METADATA),
      );
      const restricted = new Set(["document:alpha", "document:delta"]);
      const containers = new Set(["collection:retail", "owner:user:bob"]);
      const snapshot = async (s: VectorStore) => ({
        documents: await s.listDocuments(),
        count: await s.count(),
        counted: await s.count(restricted),
        chunks: await Promise.all(["alpha", "gamma", "delta"].map((d) => s.documentChunks(d))),
        hits: await Promise.all(QUERIES.map((query) => search(s, query, { k: all.length }))),
        restricted: await Promise.all(
          QUERIES.map((query) => search(s, query, { k: 3, resources: restricted })),
        ),
        scoped: await Promise.all(QUERIES.map((query) => search(s, query, { k: all.length, containers }))),
      });
      const before = await snapshot(store);
      expect(before.documents).toEqual(["alpha", "delta", "gamma"]);
      // Retail is delta alone now that beta is gone, and bob's is gamma; the reopened store must agree.
      expect(new Set(before.scoped[0]?.map((hit) => hit.documentId))).toEqual(new Set(["delta", "gamma"]));
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
