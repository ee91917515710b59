/**
 * HTML and DOCX (issue 14 part 4). Section boundaries are a security boundary, as in
 * section-boundaries.test.ts: constructs that must not move a boundary are put inside a restricted section,
 * followed by a marker, and the marker must land in the section (end to end through ingest and retrieval,
 * both directions). Hostile content (scripts, styles, comments, hidden elements) is never indexed and is
 * never structure; a heading that is missing or ambiguous fails the run before anything is written; and a
 * DOCX may not inflate beyond the file size limit.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Document, HeadingLevel, Packer, Paragraph } from "docx";
import JSZip from "jszip";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestManifest } from "../../../ingest/ingest.ts";
import { DOCX_EXPANSION } from "../../../ingest/loaders/docx.ts";
import { parseHtml } from "../../../ingest/loaders/html.ts";
import { loadDocument, parseDocument } from "../../../ingest/loaders/load-document.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { documentResource, sectionResource } from "../../../src/core/chunk.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { createRetrievalEngine } from "../../../src/core/retrieval.ts";
import { WIRE_SECRET } from "../../fixtures/ingest/docx-content.ts";
import { expectAppError } from "../../helpers/errors.ts";

const SCHEMA = fileURLToPath(new URL("../../fixtures/ingest/schema.perm", import.meta.url));
const WIRE_DOCX = fileURLToPath(
  new URL("../../fixtures/ingest/documents/wire-procedures.docx", import.meta.url),
);
const MARKER = "The confidential settlement cap is eleven million.";

describe("parseHtml", () => {
  it("reads headings with their level and path, and blocks as rendered text", () => {
    const { blocks, format } = parseHtml(
      "<!doctype html><title>Guide</title><h1>Guide</h1><p>Intro <b>text</b>\n  still intro.</p>" +
        "<section><h2>Setup</h2><ul><li>Step one</li><li>Step two</li></ul></section>" +
        "<div>Loose <i>inline</i> text<h3>Detail</h3><pre>  code\n    kept</pre></div>" +
        "<table><tr><td>a</td><td>b</td></tr></table><blockquote>quoted</blockquote>",
    );
    expect(format).toBe("html");
    expect(blocks.map((b) => [b.kind, b.text, b.headingPath, b.level])).toEqual([
      ["heading", "Guide", [], 1],
      ["paragraph", "Intro text still intro.", ["Guide"], undefined],
      ["heading", "Setup", ["Guide"], 2],
      ["list", "Step one\nStep two", ["Guide", "Setup"], undefined],
      ["paragraph", "Loose inline text", ["Guide", "Setup"], undefined],
      ["heading", "Detail", ["Guide", "Setup"], 3],
      ["code", "  code\n    kept", ["Guide", "Setup", "Detail"], undefined],
      ["table", "a b", ["Guide", "Setup", "Detail"], undefined],
      ["quote", "quoted", ["Guide", "Setup", "Detail"], undefined],
    ]);
    expect(blocks[0]?.line).toBe(1);
  });

  it("takes the single <main> as the content, and the body when there is none or more than one", () => {
    const page = (main: string) =>
      `<header><h1>Bank</h1></header><nav><a>Menu item</a></nav>${main}<footer>Footer text</footer>`;
    expect(parseHtml(page("<main><h2>Cards</h2><p>Card text.</p></main>")).blocks.map((b) => b.text)).toEqual(
      ["Cards", "Card text."],
    );
    expect(
      parseHtml(page("<main><p>One.</p></main><main><p>Two.</p></main>")).blocks.map((b) => b.text),
    ).toEqual(["Bank", "One.", "Two.", "Footer text"]);
  });

  it("never indexes scripts, styles, comments, templates, form controls or hidden elements", () => {
    const hostile = [
      "<script>hostile-script</script>",
      "<style>.x{content:'hostile-style'}</style>",
      "<!-- hostile-comment -->",
      "<template><p>hostile-template</p></template>",
      "<noscript>hostile-noscript</noscript>",
      "<p hidden>hostile-hidden</p>",
      "<p hidden=until-found>hostile-until-found</p>",
      '<div style="display: none"><p>hostile-display</p></div>',
      '<span style="DISPLAY:NONE !important">hostile-important</span>',
      '<p style="visibility:hidden">hostile-visibility</p>',
      '<p style="content-visibility: hidden">hostile-content-visibility</p>',
      "<dialog><p>hostile-dialog</p></dialog>",
      "<iframe srcdoc='<p>hostile-iframe</p>'></iframe>",
      "<svg><text>hostile-svg</text></svg>",
      "<textarea>hostile-textarea</textarea>",
      "<select><option>hostile-option</option></select>",
    ].join("\n");
    const { blocks } = parseHtml(`<h1>Page</h1><p>Visible.</p>${hostile}<p>After.</p>`);
    expect(blocks.map((b) => b.text)).toEqual(["Page", "Visible.", "After."]);
  });

  it("renders markup written as text as text, and decodes character references", () => {
    const { blocks } = parseHtml("<p>&lt;script&gt;x&lt;/script&gt; &amp; caf&eacute;</p>");
    expect(blocks.map((b) => b.text)).toEqual(["<script>x</script> & café"]);
  });
});

/** HTML constructs inside the restricted section, each followed by the marker; none may end the section. */
const HTML_CONSTRUCTS: readonly (readonly [name: string, html: string])[] = [
  ["a heading inside a comment", "<!--\n<h2>Public closing</h2>\n-->"],
  ["a hidden heading", "<h2 hidden>Public closing</h2>"],
  ["a heading hidden by an inline style", '<h2 style="display:none">Draft notes</h2>'],
  ["a heading inside a hidden container", '<div style="visibility: hidden"><h1>Draft notes</h1></div>'],
  ["a heading inside a template", "<template><h2>Draft notes</h2></template>"],
  ["a heading inside a script", "<script>document.write('<h2>Draft notes</h2>')</script>"],
  ["a heading inside noscript", "<noscript><h2>Draft notes</h2></noscript>"],
  ["a heading inside a closed dialog", "<dialog><h2>Draft notes</h2></dialog>"],
  ["a heading inside a list item", "<ul><li><h2>Draft notes</h2></li></ul>"],
  ["a heading inside a table cell", "<table><tr><td><h2>Draft notes</h2></td></tr></table>"],
  ["a heading inside a block quote", "<blockquote><h2>Draft notes</h2></blockquote>"],
  ["a heading inside details", "<details><summary>More</summary><h2>Draft notes</h2></details>"],
  ["a heading-like line in <pre>", "<pre>\n## Draft notes\n<h2>x</h2>\n</pre>"],
  ["an empty heading", "<h2>  </h2>"],
  ["a heading of an image only", '<h1><img alt="Draft notes" src=""></h1>'],
  ["a deeper heading inside a custom element", "<x-card><h3>Draft notes</h3><p>Notes.</p></x-card>"],
  ["Markdown heading syntax", "<p>## Public closing</p>"],
  ["an unclosed element swallowing the rest", "<div><p>Open div"],
];

