import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IngestManifestOptions, ingestManifest } from "../../../ingest/ingest.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { formatTuple, parseSubject, parseTuple } from "../../../src/core/permify-notation.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";
import { expectAppError } from "../../helpers/errors.ts";
import {
  countingEmbedder,
  createStubEmbedder,
  overridingAuthorizer,
  type StubEmbedder,
  withFailingReplace,
  withFailingWrites,
} from "../../helpers/stub-adapters.ts";

/** The operator's options: this bank's manifest puts its schema in force and declares teams and collections. */
const OPERATOR = { schemaChange: { allow: true }, relationshipScope: "any" } as const;

const FIXTURES = fileURLToPath(new URL("../../fixtures/ingest/", import.meta.url));
const BAD_PDFS = fileURLToPath(new URL("../../fixtures/bad-pdfs/", import.meta.url));

let dir: string;
let manifestPath: string;
let authorizer: Authorizer;
let vectorStore: VectorStore;
let embedder: StubEmbedder;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "clearance-ingest-"));
  await cp(FIXTURES, dir, { recursive: true });
  manifestPath = path.join(dir, "manifest.yaml");
  authorizer = await createEmbeddedAuthorizer();
  embedder = countingEmbedder(createHashingEmbedder({ dimensions: 64 }));
  vectorStore = await createEmbeddedVectorStore({ dimensions: 64 });
});

afterEach(async () => {
  await Promise.all([authorizer.close(), vectorStore.close()]);
  await rm(dir, { recursive: true, force: true });
});

function ingest(overrides: Partial<IngestManifestOptions> = {}) {
  return ingestManifest({ manifestPath, authorizer, vectorStore, embedder, ...OPERATOR, ...overrides });
}

async function editManifest(edit: (text: string) => string): Promise<void> {
  await writeFile(manifestPath, edit(await readFile(manifestPath, "utf8")));
}

/** The relationships of a document and of the given sections, as sorted strings. */
async function tuplesOf(documentId: string, sectionIds: readonly string[] = []): Promise<string[]> {
  const read = async (type: string, ids: readonly string[]) =>
    ids.length === 0
      ? []
      : (await authorizer.readRelationships({ filter: { entity: { type, ids } } })).tuples;
  return [...(await read("document", [documentId])), ...(await read("section", sectionIds))]
    .map(formatTuple)
    .sort();
}

async function canView(resource: string, subject: string): Promise<boolean> {
  const [type, id] = resource.split(":") as [string, string];
  return authorizer.check({ entity: { type, id }, permission: "view", subject: parseSubject(subject) });
}

const HANDBOOK_TUPLES = [
  "document:ops-handbook#collection@collection:handbooks",
  "document:ops-handbook#owner@user:omar",
  "document:ops-handbook#viewer@agent:support-assistant",
  "section:ops-legal-hold#audience@team:legal#member",
  "section:ops-legal-hold#document@document:ops-handbook",
];

