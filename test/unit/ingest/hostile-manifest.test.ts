/**
 * Finding 1 of the attack (issue 13): a manifest could do anything to the bank. Tried as a new document
 * owner would, with manifests an owner might write, against the real embedded authorizer and vector store:
 * paths out of the manifest's folder (../, absolute, symbolic links, another owner's folder), a schema that
 * silently replaced the bank's, relationships on anything, another document's section or owner, and parse
 * errors that printed a credentials file. And finding 7: unbounded input.
 *
 * Layout of each test's bank:
 *   <root>/secret/credentials.txt      a file nobody should publish
 *   <root>/owners/exec/memo.md         another owner's folder
 *   <root>/owners/alice/manifest.yaml  the manifest under test, and its documents/
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IngestManifestOptions, ingestManifest } from "../../../ingest/ingest.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import type { CliIo } from "../../../src/cli/command.ts";
import { loadConfig } from "../../../src/config.ts";
import { isAppError } from "../../../src/core/errors.ts";
import { formatTuple, parseTuple } from "../../../src/core/permify-notation.ts";
import { main } from "../../../src/main.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";

const SECRET = "AKIAIOSFODNN7EXAMPLE-hunter2";
const BANK_SCHEMA_FILE = "fixtures/schema.perm";

let root: string;
let folder: string;
let manifestPath: string;
let schemaText: string;
let authorizer: Authorizer;
let vectorStore: VectorStore;
const embedder = createHashingEmbedder({ dimensions: 64 });

/** The bank before the attack: its schema in force, a customer, a teller, counsel, and the executive memo. */
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "clearance-hostile-"));
  folder = path.join(root, "owners", "alice");
  manifestPath = path.join(folder, "manifest.yaml");
  await mkdir(path.join(folder, "documents"), { recursive: true });
  await mkdir(path.join(root, "secret"), { recursive: true });
  await mkdir(path.join(root, "owners", "exec"), { recursive: true });
  await writeFile(path.join(root, "secret", "credentials.txt"), `aws_secret_access_key = ${SECRET}\n`);
  await writeFile(path.join(root, "owners", "exec", "memo.md"), "# Memo\n\nThe Pier Street branch closes.\n");
  await writeFile(
    path.join(folder, "documents", "note.md"),
    "# Note\n\nOpening hours.\n\n## Legal\n\nCounsel only.\n",
  );
  schemaText = await readFile(BANK_SCHEMA_FILE, "utf8");
  authorizer = await createEmbeddedAuthorizer();
  vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  await authorizer.writeSchema(schemaText);
  await authorizer.writeData({
    tuples: [
      "team:customers#member@user:maria",
      "team:tellers#member@user:tom",
      "team:legal#member@user:lena",
      "collection:help-center#viewer@team:customers#member",
      "collection:executive#viewer@user:helen",
      "document:exec-memo#owner@user:helen",
      "document:exec-memo#collection@collection:executive",
      "section:exec-legal#document@document:exec-memo",
      "section:exec-legal#audience@team:legal#member",
    ].map(parseTuple),
  });
});

afterEach(async () => {
  await authorizer.close();
  await vectorStore.close();
  await rm(root, { recursive: true, force: true });
});

/** A manifest with one document (alice's note in the public help center), plus `extra` top-level lines. */
function manifest(
  document: { path?: string; id?: string; owner?: string; sections?: string } = {},
  extra = "",
) {
  return (
    `${extra}documents:\n  - id: ${document.id ?? "alice-note"}\n    path: ${document.path ?? "documents/note.md"}\n` +
    `    title: Note\n    collection: help-center\n    owner: ${document.owner ?? "user:alice"}\n` +
    (document.sections ?? "")
  );
}

function ingest(text: string, options: Partial<IngestManifestOptions> = {}) {
  return writeFile(manifestPath, text).then(() =>
    ingestManifest({ manifestPath, authorizer, vectorStore, embedder, ...options }),
  );
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected the ingest to be refused");
}

/** Nothing was written: no chunk, no relationship of alice's, the bank's schema still in force. */
async function expectNothingWritten(): Promise<void> {
  expect(await vectorStore.count()).toBe(0);
  const written = await authorizer.readRelationships({
    filter: { entity: { type: "document", ids: ["alice-note"] } },
  });
  expect(written.tuples).toEqual([]);
  expect(await authorizer.isSchemaInForce(schemaText)).toBe(true);
}

