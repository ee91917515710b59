/**
 * vectors/snapshot.bin: every chunk up to a sequence number, in one binary file. 24 bytes of prefix
 * (magic, crc32 of the rest, reserved, vector byte count as u64 LE), the Float32 vectors back to back in
 * slot order, then JSON lines: a header (`format`, `seq`, `dimensions`, `chunks`), then one line per
 * document with its chunks (without vectors). Vectors are read straight into the index's slab.
 *
 * Written to a temporary file (0600), fsynced, renamed into place and the directory fsynced.
 */
import { closeSync, fstatSync, fsyncSync, openSync, statSync } from "node:fs";
import { crc32 } from "node:zlib";
import { AppError } from "../../core/errors.ts";
import {
  closeQuietly,
  forEachLine,
  IO_BLOCK_BYTES,
  PRIVATE_FILE_MODE,
  publishAtomically,
  readAll,
  removeFile,
  temporaryPathFor,
  writeAll,
} from "../durable-files.ts";
import { VectorIndex } from "./vector-index.ts";
import { damaged, readStoredChunk } from "./vector-journal-codec.ts";

export const SNAPSHOT_FORMAT = 1;
const SNAPSHOT_MAGIC = Buffer.from("CLRVECS1", "latin1");
const SNAPSHOT_PREFIX_BYTES = 24;

export interface LoadedSnapshot {
  readonly seq: number;
  readonly index: VectorIndex;
  /** The file's size (0 when there is none), which sets when the journal is worth compacting. */
  readonly bytes: number;
}

/** Reads the snapshot at `path`; none there is an empty index at sequence 0. */
export function readSnapshot(path: string, dims: number): LoadedSnapshot {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return { seq: 0, index: new VectorIndex(dims), bytes: 0 };
    }
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(SNAPSHOT_PREFIX_BYTES);
    if (readAll(fd, prefix, 0) !== SNAPSHOT_PREFIX_BYTES || !prefix.subarray(0, 8).equals(SNAPSHOT_MAGIC))
      throw damaged(path, "it is not a clearance vector snapshot");
    const expectedCrc = prefix.readUInt32LE(8);
    const vectorBytes = Number(prefix.readBigUInt64LE(16));
    const rowBytes = dims * 4;
    if (vectorBytes % rowBytes !== 0 || SNAPSHOT_PREFIX_BYTES + vectorBytes > size)
      throw damaged(path, "its vector section does not fit the file");
    const count = vectorBytes / rowBytes;
    const { index, slab } = VectorIndex.forLoad(dims, count);
    const slabBytes = new Uint8Array(slab.buffer, slab.byteOffset, vectorBytes);
    if (readAll(fd, slabBytes, SNAPSHOT_PREFIX_BYTES) !== vectorBytes) throw damaged(path, "it is truncated");
    let crc = crc32(slabBytes);
    index.placeLoaded(slab);
    let seq: number | undefined;
    let loaded = 0;
    const end = forEachLine(
      fd,
      SNAPSHOT_PREFIX_BYTES + vectorBytes,
      (line) => {
        const value = JSON.parse(line.toString("utf8")) as Record<string, unknown>;
        if (seq === undefined) {
          if (value.format !== SNAPSHOT_FORMAT || value.dimensions !== dims || value.chunks !== count)
            throw new Error("header does not match");
          if (!Number.isSafeInteger(value.seq)) throw new Error("bad sequence number");
          seq = value.seq as number;
          return;
        }
        const documentId = value.documentId;
        if (typeof documentId !== "string" || !Array.isArray(value.chunks)) throw new Error("bad document");
        const chunks = value.chunks.map(readStoredChunk);
        index.appendLoaded(documentId, chunks);
        loaded += chunks.length;
      },
      (bytes) => {
        crc = crc32(bytes, crc);
      },
    );
    if (end !== size || crc !== expectedCrc || seq === undefined || loaded !== count)
      throw new Error("checksum or length mismatch");
    return { seq, index, bytes: size };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw damaged(path, "it is damaged", error);
  } finally {
    closeSync(fd);
  }
}

/** Writes `index` as the snapshot at `seq`, streamed in blocks; returns the file's size. */
export function writeSnapshot(path: string, index: VectorIndex, seq: number, dims: number): number {
  const temporary = temporaryPathFor(path);
  const fd = openSync(temporary, "w", PRIVATE_FILE_MODE);
  try {
    const vectorBytes = index.count * dims * 4;
    let position = SNAPSHOT_PREFIX_BYTES;
    let crc = 0;
    const write = (bytes: Uint8Array): void => {
      writeAll(fd, bytes, position);
      position += bytes.length;
      crc = crc32(bytes, crc);
    };
    const rowsPerBatch = Math.max(1, Math.floor(IO_BLOCK_BYTES / (dims * 4)));
    const batch = new Float32Array(rowsPerBatch * dims);
    let rows = 0;
    for (const { slots } of index.entries()) {
      for (const slot of slots) {
        batch.set(index.vectorOf(slot), rows * dims);
        if (++rows === rowsPerBatch) {
          write(new Uint8Array(batch.buffer, 0, rows * dims * 4));
          rows = 0;
        }
      }
    }
    if (rows > 0) write(new Uint8Array(batch.buffer, 0, rows * dims * 4));
    if (position !== SNAPSHOT_PREFIX_BYTES + vectorBytes)
      throw new Error("vector count changed while writing");
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const writeLine = (value: unknown): void => {
      const line = Buffer.from(`${JSON.stringify(value)}\n`);
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= IO_BLOCK_BYTES) {
        write(Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
    };
    writeLine({ format: SNAPSHOT_FORMAT, seq, dimensions: dims, chunks: index.count });
    for (const { documentId, chunks } of index.entries()) writeLine({ documentId, chunks });
    if (pending.length > 0) write(Buffer.concat(pending));
    const prefix = Buffer.alloc(SNAPSHOT_PREFIX_BYTES);
    SNAPSHOT_MAGIC.copy(prefix, 0);
    prefix.writeUInt32LE(crc, 8);
    prefix.writeBigUInt64LE(BigInt(vectorBytes), 16);
    writeAll(fd, prefix, 0);
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    closeQuietly(fd);
    removeFile(temporary);
    throw error;
  }
  publishAtomically(temporary, path);
  return statSync(path).size;
}
