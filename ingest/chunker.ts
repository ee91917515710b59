/**
 * Cuts a structured document into chunks, the stored units of retrieval.
 *
 * Boundaries, strongest first:
 * - a section boundary is never crossed: each chunk lies entirely inside one manifest section (its resource
 *   is `section:<id>`) or entirely outside all of them (`document:<id>`). This is the security property:
 *   text from a narrower section must never ride along in a chunk authorized at document level.
 * - a heading starts a new chunk, and so does a new PDF page: chunks follow the document's structure and a
 *   PDF chunk cites one page;
 * - within that, whole blocks (paragraphs, lists, code fences, tables) are packed up to `chunkSize`
 *   characters; a block longer than that is split at sentence boundaries, then at words (lists, code and
 *   tables at line boundaries first), and a single word longer than a chunk at characters.
 *
 * Consecutive chunks cut from the same run of text (same region, same heading, same page) overlap: the next
 * starts with up to `chunkOverlap` characters of the end of the previous one, cut at a word boundary, and
 * less when the next piece of text leaves no room. Chunks after a heading or page break do not overlap
 * with what came before, and overlap never reaches across a section boundary.
 *
 * Chunk text is the document's text, verbatim apart from whitespace where a long block was split: no
 * heading path or title is prefixed. What a passage cites is then exactly what the document says, size,
 * overlap and coverage are exact, and most chunks begin with their own heading anyway.
 */
import { createHash } from "node:crypto";
import type { Chunk, ChunkMetadata } from "../src/core/chunk.ts";
import { documentResource, sectionResource } from "../src/core/chunk.ts";
import { AppError } from "../src/core/errors.ts";
import type { SectionedBlock } from "./sections.ts";

export interface ChunkingOptions {
  /** The largest chunk, in characters (UTF-16 code units), overlap included. At least 100. */
  readonly chunkSize: number;
  /** How much of the end of a chunk the next one repeats, in characters; less than `chunkSize`. */
  readonly chunkOverlap: number;
}

export const DEFAULT_CHUNKING: ChunkingOptions = { chunkSize: 1000, chunkOverlap: 150 };

export const MIN_CHUNK_SIZE = 100;

export interface ChunkableDocument {
  readonly documentId: string;
  readonly title: string;
  readonly metadata: ChunkMetadata;
  /** The document's blocks in order, each tagged with the section it lies in (see `placeSections`). */
  readonly blocks: readonly SectionedBlock[];
}

/** Fills in defaults and checks the options; throws `BAD_REQUEST` naming the bad one. */
export function resolveChunkingOptions(options: Partial<ChunkingOptions> = {}): ChunkingOptions {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNKING.chunkSize;
  const chunkOverlap = options.chunkOverlap ?? DEFAULT_CHUNKING.chunkOverlap;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE) {
    throw new AppError(
      "BAD_REQUEST",
      `chunk size must be an integer of at least ${MIN_CHUNK_SIZE}, got ${chunkSize}`,
    );
  }
  if (!Number.isSafeInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw new AppError(
      "BAD_REQUEST",
      `chunk overlap must be an integer from 0 to less than the chunk size (${chunkSize}), got ${chunkOverlap}`,
    );
  }
  return { chunkSize, chunkOverlap };
}

export function chunkDocument(document: ChunkableDocument, options: Partial<ChunkingOptions> = {}): Chunk[] {
  const resolved = resolveChunkingOptions(options);
  const chunks: Chunk[] = [];
  for (const run of runsOf(document.blocks)) {
    for (const text of packRun(run.blocks, resolved)) {
      const resource =
        run.sectionId === undefined ? documentResource(document.documentId) : sectionResource(run.sectionId);
      const ordinal = chunks.length;
      chunks.push({
        id: chunkId(document, resource, ordinal, text),
        resource,
        documentId: document.documentId,
        ...(run.sectionId === undefined ? {} : { sectionId: run.sectionId }),
        title: document.title,
        text,
        ordinal,
        metadata: document.metadata,
      });
    }
  }
  return chunks;
}

