import { describe, expect, it } from "vitest";
import { parseMarkdown } from "../../../ingest/loaders/markdown.ts";
import type { Block, StructuredDocument } from "../../../ingest/loaders/structured-document.ts";
import type { ManifestSection } from "../../../ingest/manifest.ts";
import { placeSections } from "../../../ingest/sections.ts";
import { parseSubject } from "../../../src/core/permify-notation.ts";

const audience = [parseSubject("team:legal#member")];
const headingSection = (id: string, heading: string): ManifestSection => ({ id, heading, audience });
const pageSection = (id: string, first: number, last: number): ManifestSection => ({
  id,
  pages: { first, last },
  audience,
});
const documentWith = (sections: ManifestSection[]) => ({ id: "doc", index: 4, path: "doc.md", sections });

const markdown = parseMarkdown(`# Program

Overview.

## Legal hold procedure

Freeze the records.

### Notifications

Tell the records manager.

## Training

Yearly.

# Appendix

## Legal hold procedure again

Other text.
`);

function pdf(pageTexts: readonly (string | undefined)[]): StructuredDocument {
  const blocks: Block[] = [];
  pageTexts.forEach((text, index) => {
    if (text !== undefined) blocks.push({ kind: "paragraph", text, headingPath: [], page: index + 1 });
  });
  return { format: "pdf", blocks, pageCount: pageTexts.length };
}

describe("placeSections", () => {
  it("puts a heading and everything under it, deeper headings included, in the section", () => {
    const placement = placeSections(
      documentWith([headingSection("hold", "  LEGAL   hold procedure ")]),
      markdown,
    );
    if (!placement.ok) throw new Error(placement.problems.join("\n"));
    expect(placement.blocks.map((b) => [b.text, b.sectionId])).toEqual([
      ["# Program", undefined],
      ["Overview.", undefined],
      ["## Legal hold procedure", "hold"],
      ["Freeze the records.", "hold"],
      ["### Notifications", "hold"],
      ["Tell the records manager.", "hold"],
      ["## Training", undefined],
      ["Yearly.", undefined],
      ["# Appendix", undefined],
      ["## Legal hold procedure again", undefined],
      ["Other text.", undefined],
    ]);
  });

  it("ends a section at the next heading of a higher level too", () => {
    const placement = placeSections(documentWith([headingSection("training", "Training")]), markdown);
    if (!placement.ok) throw new Error(placement.problems.join("\n"));
    expect(placement.blocks.filter((b) => b.sectionId === "training").map((b) => b.text)).toEqual([
      "## Training",
      "Yearly.",
    ]);
  });

  it("names a heading that is missing or ambiguous", () => {
    const doubled = parseMarkdown("# A\n\nx\n\n## Dup\n\ny\n\n## dup\n\nz\n");
    expect(placeSections(documentWith([headingSection("s", "Nowhere")]), markdown)).toEqual({
      ok: false,
      problems: ['documents[4] (id doc).sections[0].heading: heading "Nowhere" not found in doc.md'],
    });
    expect(placeSections(documentWith([headingSection("s", "Dup")]), doubled)).toEqual({
      ok: false,
      problems: [
        'documents[4] (id doc).sections[0].heading: heading "Dup" is ambiguous in doc.md (lines 5, 9)',
      ],
    });
  });

  it("rejects a section nested in another", () => {
    const placement = placeSections(
      documentWith([headingSection("program", "Program"), headingSection("hold", "Legal hold procedure")]),
      markdown,
    );
    expect(placement).toEqual({
      ok: false,
      problems: [
        'documents[4] (id doc).sections[1]: section "hold" (heading "Legal hold procedure" (line 5)) overlaps section "program" (heading "Program" (line 1)); sections must not overlap or nest',
      ],
    });
  });

  it("puts the pages of a range in the section, and leaves the rest outside", () => {
    const placement = placeSections(
      documentWith([pageSection("regulator", 2, 3)]),
      pdf(["one", "two", "three", "four"]),
    );
    if (!placement.ok) throw new Error(placement.problems.join("\n"));
    expect(placement.blocks.map((b) => [b.page, b.sectionId])).toEqual([
      [1, undefined],
      [2, "regulator"],
      [3, "regulator"],
      [4, undefined],
    ]);
  });

  it("accepts a range of pages without text, and rejects one past the last page or overlapping another", () => {
    const document = pdf(["one", undefined, undefined, "four"]);
    expect(placeSections(documentWith([pageSection("blank", 2, 3)]), document).ok).toBe(true);
    expect(placeSections(documentWith([pageSection("far", 3, 5)]), document)).toEqual({
      ok: false,
      problems: ["documents[4] (id doc).sections[0].pages: [3, 5] is out of bounds: doc.md has 4 pages"],
    });
    expect(placeSections(documentWith([pageSection("a", 2, 3), pageSection("b", 3, 3)]), document)).toEqual({
      ok: false,
      problems: [
        'documents[4] (id doc).sections[1]: section "b" (pages 3-3) overlaps section "a" (pages 2-3); sections must not overlap or nest',
      ],
    });
  });
});