const HTML_DOCUMENTS: readonly (readonly [name: string, html: string, heading?: string])[] = [
  ...HTML_CONSTRUCTS.map(
    ([name, construct]) =>
      [
        name,
        `<!doctype html><html><body><h1>Policy</h1><p>Public introduction.</p><section><h2>Settlement terms</h2><p>The settlement terms are negotiated by counsel.</p>\n${construct}\n<p>${MARKER}</p></section><h2>Public closing</h2><p>Closing text.</p></body></html>`,
      ] as const,
  ),
  [
    "a heading with inline markup and entities",
    `<h1>Policy</h1><h2><em>Settlement</em>&nbsp;<code>terms</code></h2><p>Counsel.</p><p>${MARKER}</p><h2>Public closing</h2><p>Closing text.</p>`,
    "Settlement terms",
  ],
  [
    "sections across <main> containers",
    `<nav><h2>Public closing</h2></nav><main><article><header><h2>Settlement terms</h2></header><div><div><p>${MARKER}</p></div></div></article><article><h2>Public closing</h2><p>Closing text.</p></article></main>`,
  ],
];

/** A Word document whose Heading 2 "Settlement terms" appears twice. */
async function repeatedHeadingDocx(): Promise<Buffer> {
  const heading = () => new Paragraph({ text: "Settlement terms", heading: HeadingLevel.HEADING_2 });
  const document = new Document({
    sections: [{ children: [heading(), new Paragraph("One."), heading(), new Paragraph("Two.")] }],
  });
  return Packer.toBuffer(document);
}

interface Harness {
  readonly dir: string;
  readonly schema: string;
}

