import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkableDocument, chunkDocument, resolveChunkingOptions } from "../../../ingest/chunker.ts";
import type { BlockKind } from "../../../ingest/loaders/structured-document.ts";
import type { SectionedBlock } from "../../../ingest/sections.ts";
import type { Chunk } from "../../../src/core/chunk.ts";
import { expectThrownAppError } from "../../helpers/errors.ts";

const metadata = { collection: "handbooks", owner: "user:omar" };

function documentOf(blocks: SectionedBlock[], documentId = "doc-1"): ChunkableDocument {
  return { documentId, title: "Handbook", metadata, blocks };
}

const paragraph = (text: string, extra: Partial<SectionedBlock> = {}): SectionedBlock => ({
  kind: "paragraph",
  text,
  headingPath: [],
  ...extra,
});
const heading = (text: string, level: number, extra: Partial<SectionedBlock> = {}): SectionedBlock => ({
  kind: "heading",
  text: `${"#".repeat(level)} ${text}`,
  heading: text,
  level,
  headingPath: [],
  ...extra,
});

/** `n` distinct sentences of about 40 characters each. */
const sentences = (n: number, prefix = "s") =>
  Array.from({ length: n }, (_, i) => `Sentence ${prefix}${i} says something plain here.`).join(" ");

describe("chunkDocument", () => {
  it("packs short blocks together and starts a new chunk at every heading", () => {
    const chunks = chunkDocument(
      documentOf([
        heading("Intro", 1),
        paragraph("One."),
        paragraph("Two."),
        heading("Next", 2),
        paragraph("Three."),
      ]),
    );
    expect(chunks.map((c) => c.text)).toEqual(["# Intro\n\nOne.\n\nTwo.", "## Next\n\nThree."]);
    expect(chunks.map((c) => c.ordinal)).toEqual([0, 1]);
    expect(chunks[0]).toMatchObject({
      resource: "document:doc-1",
      documentId: "doc-1",
      title: "Handbook",
      metadata,
    });
    expect(chunks[0]?.sectionId).toBeUndefined();
  });

  it("never puts section text and outside text in one chunk, and gives section chunks the section resource", () => {
    const chunks = chunkDocument(
      documentOf([
        paragraph("Public before."),
        paragraph("Secret one.", { sectionId: "hold" }),
        paragraph("Secret two.", { sectionId: "hold" }),
        paragraph("Public after."),
      ]),
    );
    expect(chunks.map((c) => [c.text, c.resource, c.sectionId])).toEqual([
      ["Public before.", "document:doc-1", undefined],
      ["Secret one.\n\nSecret two.", "section:hold", "hold"],
      ["Public after.", "document:doc-1", undefined],
    ]);
  });

  it("starts a new chunk on a new PDF page", () => {
    const chunks = chunkDocument(
      documentOf([paragraph("Page one.", { page: 1 }), paragraph("Page two.", { page: 2 })]),
    );
    expect(chunks.map((c) => c.text)).toEqual(["Page one.", "Page two."]);
  });

  it("splits a long paragraph at sentence boundaries, within the size, with overlap cut at a word boundary", () => {
    const text = sentences(30);
    const chunks = chunkDocument(documentOf([paragraph(text)]), { chunkSize: 300, chunkOverlap: 60 });
    expect(chunks.length).toBeGreaterThan(4);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(300);
    for (let i = 1; i < chunks.length; i++) {
      const previous = (chunks[i - 1] as Chunk).text;
      const current = (chunks[i] as Chunk).text;
      // The overlap: the longest start of this chunk that ends the previous one.
      const overlap = longestSuffixPrefix(previous, current);
      expect(overlap.length).toBeGreaterThan(0);
      expect(overlap.length).toBeLessThanOrEqual(60);
      expect(current.startsWith(overlap)).toBe(true);
      expect(
        /^\S/.test(overlap) &&
          (previous.length === overlap.length || /\s/.test(previous.at(-overlap.length - 1) ?? "")),
      ).toBe(true);
    }
    // Every sentence is whole in some chunk.
    for (let i = 0; i < 30; i++) {
      expect(chunks.some((c) => c.text.includes(`Sentence s${i} says something plain here.`))).toBe(true);
    }
  });

  it("does not overlap across a heading, a page or a section boundary", () => {
    const chunks = chunkDocument(
      documentOf([
        paragraph(sentences(8, "a")),
        heading("Next", 2),
        paragraph(sentences(8, "b"), { sectionId: "x" }),
      ]),
      { chunkSize: 200, chunkOverlap: 100 },
    );
    const firstOfSection = chunks.findIndex((c) => c.sectionId === "x");
    expect(chunks[firstOfSection]?.text.startsWith("Sentence b0")).toBe(true);
    const headingChunk = chunks.find((c) => c.text.startsWith("## Next"));
    expect(headingChunk?.text).toBe("## Next");
  });

  it("keeps a code fence whole when it fits, and splits a longer one at line boundaries", () => {
    const code = (lines: number) =>
      ["```", ...Array.from({ length: lines }, (_, i) => `run step-${i} --flag`), "```"].join("\n");
    const fits = chunkDocument(
      documentOf([paragraph("Intro."), { kind: "code", text: code(10), headingPath: [] }]),
      {
        chunkSize: 300,
        chunkOverlap: 0,
      },
    );
    expect(fits.map((c) => c.text)).toEqual([`Intro.\n\n${code(10)}`]);
    const long = chunkDocument(documentOf([{ kind: "code", text: code(40), headingPath: [] }]), {
      chunkSize: 200,
      chunkOverlap: 0,
    });
    expect(long.length).toBeGreaterThan(1);
    for (const chunk of long) {
      expect(chunk.text.length).toBeLessThanOrEqual(200);
      for (const line of chunk.text.split("\n")) expect(line).toMatch(/^(```|run step-\d+ --flag)$/);
      expect(chunk.text).toMatch(/run step/);
    }
  });

  it("splits a list at item boundaries", () => {
    const list = Array.from({ length: 20 }, (_, i) => `- item ${i} with a few words`).join("\n");
    const chunks = chunkDocument(documentOf([{ kind: "list", text: list, headingPath: [] }]), {
      chunkSize: 150,
      chunkOverlap: 0,
    });
    expect(chunks.flatMap((c) => c.text.split("\n"))).toEqual(list.split("\n"));
  });

  it("cuts a word longer than a chunk at characters, never inside a surrogate pair", () => {
    const word = "😀".repeat(150);
    const chunks = chunkDocument(documentOf([paragraph(`Start ${word} end.`)]), {
      chunkSize: 100,
      chunkOverlap: 10,
    });
    for (const chunk of chunks) {
      expect(chunk.text.length).toBeLessThanOrEqual(100);
      expect(chunk.text).not.toMatch(
        /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
      );
    }
    expect(
      chunks
        .map((c) => c.text)
        .join("")
        .replace(/[^😀]/gu, "").length,
    ).toBeGreaterThanOrEqual(word.length);
  });

  it("gives deterministic ids that change with the text and the resource", () => {
    const blocks = [paragraph("Alpha."), paragraph("Beta.", { sectionId: "s" })];
    const first = chunkDocument(documentOf(blocks));
    expect(chunkDocument(documentOf(blocks)).map((c) => c.id)).toEqual(first.map((c) => c.id));
    for (const chunk of first) expect(chunk.id).toMatch(/^doc-1:\d+:[0-9a-f]{12}$/);
    const edited = chunkDocument(documentOf([paragraph("Alpha!"), paragraph("Beta.", { sectionId: "s" })]));
    expect(edited[0]?.id).not.toBe(first[0]?.id);
    const moved = chunkDocument(documentOf([paragraph("Alpha."), paragraph("Beta.", { sectionId: "t" })]));
    expect(moved[1]?.id).not.toBe(first[1]?.id);
    const odd = chunkDocument(documentOf([paragraph("x")], "a@b+c"));
    expect(odd[0]?.id).toMatch(/^a_b_c:0:[0-9a-f]{12}$/);
  });

  it("skips blank blocks and yields no chunks for a document without text", () => {
    expect(chunkDocument(documentOf([paragraph("  "), paragraph("\n")]))).toEqual([]);
  });
});

describe("resolveChunkingOptions", () => {
  it("defaults to 1000 characters with 150 of overlap", () => {
    expect(resolveChunkingOptions()).toEqual({ chunkSize: 1000, chunkOverlap: 150 });
    expect(resolveChunkingOptions({ chunkOverlap: 0 })).toEqual({ chunkSize: 1000, chunkOverlap: 0 });
  });

  it.each([
    [{ chunkSize: 99 }, "chunk size must be an integer of at least 100, got 99"],
    [{ chunkSize: 150.5 }, "chunk size must be an integer of at least 100, got 150.5"],
    [
      { chunkSize: 200, chunkOverlap: 200 },
      "chunk overlap must be an integer from 0 to less than the chunk size (200), got 200",
    ],
    [
      { chunkOverlap: -1 },
      "chunk overlap must be an integer from 0 to less than the chunk size (1000), got -1",
    ],
  ])("rejects %j", (options, message) => {
    const error = expectThrownAppError(() => resolveChunkingOptions(options), "BAD_REQUEST");
    expect(error.message).toBe(message);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties over random structured documents. Words are unique tokens `w<n>x`, so where each chunk's text
// comes from in the document is unambiguous.

interface RandomDocument {
  readonly blocks: SectionedBlock[];
  readonly chunkSize: number;
  readonly chunkOverlap: number;
}

const WORD = /w\d+x/g;

const randomDocument: fc.Arbitrary<RandomDocument> = fc
  .record({
    chunkSize: fc.integer({ min: 100, max: 400 }),
    overlapShare: fc.double({ min: 0, max: 0.9, noNaN: true }),
    blocks: fc.array(
      fc.record({
        kind: fc.constantFrom<BlockKind>("heading", "paragraph", "paragraph", "list", "code"),
        // Sentences of 1-40 words: some blocks exceed a chunk, some sentences exceed the split budget.
        sentences: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }),
        section: fc.constantFrom(undefined, undefined, "s1", "s2"),
        page: fc.integer({ min: 1, max: 3 }),
      }),
      { minLength: 1, maxLength: 12 },
    ),
  })
  .map(({ chunkSize, overlapShare, blocks }) => {
    let next = 0;
    const words = (n: number) => Array.from({ length: n }, () => `w${next++}x`).join(" ");
    let page = 1;
    const built = blocks.map((block): SectionedBlock => {
      page = Math.max(page, block.page);
      const base = { headingPath: [], page, ...(block.section ? { sectionId: block.section } : {}) };
      if (block.kind === "heading") return { ...base, kind: "heading", text: `## ${words(3)}`, level: 2 };
      if (block.kind === "list") {
        return { ...base, kind: "list", text: block.sentences.map((n) => `- ${words(n)}`).join("\n") };
      }
      if (block.kind === "code") {
        return {
          ...base,
          kind: "code",
          text: ["```", ...block.sentences.map((n) => words(n)), "```"].join("\n"),
        };
      }
      return { ...base, kind: "paragraph", text: block.sentences.map((n) => `${words(n)}.`).join(" ") };
    });
    return { blocks: built, chunkSize, chunkOverlap: Math.floor(chunkSize * overlapShare) };
  });

/** Regions: maximal runs of blocks with the same section, which no chunk may span. */
function regionsOf(blocks: readonly SectionedBlock[]): { sectionId: string | undefined; words: string[] }[] {
  const regions: { sectionId: string | undefined; words: string[] }[] = [];
  for (const block of blocks) {
    const last = regions.at(-1);
    const words = block.text.match(WORD) ?? [];
    if (last && last.sectionId === block.sectionId) last.words.push(...words);
    else regions.push({ sectionId: block.sectionId, words: [...words] });
  }
  return regions;
}

describe("chunkDocument properties", () => {
  it("keeps every chunk inside one region, covers the region's text in order, within the size, with bounded overlap", () => {
    fc.assert(
      fc.property(randomDocument, ({ blocks, chunkSize, chunkOverlap }) => {
        const chunks = chunkDocument(documentOf(blocks), { chunkSize, chunkOverlap });
        const regions = regionsOf(blocks);
        const regionOfWord = new Map<string, number>();
        regions.forEach((region, index) => {
          for (const word of region.words) regionOfWord.set(word, index);
        });

        const chunksByRegion = regions.map(() => [] as { chunk: Chunk; words: string[] }[]);
        chunks.forEach((chunk, ordinal) => {
          expect(chunk.ordinal).toBe(ordinal);
          expect(chunk.text.length).toBeLessThanOrEqual(chunkSize);
          const words = chunk.text.match(WORD) ?? [];
          expect(words.length).toBeGreaterThan(0);
          // Exactly one region, and the resource of that region.
          const regionIndexes = new Set(words.map((word) => regionOfWord.get(word)));
          expect(regionIndexes.size).toBe(1);
          const regionIndex = [...regionIndexes][0] as number;
          const region = regions[regionIndex] as (typeof regions)[number];
          expect(chunk.sectionId).toBe(region.sectionId);
          expect(chunk.resource).toBe(region.sectionId ? `section:${region.sectionId}` : "document:doc-1");
          chunksByRegion[regionIndex]?.push({ chunk, words });
        });

        regions.forEach((region, regionIndex) => {
          const position = new Map(region.words.map((word, index) => [word, index]));
          let covered = 0;
          let previousStart = 0;
          for (const { chunk, words } of chunksByRegion[regionIndex] ?? []) {
            const start = position.get(words[0] as string) as number;
            // A contiguous window of the region's words ...
            expect(words).toEqual(region.words.slice(start, start + words.length));
            // ... that moves forward without a gap, repeating at most the overlap.
            expect(start).toBeGreaterThanOrEqual(previousStart);
            expect(start).toBeLessThanOrEqual(covered);
            expect(start + words.length).toBeGreaterThan(covered);
            if (start < covered) {
              const lastRepeated = region.words[covered - 1] as string;
              expect(chunk.text.indexOf(lastRepeated) + lastRepeated.length).toBeLessThanOrEqual(
                chunkOverlap,
              );
            }
            covered = start + words.length;
            previousStart = start;
          }
          // ... and together they cover every word of the region.
          expect(covered).toBe(region.words.length);
        });
      }),
      { numRuns: 300 },
    );
  });
});

function longestSuffixPrefix(previous: string, current: string): string {
  for (let length = Math.min(previous.length, current.length); length > 0; length--) {
    if (previous.endsWith(current.slice(0, length))) return current.slice(0, length);
  }
  return "";
}