describe("every path a manifest names stays inside its folder", () => {
  const escapes: Record<string, () => Promise<string>> = {
    "../ out of the folder": async () => "../../secret/credentials.txt",
    "another owner's folder": async () => "../exec/memo.md",
    "an absolute path": async () => path.join(root, "secret", "credentials.txt"),
    "a symbolic link inside the folder pointing out": async () => {
      await symlink(path.join(root, "secret", "credentials.txt"), path.join(folder, "documents", "link.txt"));
      return "documents/link.txt";
    },
    "a linked directory": async () => {
      await symlink(path.join(root, "owners", "exec"), path.join(folder, "documents", "shared"));
      return "documents/shared/memo.md";
    },
    "a relative link two hops out": async () => {
      await symlink("../../../secret/credentials.txt", path.join(folder, "documents", "hop.txt"));
      return "documents/hop.txt";
    },
  };
  for (const [name, make] of Object.entries(escapes)) {
    it(`refuses ${name}, naming the entry, before anything is written`, async () => {
      const { code, message } = await refusal(ingest(manifest({ path: await make() })));
      expect(code).toBe("BAD_REQUEST");
      expect(message).toContain("documents[0] (id alice-note).path:");
      expect(message).not.toContain(SECRET);
      expect(message).not.toContain("Pier Street");
      await expectNothingWritten();
    });
  }

  it("refuses a schema or relationships file outside the folder, without reading it", async () => {
    for (const field of ["schema", "relationships"]) {
      const { code, message } = await refusal(
        ingest(manifest({}, `${field}: ../../secret/credentials.txt\n`), {
          schemaChange: { allow: true },
          relationshipScope: "any",
        }),
      );
      expect(code, field).toBe("BAD_REQUEST");
      expect(message, field).toContain(`${field} (../../secret/credentials.txt): resolves outside`);
      expect(message, field).not.toContain(SECRET);
    }
    await expectNothingWritten();
  });

  it("a link that stays inside the folder is fine", async () => {
    await symlink("note.md", path.join(folder, "documents", "alias.md"));
    const report = await ingest(manifest({ path: "documents/alias.md" }));
    expect(report.failed).toBe(0);
  });
});

describe("errors quote positions and field names, never file contents", () => {
  it("a credentials file (inside the folder) named as relationships or schema is not printed", async () => {
    await writeFile(
      path.join(folder, "creds.yaml"),
      `[default]\naws_secret_access_key = ${SECRET}\n  - x: "`,
    );
    await writeFile(path.join(folder, "creds.perm"), `${SECRET} = {\n`);
    await writeFile(path.join(folder, "tuples.yaml"), `relationships:\n  - ${SECRET}\n  - "${SECRET}#x@y"\n`);
    for (const extra of [
      "relationships: creds.yaml\n",
      "schema: creds.perm\n",
      "relationships: tuples.yaml\n",
    ]) {
      const { code, message } = await refusal(
        ingest(manifest({}, extra), { schemaChange: { allow: true }, relationshipScope: "any" }),
      );
      expect(code, extra).toBe("BAD_REQUEST");
      expect(message, extra).not.toContain(SECRET);
      expect(message, extra).not.toContain("aws_secret");
      expect(message, extra).toMatch(/line \d+|relationships\[\d\]/);
    }
    await expectNothingWritten();
  });
});

