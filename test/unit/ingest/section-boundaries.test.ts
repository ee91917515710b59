/**
 * Section boundaries are a security boundary: text inside a restricted section must be stored under the
 * section's resource, or every reader of the document retrieves it. These tests put constructs a line
 * reader mistakes for structure (a heading-like line inside a comment, a code block, a quote...) inside a
 * restricted section, followed by a marker sentence, and check where the marker lands: end to end through
 * ingest and retrieval for a table of constructs, and as a property over random documents built from them
 * (and over PDF page ranges).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkDocument } from "../../../ingest/chunker.ts";
import { ingestManifest } from "../../../ingest/ingest.ts";
import { parseMarkdown } from "../../../ingest/loaders/markdown.ts";
import type { Block, StructuredDocument } from "../../../ingest/loaders/structured-document.ts";
import type { ManifestSection } from "../../../ingest/manifest.ts";
import { placeSections } from "../../../ingest/sections.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { documentResource, sectionResource } from "../../../src/core/chunk.ts";
import { parseSubject, parseTuple } from "../../../src/core/permify-notation.ts";
import { createRetrievalEngine } from "../../../src/core/retrieval.ts";

const SCHEMA = fileURLToPath(new URL("../../fixtures/ingest/schema.perm", import.meta.url));
const MARKER = "The confidential settlement cap is eleven million.";

/**
 * Constructs a line reader mistakes for structure. Each is placed in the restricted section right after
 * its first paragraph and followed by the marker; every one of them is content by CommonMark, so the
 * marker belongs to the section.
 */
const CONSTRUCTS: readonly (readonly [name: string, markdown: string])[] = [
  ["an HTML comment", "<!--\n## Draft notes\nreviewer comments\n-->"],
  ["an HTML comment with blank lines", "<!--\n\n## Draft notes\n\nreviewer comments\n\n-->"],
  ["an HTML block", "<div>\n## Draft notes\n</div>"],
  ["a <pre> block with blank lines", "<pre>\n\n## Draft notes\n\n</pre>"],
  ["a backtick fence", "```\n## Draft notes\n```"],
  ["a tilde fence with a longer closing fence", "~~~\n# Draft notes\n~~~~~"],
  ["indented code", "    ## Draft notes\n    more code"],
  ["a block quote", "> ## Draft notes\n> quoted"],
  ["a list item", "- ## Draft notes\n- second item"],
  ["a heading in a loose list item", "1. step one\n\n   ## Draft notes\n\n   continued"],
  ["a setext underline inside a list item", "- Draft notes\n  ---"],
  ["a thematic break that looks like a setext underline", "---"],
  ["an escaped heading", "\\## Draft notes"],
  ["a table cell", "| ## Draft notes |\n| --- |\n| cell |"],
  ["seven #s", "####### Draft notes"],
  ["a #hashtag", "#Draft notes"],
];

/** Documents whose structure is the construct: the heading line, the line breaks, front matter. */
const DOCUMENTS: readonly (readonly [name: string, markdown: string, heading?: string])[] = [
  ...CONSTRUCTS.map(
    ([name, construct]) =>
      [
        name,
        `# Policy\n\nPublic introduction.\n\n## Settlement terms\n\nThe settlement terms are negotiated by counsel.\n\n${construct}\n${MARKER}\n\n## Public closing\n\nClosing text.\n`,
      ] as const,
  ),
  [
    "CRLF line endings around a comment",
    `# Policy\r\n\r\n## Settlement terms\r\nThe settlement terms are negotiated by counsel.\r\n<!--\r\n## Draft notes\r\n-->\r\n${MARKER}\r\n\r\n## Public closing\r\n\r\nClosing text.\r\n`,
  ],
  [
    "front matter that holds heading-like lines",
    `---\ntitle: Policy\nnotes: |\n  ## Settlement terms\n  ## Public closing\n---\n# Policy\n\n## Settlement terms\n\nCounsel.\n\n${MARKER}\n\n## Public closing\n\nClosing text.\n`,
  ],
  [
    "a nested subsection",
    `# Policy\n\n## Settlement terms\n\nCounsel.\n\n### Draft notes\n\nNotes.\n\n#### Deeper\n\n${MARKER}\n\n## Public closing\n\nClosing text.\n`,
  ],
  [
    "a heading with trailing #s",
    `# Policy\n\n## Settlement terms ##\n\nCounsel.\n\n${MARKER}\n\n## Public closing ##\n\nClosing text.\n`,
  ],
  [
    "a setext section heading",
    `Policy\n======\n\nSettlement terms\n----------------\n\nCounsel.\n\n<!--\nDraft notes\n-----------\n-->\n${MARKER}\n\nPublic closing\n--------------\n\nClosing text.\n`,
  ],
  [
    "a heading with inline markup",
    `# Policy\n\n## *Settlement* \`terms\`\n\nCounsel.\n\n${MARKER}\n\n## Public closing\n\nClosing text.\n`,
    "Settlement terms",
  ],
];