describe("ingestManifest", () => {
  it("writes the schema, the relationships and every document's chunks and tuples", async () => {
    const progress: string[] = [];
    const report = await ingest({
      onProgress: (document) => progress.push(`${document.status} ${document.id}`),
    });

    expect(report.failed).toBe(0);
    expect(report.documents.map((d) => [d.id, d.path, d.status])).toEqual([
      ["ops-handbook", "documents/operations-handbook.md", "ingested"],
      ["branch-notes", "documents/branch-notes.txt", "ingested"],
      ["credit-report", "documents/credit-report.pdf", "ingested"],
    ]);
    expect(progress).toEqual(["ingested ops-handbook", "ingested branch-notes", "ingested credit-report"]);
    // 5 from relationships.yaml, 5 + 2 + 6 derived from the three entries.
    expect(report.relationships).toBe(18);

    expect((await authorizer.readSchema()).schema).toBe(
      await readFile(path.join(FIXTURES, "schema.perm"), "utf8"),
    );
    expect(await tuplesOf("ops-handbook", ["ops-legal-hold"])).toEqual(HANDBOOK_TUPLES);
    expect(await tuplesOf("credit-report", ["credit-regulator-pages"])).toEqual([
      "document:credit-report#collection@collection:reports",
      "document:credit-report#customer@customer:cust-1",
      "document:credit-report#owner@user:rita",
      "section:credit-regulator-pages#audience@team:legal#member",
      "section:credit-regulator-pages#audience@user:rita",
      "section:credit-regulator-pages#document@document:credit-report",
    ]);

    expect(await vectorStore.listDocuments()).toEqual(["branch-notes", "credit-report", "ops-handbook"]);
    for (const document of report.documents) {
      expect(await vectorStore.documentChunks(document.id)).toHaveLength(document.chunks);
    }
    const handbook = await vectorStore.documentChunks("ops-handbook");
    expect(handbook.filter((c) => c.resource === "section:ops-legal-hold").map((c) => c.text)).toEqual([
      "## Legal hold procedure\n\nWhen legal issues a hold, freeze the records named in the notice.",
      "### Who is notified\n\nThe records manager and the branch manager are notified the same day.",
    ]);
    expect(handbook.some((c) => c.text.includes("owner: not read by ingest"))).toBe(false);
    expect(handbook[0]?.metadata).toEqual({ collection: "handbooks", owner: "user:omar" });

    const report4 = await vectorStore.documentChunks("credit-report");
    expect(
      report4.filter((c) => c.sectionId === "credit-regulator-pages").map((c) => c.text.split(".")[0]),
    ).toEqual(["Regulator findings", "Regulator correspondence"]);
    expect(report4.find((c) => c.resource === "document:credit-report")?.metadata).toEqual({
      collection: "reports",
      owner: "user:rita",
      customer: "cust-1",
    });

    // The section narrows: ops staff read the handbook but not the legal hold; the owner reads both.
    expect(await canView("document:ops-handbook", "user:olga")).toBe(true);
    expect(await canView("section:ops-legal-hold", "user:olga")).toBe(false);
    expect(await canView("section:credit-regulator-pages", "user:rita")).toBe(true);
    expect(await canView("section:credit-regulator-pages", "user:carl")).toBe(false);
    expect(await canView("document:credit-report", "user:carl")).toBe(true);
  });

  it("changes nothing the second time and reports every document unchanged without embedding", async () => {
    const first = await ingest();
    const chunksBefore = await vectorStore.documentChunks("ops-handbook");
    const schemaWrites: string[] = [];
    const counting = overridingAuthorizer(authorizer, {
      writeSchema: (schema) => {
        schemaWrites.push(schema);
        return authorizer.writeSchema(schema);
      },
    });
    const calls = embedder.batches.length;

    const second = await ingest({ authorizer: counting });
    expect(second.documents.map((d) => d.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
    expect(second.documents.map((d) => d.chunks)).toEqual(first.documents.map((d) => d.chunks));
    expect(second.relationships).toBe(first.relationships);
    expect(embedder.batches.length).toBe(calls);
    expect(schemaWrites).toEqual([]);
    expect(await vectorStore.documentChunks("ops-handbook")).toEqual(chunksBefore);
  });

  it("syncs a changed manifest: stale tuples and sections go, new ones come, chunks move to their resource", async () => {
    await ingest();
    // A grant made outside the manifest on a listed document: the manifest is the source of truth.
    await authorizer.writeData({ tuples: [parseTuple("document:branch-notes#viewer@user:mallory")] });
    await editManifest((text) =>
      text
        .replace("    viewers: [agent:support-assistant]\n", "    viewers: [team:ops#member]\n")
        .replace(/ {6}- id: ops-legal-hold\n.*\n.*\n/, "")
        .replace("    sections:\n  - id: branch-notes", "  - id: branch-notes"),
    );
    const report = await ingest();
    expect(report.documents.map((d) => d.status)).toEqual(["ingested", "ingested", "unchanged"]);
    expect(await tuplesOf("ops-handbook", ["ops-legal-hold"])).toEqual([
      "document:ops-handbook#collection@collection:handbooks",
      "document:ops-handbook#owner@user:omar",
      "document:ops-handbook#viewer@team:ops#member",
    ]);
    expect(await tuplesOf("branch-notes")).toEqual([
      "document:branch-notes#collection@collection:handbooks",
      "document:branch-notes#owner@user:omar",
    ]);
    const chunks = await vectorStore.documentChunks("ops-handbook");
    expect(chunks.every((c) => c.resource === "document:ops-handbook" && c.sectionId === undefined)).toBe(
      true,
    );
  });

  it("moves a document to another collection without embedding: relationships and chunk metadata in place", async () => {
    await ingest();
    const before = await vectorStore.documentChunks("branch-notes");
    const calls = embedder.batches.length;
    await editManifest((text) =>
      text.replace(
        "    title: Branch notes\n    collection: handbooks\n",
        "    title: Branch notes\n    collection: reports\n",
      ),
    );
    const report = await ingest();
    const notes = report.documents.find((document) => document.id === "branch-notes");
    expect(notes).toMatchObject({
      status: "ingested",
      change: {
        chunksWritten: 0,
        chunksRemoved: 0,
        metadataUpdated: 1,
        relationshipsRemoved: ["document:branch-notes#collection@collection:handbooks"],
        relationshipsAdded: ["document:branch-notes#collection@collection:reports"],
      },
    });
    expect(embedder.batches.length).toBe(calls);
    const after = await vectorStore.documentChunks("branch-notes");
    expect(after.map((chunk) => chunk.id)).toEqual(before.map((chunk) => chunk.id));
    expect(after.map((chunk) => chunk.metadata.collection)).toEqual(["reports"]);
    expect((await ingest()).documents.every((document) => document.status === "unchanged")).toBe(true);
  });

  it("keeps relationships the relationships file declares on a listed document", async () => {
    await writeFile(
      path.join(dir, "relationships.yaml"),
      `${await readFile(path.join(dir, "relationships.yaml"), "utf8")}  - document:branch-notes#viewer@user:carl\n`,
    );
    await ingest();
    expect(await tuplesOf("branch-notes")).toContain("document:branch-notes#viewer@user:carl");
    expect((await ingest()).documents.map((d) => d.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
  });

  it("follows relationship pages to the end", async () => {
    await ingest();
    const pageSizes: (number | undefined)[] = [];
    const paged = overridingAuthorizer(authorizer, {
      readRelationships: (request) => {
        pageSizes.push(request.pageSize);
        return authorizer.readRelationships({ ...request, pageSize: 1 });
      },
    });
    const report = await ingestManifest({
      manifestPath,
      authorizer: paged,
      vectorStore,
      embedder,
      ...OPERATOR,
    });
    expect(report.documents.map((d) => d.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
    // One page per tuple plus the last: pages were followed, not just the first read.
    expect(pageSizes.length).toBeGreaterThan(13);
  });

  it("embeds in batches of the configured size", async () => {
    const report = await ingest({ embedBatchSize: 2, chunking: { chunkSize: 100, chunkOverlap: 20 } });
    const total = report.documents.reduce((sum, d) => sum + d.chunks, 0);
    expect(Math.max(...embedder.batches)).toBe(2);
    expect(embedder.batches.reduce((a, b) => a + b, 0)).toBe(total);
  });

  describe("a document that fails is reported by path and skipped; the others land", () => {
    it("corrupt and encrypted PDFs", async () => {
      await cp(path.join(BAD_PDFS, "corrupt.pdf"), path.join(dir, "documents/corrupt.pdf"));
      await cp(path.join(BAD_PDFS, "encrypted.pdf"), path.join(dir, "documents/encrypted.pdf"));
      await editManifest(
        (text) =>
          `${text}  - id: corrupt\n    path: documents/corrupt.pdf\n    title: C\n    collection: reports\n    owner: user:rita\n` +
          `  - id: encrypted\n    path: documents/encrypted.pdf\n    title: E\n    collection: reports\n    owner: user:rita\n` +
          "    sections:\n      - id: enc-pages\n        pages: [1, 1]\n        audience: [user:rita]\n",
      );
      const report = await ingest();
      expect(report.failed).toBe(2);
      expect(report.documents.map((d) => [d.path, d.status, d.error, d.chunks])).toEqual([
        ["documents/operations-handbook.md", "ingested", undefined, expect.any(Number)],
        ["documents/branch-notes.txt", "ingested", undefined, 1],
        ["documents/credit-report.pdf", "ingested", undefined, expect.any(Number)],
        ["documents/corrupt.pdf", "failed", "not a readable PDF", 0],
        ["documents/encrypted.pdf", "failed", "encrypted (needs a password)", 0],
      ]);
      expect(await vectorStore.listDocuments()).toEqual(["branch-notes", "credit-report", "ops-handbook"]);
      expect(await tuplesOf("corrupt")).toEqual([]);
      expect(await tuplesOf("encrypted", ["enc-pages"])).toEqual([]);
      expect(report.relationships).toBe(18);
    });

    it("a missing file and a document without text", async () => {
      await writeFile(path.join(dir, "documents/empty.md"), "---\ntitle: only front matter\n---\n\n");
      await editManifest(
        (text) =>
          `${text}  - id: gone\n    path: documents/gone.md\n    title: G\n    collection: reports\n    owner: user:rita\n` +
          `  - id: empty\n    path: documents/empty.md\n    title: E\n    collection: reports\n    owner: user:rita\n`,
      );
      const report = await ingest();
      expect(report.documents.slice(3).map((d) => [d.path, d.status, d.error])).toEqual([
        ["documents/gone.md", "failed", "cannot read the file (no such file)"],
        ["documents/empty.md", "failed", "no text to index (a scanned PDF needs text recognition first)"],
      ]);
      expect(report.failed).toBe(2);
    });

    it("an embedder that returns too few vectors or the wrong dimension, before either store is touched", async () => {
      for (const [vectorsFor, message] of [
        [
          (texts: readonly string[]) => texts.slice(1).map(() => new Float32Array(8)),
          /returned \d+ vectors for \d+ texts/,
        ],
        [
          (texts: readonly string[]) => texts.map(() => new Float32Array(7)),
          /returned a vector of 7 dimensions/,
        ],
      ] as const) {
        const stub = createStubEmbedder({ dimensions: 8, vectorsFor });
        const store = await createEmbeddedVectorStore({ dimensions: 8 });
        const report = await ingestManifest({
          manifestPath,
          authorizer,
          vectorStore: store,
          embedder: stub,
          ...OPERATOR,
        });
        expect(report.failed).toBe(3);
        for (const document of report.documents) expect(document.error).toMatch(message);
        expect(await store.count()).toBe(0);
        expect(await tuplesOf("ops-handbook", ["ops-legal-hold"])).toEqual([]);
      }
    });
  });

  describe("nothing half-written", () => {
    it("restores the previous tuples when the vector write fails after the tuple sync", async () => {
      await ingest();
      const tuplesBefore = await tuplesOf("ops-handbook", ["ops-legal-hold", "ops-hold-v2"]);
      const chunksBefore = await vectorStore.documentChunks("ops-handbook");
      await editManifest((text) =>
        text
          .replace("viewers: [agent:support-assistant]", "viewers: [team:ops#member]")
          .replace("id: ops-legal-hold", "id: ops-hold-v2")
          .replace("How the branch opens", "How the branch opens (revised)"),
      );
      await writeFile(
        path.join(dir, "documents/operations-handbook.md"),
        (await readFile(path.join(dir, "documents/operations-handbook.md"), "utf8")).replace(
          "each day",
          "every day",
        ),
      );
      const failing = withFailingReplace(vectorStore, (id) => id === "ops-handbook");
      const report = await ingest({ vectorStore: failing });

      expect(report.documents.map((d) => [d.id, d.status, d.error])).toEqual([
        ["ops-handbook", "failed", "the vector store is down (on purpose)"],
        ["branch-notes", "unchanged", undefined],
        ["credit-report", "unchanged", undefined],
      ]);
      expect(await tuplesOf("ops-handbook", ["ops-legal-hold", "ops-hold-v2"])).toEqual(tuplesBefore);
      expect(tuplesBefore).toEqual(HANDBOOK_TUPLES);
      expect(await vectorStore.documentChunks("ops-handbook")).toEqual(chunksBefore);

      // Once the store is back, the same manifest lands.
      expect((await ingest()).documents[0]?.status).toBe("ingested");
      expect(await tuplesOf("ops-handbook", ["ops-legal-hold", "ops-hold-v2"])).toContain(
        "section:ops-hold-v2#document@document:ops-handbook",
      );
    });

    it("says so when restoring the tuples fails too", async () => {
      await ingest();
      await editManifest((text) =>
        text.replace("viewers: [agent:support-assistant]", "viewers: [team:ops#member]"),
      );
      await writeFile(
        path.join(dir, "documents/operations-handbook.md"),
        "# New\n\n## Legal hold procedure\n\nx\n",
      );
      const report = await ingest({
        vectorStore: withFailingReplace(vectorStore, () => true),
        // The narrowing delete of the old viewer succeeds; writing it back after the chunk write fails fails.
        authorizer: withFailingWrites(authorizer, {
          failWrite: (data) => (data.tuples ?? []).some((t) => t.subject.type === "agent"),
        }),
      });
      expect(report.documents[0]?.status).toBe("failed");
      expect(report.documents[0]?.error).toBe(
        "writing the chunks failed (the vector store is down (on purpose)), and restoring the previous relationships " +
          "failed too (the authorizer is down (on purpose)): the document is readable by fewer principals than " +
          "declared; run ingest again",
      );
    });

    it("leaves the new chunks under the narrowed tuples when the widening write fails, and the next run completes it", async () => {
      await ingest();
      const chunksBefore = await vectorStore.documentChunks("ops-handbook");
      await editManifest((text) =>
        text.replace("viewers: [agent:support-assistant]", "viewers: [team:ops#member]"),
      );
      await writeFile(
        path.join(dir, "documents/operations-handbook.md"),
        "# Rewritten\n\n## Legal hold procedure\n\nAll new text.\n",
      );
      let failures = 0;
      const failing = withFailingWrites(authorizer, {
        // The write of the new viewer, which comes after the chunks, fails.
        failWrite: (data) => {
          const fail =
            failures === 0 &&
            (data.tuples ?? []).some(
              (t) => formatTuple(t) === "document:ops-handbook#viewer@team:ops#member",
            );
          if (fail) failures++;
          return fail;
        },
      });
      const report = await ingest({ authorizer: failing });
      expect(report.documents[0]).toMatchObject({ status: "failed" });
      expect(report.documents[0]?.error).toMatch(/^the authorizer is down \(on purpose\) \(the new chunks/);
      expect(failures).toBe(1);
      // Narrowed: neither the old viewer (deleted before the chunks changed) nor the new one (not yet written).
      expect(await tuplesOf("ops-handbook", ["ops-legal-hold"])).toEqual(
        HANDBOOK_TUPLES.filter((t) => !t.includes("agent:support-assistant")),
      );
      expect(await vectorStore.documentChunks("ops-handbook")).not.toEqual(chunksBefore);
      expect(await canView("document:ops-handbook", "agent:support-assistant")).toBe(false);

      const again = await ingest();
      expect(again.documents[0]?.status).toBe("ingested");
      expect(again.documents[0]?.change).toMatchObject({
        chunksWritten: 0,
        relationshipsAdded: ["document:ops-handbook#viewer@team:ops#member"],
      });
    });

    it("leaves everything as it was when a stale tuple cannot be deleted", async () => {
      await ingest();
      await editManifest((text) => text.replace("    viewers: [agent:support-assistant]\n", ""));
      await writeFile(
        path.join(dir, "documents/operations-handbook.md"),
        "# Rewritten\n\n## Legal hold procedure\n\nNew.\n",
      );
      const chunksBefore = await vectorStore.documentChunks("ops-handbook");
      const failing = withFailingWrites(authorizer, { failDelete: () => true });
      const report = await ingest({ authorizer: failing });
      expect(report.documents[0]?.status).toBe("failed");
      expect(await tuplesOf("ops-handbook", ["ops-legal-hold"])).toEqual(HANDBOOK_TUPLES);
      expect(await vectorStore.documentChunks("ops-handbook")).toEqual(chunksBefore);
    });
  });

  describe("a manifest error writes nothing at all", () => {
    async function expectNothingWritten(ingesting: Promise<unknown>, problem: string | RegExp) {
      const error = await expectAppError(ingesting, "BAD_REQUEST");
      const lines = error.message.split("\n").map((line) => line.trim());
      expect(lines[0]).toMatch(/^manifest .*manifest\.yaml is invalid \(\d+ problems?\):$/);
      if (typeof problem === "string") expect(lines).toContain(problem);
      else expect(lines.some((line) => problem.test(line))).toBe(true);
      await expect(authorizer.readSchema()).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await vectorStore.count()).toBe(0);
    }

    it("a heading not found in its document", async () => {
      await editManifest((text) => text.replace("heading: legal hold PROCEDURE", "heading: Legal holds"));
      await expectNothingWritten(
        ingest(),
        'documents[0] (id ops-handbook).sections[0].heading: heading "Legal holds" not found in documents/operations-handbook.md',
      );
    });

    it("a page range past the end of its PDF", async () => {
      await editManifest((text) => text.replace("pages: [4, 5]", "pages: [5, 7]"));
      await expectNothingWritten(
        ingest(),
        "documents[2] (id credit-report).sections[0].pages: [5, 7] is out of bounds: documents/credit-report.pdf has 6 pages",
      );
    });

    it("a schema that lacks a relation the manifest needs", async () => {
      const schema = await readFile(path.join(dir, "schema.perm"), "utf8");
      await writeFile(
        path.join(dir, "schema.perm"),
        schema.replace("    relation customer @customer\n", "").replace(" or customer.holder", ""),
      );
      await expectNothingWritten(
        ingest(),
        'schema has no relation "customer" on entity "document" (needed by manifest field customer)',
      );
    });

    it("a relationships file tuple the schema cannot hold", async () => {
      await writeFile(path.join(dir, "relationships.yaml"), "relationships:\n  - team:ops#lead@user:olga\n");
      await expectNothingWritten(
        ingest(),
        'relationships[0] team:ops#lead@user:olga: schema has no relation "lead" on entity "team"',
      );
    });

    it("a schema that does not compile", async () => {
      await writeFile(path.join(dir, "schema.perm"), "entity user {\n");
      await expectNothingWritten(ingest(), /^schema \(schema\.perm\): /);
    });

    it("no schema named and none in force", async () => {
      await editManifest((text) => text.replace("schema: schema.perm\n", ""));
      await expectNothingWritten(
        ingest(),
        "schema: the authorizer has no schema yet; name a schema file in the manifest's schema field",
      );
    });

    it("uses the schema in force when the manifest names none", async () => {
      await authorizer.writeSchema(await readFile(path.join(dir, "schema.perm"), "utf8"));
      await editManifest((text) => text.replace("schema: schema.perm\n", ""));
      expect((await ingest()).failed).toBe(0);
    });
  });

  it("rejects bad options before reading anything", async () => {
    await expect(ingest({ chunking: { chunkSize: 50 } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(ingest({ embedBatchSize: 0 })).rejects.toThrow(
      "embed batch size must be a positive integer, got 0",
    );
  });
});