describe("ingest never changes the schema in force unless told to", () => {
  /** The attack's schema: `and audience` removed from `section.view`, so a section's audience stops mattering. */
  async function writeWeakenedSchema(): Promise<void> {
    const weakened = schemaText.replace(
      "permission view = document.view and audience",
      "permission view = document.view",
    );
    expect(weakened).not.toBe(schemaText);
    await writeFile(path.join(folder, "schema.perm"), weakened);
  }

  it("the attack: a weakened copy of the bank's schema is refused (FORBIDDEN), nothing written", async () => {
    await writeWeakenedSchema();
    const { code } = await refusal(ingest(manifest({}, "schema: schema.perm\n")));
    expect(code).toBe("FORBIDDEN");
    await expectNothingWritten();
    // The teller still cannot read the legal-only section: section.view still requires the audience.
    expect(
      await authorizer.check({
        entity: { type: "section", id: "exec-legal" },
        permission: "view",
        subject: { type: "user", id: "helen" },
      }),
    ).toBe(false);
  });

  it("allowed, it shows the difference of permissions first, and a no writes nothing", async () => {
    await writeWeakenedSchema();
    const seen: string[][] = [];
    const { code } = await refusal(
      ingest(manifest({}, "schema: schema.perm\n"), {
        schemaChange: {
          allow: true,
          confirm: async (change) => {
            seen.push([...change.lines]);
            return false;
          },
        },
      }),
    );
    expect(code).toBe("FORBIDDEN");
    expect(seen).toEqual([
      ["  entity section", "    ~ permission view: document.view and audience -> document.view"],
    ]);
    await expectNothingWritten();

    const report = await ingest(manifest({}, "schema: schema.perm\n"), {
      schemaChange: { allow: true, confirm: async () => true },
    });
    expect(report.failed).toBe(0);
    expect(await authorizer.isSchemaInForce(schemaText)).toBe(false);
  });

  it("the same schema needs no permission (the fixture bank re-ingested)", async () => {
    await writeFile(path.join(folder, "schema.perm"), `// formatted differently\n${schemaText}`);
    const report = await ingest(manifest({}, "schema: schema.perm\n"));
    expect(report.failed).toBe(0);
  });

  describe("clearance ingest --write-schema asks on a terminal, and needs --yes without one", () => {
    async function run(flags: string[], prompt?: (question: string) => Promise<string | undefined>) {
      await writeWeakenedSchema();
      await writeFile(manifestPath, manifest({}, "schema: schema.perm\n"));
      const out: string[] = [];
      const err: string[] = [];
      const io: CliIo = { stdout: (line) => out.push(line), stderr: (line) => err.push(line) };
      const runtime = {
        config: loadConfig({ CLEARANCE_DATA_DIR: root }),
        authorizer,
        vectorStore,
        embedder,
        chatModel: {
          model: "none",
          answer: async () => ({ text: "", citations: [] }),
          probe: async () => {},
        },
        close: async () => {},
      };
      const code = await main(["ingest", "--manifest", manifestPath, ...flags], {
        io,
        openRuntime: async () => runtime as never,
        ...(prompt ? { prompt } : {}),
      });
      return { code, out, err: err.join("\n") };
    }

    it("without the flag: exit 1, FORBIDDEN's message, nothing written", async () => {
      const result = await run([]);
      expect(result.code).toBe(1);
      expect(result.err).toContain("--write-schema");
      await expectNothingWritten();
    });

    it("with the flag and no terminal: prints the difference, writes nothing, says to add --yes", async () => {
      const result = await run(["--write-schema"]);
      expect(result.code).toBe(1);
      expect(result.out).toContain("    ~ permission view: document.view and audience -> document.view");
      expect(result.err).toContain("--yes");
      await expectNothingWritten();
    });

    it("with the flag on a terminal: only a typed yes puts it in force", async () => {
      const questions: string[] = [];
      const no = await run(["--write-schema"], async (question) => {
        questions.push(question);
        return "y";
      });
      expect(no.code).toBe(1);
      expect(questions).toHaveLength(1);
      await expectNothingWritten();
      const yes = await run(["--write-schema"], async () => "yes");
      expect(yes.code).toBe(0);
      expect(await authorizer.isSchemaInForce(schemaText)).toBe(false);
    });

    it("--write-schema --yes answers for a script", async () => {
      expect((await run(["--write-schema", "--yes"])).code).toBe(0);
    });
  });
});

describe("a relationships file writes only on the manifest's own documents and sections", () => {
  it("the attack: collection:executive#viewer@team:customers#member is refused, naming its position", async () => {
    await writeFile(
      path.join(folder, "rels.yaml"),
      "relationships:\n  - document:alice-note#viewer@user:tom\n  - collection:executive#viewer@team:customers#member\n",
    );
    const { code, message } = await refusal(ingest(manifest({}, "relationships: rels.yaml\n")));
    expect(code).toBe("BAD_REQUEST");
    expect(message).toContain("relationships[1]: writes on collection:executive");
    expect(message).not.toContain("relationships[0]");
    await expectNothingWritten();
  });

  it("siblings: another document, another's section, a team, and re-pointing an own section", async () => {
    await writeFile(
      path.join(folder, "rels.yaml"),
      "relationships:\n" +
        "  - document:exec-memo#viewer@team:customers#member\n" +
        "  - section:exec-legal#audience@team:customers#member\n" +
        "  - team:legal#member@user:maria\n" +
        "  - section:alice-legal#document@document:exec-memo\n",
    );
    const sections =
      "    sections:\n      - id: alice-legal\n        heading: Legal\n        audience: [team:legal#member]\n";
    const { message } = await refusal(ingest(manifest({ sections }, "relationships: rels.yaml\n")));
    for (const index of [0, 1, 2, 3]) expect(message).toContain(`relationships[${index}]: writes on`);
    await expectNothingWritten();
  });

  it("an operator may allow more", async () => {
    await writeFile(path.join(folder, "rels.yaml"), "relationships:\n  - team:ops#member@user:olga\n");
    const report = await ingest(manifest({}, "relationships: rels.yaml\n"), { relationshipScope: "any" });
    expect(report.failed).toBe(0);
    const teams = await authorizer.readRelationships({ filter: { entity: { type: "team", ids: ["ops"] } } });
    expect(teams.tuples.map(formatTuple)).toEqual(["team:ops#member@user:olga"]);
  });
});

