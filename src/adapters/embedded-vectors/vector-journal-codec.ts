/**
 * The vector journal's line format: `<crc32 hex> <json>\n`. The checksum catches a damaged line that still
 * parses. The first line is a header (`{"op":"begin","base":<seq>,"dimensions":<n>}`); every other line is
 * one change: a document's chunks replaced (vectors as base64 Float32 little-endian) or a document deleted.
 */
import { crc32 } from "node:zlib";
import { AppError } from "../../core/errors.ts";
import type { DocumentContent, StoredChunk } from "./vector-index.ts";

export type VectorRecord =
  | {
      readonly seq: number;
      readonly op: "replace";
      readonly documentId: string;
      readonly content: DocumentContent;
    }
  | { readonly seq: number; readonly op: "delete"; readonly documentId: string };

/** The journal's first line: the sequence number its changes follow, and the vectors' size. */
export interface JournalHeader {
  readonly op: "begin";
  readonly base: number;
  readonly dimensions: number;
}

export function headerLine(base: number, dimensions: number): Buffer {
  return formatLine(JSON.stringify({ op: "begin", base, dimensions }));
}

export function recordLine(record: VectorRecord): Buffer {
  return formatLine(encodeRecord(record));
}

/**
 * Reads one journal line (without its newline). Throws `damaged(path, "<where> is damaged")` for a line
 * whose checksum or shape is wrong.
 */
export function parseJournalLine(
  line: Buffer,
  dimensions: number,
  path: string,
  where: string,
): VectorRecord | JournalHeader {
  try {
    const space = line.indexOf(0x20);
    if (space !== 8) throw new Error("no checksum");
    const body = line.subarray(9);
    if (Number.parseInt(line.toString("latin1", 0, 8), 16) !== crc32(body)) throw new Error("bad checksum");
    const value = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    if (value.op === "begin") {
      if (!Number.isSafeInteger(value.base) || !Number.isSafeInteger(value.dimensions))
        throw new Error("bad header");
      return { op: "begin", base: value.base as number, dimensions: value.dimensions as number };
    }
    return decodeRecord(value, dimensions);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw damaged(path, `${where} is damaged`, error);
  }
}

function encodeRecord(record: VectorRecord): string {
  if (record.op === "delete")
    return JSON.stringify({ op: "delete", seq: record.seq, documentId: record.documentId });
  const { vectors, chunks } = record.content;
  return JSON.stringify({
    op: "replace",
    seq: record.seq,
    documentId: record.documentId,
    chunks,
    vectors: Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).toString("base64"),
  });
}

function decodeRecord(value: Record<string, unknown>, dimensions: number): VectorRecord {
  const { op, seq, documentId } = value;
  if (!Number.isSafeInteger(seq) || typeof documentId !== "string") throw new Error("bad record");
  if (op === "delete") return { op, seq: seq as number, documentId };
  if (op !== "replace" || !Array.isArray(value.chunks) || typeof value.vectors !== "string")
    throw new Error("bad record");
  const chunks = value.chunks.map(readStoredChunk);
  const bytes = Buffer.from(value.vectors, "base64");
  if (bytes.length !== chunks.length * dimensions * 4) throw new Error("vector length does not match");
  // Copy into a fresh, aligned buffer: a Buffer may sit at any offset of a shared pool.
  const vectors = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { op, seq: seq as number, documentId, content: { chunks, vectors } };
}

/** A chunk as stored (in the journal or the snapshot), checked field by field and frozen. */
export function readStoredChunk(value: unknown): StoredChunk {
  const chunk = value as Record<string, unknown>;
  const metadata = chunk.metadata as Record<string, unknown> | null;
  if (
    typeof chunk.id !== "string" ||
    typeof chunk.resource !== "string" ||
    typeof chunk.documentId !== "string" ||
    typeof chunk.title !== "string" ||
    typeof chunk.text !== "string" ||
    typeof chunk.ordinal !== "number" ||
    typeof metadata !== "object" ||
    metadata === null
  )
    throw new Error("bad chunk");
  Object.freeze(metadata);
  return Object.freeze(chunk) as unknown as StoredChunk;
}

function formatLine(json: string): Buffer {
  const body = Buffer.from(json, "utf8");
  const line = Buffer.allocUnsafe(body.length + 10);
  line.write(crc32(body).toString(16).padStart(8, "0"), 0, "latin1");
  line[8] = 0x20;
  body.copy(line, 9);
  line[line.length - 1] = 0x0a;
  return line;
}

/** The one error for vector data that cannot be trusted: names the file and why, never its content. */
export function damaged(path: string, why: string, cause?: unknown): AppError {
  return new AppError(
    "UPSTREAM_UNAVAILABLE",
    `the vector data in ${path} is damaged (${why}); restore it or re-ingest`,
    cause === undefined ? undefined : { cause },
  );
}
