import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedVectorStore } from "../../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { containerKeys, type EmbeddedChunk } from "../../../../src/core/chunk.ts";
import type { VectorStore } from "../../../../src/ports/vector-store.ts";
import { expectAppError } from "../../../helpers/errors.ts";

const DIMS = 4;

function chunk(
  documentId: string,
  ordinal: number,
  vector: readonly number[],
  overrides: Partial<EmbeddedChunk> = {},
): EmbeddedChunk {
  return {
    id: `${documentId}#${ordinal}`,
    resource: `document:${documentId}`,
    documentId,
    title: `Title of ${documentId}`,
    text: `Text ${ordinal} of ${documentId}.`,
    ordinal,
    metadata: { collection: "public", owner: "user:alice" },
    vector: Float32Array.from(vector),
    ...overrides,
  };
}

const directories: string[] = [];
const stores: VectorStore[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "clearance-vectors-"));
  directories.push(dir);
  return dir;
}
async function open(
  options: Partial<Parameters<typeof createEmbeddedVectorStore>[0]> = {},
): Promise<VectorStore> {
  const store = await createEmbeddedVectorStore({ dimensions: DIMS, ...options });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Everything observable about a store, for before/after comparisons. */
async function observe(store: VectorStore): Promise<unknown> {
  const documents = await store.listDocuments();
  const query = Float32Array.from([1, 0.5, 0.25, -0.5]);
  return {
    count: await store.count(),
    documents,
    chunks: await Promise.all(documents.map((id) => store.documentChunks(id))),
    top: await store.search({ vector: query, k: 100 }),
    // The container map is rebuilt with the rest on every load and refresh.
    containers: await Promise.all(
      [["collection:public"], ["customer:c9", "owner:user:nobody"], ["owner:user:alice", "collection:x"]].map(
        (keys) => store.search({ vector: query, k: 100, containers: new Set(keys) }),
      ),
    ),
  };
}

const q = (...values: number[]): Float32Array => Float32Array.from(values);

describe("embedded vector store: writes", () => {
  it("stores a document's chunks in ordinal order, without vectors, and lists documents ascending", async () => {
    const store = await open();
    await store.replaceDocument("b", [
      chunk("b", 2, [0, 0, 1, 0]),
      chunk("b", 0, [1, 0, 0, 0]),
      chunk("b", 1, [0, 1, 0, 0]),
    ]);
    await store.replaceDocument("a", [chunk("a", 0, [1, 1, 0, 0])]);
    expect(await store.listDocuments()).toEqual(["a", "b"]);
    expect(await store.count()).toBe(4);
    const chunks = await store.documentChunks("b");
    expect(chunks.map((c) => c.ordinal)).toEqual([0, 1, 2]);
    expect(chunks.every((c) => !("vector" in c) && !("score" in c))).toBe(true);
    expect(await store.documentChunks("missing")).toEqual([]);
  });

  it("replace drops the document's earlier chunks and keeps other documents", async () => {
    const store = await open();
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0]), chunk("a", 1, [0, 1, 0, 0])]);
    await store.replaceDocument("b", [chunk("b", 0, [1, 0, 0, 0])]);
    await store.replaceDocument("a", [chunk("a", 5, [0, 0, 1, 0], { id: "a-new" })]);
    expect((await store.documentChunks("a")).map((c) => c.id)).toEqual(["a-new"]);
    const hits = await store.search({ vector: q(1, 0, 0, 0), k: 10 });
    expect(hits.map((h) => h.id).sort()).toEqual(["a-new", "b#0"]);
    expect(await store.count()).toBe(2);
  });

  it("replace with no chunks and delete both remove a document; delete counts what it removed", async () => {
    const store = await open();
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0]), chunk("a", 1, [0, 1, 0, 0])]);
    await store.replaceDocument("b", [chunk("b", 0, [1, 0, 0, 0])]);
    expect(await store.deleteDocument("a")).toBe(2);
    expect(await store.deleteDocument("a")).toBe(0);
    await store.replaceDocument("b", []);
    expect(await store.listDocuments()).toEqual([]);
    expect(await store.count()).toBe(0);
    expect(await store.search({ vector: q(1, 0, 0, 0), k: 5 })).toEqual([]);
  });

  it("copies what it is given: changing the caller's chunk or a result afterwards changes nothing", async () => {
    const store = await open();
    const input = chunk("a", 0, [1, 0, 0, 0]);
    await store.replaceDocument("a", [input]);
    (input.vector as Float32Array)[0] = -1;
    (input as { text: string }).text = "changed";
    const [hit] = await store.search({ vector: q(1, 0, 0, 0), k: 1 });
    expect(hit?.score).toBeCloseTo(1, 6);
    expect(hit?.text).toBe("Text 0 of a.");
    expect(() => {
      (hit?.metadata as { owner: string }).owner = "user:mallory";
    }).toThrow();
  });

  it("rejects a bad chunk with BAD_REQUEST and changes nothing (atomic)", async () => {
    const store = await open();
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0]), chunk("a", 1, [0, 1, 0, 0])]);
    await store.replaceDocument("b", [chunk("b", 0, [0, 0, 1, 0])]);
    const before = await observe(store);
    const good = chunk("a", 0, [0, 0, 0, 1], { id: "a-fresh" });
    const bad: EmbeddedChunk[][] = [
      [good, chunk("a", 1, [1, 0, 0])], // wrong dimension
      [good, chunk("a", 1, [1, Number.NaN, 0, 0])],
      [good, chunk("a", 1, [1, Number.POSITIVE_INFINITY, 0, 0])],
      [good, chunk("other", 1, [1, 0, 0, 0])], // another document's chunk
      [good, chunk("a", 1, [1, 0, 0, 0], { id: "a-fresh" })], // duplicate id
      [good, chunk("a", 0, [1, 0, 0, 0], { id: "a-other" })], // duplicate ordinal
      [good, chunk("a", 1, [1, 0, 0, 0], { resource: "document:b" })], // filed under another document
      [good, chunk("a", 1, [1, 0, 0, 0], { resource: "user:alice" })],
      [good, chunk("a", 1, [1, 0, 0, 0], { resource: "section:has space" })],
      [good, chunk("a", 1, [1, 0, 0, 0], { resource: "section:s1", sectionId: "s2" })],
      [good, chunk("a", 1, [1, 0, 0, 0], { id: "" })],
      [good, chunk("a", -1, [1, 0, 0, 0])],
      [good, { ...chunk("a", 1, [1, 0, 0, 0]), vector: [1, 0, 0, 0] as unknown as Float32Array }],
      // Every chunk of a document carries the document's ACL metadata.
      [good, chunk("a", 1, [1, 0, 0, 0], { metadata: { collection: "other", owner: "user:alice" } })],
      [good, chunk("a", 1, [1, 0, 0, 0], { metadata: { collection: "public", owner: "user:bob" } })],
      [
        good,
        chunk("a", 1, [1, 0, 0, 0], {
          metadata: { collection: "public", owner: "user:alice", customer: "c1" },
        }),
      ],
      [
        good,
        chunk("a", 1, [1, 0, 0, 0], { metadata: { collection: "public" } as EmbeddedChunk["metadata"] }),
      ],
    ];
    for (const chunks of bad) await expectAppError(store.replaceDocument("a", chunks), "BAD_REQUEST");
    await expectAppError(store.replaceDocument("not a valid id", []), "BAD_REQUEST");
    expect(await observe(store)).toEqual(before);
  });

  it("refuses a chunk id that belongs to another document (CONFLICT), changing nothing", async () => {
    const store = await open();
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0], { id: "shared" })]);
    const before = await observe(store);
    await expectAppError(
      store.replaceDocument("b", [chunk("b", 0, [1, 0, 0, 0], { id: "shared" })]),
      "CONFLICT",
    );
    expect(await observe(store)).toEqual(before);
  });

  it("accepts section resources and non-unit vectors (scaled to unit length)", async () => {
    const store = await open();
    await store.replaceDocument("a", [
      chunk("a", 0, [3, 0, 0, 0], { resource: "section:a-secret", sectionId: "a-secret" }),
      chunk("a", 1, [0, 0, 0, 0]),
    ]);
    const hits = await store.search({ vector: q(10, 0, 0, 0), k: 2 });
    expect(hits[0]?.score).toBeCloseTo(1, 6);
    expect(hits[0]?.resource).toBe("section:a-secret");
    expect(hits[1]?.score).toBe(0); // a zero vector scores 0, it is not an error
  });

  it("refuses to work after close", async () => {
    const store = await open();
    await store.close();
    await expectAppError(store.count(), "INTERNAL");
    await expectAppError(store.search({ vector: q(1, 0, 0, 0), k: 1 }), "INTERNAL");
  });

  it("bulk: 5,000 documents of 20 chunks load in seconds", async () => {
    const dims = 32;
    const store = await createEmbeddedVectorStore({ dimensions: dims });
    stores.push(store);
    const started = performance.now();
    let seed = 1;
    const next = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      return seed / 2 ** 32 - 0.5;
    };
    for (let d = 0; d < 5_000; d++) {
      const chunks: EmbeddedChunk[] = [];
      for (let c = 0; c < 20; c++)
        chunks.push({ ...chunk(`d${d}`, c, []), vector: Float32Array.from({ length: dims }, next) });
      await store.replaceDocument(`d${d}`, chunks);
    }
    const seconds = (performance.now() - started) / 1000;
    expect(await store.count()).toBe(100_000);
    expect(seconds).toBeLessThan(20);
  }, 60_000);
});

