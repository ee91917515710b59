/**
 * What the loaders produce and the chunker consumes: a document as a sequence of blocks that keep their
 * structure (heading path, heading level, page), so that chunks can follow headings and pages and never
 * straddle a section boundary.
 */

export type DocumentFormat = "markdown" | "text" | "pdf" | "html" | "docx";

export type BlockKind = "heading" | "paragraph" | "list" | "code" | "table" | "quote";

export interface Block {
  readonly kind: BlockKind;
  /** The block's source text without surrounding blank lines; chunks are made of exactly this text. */
  readonly text: string;
  /** The plain text of the headings above this block, outermost first; a heading's path excludes itself. */
  readonly headingPath: readonly string[];
  /** Headings only: 1 (`#`, `<h1>`, Heading 1) to 6. */
  readonly level?: number;
  /** Headings only: the heading's plain text (no `#` markers), which manifest sections match. */
  readonly heading?: string;
  /** Markdown, text and HTML: the 1-based source line where the block starts. */
  readonly line?: number;
  /** PDF only: the 1-based page the block is on. */
  readonly page?: number;
}

export interface StructuredDocument {
  readonly format: DocumentFormat;
  readonly blocks: readonly Block[];
  /** PDF only: how many pages the file has, including pages without text. */
  readonly pageCount?: number;
}

/** Unix line breaks and no byte-order mark, so that line numbers and blank-line splits mean one thing. */
export function normaliseNewlines(source: string): string {
  return source.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
}