/** Ingests one document with a restricted section and returns its chunks and what each reader retrieves. */
async function ingestRestricted(
  harness: Harness,
  file: { name: string; bytes: string | Buffer },
  heading: string,
  probe: string,
) {
  const folder = await mkdtemp(path.join(harness.dir, "case-"));
  await writeFile(path.join(folder, file.name), file.bytes);
  await writeFile(
    path.join(folder, "manifest.yaml"),
    [
      "documents:",
      "  - id: policy",
      `    path: ${file.name}`,
      "    title: Settlement policy",
      "    collection: compliance",
      "    owner: user:omar",
      "    sections:",
      "      - id: settlement",
      `        heading: ${JSON.stringify(heading)}`,
      "        audience: [team:legal#member]",
      "",
    ].join("\n"),
  );
  const authorizer = await createEmbeddedAuthorizer();
  const vectorStore = await createEmbeddedVectorStore({ dimensions: 64 });
  const embedder = createHashingEmbedder({ dimensions: 64 });
  try {
    await authorizer.writeSchema(harness.schema);
    await authorizer.writeData({
      tuples: [
        "team:compliance#member@user:tess",
        "team:compliance#member@user:lena",
        "team:legal#member@user:lena",
        "collection:compliance#viewer@team:compliance#member",
      ].map(parseTuple),
    });
    const ingesting = ingestManifest({
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: path.join(folder, "manifest.yaml"),
      authorizer,
      vectorStore,
      embedder,
    });
    const report = await ingesting.catch(async (error: unknown) => {
      // A failed run must have written nothing.
      expect(await vectorStore.count()).toBe(0);
      throw error;
    });
    const chunks = await vectorStore.documentChunks("policy");
    const engine = createRetrievalEngine({ authorizer, vectorStore, embedder });
    const ask = async (userId: string) =>
      (await engine.retrieve({ principal: { userId, agentIds: [] }, query: probe, k: 50 })).passages;
    return { report, chunks, teller: await ask("tess"), legal: await ask("lena") };
  } finally {
    await Promise.all([authorizer.close(), vectorStore.close()]);
  }
}

describe("a restricted HTML or DOCX section keeps its text", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = {
      dir: await mkdtemp(path.join(tmpdir(), "clearance-html-docx-")),
      schema: await readFile(SCHEMA, "utf8"),
    };
  });
  afterAll(async () => {
    await rm(harness.dir, { recursive: true, force: true });
  });

  it.each(
    HTML_DOCUMENTS.map(([name, html, heading]) => ({ name, html, heading: heading ?? "Settlement terms" })),
  )("HTML: $name", async ({ name, html, heading }) => {
    const { report, chunks, teller, legal } = await ingestRestricted(
      harness,
      { name: "policy.html", bytes: html },
      heading,
      MARKER,
    );
    expect(report.failed, name).toBe(0);
    const holding = chunks.filter((chunk) => chunk.text.includes(MARKER));
    expect(holding.length).toBeGreaterThan(0);
    expect(new Set(holding.map((chunk) => chunk.resource))).toEqual(new Set([sectionResource("settlement")]));
    expect(chunks.find((chunk) => chunk.text.includes("Closing text."))?.resource).toBe(
      documentResource("policy"),
    );
    // Nothing of the markup itself is indexed.
    expect(chunks.some((chunk) => /<\/?(h\d|script|template|div|p)\b/.test(chunk.text))).toBe(false);
    expect(teller.some((passage) => passage.text.includes(MARKER))).toBe(false);
    expect(teller.some((passage) => passage.text.includes("Closing text."))).toBe(true);
    expect(legal.some((passage) => passage.text.includes(MARKER))).toBe(true);
  });

  it("DOCX: the section runs to the next heading of its level; tables, notes and comments do not move it", async () => {
    const { report, chunks, teller, legal } = await ingestRestricted(
      harness,
      { name: "wire-procedures.docx", bytes: await readFile(WIRE_DOCX) },
      "Sanctions screening",
      WIRE_SECRET,
    );
    expect(report.failed).toBe(0);
    const resourceOf = (text: string) => chunks.filter((c) => c.text.includes(text)).map((c) => c.resource);
    expect(new Set(resourceOf(WIRE_SECRET))).toEqual(new Set([sectionResource("settlement")]));
    expect(new Set(resourceOf("<script>alert('typed as text')</script>"))).toEqual(
      new Set([sectionResource("settlement")]),
    );
    expect(new Set(resourceOf("Wires received before three"))).toEqual(new Set([documentResource("policy")]));
    expect(new Set(resourceOf("Forms are on the intranet."))).toEqual(new Set([documentResource("policy")]));
    expect(chunks.some((c) => c.text.includes("Footnote text") || c.text.includes("Comment text"))).toBe(
      false,
    );
    expect(teller.some((passage) => passage.text.includes(WIRE_SECRET))).toBe(false);
    expect(teller.some((passage) => passage.text.includes("Wires received before three"))).toBe(true);
    expect(legal.some((passage) => passage.text.includes(WIRE_SECRET))).toBe(true);
  });

  it.each([
    [
      "HTML, a missing heading",
      "policy.html",
      "<h1>Policy</h1><h2>Terms</h2><p>x</p>",
      "Settlement terms",
      /not found in policy\.html/,
    ],
    [
      "HTML, an ambiguous heading",
      "policy.html",
      "<h1>Policy</h1><h2>Settlement terms</h2><p>x</p><h3>Settlement  TERMS</h3><p>y</p>",
      "Settlement terms",
      /is ambiguous in policy\.html \(lines 1, 1\)/,
    ],
    [
      "HTML, a heading only hidden elements hold",
      "policy.html",
      "<h1>Policy</h1><h2 hidden>Settlement terms</h2><p>x</p>",
      "Settlement terms",
      /not found in policy\.html/,
    ],
    [
      "DOCX, a missing heading",
      "wire-procedures.docx",
      undefined,
      "Wire transfers",
      /not found in wire-procedures\.docx/,
    ],
    [
      "DOCX, an ambiguous heading",
      "repeated.docx",
      "docx",
      "Settlement terms",
      /is ambiguous in repeated\.docx \(2 headings\)/,
    ],
  ] as const)("%s fails the run before anything is written", async (_name, file, html, heading, problem) => {
    const bytes =
      html === undefined ? await readFile(WIRE_DOCX) : html === "docx" ? await repeatedHeadingDocx() : html;
    const error = await expectAppError(
      ingestRestricted(harness, { name: file, bytes }, heading, MARKER),
      "BAD_REQUEST",
    );
    expect(error.message).toMatch(problem);
  });
});

