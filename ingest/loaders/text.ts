/** Plain text to blocks: one paragraph per run of non-blank lines. Text has no headings and no pages. */
import { type Block, normaliseNewlines, type StructuredDocument } from "./structured-document.ts";

export function parseText(source: string): StructuredDocument {
  const lines = normaliseNewlines(source).split("\n");
  const blocks: Block[] = [];
  let start = -1;
  const flush = (end: number) => {
    if (start >= 0) {
      blocks.push({
        kind: "paragraph",
        text: lines.slice(start, end).join("\n"),
        headingPath: [],
        line: start + 1,
      });
    }
    start = -1;
  };
  lines.forEach((line, index) => {
    if (line.trim() === "") flush(index);
    else if (start < 0) start = index;
  });
  flush(lines.length);
  return { format: "text", blocks };
}
