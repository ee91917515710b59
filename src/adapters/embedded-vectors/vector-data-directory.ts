/**
 * Durable state of the embedded vector store in the data directory:
 *   vectors/meta.json       format, dimensions and embedding model; created once, never silently changed
 *   vectors/snapshot.bin    every chunk up to a sequence number (temp file, fsync, rename, fsync dir)
 *   vectors/journal.log     a header line, then one line per replace or delete after the snapshot, each
 *                           appended and fsynced before the change is applied or acknowledged
 *   vectors/write.lock      held by a writer for the length of one change or compaction
 *
 * Journal lines are `<crc32 hex> <json>`: the checksum catches a damaged line that still parses. A torn
 * last line (no newline: a crash mid-append, never acknowledged) is skipped on read and cut off by the next
 * writer; a damaged complete line stops the load with an error naming the file rather than guess.
 *
 * snapshot.bin is binary: 24 bytes (magic, crc32 of the rest, reserved, vector byte count as u64 LE), the
 * Float32 vectors back to back in slot order, then JSON lines: a header, then one line per document with
 * its chunks (without vectors). Vectors are read straight into the index's slab.
 *
 * Several processes may share the directory (a server reading while `clearance ingest` writes): readers
 * poll the journal (inode and size) before each operation and pick up appended lines, or reload after a
 * compaction replaced the journal; writers take the lock, catch up, then append.
 */
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { endianness, hostname } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { AppError } from "../../core/errors.ts";
import { type DocumentContent, type StoredChunk, VectorIndex } from "./vector-index.ts";

export type VectorRecord =
  | {
      readonly seq: number;
      readonly op: "replace";
      readonly documentId: string;
      readonly content: DocumentContent;
    }
  | { readonly seq: number; readonly op: "delete"; readonly documentId: string };

export interface VectorDataDirectoryOptions {
  readonly dimensions: number;
  readonly model?: string;
  /** Journal bytes after which `shouldCompact` says yes (and at least the snapshot's size). */
  readonly compactJournalBytes?: number;
  /** How long a writer waits for another process's lock (default 10 s). */
  readonly lockTimeoutMs?: number;
}

interface Meta {
  readonly format: 1;
  readonly dimensions: number;
  readonly model?: string;
}

const FORMAT = 1;
const SNAPSHOT_MAGIC = Buffer.from("CLRVECS1", "latin1");
const SNAPSHOT_PREFIX_BYTES = 24;
const IO_BLOCK_BYTES = 8 * 1024 * 1024;
const DEFAULT_COMPACT_JOURNAL_BYTES = 64 * 1024 * 1024;
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const LOAD_ATTEMPTS = 5;

export class VectorDataDirectory {
  readonly dir: string;
  private readonly dimensions: number;
  private readonly compactJournalBytes: number;
  private readonly lockTimeoutMs: number;
  /** Sequence number of the last change applied to the index this directory last handed out. */
  seq = 0;
  private journalInode = 0;
  private journalBytesRead = 0;
  private snapshotBytes = 0;

  constructor(root: string, options: VectorDataDirectoryOptions) {
    if (endianness() !== "LE")
      throw new AppError("INTERNAL", "the embedded vector store stores little-endian floats only");
    this.dir = join(root, "vectors");
    this.dimensions = options.dimensions;
    this.compactJournalBytes = options.compactJournalBytes ?? DEFAULT_COMPACT_JOURNAL_BYTES;
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    io(this.dir, "create", () => mkdirSync(this.dir, { recursive: true }));
    this.checkMeta(options.model);
  }

  private get metaPath(): string {
    return join(this.dir, "meta.json");
  }
  private get snapshotPath(): string {
    return join(this.dir, "snapshot.bin");
  }
  private get journalPath(): string {
    return join(this.dir, "journal.log");
  }
  private get lockPath(): string {
    return join(this.dir, "write.lock");
  }

  /** The whole state: the snapshot plus every journal line after it. */
  load(): VectorIndex {
    for (let attempt = 1; ; attempt++) {
      const snapshot = this.readSnapshot();
      const journal = this.readJournal(snapshot.seq);
      if (journal === "retry") {
        // The journal starts after this snapshot: another process is compacting right now.
        if (attempt < LOAD_ATTEMPTS) {
          sleep(20 * attempt);
          continue;
        }
        throw damaged(this.journalPath, "it starts after the snapshot, which is older or missing");
      }
      this.seq = snapshot.seq;
      for (const record of journal.records) this.apply(snapshot.index, record);
      this.journalInode = journal.inode;
      this.journalBytesRead = journal.bytesRead;
      return snapshot.index;
    }
  }