describe("loadDocument for HTML and DOCX", () => {
  it("reads the DOCX fixture's headings with their levels, without notes or comments", async () => {
    const document = await loadDocument(WIRE_DOCX);
    expect(document.format).toBe("docx");
    expect(document.blocks.filter((b) => b.kind === "heading").map((b) => [b.heading, b.level])).toEqual([
      ["Wire procedures", 1],
      ["Sanctions screening", 2],
      ["Customer cut-off times", 2],
      ["Appendix", 1],
    ]);
    expect(document.blocks.find((b) => b.kind === "table")?.text).toBe(
      "Customer cut-off times\nEscalation desk",
    );
    expect(document.blocks.every((b) => b.line === undefined)).toBe(true);
  });

  it("reads .html and .htm, and fails on HTML that is not UTF-8", async () => {
    const bytes = Buffer.from("<h1>Title</h1><p>Body.</p>");
    expect((await parseDocument(bytes, "page.htm")).format).toBe("html");
    expect((await parseDocument(bytes, "page.HTML")).blocks).toHaveLength(2);
    await expect(parseDocument(Buffer.from([0x3c, 0x70, 0x3e, 0xe9]), "x.html", "x.html")).rejects.toThrow(
      "x.html: not UTF-8 text",
    );
  });

  it("names a DOCX that is not a Word package", async () => {
    for (const bytes of [
      Buffer.from("not a zip at all"),
      await new JSZip().file("a.txt", "x").generateAsync({ type: "nodebuffer" }),
    ]) {
      const error = await expectAppError(parseDocument(bytes, "x.docx", "docs/x.docx"), "BAD_REQUEST");
      expect(error.message).toMatch(/^docs\/x\.docx: not a readable DOCX file/);
    }
  });

  it("refuses a file over the limit, and a DOCX that inflates beyond the limit times the expansion", async () => {
    const docx = await readFile(WIRE_DOCX);
    await expectAppError(
      parseDocument(docx, "w.docx", "w.docx", { maxBytes: docx.length - 1 }),
      "PAYLOAD_TOO_LARGE",
    );
    await expectAppError(
      parseDocument(Buffer.from("<p>too long</p>"), "w.html", "w.html", { maxBytes: 4 }),
      "PAYLOAD_TOO_LARGE",
    );
    // A package of a few kilobytes that inflates to a megabyte of XML.
    const zip = await JSZip.loadAsync(docx);
    zip.file("word/padding.xml", `<x>${" ".repeat(1024 * 1024)}</x>`);
    const bomb = await zip.generateAsync({ type: "nodebuffer", compression: "DEFLATE" });
    const limit = Math.ceil((1024 * 1024) / DOCX_EXPANSION / 2);
    expect(bomb.length).toBeLessThan(limit);
    const error = await expectAppError(
      parseDocument(bomb, "w.docx", "w.docx", { maxBytes: limit }),
      "PAYLOAD_TOO_LARGE",
    );
    expect(error.message).toMatch(/^w\.docx: expands to more than/);
    // The same package is read when the limit allows it.
    expect((await parseDocument(bomb, "w.docx", "w.docx", { maxBytes: 1024 * 1024 })).format).toBe("docx");
  });
});
