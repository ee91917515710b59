/**
 * The restricted search against an oracle: a brute-force scan over a plain model of the store's content,
 * filtered by resource and container key, with its own naive cosine. Random histories of replaces and
 * deletes exercise slot reuse, posting lists, the container map and both restricted paths (postings for
 * small sets, masked scan for large); sections shared by documents with other metadata exercise the
 * resources that lie only partly in a container.
 *
 * Reproduce a failure with FC_SEED=<seed> FC_PATH=<path>; FC_NUM_RUNS=<n> runs a longer soak.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createEmbeddedVectorStore } from "../../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { type ChunkMetadata, containerKeys, type EmbeddedChunk } from "../../../../src/core/chunk.ts";
import type { VectorSearchRequest, VectorStore } from "../../../../src/ports/vector-store.ts";
import { cosine } from "../../../helpers/cosine.ts";
import { runParameters } from "../../../helpers/fast-check.ts";

const DOCUMENTS = ["d0", "d1", "d2", "d3", "d4", "d5"];
const SECTIONS = ["s0", "s1", "s2"];
const RESOURCES = [
  ...DOCUMENTS.map((d) => `document:${d}`),
  ...SECTIONS.map((s) => `section:${s}`),
  "document:ghost",
];
const METADATA: readonly ChunkMetadata[] = [
  { collection: "c", owner: "user:u" },
  { collection: "c", owner: "team:t#member", customer: "k1" },
  { collection: "e", owner: "user:u", customer: "k2" },
  { collection: "e", owner: "user:v" },
];
const CONTAINERS = [
  ...new Set([
    ...METADATA.flatMap((metadata) => containerKeys({ documentId: "d0", metadata })),
    ...DOCUMENTS.flatMap((documentId) =>
      containerKeys({ documentId, metadata: METADATA[0] as ChunkMetadata }),
    ),
  ]),
  "collection:ghost",
];

/** Small integer components: many exact ties and zero vectors, the cases a tie-break bug hides in. */
const vectorArb = (dims: number) =>
  fc.array(fc.integer({ min: -2, max: 2 }), { minLength: dims, maxLength: dims });

type Op =
  | {
      kind: "replace";
      documentId: string;
      metadata: ChunkMetadata;
      chunks: { section?: string; vector: number[]; ordinal: number }[];
    }
  | { kind: "delete"; documentId: string };

const opArb = (dims: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("replace" as const),
        documentId: fc.constantFrom(...DOCUMENTS),
        metadata: fc.constantFrom(...METADATA),
        chunks: fc
          .array(
            fc.record({
              section: fc.option(fc.constantFrom(...SECTIONS), { nil: undefined }),
              vector: vectorArb(dims),
            }),
            {
              maxLength: 6,
            },
          )
          .chain((chunks) =>
            fc
              .shuffledSubarray(
                chunks.map((_, i) => i * 3),
                { minLength: chunks.length, maxLength: chunks.length },
              )
              .map((ordinals) => chunks.map((c, i) => ({ ...c, ordinal: ordinals[i] as number }))),
          ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("delete" as const),
        documentId: fc.constantFrom(...DOCUMENTS),
      }),
    },
  );

