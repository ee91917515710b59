import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadDocument } from "../../../ingest/loaders/load-document.ts";
import { parseMarkdown } from "../../../ingest/loaders/markdown.ts";
import { parseText } from "../../../ingest/loaders/text.ts";
import { expectAppError } from "../../helpers/errors.ts";

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../fixtures/ingest/documents/${name}`, import.meta.url));

describe("parseMarkdown", () => {
  it("reads headings with their level and path, and the blocks under them", () => {
    const { blocks } = parseMarkdown(
      "# Guide\n\nIntro text\nstill intro.\n\n## Setup ##\n\nStep one.\n\n### Detail\n\nFine print.\n\n## Use\n\nDone.\n",
    );
    expect(blocks.map((b) => [b.kind, b.text, b.headingPath, b.level, b.line])).toEqual([
      ["heading", "# Guide", [], 1, 1],
      ["paragraph", "Intro text\nstill intro.", ["Guide"], undefined, 3],
      ["heading", "## Setup ##", ["Guide"], 2, 6],
      ["paragraph", "Step one.", ["Guide", "Setup"], undefined, 8],
      ["heading", "### Detail", ["Guide", "Setup"], 3, 10],
      ["paragraph", "Fine print.", ["Guide", "Setup", "Detail"], undefined, 12],
      ["heading", "## Use", ["Guide"], 2, 14],
      ["paragraph", "Done.", ["Guide", "Use"], undefined, 16],
    ]);
    expect(blocks.filter((b) => b.kind === "heading").map((b) => b.heading)).toEqual([
      "Guide",
      "Setup",
      "Detail",
      "Use",
    ]);
  });

  it("ignores YAML front matter and thematic breaks, and reads setext headings", () => {
    const { blocks } = parseMarkdown(
      "---\ntitle: x\nsecret: y\n---\nTitle\n=====\n\nText.\n\n***\n\nSub\n---\nMore.\n",
    );
    expect(blocks.map((b) => [b.kind, b.heading ?? b.text, b.level])).toEqual([
      ["heading", "Title", 1],
      ["paragraph", "Text.", undefined],
      ["heading", "Sub", 2],
      ["paragraph", "More.", undefined],
    ]);
  });

  it("keeps a code fence whole, blank lines and # lines included, even when unclosed", () => {
    const { blocks } = parseMarkdown(
      "Before.\n```sh\n# not a heading\n\necho hi\n```\nAfter.\n\n~~~\nopen to the end\n\n# still code",
    );
    expect(blocks.map((b) => [b.kind, b.text])).toEqual([
      ["paragraph", "Before."],
      ["code", "```sh\n# not a heading\n\necho hi\n```"],
      ["paragraph", "After."],
      ["code", "~~~\nopen to the end\n\n# still code"],
    ]);
  });

  it("keeps a list whole across loose items and continuations, and reads quotes and tables", () => {
    const { blocks } = parseMarkdown(
      "- one\n- two\n  continued\n\n- three\n\nAfter the list.\n\n> quoted\n> more\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    );
    expect(blocks.map((b) => [b.kind, b.text])).toEqual([
      ["list", "- one\n- two\n  continued\n\n- three"],
      ["paragraph", "After the list."],
      ["quote", "> quoted\n> more"],
      ["table", "| a | b |\n|---|---|\n| 1 | 2 |"],
    ]);
  });

  it("does not read #hashtags or seven #s as headings", () => {
    const { blocks } = parseMarkdown("#hashtag\n\n####### seven\n");
    expect(blocks.map((b) => b.kind)).toEqual(["paragraph", "paragraph"]);
  });
});

describe("parseText", () => {
  it("splits paragraphs on blank lines, with CRLF and a byte-order mark", () => {
    const { blocks, format } = parseText("\uFEFFFirst line\r\nsecond line\r\n\r\n\r\nNext.\r\n");
    expect(format).toBe("text");
    expect(blocks.map((b) => [b.kind, b.text, b.line])).toEqual([
      ["paragraph", "First line\nsecond line", 1],
      ["paragraph", "Next.", 5],
    ]);
  });
});

describe("loadDocument", () => {
  it("reads a PDF page by page", async () => {
    const document = await loadDocument(fixture("credit-report.pdf"));
    expect(document.format).toBe("pdf");
    expect(document.pageCount).toBe(6);
    expect([...new Set(document.blocks.map((b) => b.page))]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(document.blocks.find((b) => b.page === 4)?.text).toMatch(/^Regulator findings\./);
  });

  it.each([
    ["encrypted.pdf", "encrypted (needs a password)"],
    ["corrupt.pdf", "not a readable PDF"],
  ])("names the path and the reason for %s", async (name, reason) => {
    const file = fileURLToPath(new URL(`../../fixtures/bad-pdfs/${name}`, import.meta.url));
    const error = await expectAppError(loadDocument(file, `documents/${name}`), "BAD_REQUEST");
    expect(error.message).toBe(`documents/${name}: ${reason}`);
  });

  it("names a missing file, an unsupported type and text that is not UTF-8", async () => {
    await expect(loadDocument(fixture("missing.md"), "missing.md")).rejects.toThrow(
      "missing.md: cannot read the file (no such file)",
    );
    await expect(loadDocument(fixture("x.rtf"), "x.rtf")).rejects.toThrow("x.rtf: unsupported file type");
    const directory = await mkdtemp(path.join(tmpdir(), "clearance-loaders-"));
    try {
      const latin1 = path.join(directory, "latin1.txt");
      await writeFile(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      await expect(loadDocument(latin1, "latin1.txt")).rejects.toThrow("latin1.txt: not UTF-8 text");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("dispatches Markdown and text by extension", async () => {
    expect((await loadDocument(fixture("operations-handbook.md"))).format).toBe("markdown");
    expect((await loadDocument(fixture("branch-notes.txt"))).format).toBe("text");
  });
});