describe("embedded vector store: search", () => {
  async function sample(): Promise<VectorStore> {
    const store = await open();
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0]), chunk("a", 1, [0.9, 0.1, 0, 0])]);
    await store.replaceDocument("b", [
      chunk("b", 0, [1, 0, 0, 0]),
      chunk("b", 1, [0, 1, 0, 0], { resource: "section:b-private" }),
    ]);
    await store.replaceDocument("c", [chunk("c", 0, [-1, 0, 0, 0])]);
    return store;
  }

  it("ranks by cosine, best first, ties by chunk id ascending", async () => {
    const store = await sample();
    const hits = await store.search({ vector: q(2, 0, 0, 0), k: 5 });
    expect(hits.map((h) => h.id)).toEqual(["a#0", "b#0", "a#1", "b#1", "c#0"]);
    expect(hits[0]?.score).toBeCloseTo(1, 6);
    expect(hits[0]?.score).toBe(hits[1]?.score);
    expect(hits[4]?.score).toBeCloseTo(-1, 6);
  });

  it("returns only chunks whose resource is in the set; an empty set or unknown resources return nothing", async () => {
    const store = await sample();
    const hits = await store.search({
      vector: q(1, 0, 0, 0),
      k: 10,
      resources: new Set(["document:b", "document:nope"]),
    });
    expect(hits.map((h) => h.id)).toEqual(["b#0"]);
    expect(await store.search({ vector: q(1, 0, 0, 0), k: 10, resources: new Set() })).toEqual([]);
    expect(
      await store.search({ vector: q(1, 0, 0, 0), k: 10, resources: new Set(["document:zzz"]) }),
    ).toEqual([]);
    const section = await store.search({
      vector: q(1, 0, 0, 0),
      k: 10,
      resources: new Set(["section:b-private"]),
    });
    expect(section.map((h) => h.id)).toEqual(["b#1"]);
    expect(await store.count(new Set(["document:a", "section:b-private", "document:zzz"]))).toBe(3);
    expect(await store.count(new Set())).toBe(0);
    expect(await store.count()).toBe(5);
  });

  it("handles k = 0, k above the count, a zero query and bad queries", async () => {
    const store = await sample();
    expect(await store.search({ vector: q(1, 0, 0, 0), k: 0 })).toEqual([]);
    expect(await store.search({ vector: q(1, 0, 0, 0), k: 1_000 })).toHaveLength(5);
    const zero = await store.search({ vector: q(0, 0, 0, 0), k: 5 });
    expect(zero.map((h) => [h.id, h.score])).toEqual([
      ["a#0", 0],
      ["a#1", 0],
      ["b#0", 0],
      ["b#1", 0],
      ["c#0", 0],
    ]);
    await expectAppError(store.search({ vector: q(1, 0, 0), k: 1 }), "BAD_REQUEST");
    await expectAppError(store.search({ vector: q(Number.NaN, 0, 0, 0), k: 1 }), "BAD_REQUEST");
    await expectAppError(store.search({ vector: q(1, 0, 0, 0), k: 1.5 }), "BAD_REQUEST");
    await expectAppError(store.search({ vector: q(1, 0, 0, 0), k: -1 }), "BAD_REQUEST");
    for (const scope of [["document:a"], "document:a", new Map([["document:a", 1]])]) {
      const set = scope as unknown as ReadonlySet<string>;
      await expectAppError(store.search({ vector: q(1, 0, 0, 0), k: 1, resources: set }), "BAD_REQUEST");
      await expectAppError(store.search({ vector: q(1, 0, 0, 0), k: 1, containers: set }), "BAD_REQUEST");
    }
  });

  it("accepts chunks of one document whose metadata is equal but not the same object, or lists an undefined customer", async () => {
    const store = await open();
    await store.replaceDocument("a", [
      chunk("a", 0, [1, 0, 0, 0], {
        metadata: { collection: "public", owner: "user:alice", customer: undefined },
      }),
      chunk("a", 1, [0, 1, 0, 0]),
    ]);
    const hits = await store.search({
      vector: q(1, 0, 0, 0),
      k: 5,
      containers: new Set(["collection:public"]),
    });
    expect(hits.map((h) => h.id)).toEqual(["a#0", "a#1"]);
  });

  it("restricts to containers, and to containers or resources, on both scan paths", async () => {
    const store = await open();
    // 200 documents: a collection covers 25% of the store (masked scan), customer vip 2% (postings).
    for (let d = 0; d < 200; d++) {
      const metadata = {
        collection: `col${d % 4}`,
        owner: `user:u${d % 10}`,
        ...(d % 50 === 7 ? { customer: "vip" } : {}),
      };
      await store.replaceDocument(`d${d}`, [
        chunk(`d${d}`, 0, [1, d % 7, 0, 0], { metadata }),
        chunk(`d${d}`, 1, [0, 1, d % 5, 0], { metadata, resource: `section:d${d}-s`, sectionId: `d${d}-s` }),
      ]);
    }
    const all = await store.search({ vector: q(1, 1, 0, 0), k: 1_000 });
    const document = (id: string): number => Number(id.slice(1).split("#")[0]);
    const cases: { containers: string[]; resources?: string[]; expected: (id: string) => boolean }[] = [
      { containers: ["collection:col1"], expected: (id) => document(id) % 4 === 1 },
      { containers: ["owner:user:u3"], expected: (id) => document(id) % 10 === 3 },
      { containers: ["customer:vip"], expected: (id) => document(id) % 50 === 7 },
      {
        containers: ["customer:vip"],
        resources: ["section:d0-s", "document:d5", "document:d7"],
        expected: (id) => document(id) % 50 === 7 || id === "d0#1" || id === "d5#0",
      },
      {
        containers: ["collection:col0", "collection:col1", "owner:user:u3"],
        resources: ["document:d2"],
        expected: (id) => document(id) % 4 <= 1 || document(id) % 10 === 3 || id === "d2#0",
      },
    ];
    for (const { containers, resources, expected } of cases) {
      const hits = await store.search({
        vector: q(1, 1, 0, 0),
        k: 1_000,
        containers: new Set(containers),
        ...(resources ? { resources: new Set(resources) } : {}),
      });
      expect(hits.length).toBeGreaterThan(0);
      expect(hits).toEqual(all.filter((hit) => expected(hit.id)));
    }
  });
});