/**
 * `<documentId>:<ordinal>:<12 hex>`, the hash over everything the chunk stores but its vector and its ACL
 * metadata, so equal ids mean equal text in the same place (ingest relies on this to see that a document
 * needs no embedding). The metadata (collection, owner, customer) mirrors relationships and changes with
 * them; ingest compares it separately and updates it in place, without re-embedding. Characters outside
 * `[A-Za-z0-9_.:-]` in the id prefix become `_`; the hash, which covers the real id, keeps ids distinct.
 */
function chunkId(document: ChunkableDocument, resource: string, ordinal: number, text: string): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([document.documentId, resource, document.title, ordinal, text]))
    .digest("hex")
    .slice(0, 12);
  return `${document.documentId.replace(/[^A-Za-z0-9_.:-]/g, "_")}:${ordinal}:${digest}`;
}

/**
 * Splits the blocks into runs that no chunk may span: a run ends where the section changes, and before
 * every heading and every new page.
 */
function runsOf(blocks: readonly SectionedBlock[]): { sectionId?: string; blocks: SectionedBlock[] }[] {
  const runs: { sectionId?: string; blocks: SectionedBlock[] }[] = [];
  let current: { sectionId?: string; blocks: SectionedBlock[] } | undefined;
  for (const block of blocks) {
    if (block.text.trim() === "") continue;
    const previous = current?.blocks.at(-1);
    const breaks =
      current === undefined ||
      previous === undefined ||
      current.sectionId !== block.sectionId ||
      block.kind === "heading" ||
      previous.page !== block.page;
    if (breaks) {
      current = { ...(block.sectionId === undefined ? {} : { sectionId: block.sectionId }), blocks: [] };
      runs.push(current);
    }
    current?.blocks.push(block);
  }
  return runs;
}

/** A piece of text to pack, and what joins it to the piece before it in the same chunk. */
interface Piece {
  readonly text: string;
  readonly separator: string;
}

const BLOCK_SEPARATOR = "\n\n";

function packRun(blocks: readonly SectionedBlock[], options: ChunkingOptions): string[] {
  const { chunkSize, chunkOverlap } = options;
  // Split pieces leave room for a full overlap in front of them; whole blocks up to chunkSize stay whole.
  const pieceBudget = chunkSize - chunkOverlap;
  const pieces: Piece[] = [];
  for (const block of blocks) {
    const text = block.text.trim();
    const parts =
      text.length <= chunkSize
        ? [{ text, separator: "" }]
        : absorbMarkup(splitBlock(block, text, pieceBudget), chunkSize);
    pieces.push(
      ...parts.map((part, index) => (index === 0 ? { ...part, separator: BLOCK_SEPARATOR } : part)),
    );
  }

  // Markup that cannot share a chunk with content (a fence or bullet cut off from its text) is left out:
  // a chunk of markup, or of overlap and markup, alone is noise that retrieval could return.
  const chunks: string[] = [];
  let current = "";
  const emit = () => {
    if (current !== "" && !isMarkupOnly(current)) chunks.push(current);
  };
  for (const piece of pieces) {
    const fits = current.length + piece.separator.length + piece.text.length <= chunkSize;
    if (current === "" || (!fits && isMarkupOnly(current))) {
      current = piece.text;
    } else if (fits) {
      current += piece.separator + piece.text;
    } else if (!isMarkupOnly(piece.text)) {
      emit();
      // A slice of a long word continues it without a separator; after an overlap it needs one.
      const joiner = piece.separator === "" ? " " : piece.separator;
      const room = chunkSize - piece.text.length - joiner.length;
      const overlap = tailAtWordBoundary(current, Math.min(chunkOverlap, room));
      current = overlap === "" ? piece.text : overlap + joiner + piece.text;
    }
  }
  emit();
  return chunks;
}

