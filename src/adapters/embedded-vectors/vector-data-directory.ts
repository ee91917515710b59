/**
 * Durable state of the embedded vector store in the data directory (every file 0600, the folder 0700):
 *   vectors/meta.json       format, dimensions and embedding model; created once, never silently changed
 *   vectors/snapshot.bin    every chunk up to a sequence number (vector-snapshot.ts)
 *   vectors/journal.log     a header line, then one line per replace or delete after the snapshot, each
 *                           appended and fsynced before the change is applied or acknowledged
 *                           (line format: vector-journal-codec.ts)
 *   vectors/write.lock      held by a writer for the length of one change or compaction (vector-write-lock.ts)
 *
 * A torn last journal line (no newline: a crash mid-append, never acknowledged) is skipped on read and cut
 * off by the next writer; a damaged complete line stops the load with an error naming the file rather than
 * guess. Atomic replaces (meta, snapshot, a fresh journal) go through durable-files.ts: temporary file,
 * fsync, rename, fsync the directory.
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
  openSync,
  readFileSync,
  statSync,
} from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import {
  createExclusively,
  forEachLine,
  fileIo as io,
  makePrivateDirectory,
  writeAll,
  writeAtomically,
} from "../durable-files.ts";
import type { VectorIndex } from "./vector-index.ts";
import {
  damaged,
  headerLine,
  type JournalHeader,
  parseJournalLine,
  recordLine,
  type VectorRecord,
} from "./vector-journal-codec.ts";
import { readSnapshot, writeSnapshot } from "./vector-snapshot.ts";
import { sleep, withWriteLock } from "./vector-write-lock.ts";

export type { VectorRecord } from "./vector-journal-codec.ts";

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
    io(this.dir, "create", () => makePrivateDirectory(this.dir));
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
    return withWriteLock(this.lockPath, this.dir, this.lockTimeoutMs, write);
  }

  /** Appends and fsyncs one change; call it holding the lock, after `poll`, before applying the change. */
  append(record: VectorRecord): void {
    if (record.seq !== this.seq + 1) throw new AppError("INTERNAL", "vector journal sequence out of order");
    const line = recordLine(record);
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
      writeAtomically(path, `${JSON.stringify({ ...meta, model })}\n`);
  }

  /** Writes `text` to `path` only if nothing is there; false when another process was first. */
  private createExclusively(path: string, text: string): boolean {
    return io(path, "create", () => createExclusively(path, text));
  }

  /** A journal holding only its header, put in place atomically; its changes follow `this.seq`. */
  private startJournal(): void {
    const header = headerLine(this.seq, this.dimensions);
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

  private parseRecord(line: Buffer, path: string, where: string): VectorRecord | JournalHeader {
    return parseJournalLine(line, this.dimensions, path, where);
  }

  private readSnapshot(): { seq: number; index: VectorIndex } {
    return io(this.snapshotPath, "read", () => {
      const snapshot = readSnapshot(this.snapshotPath, this.dimensions);
      this.snapshotBytes = snapshot.bytes;
      return snapshot;
    });
  }

  private writeSnapshot(index: VectorIndex, seq: number): void {
    io(this.snapshotPath, "write", () => {
      this.snapshotBytes = writeSnapshot(this.snapshotPath, index, seq, this.dimensions);
    });
  }
}
