/**
 * Markdown to blocks. A small line-based reader of the CommonMark constructs that matter for chunking:
 * ATX and setext headings, fenced code, lists, block quotes, pipe tables and paragraphs. Blocks keep their
 * source text (a heading stays `## Title`), so a chunk quotes the document as written. YAML front matter is
 * metadata, not content, and is dropped.
 */
import {
  type Block,
  type BlockKind,
  normaliseNewlines,
  type StructuredDocument,
} from "./structured-document.ts";

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const LIST_ITEM = /^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)/;
const BLOCK_QUOTE = /^ {0,3}>/;
const TABLE_ROW = /^ {0,3}\|/;

export function parseMarkdown(source: string): StructuredDocument {
  const lines = normaliseNewlines(source).split("\n");
  const blocks: Block[] = [];
  const headings: { level: number; text: string }[] = [];
  const headingPath = () => headings.map((heading) => heading.text);

  let paragraph: string[] = [];
  let paragraphLine = 0;
  const flushParagraph = () => {
    if (paragraph.length > 0) push("paragraph", paragraph, paragraphLine);
    paragraph = [];
  };
  const push = (kind: BlockKind, blockLines: readonly string[], line: number) => {
    const text = trimBlankLines(blockLines).join("\n");
    if (text.trim() !== "") blocks.push({ kind, text, headingPath: headingPath(), line });
  };
  const pushHeading = (level: number, heading: string, text: string, line: number) => {
    while ((headings.at(-1)?.level ?? 0) >= level) headings.pop();
    blocks.push({ kind: "heading", text, heading, level, headingPath: headingPath(), line });
    headings.push({ level, text: heading });
  };

  let i = frontMatterEnd(lines);
  while (i < lines.length) {
    const line = lines[i] as string;
    const lineNumber = i + 1;

    if (line.trim() === "") {
      flushParagraph();
      i++;
      continue;
    }

    const atx = ATX_HEADING.exec(line);
    if (atx) {
      flushParagraph();
      const level = (atx[1] as string).length;
      // A closing run of #s is decoration (`## Title ##`); a title made only of #s is empty.
      const heading = (atx[2] ?? "").replace(/(?:^|[ \t]+)#+[ \t]*$/, "").trim();
      pushHeading(level, heading, line.trim(), lineNumber);
      i++;
      continue;
    }

    // A line of = or - under paragraph text turns that text into a heading (setext), before `---` can be
    // read as a thematic break or a list item.
    const underline = SETEXT_UNDERLINE.exec(line);
    if (underline && paragraph.length > 0) {
      const heading = paragraph.map((text) => text.trim()).join(" ");
      const level = (underline[1] as string).startsWith("=") ? 1 : 2;
      pushHeading(level, heading, [...paragraph, line].join("\n"), paragraphLine);
      paragraph = [];
      i++;
      continue;
    }

    const fence = FENCE_OPEN.exec(line);
    if (fence) {
      flushParagraph();
      const marker = fence[1] as string;
      const closing = new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}[ \\t]*$`);
      let end = i + 1;
      while (end < lines.length && !closing.test(lines[end] as string)) end++;
      // An unclosed fence runs to the end of the document, as in CommonMark.
      const last = Math.min(end, lines.length - 1);
      push("code", lines.slice(i, last + 1), lineNumber);
      i = last + 1;
      continue;
    }

    if (THEMATIC_BREAK.test(line)) {
      flushParagraph();
      i++;
      continue;
    }

    if (LIST_ITEM.test(line)) {
      flushParagraph();
      const end = listEnd(lines, i);
      push("list", lines.slice(i, end), lineNumber);
      i = end;
      continue;
    }

    if (BLOCK_QUOTE.test(line) || TABLE_ROW.test(line)) {
      flushParagraph();
      const pattern = BLOCK_QUOTE.test(line) ? BLOCK_QUOTE : TABLE_ROW;
      let end = i + 1;
      while (end < lines.length && pattern.test(lines[end] as string)) end++;
      push(pattern === BLOCK_QUOTE ? "quote" : "table", lines.slice(i, end), lineNumber);
      i = end;
      continue;
    }

    if (paragraph.length === 0) paragraphLine = lineNumber;
    paragraph.push(line);
    i++;
  }
  flushParagraph();
  return { format: "markdown", blocks };
}

/** The index of the first line after YAML front matter (`---` on line 1 up to `---` or `...`), else 0. */
function frontMatterEnd(lines: readonly string[]): number {
  if (lines[0]?.trimEnd() !== "---") return 0;
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] as string).trimEnd();
    if (line === "---" || line === "...") return i + 1;
  }
  // No closing marker: it was a thematic break, not front matter.
  return 0;
}

/**
 * A list runs over its items, their indented continuations, lazy continuation lines, and blank lines that
 * are followed by more of the list; it ends at a blank line followed by unindented non-list text, or at a
 * line that starts another block.
 */
function listEnd(lines: readonly string[], start: number): number {
  let i = start + 1;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === "") {
      let next = i + 1;
      while (next < lines.length && (lines[next] as string).trim() === "") next++;
      const following = lines[next];
      if (following === undefined || !(LIST_ITEM.test(following) || /^(?: {2,}|\t)/.test(following)))
        return i;
      i = next;
      continue;
    }
    const indented = /^(?: {2,}|\t)/.test(line);
    if (!indented && !LIST_ITEM.test(line) && startsAnotherBlock(line)) return i;
    i++;
  }
  return i;
}

function startsAnotherBlock(line: string): boolean {
  return (
    ATX_HEADING.test(line) ||
    FENCE_OPEN.test(line) ||
    THEMATIC_BREAK.test(line) ||
    BLOCK_QUOTE.test(line) ||
    TABLE_ROW.test(line)
  );
}

function trimBlankLines(lines: readonly string[]): readonly string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && (lines[start] as string).trim() === "") start++;
  while (end > start && (lines[end - 1] as string).trim() === "") end--;
  return lines.slice(start, end);
}