describe("a restricted section keeps its text whatever Markdown it holds", () => {
  let dir: string;
  let schema: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "clearance-section-boundaries-"));
    schema = await readFile(SCHEMA, "utf8");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(
    DOCUMENTS.map(([name, markdown, heading]) => ({
      name,
      markdown,
      heading: heading ?? "Settlement terms",
    })),
  )("$name", async ({ name, markdown, heading }) => {
    const folder = await mkdtemp(path.join(dir, "case-"));
    await writeFile(path.join(folder, "policy.md"), markdown);
    await writeFile(
      path.join(folder, "manifest.yaml"),
      [
        "documents:",
        "  - id: policy",
        "    path: policy.md",
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
      await authorizer.writeSchema(schema);
      await authorizer.writeData({
        tuples: [
          "team:compliance#member@user:tess",
          "team:compliance#member@user:lena",
          "team:legal#member@user:lena",
          "collection:compliance#viewer@team:compliance#member",
        ].map(parseTuple),
      });
      const report = await ingestManifest({
        schemaChange: { allow: true },
        relationshipScope: "any",
        manifestPath: path.join(folder, "manifest.yaml"),
        authorizer,
        vectorStore,
        embedder,
      });
      expect(report.failed, name).toBe(0);

      const chunks = await vectorStore.documentChunks("policy");
      const holding = chunks.filter((chunk) => chunk.text.includes(MARKER));
      expect(holding.length).toBeGreaterThan(0);
      expect(new Set(holding.map((chunk) => chunk.resource))).toEqual(
        new Set([sectionResource("settlement")]),
      );
      expect(chunks.some((chunk) => chunk.text.includes("Closing text."))).toBe(true);

      // Both directions: the reader of the document outside the audience never gets the marker, the
      // reader inside it does.
      const engine = createRetrievalEngine({ authorizer, vectorStore, embedder });
      const ask = async (userId: string) =>
        (await engine.retrieve({ principal: { userId, agentIds: [] }, query: MARKER, k: 50 })).passages;
      const teller = await ask("tess");
      expect(teller.some((passage) => passage.text.includes(MARKER))).toBe(false);
      expect(teller.some((passage) => passage.text.includes("Closing text."))).toBe(true);
      expect((await ask("lena")).some((passage) => passage.text.includes(MARKER))).toBe(true);
    } finally {
      await Promise.all([authorizer.close(), vectorStore.close()]);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties: the resource of every piece of text is the one the document's structure implies.

const audience = [parseSubject("team:legal#member")];

/** Every generated element carries markers `mk<n>z`; the test knows which resource each must end up in. */
type Element =
  | { readonly kind: "heading"; readonly level: number; readonly render: (title: string) => string }
  | { readonly kind: "content"; readonly render: (marker: string) => string };

const heading = (level: number, render: (title: string) => string): Element => ({
  kind: "heading",
  level,
  render,
});
const content = (render: (marker: string) => string): Element => ({ kind: "content", render });

const headingArb: fc.Arbitrary<Element> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.boolean())
    .map(([level, closed]) =>
      heading(level, (title) => `${"#".repeat(level)} ${title}${closed ? ` ${"#".repeat(level)}` : ""}`),
    ),
  fc
    .integer({ min: 1, max: 2 })
    .map((level) => heading(level, (title) => `${title}\n${level === 1 ? "=====" : "-----"}`)),
);

const contentArb: fc.Arbitrary<Element> = fc.constantFrom(
  content((m) => `Plain paragraph ${m} text.`),
  content((m) => `<!--\n## comment ${m}\n-->\nAfter the comment ${m}.`),
  content((m) => `<!--\n\n# comment ${m}\n\n-->`),
  content((m) => `<div>\n## html ${m}\n</div>`),
  content((m) => `<pre>\n\n## pre ${m}\n\n</pre>`),
  content((m) => `\`\`\`\n# fenced ${m}\n\n## more\n\`\`\``),
  content((m) => `~~~\n## tilde ${m}\n~~~`),
  content((m) => `    ## indented ${m}`),
  content((m) => `> ## quoted ${m}\n> lazy\ncontinued ${m}`),
  content((m) => `- ## item ${m}\n- Setext in item ${m}\n  ---`),
  content((m) => `1. step ${m}\n\n   ## nested ${m}`),
  content((m) => `| ## cell ${m} |\n| --- |\n| row ${m} |`),
  content((m) => `\\## escaped ${m}`),
  content((m) => `####### seven ${m}`),
  content(() => "***"),
);

const documentArb = fc.record({
  frontMatter: fc.boolean(),
  newline: fc.constantFrom("\n", "\r\n"),
  elements: fc.array(fc.oneof({ arbitrary: headingArb, weight: 1 }, { arbitrary: contentArb, weight: 3 }), {
    minLength: 1,
    maxLength: 25,
  }),
  restricted: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
  chunkSize: fc.integer({ min: 100, max: 400 }),
  chunkOverlap: fc.integer({ min: 0, max: 60 }),
});

const MARKER_PATTERN = /mk\d+z/g;

describe("section placement, as a property", () => {
  it("every marker lands in the resource the heading structure implies, and no chunk spans two", () => {
    fc.assert(
      fc.property(documentArb, ({ frontMatter, newline, elements, restricted, chunkSize, chunkOverlap }) => {
        let markers = 0;
        const nextMarker = () => `mk${markers++}z`;
        const expected = new Map<string, string>();
        const sections: ManifestSection[] = [];
        // The open section: its heading's level; it ends at the next heading of the same or a higher level.
        let open: { id: string; level: number } | undefined;
        const parts: string[] = [];
        if (frontMatter) parts.push(`---\ntitle: x\nnote: ## front ${nextMarker()} matter\n---`);
        const frontMarkers = markers;

        elements.forEach((element, index) => {
          if (element.kind === "heading") {
            if (open && element.level <= open.level) open = undefined;
            const marker = nextMarker();
            // Sections never nest (a chunk has one resource), so a heading inside an open one is content.
            if (!open && restricted[index]) {
              open = { id: `s${index}`, level: element.level };
              sections.push({ id: open.id, heading: `Heading ${marker}`, audience });
            }
            expected.set(marker, open ? sectionResource(open.id) : documentResource("doc"));
            parts.push(element.render(`Heading ${marker}`));
            return;
          }
          const text = element.render(nextMarker());
          for (const marker of text.match(MARKER_PATTERN) ?? []) {
            expected.set(marker, open ? sectionResource(open.id) : documentResource("doc"));
          }
          parts.push(text);
        });
        const source = parts.join("\n\n").replace(/\n/g, newline);

        const placement = placeSections(
          { id: "doc", index: 0, path: "doc.md", sections },
          parseMarkdown(source),
        );
        if (!placement.ok) throw new Error(placement.problems.join("\n"));
        const chunks = chunkDocument(
          {
            documentId: "doc",
            title: "Doc",
            metadata: { collection: "c", owner: "user:o" },
            blocks: placement.blocks,
          },
          { chunkSize, chunkOverlap: Math.min(chunkOverlap, chunkSize - 1) },
        );

        const seen = new Set<string>();
        for (const chunk of chunks) {
          for (const marker of chunk.text.match(MARKER_PATTERN) ?? []) {
            seen.add(marker);
            expect(Number(marker.slice(2, -1))).toBeGreaterThanOrEqual(frontMarkers);
            expect({ marker, resource: chunk.resource }).toEqual({ marker, resource: expected.get(marker) });
          }
        }
        // Nothing was lost: every marker outside the front matter is in some chunk.
        expect([...seen].sort()).toEqual([...expected.keys()].sort());
      }),
      { numRuns: 300 },
    );
  });

  it("every PDF block lands in the section whose page range holds it, and no chunk spans two", () => {
    const pdfArb = fc
      .record({
        pages: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }),
        cuts: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        restricted: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        chunkSize: fc.integer({ min: 100, max: 400 }),
      })
      .map(({ pages, cuts, restricted, chunkSize }) => {
        // Contiguous page ranges: a cut after page p ends a range; every other range is a section.
        const ranges: { first: number; last: number; restricted: boolean }[] = [];
        let first = 1;
        pages.forEach((_, index) => {
          const page = index + 1;
          if (cuts[index] || page === pages.length) {
            ranges.push({ first, last: page, restricted: restricted[ranges.length] ?? false });
            first = page + 1;
          }
        });
        return { pages, ranges, chunkSize };
      });

    fc.assert(
      fc.property(pdfArb, ({ pages, ranges, chunkSize }) => {
        let markers = 0;
        const blocks: Block[] = [];
        const markerPage = new Map<string, number>();
        pages.forEach((paragraphs, index) => {
          for (let i = 0; i < paragraphs; i++) {
            const marker = `mk${markers++}z`;
            markerPage.set(marker, index + 1);
            blocks.push({
              kind: "paragraph",
              text: `Page ${index + 1} says ${marker} and then a few more words to fill the line.`,
              headingPath: [],
              page: index + 1,
            });
          }
        });
        const structured: StructuredDocument = { format: "pdf", blocks, pageCount: pages.length };
        const sections: ManifestSection[] = ranges
          .filter((range) => range.restricted)
          .map((range) => ({
            id: `p${range.first}`,
            pages: { first: range.first, last: range.last },
            audience,
          }));
        const placement = placeSections({ id: "doc", index: 0, path: "doc.pdf", sections }, structured);
        if (!placement.ok) throw new Error(placement.problems.join("\n"));
        const chunks = chunkDocument(
          {
            documentId: "doc",
            title: "Doc",
            metadata: { collection: "c", owner: "user:o" },
            blocks: placement.blocks,
          },
          { chunkSize, chunkOverlap: 30 },
        );
        const resourceOfPage = (page: number) => {
          const section = sections.find((s) => s.pages && s.pages.first <= page && page <= s.pages.last);
          return section ? sectionResource(section.id) : documentResource("doc");
        };
        const seen = new Set<string>();
        for (const chunk of chunks) {
          for (const marker of chunk.text.match(MARKER_PATTERN) ?? []) {
            seen.add(marker);
            expect(chunk.resource).toBe(resourceOfPage(markerPage.get(marker) as number));
          }
        }
        expect(seen.size).toBe(markers);
      }),
      { numRuns: 300 },
    );
  });
});