const caseArb = fc.integer({ min: 1, max: 9 }).chain((dims) =>
  fc.record({
    dims: fc.constant(dims),
    ops: fc.array(opArb(dims), { minLength: 1, maxLength: 25 }),
    queries: fc.array(
      fc.record({
        vector: vectorArb(dims),
        k: fc.integer({ min: 0, max: 12 }),
        resources: fc.option(fc.subarray(RESOURCES), { nil: undefined }),
        containers: fc.option(fc.subarray(CONTAINERS), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  }),
);

function toChunks(op: Extract<Op, { kind: "replace" }>): EmbeddedChunk[] {
  return op.chunks.map((c) => ({
    // Ids independent of ordinal order, so id order and slot order disagree.
    id: `${op.documentId}/${(c.ordinal * 7) % 11}-${c.ordinal}`,
    resource: c.section ? `section:${c.section}` : `document:${op.documentId}`,
    documentId: op.documentId,
    ...(c.section ? { sectionId: c.section } : {}),
    title: op.documentId,
    text: `chunk ${c.ordinal}`,
    ordinal: c.ordinal,
    metadata: op.metadata,
    vector: Float32Array.from(c.vector),
  }));
}

type Scope = Pick<VectorSearchRequest, "resources" | "containers">;

/** The port's candidate rule, written out: resource in `resources` or a container key in `containers`. */
function inScope(chunk: Pick<EmbeddedChunk, "resource" | "documentId" | "metadata">, scope: Scope): boolean {
  const { resources, containers } = scope;
  if (resources === undefined && containers === undefined) return true;
  if (resources?.has(chunk.resource)) return true;
  return containers !== undefined && containerKeys(chunk).some((key) => containers.has(key));
}

const EPSILON = 1e-6;

/**
 * The oracle, in two steps. First the full ranking (k = every chunk, so no candidate is ever turned away)
 * is checked against a naive cosine: every chunk once, the same scores, best first, equal scores by id.
 * Then a search, restricted or with a smaller k, must equal that ranking filtered and cut, exactly: this
 * is the "brute-force scan + filter" oracle, and it pins the tie-break at the k boundary too.
 */
async function expectOracle(
  store: VectorStore,
  all: readonly EmbeddedChunk[],
  query: number[],
  k: number,
  scope: Scope,
): Promise<void> {
  const { resources } = scope;
  const vector = Float32Array.from(query);
  const full = await store.search({ vector, k: all.length });
  expect(full).toHaveLength(all.length);
  const naive = new Map(all.map((chunk) => [chunk.id, cosine(chunk.vector, query)]));
  full.forEach((hit, i) => {
    expect(naive.has(hit.id), `${hit.id} is not stored`).toBe(true);
    expect(Math.abs(hit.score - (naive.get(hit.id) as number))).toBeLessThan(EPSILON);
    const previous = full[i - 1];
    if (previous) {
      expect(previous.score).toBeGreaterThanOrEqual(hit.score);
      if (previous.score === hit.score) expect(previous.id < hit.id).toBe(true);
    }
  });
  expect(new Set(full.map((hit) => hit.id)).size).toBe(all.length);
  const hits = await store.search({ vector, k, ...scope });
  expect(await store.count(resources)).toBe(
    resources ? all.filter((chunk) => resources.has(chunk.resource)).length : all.length,
  );
  for (const hit of hits) expect(inScope(hit, scope)).toBe(true);
  const expected = full.filter((hit) => inScope(hit, scope)).slice(0, k);
  expect(hits).toEqual(expected);
}

describe("embedded vector store: search equals the oracle", () => {
  it("on random histories, restricted and not", async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ dims, ops, queries }) => {
        const store: VectorStore = await createEmbeddedVectorStore({ dimensions: dims });
        const model = new Map<string, EmbeddedChunk[]>();
        for (const op of ops) {
          if (op.kind === "delete") {
            const removed = await store.deleteDocument(op.documentId);
            expect(removed).toBe(model.get(op.documentId)?.length ?? 0);
            model.delete(op.documentId);
          } else {
            const chunks = toChunks(op);
            await store.replaceDocument(op.documentId, chunks);
            if (chunks.length === 0) model.delete(op.documentId);
            else model.set(op.documentId, chunks);
          }
        }
        const all = [...model.values()].flat();
        expect(await store.count()).toBe(all.length);
        expect(await store.listDocuments()).toEqual([...model.keys()].sort());
        for (const { vector, k, resources, containers } of queries) {
          const scope = {
            ...(resources === undefined ? {} : { resources: new Set(resources) }),
            ...(containers === undefined ? {} : { containers: new Set(containers) }),
          };
          await expectOracle(store, all, vector, k, scope);
        }
        await store.close();
      }),
      runParameters(150),
    );
  });

  it("at scale, after most chunks were deleted (slots compacted), on every selectivity, by resource and container", async () => {
    const dims = 13;
    const store = await createEmbeddedVectorStore({ dimensions: dims });
    let seed = 7;
    const next = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      return Math.round((seed / 2 ** 32 - 0.5) * 8) / 4;
    };
    const model = new Map<string, EmbeddedChunk[]>();
    for (let d = 0; d < 1_200; d++) {
      const documentId = `doc${d}`;
      const chunks: EmbeddedChunk[] = Array.from({ length: 10 }, (_, c) => ({
        id: `${documentId}:${c}`,
        resource: c % 4 === 3 ? `section:${documentId}-s` : `document:${documentId}`,
        documentId,
        title: documentId,
        text: "",
        ordinal: c,
        metadata: {
          collection: `col${d % 20}`,
          owner: `user:u${d % 3}`,
          ...(d % 7 === 0 ? { customer: "k" } : {}),
        },
        vector: Float32Array.from({ length: dims }, next),
      }));
      await store.replaceDocument(documentId, chunks);
      model.set(documentId, chunks);
    }
    for (let d = 0; d < 1_200; d++) {
      if (d % 5 === 0) continue;
      await store.deleteDocument(`doc${d}`);
      model.delete(`doc${d}`);
    }
    for (let d = 1_200; d < 1_300; d++) {
      const documentId = `doc${d}`;
      const chunks = [
        {
          ...(model.get("doc0")?.[0] as EmbeddedChunk),
          id: `${documentId}:0`,
          documentId,
          resource: `document:${documentId}`,
        },
      ];
      await store.replaceDocument(documentId, chunks);
      model.set(documentId, chunks);
    }
    const all = [...model.values()].flat();
    expect(await store.count()).toBe(all.length);
    const resources = [...new Set(all.map((c) => c.resource))];
    for (const share of [0, 0.01, 0.1, 0.3, 1]) {
      const set = new Set(resources.filter((_, i) => i < resources.length * share));
      for (let trial = 0; trial < 3; trial++)
        await expectOracle(store, all, Array.from({ length: dims }, next), 10, { resources: set });
    }
    // From one collection (a few %) to all of them, alone and with resources besides.
    const collections = Array.from({ length: 20 }, (_, i) => `collection:col${i}`);
    for (const count of [0, 1, 3, 10, 20]) {
      const containers = new Set(collections.slice(0, count));
      for (const scope of [
        { containers },
        { containers, resources: new Set(resources.slice(0, 30)) },
        { containers: new Set([...containers, "customer:k", "owner:user:u2"]) },
      ])
        await expectOracle(store, all, Array.from({ length: dims }, next), 10, scope);
    }
    await expectOracle(store, all, Array.from({ length: dims }, next), 25, {});
  });
});