  /**
   * Changes another process appended since the last read, in order, or "reload" when the journal was
   * replaced by a compaction (read everything again with `load`).
   */
  poll(): VectorRecord[] | "reload" {
    const stat = io(this.journalPath, "read", () => statSync(this.journalPath, { throwIfNoEntry: false }));
    if (stat === undefined) return this.journalInode === 0 ? [] : "reload";
    if (stat.ino !== this.journalInode || stat.size < this.journalBytesRead) return "reload";
    if (stat.size === this.journalBytesRead) return [];
    const path = this.journalPath;
    return io(path, "read", () => {
      const fd = openSync(path, "r");
      try {
        if (fstatSync(fd).ino !== this.journalInode) return "reload";
        const records: VectorRecord[] = [];
        let seq = this.seq;
        this.journalBytesRead = forEachLine(fd, this.journalBytesRead, (line, lineNumber) => {
          const where = `the line ${lineNumber} after byte ${this.journalBytesRead}`;
          const record = this.parseRecord(line, path, where);
          if (record.op === "begin") throw damaged(path, `${where} repeats the header`);
          if (record.seq !== seq + 1) throw damaged(path, `${where} is out of sequence`);
          seq = record.seq;
          records.push(record);
        });
        return records;
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Readiness: the directory is still there and this process may read and write it. */
  checkAccess(): void {
    io(this.dir, "read", () => accessSync(this.dir, constants.R_OK | constants.W_OK));
  }

  /** Runs `write` holding the directory's write lock, so that writers in several processes take turns. */
  withWriteLock<T>(write: () => T): T {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        writeFileSync(this.lockPath, `${process.pid} ${hostname()}\n`, { flag: "wx" });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw ioError(this.lockPath, "create", error);
      }
      const holder = readLockHolder(this.lockPath);
      if (typeof holder === "object") {
        // Removed only if it still names the dead holder, so a fresh lock taken meanwhile survives.
        removeLockIfUnchanged(this.lockPath, holder.stale);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new AppError(
          "UPSTREAM_UNAVAILABLE",
          `the vector data in ${this.dir} is being written by ${holder}; try again when it is done ` +
            `(if that process no longer runs, delete ${this.lockPath})`,
        );
      }
      sleep(10);
    }
    try {
      return write();
    } finally {
      removeFile(this.lockPath);
    }
  }

  /** Appends and fsyncs one change; call it holding the lock, after `poll`, before applying the change. */
  append(record: VectorRecord): void {
    if (record.seq !== this.seq + 1) throw new AppError("INTERNAL", "vector journal sequence out of order");
    const line = formatLine(encodeRecord(record));
    const path = this.journalPath;
    io(path, "write", () => {
      if (this.journalInode === 0) this.startJournal();
      const fd = openSync(path, "r+");
      try {
        // Bytes past what was read are a torn line from a writer that crashed holding the lock.
        if (fstatSync(fd).size > this.journalBytesRead) ftruncateSync(fd, this.journalBytesRead);
        writeAll(fd, line, this.journalBytesRead);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    });
    this.journalBytesRead += line.length;
    this.seq = record.seq;
  }

  shouldCompact(): boolean {
    return this.journalBytesRead >= Math.max(this.compactJournalBytes, this.snapshotBytes);
  }

  /**
   * Writes the index as the snapshot at `seq`, then starts an empty journal. A crash between the two
   * leaves the old journal, whose lines up to `seq` are skipped on load.
   */
  compact(index: VectorIndex): void {
    this.writeSnapshot(index, this.seq);
    io(this.journalPath, "write", () => this.startJournal());
  }

  /** Applies a record to an index (used by `load` and by the store for polled records). */
  apply(index: VectorIndex, record: VectorRecord): void {
    if (record.op === "delete") index.remove(record.documentId);
    else index.replace(record.documentId, record.content);
    this.seq = record.seq;
  }

  // -------------------------------------------------------------------------------------------------------

  private checkMeta(model: string | undefined): void {
    const path = this.metaPath;
    const text = io(path, "read", () => {
      try {
        return readFileSync(path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    });
    if (text === undefined) {
      const meta: Meta = { format: FORMAT, dimensions: this.dimensions, ...(model ? { model } : {}) };
      if (!this.createExclusively(path, `${JSON.stringify(meta)}\n`)) this.checkMeta(model); // another process was first
      return;
    }
    let meta: Meta;
    try {
      meta = JSON.parse(text) as Meta;
      if (meta.format !== FORMAT || !Number.isSafeInteger(meta.dimensions)) throw new Error("unknown format");
    } catch (error) {
      throw damaged(path, "it is not a clearance vector store description", error);
    }
    if (meta.dimensions !== this.dimensions)
      throw new AppError(
        "CONFLICT",
        `the vectors in ${this.dir} have ${meta.dimensions} dimensions but the embedder produces ${this.dimensions}; ` +
          "use the embedder they were made with, or re-ingest into a new data directory",
      );
    if (model !== undefined && meta.model !== undefined && meta.model !== model)
      throw new AppError(
        "CONFLICT",
        `the vectors in ${this.dir} were made with the embedding model ${meta.model}, not ${model}; ` +
          "use that model, or re-ingest into a new data directory",
      );
    if (model !== undefined && meta.model === undefined)
      writeAtomically(path, Buffer.from(`${JSON.stringify({ ...meta, model })}\n`));
  }

  /** Writes `text` to `path` only if nothing is there: temp file, fsync, then link (fails if it exists). */
  private createExclusively(path: string, text: string): boolean {
    const temporary = `${path}.${process.pid}.tmp`;
    return io(path, "create", () => {
      writeDurably(temporary, Buffer.from(text));
      try {
        linkSync(temporary, path);
        fsyncDirectory(this.dir);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw error;
      } finally {
        removeFile(temporary);
      }
    });
  }

  /** A journal holding only its header, put in place atomically; its changes follow `this.seq`. */
  private startJournal(): void {
    const header = formatLine(JSON.stringify({ op: "begin", base: this.seq, dimensions: this.dimensions }));
    writeAtomically(this.journalPath, header);
    this.journalInode = statSync(this.journalPath).ino;
    this.journalBytesRead = header.length;
  }

  private readJournal(
    snapshotSeq: number,
  ): { records: VectorRecord[]; inode: number; bytesRead: number } | "retry" {
    const path = this.journalPath;
    return io(path, "read", () => {
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT")
          return { records: [], inode: 0, bytesRead: 0 };
        throw error;
      }
      try {
        const inode = fstatSync(fd).ino;
        let base: number | undefined;
        let seq = snapshotSeq;
        const records: VectorRecord[] = [];
        let retry = false;
        const bytesRead = forEachLine(fd, 0, (line, lineNumber) => {
          if (retry) return;
          const record = this.parseRecord(line, path, `line ${lineNumber}`);
          if (base === undefined) {
            if (record.op !== "begin") throw damaged(path, "it has no header line");
            if (record.dimensions !== this.dimensions)
              throw damaged(
                path,
                `its header says ${record.dimensions} dimensions, meta.json ${this.dimensions}`,
              );
            base = record.base;
            if (base > snapshotSeq) retry = true;
            return;
          }
          if (record.op === "begin") throw damaged(path, `line ${lineNumber} repeats the header`);
          if (record.seq <= seq) return; // already in the snapshot (a crash during compaction)
          if (record.seq !== seq + 1) throw damaged(path, `line ${lineNumber} skips a change`);
          seq = record.seq;
          records.push(record);
        });
        if (retry) return "retry";
        if (base === undefined && bytesRead > 0) throw damaged(path, "it has no header line");
        return { records, inode, bytesRead };
      } finally {
        closeSync(fd);
      }
    });
  }

  private parseRecord(
    line: Buffer,
    path: string,
    where: string,
  ): VectorRecord | { op: "begin"; base: number; dimensions: number } {
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
      return decodeRecord(value, this.dimensions);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw damaged(path, `${where} is damaged`, error);
    }
  }

  private readSnapshot(): { seq: number; index: VectorIndex } {
    const path = this.snapshotPath;
    const dims = this.dimensions;
    return io(path, "read", () => {
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          this.snapshotBytes = 0;
          return { seq: 0, index: new VectorIndex(dims) };
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
        if (readAll(fd, slabBytes, SNAPSHOT_PREFIX_BYTES) !== vectorBytes)
          throw damaged(path, "it is truncated");
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
              if (value.format !== FORMAT || value.dimensions !== dims || value.chunks !== count)
                throw new Error("header does not match");
              if (!Number.isSafeInteger(value.seq)) throw new Error("bad sequence number");
              seq = value.seq as number;
              return;
            }
            const documentId = value.documentId;
            if (typeof documentId !== "string" || !Array.isArray(value.chunks))
              throw new Error("bad document");
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
        this.snapshotBytes = size;
        return { seq, index };
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw damaged(path, "it is damaged", error);
      } finally {
        closeSync(fd);
      }
    });
  }

  private writeSnapshot(index: VectorIndex, seq: number): void {
    const path = this.snapshotPath;
    const temporary = `${path}.${process.pid}.tmp`;
    const dims = this.dimensions;
    io(path, "write", () => {
      const fd = openSync(temporary, "w");
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
        writeLine({ format: FORMAT, seq, dimensions: dims, chunks: index.count });
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
      renameSync(temporary, path);
      fsyncDirectory(this.dir);
      this.snapshotBytes = statSync(path).size;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Records

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

function readStoredChunk(value: unknown): StoredChunk {
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

// ---------------------------------------------------------------------------------------------------------
// Files

/**
 * Calls `onLine` for every complete line from `start` (1-based line numbers counted from `start`), and
 * `onBytes` for every byte consumed; returns the offset after the last complete line. An unterminated
 * last line is left unread.
 */
function forEachLine(
  fd: number,
  start: number,
  onLine: (line: Buffer, lineNumber: number) => void,
  onBytes?: (bytes: Buffer) => void,
): number {
  const size = fstatSync(fd).size;
  const block = Buffer.allocUnsafe(Math.min(IO_BLOCK_BYTES, Math.max(64 * 1024, size - start)));
  let position = start;
  let consumed = start;
  let carry: Buffer[] = [];
  let lineNumber = 0;
  for (;;) {
    const read = readSync(fd, block, 0, block.length, position);
    if (read === 0) break;
    position += read;
    const data = block.subarray(0, read);
    let from = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, from);
      if (newline === -1) break;
      const piece = data.subarray(from, newline);
      const line = carry.length === 0 ? piece : Buffer.concat([...carry, piece]);
      carry = [];
      onBytes?.(line);
      onBytes?.(NEWLINE);
      consumed += line.length + 1;
      onLine(line, ++lineNumber);
      from = newline + 1;
    }
    if (from < read) carry.push(Buffer.from(data.subarray(from)));
  }
  if (onBytes) for (const piece of carry) onBytes(piece);
  return consumed;
}

const NEWLINE = Buffer.from("\n");

function readAll(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const read = readSync(fd, target, done, Math.min(target.length - done, 1 << 30), position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function writeDurably(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "w");
  try {
    writeAll(fd, bytes, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAtomically(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeDurably(temporary, bytes);
    renameSync(temporary, path);
  } catch (error) {
    removeFile(temporary);
    throw error;
  }
  fsyncDirectory(join(path, ".."));
}

/** Makes a rename or link durable; some platforms cannot open a directory, and there it is a no-op. */
function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Who holds the lock, for the error message; `{ stale }` (with the lock's content) when that process is
 * gone, or was this very process before a restart (writes never await while holding the lock).
 */
function readLockHolder(path: string): string | { stale: string } {
  let text: string;
  let age: number;
  try {
    text = readFileSync(path, "utf8");
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return "another process"; // released in between: the next attempt will tell
  }
  const [pidText, host] = text.trim().split(" ");
  const pid = Number(pidText);
  // A lock without a pid is a crash between creating and writing it, unless it is brand new.
  if (!Number.isSafeInteger(pid) || pid <= 0) return age > 10_000 ? { stale: text } : "another process";
  if (host !== hostname()) return `process ${pid} on ${host}`;
  if (pid === process.pid || !isAlive(pid)) return { stale: text };
  return `process ${pid}`;
}

function removeLockIfUnchanged(path: string, content: string): void {
  try {
    if (readFileSync(path, "utf8") === content) unlinkSync(path);
  } catch {
    // gone already
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function io<T>(path: string, action: "read" | "write" | "create", run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw ioError(path, action, error);
  }
}

function ioError(path: string, action: string, cause: unknown): AppError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new AppError("UPSTREAM_UNAVAILABLE", `cannot ${action} ${path}${code ? ` (${code})` : ""}`, {
    cause,
  });
}

function damaged(path: string, why: string, cause?: unknown): AppError {
  return new AppError(
    "UPSTREAM_UNAVAILABLE",
    `the vector data in ${path} is damaged (${why}); restore it or re-ingest`,
    cause === undefined ? undefined : { cause },
  );
}
