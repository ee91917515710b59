/**
 * Markdown to blocks, read by a CommonMark parser (micromark through mdast-util-from-markdown, with GFM
 * tables and YAML front matter). Blocks are the document's top-level nodes, so only a document-level
 * heading is a heading: a heading-like line inside an HTML block or comment, a code block, a block quote
 * or a list item is content of that block. Section boundaries follow headings, so a construct that a
 * line reader would misread must never move one (a misread boundary stores restricted text under the
 * wider document resource).
 *
 * Blocks keep their source text, sliced by the tree's offsets (a heading stays `## Title`), so a chunk
 * quotes the document as written. Front matter is metadata, not content, and is dropped; so are thematic
 * breaks, which carry no text.
 */
import type { Nodes, Root, RootContent } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import { frontmatterFromMarkdown } from "mdast-util-frontmatter";
import { gfmTableFromMarkdown } from "mdast-util-gfm-table";
import { toString as plainText } from "mdast-util-to-string";
import { frontmatter } from "micromark-extension-frontmatter";
import { gfmTable } from "micromark-extension-gfm-table";
import { AppError } from "../../src/core/errors.ts";
import {
  type Block,
  type BlockKind,
  normaliseNewlines,
  type StructuredDocument,
} from "./structured-document.ts";

/** How each top-level node becomes a block; `undefined` drops nodes that carry no content. */
const BLOCK_KINDS: Readonly<Record<RootContent["type"], BlockKind | undefined>> = {
  heading: "heading",
  paragraph: "paragraph",
  list: "list",
  code: "code",
  table: "table",
  blockquote: "quote",
  // Raw HTML and comments are text a reader of the document can see in the source: keep them as content
  // of the section they are in, never as structure.
  html: "paragraph",
  definition: "paragraph",
  footnoteDefinition: "paragraph",
  yaml: undefined,
  thematicBreak: undefined,
  // Inline or table-internal nodes never appear at the top level of a document; listed for exhaustiveness.
  break: undefined,
  delete: undefined,
  emphasis: undefined,
  footnoteReference: undefined,
  image: undefined,
  imageReference: undefined,
  inlineCode: undefined,
  link: undefined,
  linkReference: undefined,
  listItem: undefined,
  strong: undefined,
  tableCell: undefined,
  tableRow: undefined,
  text: undefined,
};

export function parseMarkdown(source: string): StructuredDocument {
  const text = normaliseNewlines(source);
  const tree: Root = fromMarkdown(text, {
    extensions: [frontmatter(["yaml"]), gfmTable()],
    mdastExtensions: [frontmatterFromMarkdown(["yaml"]), gfmTableFromMarkdown()],
  });

  const blocks: Block[] = [];
  const headings: { level: number; text: string }[] = [];
  const headingPath = () => headings.map((heading) => heading.text);
  for (const node of tree.children) {
    const kind = BLOCK_KINDS[node.type];
    const blockText = kind === undefined ? "" : sourceOf(node, text);
    if (kind === undefined || blockText.trim() === "") continue;
    const line = node.position?.start.line;
    if (node.type === "heading") {
      while ((headings.at(-1)?.level ?? 0) >= node.depth) headings.pop();
      const heading = plainText(node).replace(/\s+/g, " ").trim();
      blocks.push({ kind, text: blockText, heading, level: node.depth, headingPath: headingPath(), line });
      headings.push({ level: node.depth, text: heading });
    } else {
      blocks.push({ kind, text: blockText, headingPath: headingPath(), line });
    }
  }
  return { format: "markdown", blocks };
}

/** The node's source text as written, without trailing whitespace. */
function sourceOf(node: Nodes, text: string): string {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  // The parser gives every block node a position; a node without one cannot be placed, so it is a bug.
  if (start === undefined || end === undefined) {
    throw new AppError("INTERNAL", `the Markdown parser gave a ${node.type} node no source position`);
  }
  return text.slice(start, end).trimEnd();
}
