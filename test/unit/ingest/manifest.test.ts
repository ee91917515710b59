import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifest } from "../../../ingest/manifest.ts";
import { expectAppError } from "../../helpers/errors.ts";
import { useTempDir } from "../../helpers/temp-dir.ts";

const tmp = useTempDir("clearance-manifest-");
const write = tmp.write;

/** The problems a manifest is rejected with, one per line, without the header. */
async function problemsOf(text: string): Promise<string[]> {
  const file = await write("manifest.yaml", text);
  const error = await expectAppError(loadManifest(file), "BAD_REQUEST");
  const [header, ...lines] = error.message.split("\n");
  expect(header).toMatch(
    new RegExp(
      `^manifest ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is invalid \\(${lines.length} problems?\\):$`,
    ),
  );
  return lines.map((line) => line.trim());
}

const doc = (fields: string) =>
  `  - id: a\n    path: a.md\n    title: A\n    collection: c\n    owner: user:u\n${fields}`;

describe("loadManifest", () => {
  it("loads a valid manifest: defaults, parsed subjects, resolved paths, schema and relationships", async () => {
    await write("schema.perm", "entity user {}\n");
    await write("rels.yaml", "relationships:\n  - team:t#member@user:u\n");
    const file = await write(
      "manifest.yaml",
      `schema: schema.perm\nrelationships: rels.yaml\ndocuments:\n${doc(
        "    customer: cust-1\n    viewers: [team:t#member, agent:bot]\n    sections:\n      - id: s1\n        heading: Legal\n        audience: [user:l]\n",
      )}  - id: b
    path: sub/b.PDF
    title: B
    collection: c
    owner: user:u
    sections:
      - id: s2
        pages: [2, 3]
        audience: [team:t#member]
`,
    );
    const manifest = await loadManifest(file);
    expect(manifest.schema).toEqual({ path: "schema.perm", text: "entity user {}\n" });
    expect(manifest.relationships).toEqual([
      { entity: { type: "team", id: "t" }, relation: "member", subject: { type: "user", id: "u" } },
    ]);
    const [a, b] = manifest.documents;
    expect(a).toMatchObject({
      id: "a",
      path: "a.md",
      absolutePath: path.join(tmp.path, "a.md"),
      format: "markdown",
      owner: { type: "user", id: "u" },
      customer: "cust-1",
      viewers: [
        { type: "team", id: "t", relation: "member" },
        { type: "agent", id: "bot" },
      ],
      sections: [{ id: "s1", heading: "Legal", audience: [{ type: "user", id: "l" }] }],
      index: 0,
    });
    expect(b).toMatchObject({
      format: "pdf",
      absolutePath: path.join(tmp.path, "sub/b.PDF"),
      viewers: [],
      sections: [{ id: "s2", pages: { first: 2, last: 3 } }],
    });
    expect(b?.customer).toBeUndefined();
  });

  it("rejects unknown fields with their path and the document id", async () => {
    expect(await problemsOf(`documents:\n${doc("    viewer: [user:x]\n")}`)).toEqual([
      'documents[0] (id a): Unrecognized key: "viewer"',
    ]);
    expect(await problemsOf(`documents:\n${doc("")}extra: 1\n`)).toEqual([
      '(top level): Unrecognized key: "extra"',
    ]);
  });

  it("names missing and malformed fields", async () => {
    expect(
      await problemsOf(
        "documents:\n  - id: a b\n    path: a.rtf\n    collection: ''\n    owner: nadia\n    customer: 1001\n    viewers: [user:x, 'team:t#']\n",
      ),
    ).toEqual([
      'documents[0] (id a b).id: "a b" is not a valid document id (allowed: A-Z a-z 0-9 _ - @ . : +, at most 128)',
      'documents[0] (id a b).path: "a.rtf" has an unsupported extension (expected .md, .markdown, .txt, .pdf, .html, .htm, .docx)',
      "documents[0] (id a b).title: missing a title",
      "documents[0] (id a b).collection: expected a collection id, got an empty string",
      'documents[0] (id a b).owner: invalid entity, expected type:id: "nadia"',
      "documents[0] (id a b).customer: expected a customer id as text",
    ]);
  });

  it("rejects a wildcard subject", async () => {
    expect(await problemsOf(`documents:\n${doc("    viewers: ['user:*']\n")}`)).toEqual([
      'documents[0] (id a).viewers[0]: invalid subject: "user:*" (wildcards are not allowed)',
    ]);
  });

  it("rejects an empty manifest and an empty document list", async () => {
    expect(await problemsOf("")).toEqual(["documents: missing: list the documents to ingest"]);
    expect(await problemsOf("- a\n")).toEqual([
      "(top level): expected a mapping with schema, relationships and documents",
    ]);
    expect(await problemsOf("documents: []\n")).toEqual(["documents: the manifest lists no documents"]);
  });

  it("rejects duplicate document ids and section ids (across documents)", async () => {
    const section = (id: string) =>
      `    sections:\n      - id: ${id}\n        heading: H\n        audience: [user:l]\n`;
    expect(await problemsOf(`documents:\n${doc(section("s"))}${doc(section("s"))}`)).toEqual([
      'documents[1].id: duplicate document id "a" (first at documents[0])',
      'documents[1] (id a).sections[0].id: duplicate section id "s" (first at documents[0] (id a).sections[0])',
    ]);
  });

  it("rejects sections with both or neither of heading and pages, or the wrong one for the format", async () => {
    const manifest = `documents:
${doc(`    sections:
      - id: both
        heading: H
        pages: [1, 2]
        audience: [user:l]
      - id: neither
        audience: [user:l]
      - id: md-pages
        pages: [1, 1]
        audience: [user:l]
`)}  - id: p
    path: p.pdf
    title: P
    collection: c
    owner: user:u
    sections:
      - id: pdf-heading
        heading: H
        audience: [user:l]
      - id: backwards
        pages: [3, 2]
        audience: [user:l]
      - id: no-audience
        pages: [1, 1]
        audience: []
  - id: t
    path: t.txt
    title: T
    collection: c
    owner: user:u
    sections:
      - id: txt
        heading: H
        audience: [user:l]
`;
    expect(await problemsOf(manifest)).toEqual([
      "documents[1] (id p).sections[1].pages: the first page comes after the last",
      "documents[1] (id p).sections[2].audience: a section needs an audience; with none, nobody could read it",
    ]);
    const fixed = manifest
      .replace("pages: [3, 2]", "pages: [2, 3]")
      .replace("audience: []", "audience: [user:l]");
    expect(await problemsOf(fixed)).toEqual([
      "documents[0] (id a).sections[0]: a section needs exactly one of heading (Markdown, HTML, DOCX) or pages (PDF)",
      "documents[0] (id a).sections[1]: a section needs exactly one of heading (Markdown, HTML, DOCX) or pages (PDF)",
      "documents[0] (id a).sections[2].pages: a.md is Markdown; its sections are chosen by heading",
      "documents[1] (id p).sections[0].heading: p.pdf is a PDF; its sections are chosen by pages",
      "documents[2] (id t).sections[0]: a text file has no headings or pages, so it cannot have sections",
    ]);
  });

  it("names a missing schema file and bad tuples in the relationships file", async () => {
    await write(
      "rels.yaml",
      "relationships:\n  - team:t#member@user:u\n  - team:t#member\n  - 'doc:1#viewer@user:*x'\n",
    );
    const problems = await problemsOf(
      `schema: missing.perm\nrelationships: rels.yaml\ndocuments:\n${doc("")}`,
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toBe("schema (missing.perm): cannot read the file (no such file)");
    expect(problems[1]).toMatch(
      /^relationships \(rels\.yaml\): relationships\[1\]: invalid tuple.*; relationships\[2\]: invalid/,
    );
  });

  it("rejects a relationships file with unknown keys, and YAML that does not parse", async () => {
    await write("rels.yaml", "relationship:\n  - team:t#member@user:u\n");
    expect(await problemsOf(`relationships: rels.yaml\ndocuments:\n${doc("")}`)).toEqual([
      "relationships (rels.yaml): (top level): Unrecognized key",
    ]);
    const file = await write("broken.yaml", "documents:\n  - id: a\n  id: b\n");
    await expect(loadManifest(file)).rejects.toThrow(/^.*broken\.yaml: not valid YAML/);
  });

  it("names a manifest it cannot read", async () => {
    const missing = path.join(tmp.path, "nope.yaml");
    await expect(loadManifest(missing)).rejects.toThrow(
      `${missing}: cannot read the manifest (no such file)`,
    );
  });
});