describe("embedded vector store: persistence", () => {
  async function populate(store: VectorStore): Promise<void> {
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0]), chunk("a", 1, [0.5, 0.5, 0, 0])]);
    await store.replaceDocument("b", [
      chunk("b", 0, [0, 1, 0, 0], {
        resource: "section:b1",
        sectionId: "b1",
        metadata: { collection: "x", owner: "user:bob", customer: "c9" },
      }),
    ]);
    await store.replaceDocument("c", [chunk("c", 0, [0, 0, 1, 0])]);
    await store.deleteDocument("c");
    await store.replaceDocument("a", [
      chunk("a", 0, [1, 0, 0, 1]),
      chunk("a", 1, [0.5, 0.5, 0, 0]),
      chunk("a", 2, [0, 0, 0, 1]),
    ]);
  }

  it("reopens with the same content, from the journal alone", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir });
    await populate(store);
    const before = await observe(store);
    await store.close();
    expect(await observe(await open({ dataDir: dir }))).toEqual(before);
  });

  it("reopens with the same content from snapshots (compaction after every write) and from snapshot + journal", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir, compactJournalBytes: 1 });
    await populate(store);
    const before = await observe(store);
    expect(statSync(join(dir, "vectors", "snapshot.bin")).size).toBeGreaterThan(0);
    expect(await observe(await open({ dataDir: dir }))).toEqual(before);

    const mixed = await open({ dataDir: dir });
    await mixed.replaceDocument("d", [chunk("d", 0, [0, 0, 1, 1])]);
    const after = await observe(mixed);
    expect(await observe(await open({ dataDir: dir }))).toEqual(after);
  });

  it("writes nothing when a document is replaced with the same chunks (idempotent)", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir });
    await populate(store);
    const journal = join(dir, "vectors", "journal.log");
    const size = statSync(journal).size;
    await store.replaceDocument("a", [
      chunk("a", 2, [0, 0, 0, 1]),
      chunk("a", 0, [1, 0, 0, 1]),
      chunk("a", 1, [0.5, 0.5, 0, 0]),
    ]);
    await store.deleteDocument("never-there");
    await store.replaceDocument("never-there", []);
    expect(statSync(journal).size).toBe(size);
    // After a reload too: what was stored compares equal bit for bit.
    const reopened = await open({ dataDir: dir });
    await reopened.replaceDocument("a", [
      chunk("a", 0, [1, 0, 0, 1]),
      chunk("a", 1, [0.5, 0.5, 0, 0]),
      chunk("a", 2, [0, 0, 0, 1]),
    ]);
    expect(statSync(journal).size).toBe(size);
  });

  it("stores vectors as binary, not JSON number arrays", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir, dimensions: 64 });
    const vector = Array.from({ length: 64 }, (_, i) => Math.sin(i + 1));
    await store.replaceDocument("a", [chunk("a", 0, vector)]);
    const line = readFileSync(join(dir, "vectors", "journal.log"), "utf8").split("\n")[1] as string;
    expect(line).not.toMatch(/\[\s*-?0\.\d+,/);
    expect(line.length).toBeLessThan(64 * 4 * 1.4 + 400);
  });

  it("drops a torn last journal line, and the next write cuts it off", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir });
    await populate(store);
    const before = await observe(store);
    await store.close();
    const journal = join(dir, "vectors", "journal.log");
    appendFileSync(journal, '3fa2c1d0 {"op":"replace","seq":99,"documentId":"z","chu');
    const reopened = await open({ dataDir: dir });
    expect(await observe(reopened)).toEqual(before);
    await reopened.replaceDocument("e", [chunk("e", 0, [0, 1, 1, 0])]);
    const after = await observe(reopened);
    await reopened.close();
    expect(readFileSync(journal, "utf8")).not.toContain('"documentId":"z"');
    expect(await observe(await open({ dataDir: dir }))).toEqual(after);
  });

  it("refuses to load a journal with a damaged line before its end, naming the file", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir });
    await populate(store);
    await store.close();
    const journal = join(dir, "vectors", "journal.log");
    const lines = readFileSync(journal, "utf8").split("\n");
    // Still valid JSON, but not what was written: only the checksum can tell.
    lines[1] = (lines[1] as string).replace('"documentId":"a"', '"documentId":"q"');
    writeFileSync(journal, lines.join("\n"));
    const error = await expectAppError(open({ dataDir: dir }), "UPSTREAM_UNAVAILABLE");
    expect(error.message).toContain(journal);

    lines[1] = "garbage";
    writeFileSync(journal, lines.join("\n"));
    expect((await expectAppError(open({ dataDir: dir }), "UPSTREAM_UNAVAILABLE")).message).toContain(journal);
  });

  it("refuses to load a damaged snapshot, naming the file", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir, compactJournalBytes: 1 });
    await populate(store);
    await store.close();
    const snapshot = join(dir, "vectors", "snapshot.bin");
    const bytes = readFileSync(snapshot);
    bytes[40] = (bytes[40] as number) ^ 0x01; // a bit of a vector
    writeFileSync(snapshot, bytes);
    expect((await expectAppError(open({ dataDir: dir }), "UPSTREAM_UNAVAILABLE")).message).toContain(
      snapshot,
    );
    writeFileSync(snapshot, bytes.subarray(0, bytes.length - 10));
    expect((await expectAppError(open({ dataDir: dir }), "UPSTREAM_UNAVAILABLE")).message).toContain(
      snapshot,
    );
  });

  it("recovers from a crash between writing the snapshot and replacing the journal", async () => {
    const dir = dataDir();
    const first = await open({ dataDir: dir });
    await first.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0])]);
    await first.replaceDocument("b", [chunk("b", 0, [0, 1, 0, 0])]);
    await first.close();
    const journal = join(dir, "vectors", "journal.log");
    copyFileSync(journal, join(dir, "old-journal"));
    const second = await open({ dataDir: dir, compactJournalBytes: 1 });
    await second.replaceDocument("c", [chunk("c", 0, [0, 0, 1, 0])]);
    const expected = await observe(second);
    await second.close();
    copyFileSync(join(dir, "old-journal"), journal); // the old journal survived, the snapshot is newer
    expect(await observe(await open({ dataDir: dir }))).toEqual(expected);
  });

  it("refuses a data directory made with other dimensions or another model (CONFLICT)", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir, model: "hashing-v1-4" });
    await populate(store);
    await store.close();
    await expectAppError(open({ dataDir: dir, dimensions: 8 }), "CONFLICT");
    await expectAppError(open({ dataDir: dir, model: "other-model" }), "CONFLICT");
    expect(await (await open({ dataDir: dir, model: "hashing-v1-4" })).count()).toBe(4);
    expect(JSON.parse(readFileSync(join(dir, "vectors", "meta.json"), "utf8"))).toMatchObject({
      dimensions: DIMS,
      model: "hashing-v1-4",
    });
  });

  it("a second instance on the same directory sees the first one's writes and compactions", async () => {
    const dir = dataDir();
    const writer = await open({ dataDir: dir, compactJournalBytes: 2_000 });
    const reader = await open({ dataDir: dir });
    expect(await reader.count()).toBe(0);
    await writer.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0])]);
    expect(await reader.listDocuments()).toEqual(["a"]);
    for (let i = 0; i < 20; i++) await writer.replaceDocument(`d${i}`, [chunk(`d${i}`, 0, [i, 1, 0, 0])]);
    expect(await observe(reader)).toEqual(await observe(writer));
    // And the other way round: the reader writes after catching up, in the same sequence.
    await reader.deleteDocument("a");
    expect(await observe(writer)).toEqual(await observe(reader));
    expect(await observe(await open({ dataDir: dir }))).toEqual(await observe(reader));
  });

  it("keeps containers exact over stored data no longer accepted: mixed or missing ACL metadata", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir });
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0])]);
    await store.close();
    // A journal line as an older version could have written it: one resource whose chunks disagree, and a
    // chunk without a collection or owner.
    const legacy = [
      chunk("old", 0, [1, 0, 0, 0], { metadata: { collection: "x", owner: "user:bob" } }),
      chunk("old", 1, [0, 1, 0, 0], { metadata: { collection: "y", owner: "user:bob", customer: "c1" } }),
      chunk("old", 2, [0, 0, 1, 0], { metadata: {} as EmbeddedChunk["metadata"] }),
    ];
    const vectors = new Float32Array(legacy.flatMap((c) => [...c.vector]));
    const body = JSON.stringify({
      op: "replace",
      seq: 2,
      documentId: "old",
      chunks: legacy.map(({ vector: _vector, ...rest }) => rest),
      vectors: Buffer.from(vectors.buffer).toString("base64"),
    });
    const line = `${crc32(Buffer.from(body)).toString(16).padStart(8, "0")} ${body}\n`;
    appendFileSync(join(dir, "vectors", "journal.log"), line);

    const reopened = await open({ dataDir: dir });
    const ids = async (containers: string[], resources?: string[]) =>
      (
        await reopened.search({
          vector: q(1, 1, 1, 1),
          k: 10,
          containers: new Set(containers),
          ...(resources ? { resources: new Set(resources) } : {}),
        })
      )
        .map((hit) => hit.id)
        .sort();
    expect(await reopened.count()).toBe(4);
    expect(await ids(["collection:x"])).toEqual(["old#0"]);
    expect(await ids(["customer:c1"])).toEqual(["old#1"]);
    expect(await ids(["owner:user:bob"])).toEqual(["old#0", "old#1"]);
    expect(await ids(["collection:x", "collection:y"])).toEqual(["old#0", "old#1"]);
    // Without ACL metadata a chunk matches no container, not even its document's; its resource still works.
    const keys = [
      ...containerKeys({ documentId: "old", metadata: { collection: "x", owner: "user:bob" } }),
      ...containerKeys({
        documentId: "old",
        metadata: { collection: "y", owner: "user:bob", customer: "c1" },
      }),
    ];
    expect(await ids(keys)).toEqual(["old#0", "old#1"]);
    expect(await ids(["collection:x"], ["document:old"])).toEqual(["old#0", "old#1", "old#2"]);
    expect(await ids(["collection:public"])).toEqual(["a#0"]);
  });

  it("waits for a live writer's lock, then fails with UPSTREAM_UNAVAILABLE; takes over a dead one's", async () => {
    const dir = dataDir();
    const store = await open({ dataDir: dir, lockTimeoutMs: 200 });
    const lock = join(dir, "vectors", "write.lock");
    writeFileSync(lock, `${process.ppid} ${hostname()}\n`);
    await expectAppError(store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0])]), "UPSTREAM_UNAVAILABLE");
    expect(await store.count()).toBe(0);
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    writeFileSync(lock, `${dead} ${hostname()}\n`);
    await store.replaceDocument("a", [chunk("a", 0, [1, 0, 0, 0])]);
    expect(await store.count()).toBe(1);
  });
});