describe("a manifest cannot take what belongs to another document", () => {
  it("a section id of another document is refused (its restricted text would follow the new audience)", async () => {
    const sections =
      "    sections:\n      - id: exec-legal\n        heading: Legal\n        audience: [team:customers#member]\n";
    const { code, message } = await refusal(ingest(manifest({ sections })));
    expect(code).toBe("BAD_REQUEST");
    expect(message).toContain(
      "documents[0] (id alice-note).sections[0].id: section exec-legal belongs to document:exec-memo",
    );
    await expectNothingWritten();
    const audience = await authorizer.readRelationships({
      filter: { entity: { type: "section", ids: ["exec-legal"] } },
    });
    expect(audience.tuples.map(formatTuple).sort()).toEqual([
      "section:exec-legal#audience@team:legal#member",
      "section:exec-legal#document@document:exec-memo",
    ]);
  });

  it("a document owned by someone else keeps its owner, unless an operator allows the change", async () => {
    const { code, message } = await refusal(ingest(manifest({ id: "exec-memo" })));
    expect(code).toBe("BAD_REQUEST");
    expect(message).toContain("documents[0] (id exec-memo).owner: document exec-memo is owned by user:helen");
    expect(await vectorStore.count()).toBe(0);
    const report = await ingest(manifest({ id: "exec-memo" }), { allowOwnerChange: true });
    expect(report.failed).toBe(0);
  });
});

describe("ingest limits (finding 7)", () => {
  it("a file over the size limit fails by name with PAYLOAD_TOO_LARGE's reason; the others land", async () => {
    await writeFile(path.join(folder, "documents", "huge.md"), `# Huge\n\n${"word ".repeat(50_000)}\n`);
    const text = `${manifest()}  - id: huge\n    path: documents/huge.md\n    title: Huge\n    collection: help-center\n    owner: user:alice\n`;
    const report = await ingest(text, { limits: { maxFileBytes: 100_000 } });
    expect(report.documents.map((d) => [d.id, d.status])).toEqual([
      ["alice-note", "ingested"],
      ["huge", "failed"],
    ]);
    expect(report.documents[1]?.error).toContain("more than the limit of 100000");
    expect(report.documents[1]?.path).toBe("documents/huge.md");
  });

  it("a document over the chunk limit fails by name, before anything of it is stored", async () => {
    await writeFile(
      path.join(folder, "documents", "long.md"),
      Array.from({ length: 40 }, (_, i) => `## Part ${i}\n\n${"Text of the part. ".repeat(20)}`).join("\n\n"),
    );
    const report = await ingest(manifest({ path: "documents/long.md" }), {
      limits: { maxChunksPerDocument: 10 },
      chunking: { chunkSize: 400, chunkOverlap: 0 },
    });
    expect(report.failed).toBe(1);
    expect(report.documents[0]?.error).toMatch(/^\d+ chunks, more than the limit of 10 per document/);
    await expectNothingWritten();
  });

  it("a schema or relationships file over the limit is a manifest problem", async () => {
    await writeFile(
      path.join(folder, "rels.yaml"),
      `relationships:\n${"  - document:alice-note#viewer@user:tom\n".repeat(5_000)}`,
    );
    const { code, message } = await refusal(
      ingest(manifest({}, "relationships: rels.yaml\n"), { limits: { maxFileBytes: 10_000 } }),
    );
    expect(code).toBe("BAD_REQUEST");
    expect(message).toContain("relationships (rels.yaml): the file is");
  });

  it("the limits come from the configuration, with defaults", () => {
    expect(loadConfig({}).ingest).toEqual({ maxFileBytes: 10 * 1024 * 1024, maxChunksPerDocument: 2_000 });
    expect(loadConfig({ INGEST_MAX_FILE_BYTES: "2048", INGEST_MAX_CHUNKS_PER_DOCUMENT: "5" }).ingest).toEqual(
      {
        maxFileBytes: 2048,
        maxChunksPerDocument: 5,
      },
    );
  });
});