/** Only Markdown punctuation: fences, bullets, rules, table borders. */
function isMarkupOnly(text: string): boolean {
  return /^[\s`~#*_>+\-|:=]*$/.test(text);
}

/** The longest suffix of `text` of at most `max` characters that starts at the beginning of a word. */
function tailAtWordBoundary(text: string, max: number): string {
  if (max <= 0) return "";
  let start = text.length - max;
  if (start <= 0) return text;
  // Inside a word: move to the start of the next one.
  if (!/\s/.test(text[start - 1] as string)) {
    const next = text.slice(start).search(/\s/);
    if (next < 0) return "";
    start += next;
  }
  return text.slice(start).trimStart();
}

const sentenceSegmenter = new Intl.Segmenter("en", { granularity: "sentence" });

/** Splits a block longer than a chunk into pieces of at most `budget` characters along its structure. */
function splitBlock(block: SectionedBlock, text: string, budget: number): Piece[] {
  if (block.kind === "code" || block.kind === "table") return splitLines(text.split("\n"), budget);
  if (block.kind === "list") return splitLines(listItems(text), budget);
  return splitProse(text, budget);
}

/** Lines (or list items) are kept whole when they fit, joined by line breaks; longer ones split as prose. */
function splitLines(lines: readonly string[], budget: number): Piece[] {
  const pieces: Piece[] = [];
  for (const line of lines) {
    if (line.trim() === "") continue;
    const parts = line.length <= budget ? [{ text: line, separator: " " }] : splitProse(line.trim(), budget);
    pieces.push(...parts.map((part, index) => (index === 0 ? { text: part.text, separator: "\n" } : part)));
  }
  return pieces;
}

/**
 * Joins a piece of markup alone (a code fence, a list marker, a table border) to its neighbour, the
 * one before it when it ends the block and else the one after, so that a chunk is never made of markup
 * alone (or of overlap and markup). A join that would not fit in a chunk is skipped.
 */
function absorbMarkup(pieces: readonly Piece[], chunkSize: number): Piece[] {
  const result: Piece[] = [];
  let pending: Piece | undefined;
  for (const [index, piece] of pieces.entries()) {
    let current = piece;
    if (pending) {
      const joined = { text: pending.text + piece.separator + piece.text, separator: pending.separator };
      if (joined.text.length <= chunkSize) current = joined;
      else result.push(pending);
      pending = undefined;
    }
    const previous = result.at(-1);
    if (isMarkupOnly(current.text) && index < pieces.length - 1) {
      pending = current;
    } else if (isMarkupOnly(current.text) && previous) {
      const joined = previous.text + current.separator + current.text;
      if (joined.length <= chunkSize)
        result[result.length - 1] = { text: joined, separator: previous.separator };
      else result.push(current);
    } else {
      result.push(current);
    }
  }
  return result;
}

/** A list's items, each with its continuation lines. */
function listItems(text: string): string[] {
  const items: string[] = [];
  for (const line of text.split("\n")) {
    if (/^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)/.test(line) || items.length === 0) items.push(line);
    else items[items.length - 1] += `\n${line}`;
  }
  return items;
}

/** Sentences when they fit, else words, else slices of a word. */
function splitProse(text: string, budget: number): Piece[] {
  const pieces: Piece[] = [];
  for (const { segment } of sentenceSegmenter.segment(text)) {
    const sentence = segment.trim();
    if (sentence === "") continue;
    if (sentence.length <= budget) {
      pieces.push({ text: sentence, separator: " " });
      continue;
    }
    for (const word of sentence.split(/\s+/)) {
      if (word === "") continue;
      if (word.length <= budget) {
        pieces.push({ text: word, separator: " " });
        continue;
      }
      // Whole code points only, so that a surrogate pair is never cut in half.
      const characters = Array.from(word);
      for (let i = 0; i < characters.length; ) {
        const start = i;
        let slice = characters[i++] as string;
        while (i < characters.length && slice.length + (characters[i] as string).length <= budget) {
          slice += characters[i++];
        }
        pieces.push({ text: slice, separator: start === 0 ? " " : "" });
      }
    }
  }
  return pieces;
}
