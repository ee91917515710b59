/**
 * The embedded audit trail: hash-chained JSON lines in segments of the data directory
 * (`<data dir>/audit/trail/segment-<first seq>.jsonl`), one global chain across segments and processes.
 *
 * - Durable before the answer: records queue up and are written in batches (group commit), each batch
 *   appended and fdatasynced before any of its requests is answered.
 * - Several processes (a server and a CLI `grant` beside it) append to the same chain: a batch is
 *   written under a lock file (`.writer.lock`, created exclusively; a lock whose process is gone is
 *   taken over), and a writer re-reads the head when the newest segment is not as it left it.
 * - Rotation: a segment is sealed (a checkpoint marked `sealed`) once it reaches AUDIT_ROTATE_BYTES or
 *   AUDIT_ROTATE_HOURS, and the next record starts a new segment. Retention removes sealed segments
 *   whose last record is older than AUDIT_RETENTION_DAYS, and copies the removed segment's seal into the
 *   newest segment, so that verification knows where the chain may start.
 * - Checkpoints (signed with the checkpoint key) are appended every AUDIT_CHECKPOINT_INTERVAL_MS while
 *   records come in, at start, on rotation and on close.
 * - A torn last line (a write cut by a crash, never acknowledged) is dropped by the next writer.
 */

import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { canonicalJson, chainRecord, makeCheckpoint, matchesFilter } from "../../core/audit-chain.ts";
import { AppError } from "../../core/errors.ts";
import type {
  AuditCheckpoint,
  AuditFilter,
  AuditPage,
  AuditRecord,
  AuditScanItem,
  AuditTrail,
  ChainedAuditRecord,
} from "../../ports/audit-log.ts";
import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from "../durable-files.ts";

export interface FileAuditTrailOptions {
  /** The trail's directory, e.g. `<data dir>/audit/trail`. */
  readonly dir: string;
  /** Ed25519 private key that signs checkpoints; without it checkpoints are unsigned. */
  readonly checkpointKey?: KeyObject;
  readonly checkpointIntervalMs?: number;
  /** Seal the newest segment once it is this large (default 64 MiB)... */
  readonly rotateBytes?: number;
  /** ... or its first record is this old (default 24 h). */
  readonly rotateAgeMs?: number;
  /** Remove sealed segments whose last record is older than this (default: keep every segment). */
  readonly retentionMs?: number;
  /** The clock (tests). */
  readonly now?: () => Date;
  /** Only read: no lock, no checkpoint at start (verify, search, export). */
  readonly readOnly?: boolean;
}

const SEGMENT = /^segment-(\d{12})\.jsonl$/;
const LOCK_FILE = ".writer.lock";
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 10_000;
const MAX_BATCH = 2_000;
const TAIL_BYTES = 256 * 1024;

export const segmentName = (firstSeq: number) => `segment-${String(firstSeq).padStart(12, "0")}.jsonl`;

interface Head {
  /** The newest segment, or undefined when there is none. */
  readonly file?: string;
  readonly size: number;
  readonly seq: number;
  readonly hash: string;
  readonly sealed: boolean;
  /** Time of the newest segment's first record. */
  readonly firstTime?: string;
  /** Whether a checkpoint follows the last record. */
  readonly checkpointed: boolean;
}

interface Pending {
  readonly record: AuditRecord;
  readonly resolve: (chained: ChainedAuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

export async function createFileAuditTrail(options: FileAuditTrailOptions): Promise<AuditTrail> {
  const now = options.now ?? (() => new Date());
  const interval = options.checkpointIntervalMs ?? 10_000;
  const rotateBytes = options.rotateBytes ?? 64 * 1024 * 1024;
  const rotateAgeMs = options.rotateAgeMs ?? 24 * 3_600_000;
  const dir = options.dir;
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });

  let cached: Head | undefined;
  let handle: { name: string; fh: FileHandle } | undefined;
  let pending: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  let lastCheckpointAt = 0;
  let uncheckpointed = false;
  const owner = `${process.pid}:${randomUUID()}`;

  const segments = async () =>
    (await readdir(dir))
      .filter((name) => SEGMENT.test(name))
      .sort()
      .map((name) => name);

  const append = async (name: string, text: string) => {
    if (handle?.name !== name) {
      await handle?.fh.close().catch(() => undefined);
      const created = !(await exists(join(dir, name)));
      handle = { name, fh: await open(join(dir, name), "a", PRIVATE_FILE_MODE) };
      if (created) await syncDirectory(dir);
    }
    await handle.fh.write(text);
    await handle.fh.datasync();
  };

  /** The head as it is on disk now (under the lock). */
  const readHead = async (): Promise<Head> => {
    const names = await segments();
    const newest = names.at(-1);
    if (newest === undefined) return { size: 0, seq: 0, hash: "", sealed: true, checkpointed: true };
    const path = join(dir, newest);
    const size = (await stat(path)).size;
    if (cached?.file === newest && cached.size === size) return cached;
    const head = await parseSegmentTail(path, size);
    if (head.seq === 0 && names.length > 1) {
      // An empty newest segment (created, then a crash): the chain goes on from the one before.
      const before = await parseSegmentTail(join(dir, names.at(-2) as string));
      return { ...before, file: newest, size: 0, sealed: false, firstTime: undefined } as Head;
    }
    return { ...head, file: newest };
  };

  const withLock = async <T>(work: () => Promise<T>): Promise<T> => {
    const lock = join(dir, LOCK_FILE);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      try {
        const fh = await open(lock, "wx", PRIVATE_FILE_MODE);
        await fh.write(`${process.pid}\n${owner}\n`);
        await fh.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        if (await lockIsStale(lock)) {
          await unlink(lock).catch(() => undefined);
          continue;
        }
        if (Date.now() > deadline) throw new Error(`the audit trail's lock ${lock} is held`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    try {
      return await work();
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  };

  /** Appends records (and a due checkpoint, a due seal) to the chain; the lock is held. */
  const writeBatch = async (records: readonly AuditRecord[], forceCheckpoint: boolean) => {
    let head = await readHead();
    const time = now();
    const chained: ChainedAuditRecord[] = [];
    let link: { seq: number; hash: string } | undefined = head.seq === 0 ? undefined : head;
    for (const record of records) {
      const next = chainRecord(record, link);
      chained.push(next);
      link = next;
    }
    let text = chained.map((record) => `${canonicalJson(record)}\n`).join("");
    const last = link;
    let file = head.file;
    if (chained.length > 0 && (file === undefined || head.sealed)) file = segmentName((head.seq ?? 0) + 1);
    const firstTime = head.sealed || head.file === undefined ? chained[0]?.time : head.firstTime;
    let checkpointed = head.checkpointed && chained.length === 0;
    const due =
      last !== undefined &&
      (forceCheckpoint || (chained.length > 0 && time.getTime() - lastCheckpointAt >= interval));
    let sealed = head.sealed && chained.length === 0;
    const size = (file === head.file ? head.size : 0) + Buffer.byteLength(text);
    const rotate =
      last !== undefined &&
      !sealed &&
      (size >= rotateBytes ||
        (firstTime !== undefined && time.getTime() - Date.parse(firstTime) >= rotateAgeMs));
    if (rotate && last !== undefined) {
      text += checkpointLine(makeCheckpoint(last, { ...keyOption(), time, sealed: true }));
      sealed = true;
      checkpointed = true;
    } else if (due && last !== undefined && !(head.checkpointed && chained.length === 0)) {
      text += checkpointLine(makeCheckpoint(last, { ...keyOption(), time }));
      checkpointed = true;
    }
    if (text === "" || file === undefined) return chained;
    await append(file, text);
    if (checkpointed) {
      lastCheckpointAt = time.getTime();
      uncheckpointed = false;
    } else if (chained.length > 0) {
      uncheckpointed = true;
    }
    head = {
      file,
      size: (await stat(join(dir, file))).size,
      seq: last?.seq ?? head.seq,
      hash: last?.hash ?? head.hash,
      sealed,
      ...(firstTime === undefined ? {} : { firstTime }),
      checkpointed,
    };
    cached = head;
    if (sealed && options.retentionMs !== undefined) await applyRetention(time);
    return chained;
  };

  const keyOption = () => (options.checkpointKey ? { key: options.checkpointKey } : {});

  /** Removes sealed segments past retention, copying the last removed one's seal into the newest segment. */
  const applyRetention = async (time: Date) => {
    const names = await segments();
    let anchor: string | undefined;
    for (const name of names.slice(0, -1)) {
      const tail = await parseSegmentTail(join(dir, name));
      if (!tail.sealed || tail.lastTime === undefined) break;
      if (time.getTime() - Date.parse(tail.lastTime) < (options.retentionMs as number)) break;
      anchor = tail.sealLine;
      await unlink(join(dir, name));
    }
    const newest = names.at(-1);
    if (anchor !== undefined && newest !== undefined) {
      await append(newest, `${anchor}\n`);
      cached = undefined;
    }
  };

  const flush = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.slice(0, MAX_BATCH);
      pending = pending.slice(batch.length);
      try {
        const chained = await withLock(() =>
          writeBatch(
            batch.map((item) => item.record),
            false,
          ),
        );
        batch.forEach((item, index) => {
          item.resolve(chained[index] as ChainedAuditRecord);
        });
      } catch (error) {
        cached = undefined;
        await handle?.fh.close().catch(() => undefined);
        handle = undefined;
        const failure = new AppError("UPSTREAM_UNAVAILABLE", "the audit trail could not be written", {
          cause: error,
          upstream: "audit-log",
        });
        for (const item of batch) item.reject(failure);
      }
    }
  };

  const kick = () => {
    flushing ??= flush().finally(() => {
      flushing = undefined;
      if (pending.length > 0) kick();
    });
    return flushing;
  };

  const checkpointNow = async () => {
    await flushing;
    await withLock(() => writeBatch([], true));
  };

  let timer: NodeJS.Timeout | undefined;
  if (!options.readOnly) {
    // Records a crashed writer left after its last checkpoint are covered from now on.
    await checkpointNow();
    timer = setInterval(() => {
      if (uncheckpointed && !flushing) void checkpointNow().catch(() => undefined);
    }, interval);
    timer.unref();
  }

  const reader = createFileAuditReader(dir);
  return {
    ...reader,
    record(entry) {
      if (closed) return Promise.reject(new AppError("INTERNAL", "the audit trail is closed"));
      if (options.readOnly) return Promise.reject(new AppError("INTERNAL", "the audit trail is read-only"));
      return new Promise<ChainedAuditRecord>((resolve, reject) => {
        pending.push({ record: entry, resolve, reject });
        void kick();
      });
    },
    async probe() {
      await stat(dir);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await flushing;
      if (!options.readOnly && uncheckpointed) await checkpointNow().catch(() => undefined);
      await handle?.fh.close().catch(() => undefined);
    },
  };
}

function checkpointLine(checkpoint: AuditCheckpoint): string {
  return `${canonicalJson({ checkpoint })}\n`;
}

interface SegmentTail {
  readonly size: number;
  readonly seq: number;
  readonly hash: string;
  readonly sealed: boolean;
  readonly checkpointed: boolean;
  readonly firstTime?: string;
  readonly lastTime?: string;
  /** The seal checkpoint's line, when the segment is sealed. */
  readonly sealLine?: string;
}

/**
 * The last record of a segment and whether a seal follows it. A torn last line (no line break: a write a
 * crash cut short, never acknowledged) is cut off first.
 */
async function parseSegmentTail(path: string, knownSize?: number): Promise<SegmentTail> {
  let size = knownSize ?? (await stat(path)).size;
  const fh = await open(path, "r");
  try {
    const start = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    await fh.read(buffer, 0, buffer.length, start);
    let text = buffer.toString("utf8");
    if (text.length > 0 && !text.endsWith("\n")) {
      const cut = text.lastIndexOf("\n") + 1;
      size = start + Buffer.byteLength(text.slice(0, cut));
      await truncate(path, size);
      text = text.slice(0, cut);
    }
    const lines = text.split("\n").filter((line) => line !== "");
    if (start > 0) lines.shift(); // maybe partial
    let seq = 0;
    let hash = "";
    let lastTime: string | undefined;
    let sealed = false;
    let checkpointed = false;
    let sealLine: string | undefined;
    for (let index = lines.length - 1; index >= 0; index--) {
      const parsed = JSON.parse(lines[index] as string) as {
        checkpoint?: AuditCheckpoint;
      } & ChainedAuditRecord;
      if (parsed.checkpoint) {
        if (seq === 0) {
          checkpointed = true;
          if (parsed.checkpoint.sealed && !sealed) {
            sealed = true;
            sealLine = lines[index];
          }
        }
        continue;
      }
      seq = parsed.seq;
      hash = parsed.hash;
      lastTime = parsed.time;
      break;
    }
    const firstBuffer = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(firstBuffer, 0, firstBuffer.length, 0);
    const firstLine = firstBuffer.toString("utf8").split("\n")[0] ?? "";
    let firstTime: string | undefined;
    try {
      firstTime = (JSON.parse(firstLine) as ChainedAuditRecord).time;
    } catch {
      firstTime = undefined;
    }
    return {
      size,
      seq,
      hash,
      sealed,
      checkpointed,
      ...(firstTime === undefined ? {} : { firstTime }),
      ...(lastTime === undefined ? {} : { lastTime }),
      ...(sealLine === undefined ? {} : { sealLine }),
    };
  } finally {
    await fh.close();
  }
}

/** Reads a trail directory: for verify, search and export, also while a writer appends. */
export function createFileAuditReader(dir: string) {
  const segments = async () => {
    try {
      return (await readdir(dir)).filter((name) => SEGMENT.test(name)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  };

  async function* lines(): AsyncGenerator<
    { kind: "line"; text: string; where: string; file: string } | { kind: "end"; file: string; last: boolean }
  > {
    const names = await segments();
    for (const [index, name] of names.entries()) {
      const input = createReadStream(join(dir, name), { encoding: "utf8" });
      const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
      let number = 0;
      for await (const text of reader) {
        number += 1;
        if (text === "") continue;
        yield { kind: "line", text, where: `${name}:${number}`, file: name };
      }
      yield { kind: "end", file: name, last: index === names.length - 1 };
    }
  }

  async function* scan(): AsyncGenerator<AuditScanItem> {
    let sealedAt: number | undefined;
    let lastSeq: number | undefined;
    for await (const line of lines()) {
      if (line.kind === "end") {
        if (!line.last) {
          yield {
            kind: "segment-end",
            where: line.file,
            ...(sealedAt === undefined ? {} : { sealedAt }),
          };
        }
        sealedAt = undefined;
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(line.text);
      } catch {
        yield { kind: "malformed", text: line.text, where: line.where };
        continue;
      }
      if (isCheckpointLine(parsed)) {
        sealedAt = parsed.checkpoint.sealed && parsed.checkpoint.seq === lastSeq ? lastSeq : sealedAt;
        continue;
      }
      if (!isRecord(parsed)) {
        yield { kind: "malformed", text: line.text, where: line.where };
        continue;
      }
      // A record after a seal makes the seal no longer the segment's end.
      sealedAt = undefined;
      lastSeq = parsed.seq;
      yield { kind: "record", record: parsed, where: line.where };
    }
  }

  return {
    scan,
    async checkpoints(): Promise<readonly AuditCheckpoint[]> {
      const found: AuditCheckpoint[] = [];
      for await (const line of lines()) {
        if (line.kind !== "line" || !line.text.startsWith('{"checkpoint"')) continue;
        try {
          const parsed = JSON.parse(line.text) as unknown;
          if (isCheckpointLine(parsed)) found.push(parsed.checkpoint);
        } catch {
          // scan() reports it
        }
      }
      return found;
    },
    async search(
      filter: AuditFilter,
      page: { readonly after?: number; readonly limit: number },
    ): Promise<AuditPage> {
      const records: ChainedAuditRecord[] = [];
      for await (const item of scan()) {
        if (item.kind !== "record") continue;
        if (page.after !== undefined && item.record.seq <= page.after) continue;
        if (!matchesFilter(item.record, filter)) continue;
        if (records.length === page.limit) {
          return { records, next: (records.at(-1) as ChainedAuditRecord).seq };
        }
        records.push(item.record);
      }
      return { records };
    },
  };
}

function isCheckpointLine(value: unknown): value is { checkpoint: AuditCheckpoint } {
  return typeof value === "object" && value !== null && "checkpoint" in value;
}

function isRecord(value: unknown): value is ChainedAuditRecord {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Partial<ChainedAuditRecord>;
  return (
    typeof record.seq === "number" &&
    typeof record.hash === "string" &&
    typeof record.prev === "string" &&
    Array.isArray(record.agentIds)
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A lock whose process is gone, or that is older than any batch could take, is stale. */
async function lockIsStale(lock: string): Promise<boolean> {
  try {
    const [text, info] = await Promise.all([readFile(lock, "utf8"), stat(lock)]);
    if (Date.now() - info.mtimeMs > LOCK_STALE_MS) return true;
    const pid = Number(text.split("\n")[0]);
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - info.mtimeMs > 1_000;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
  } catch {
    return false;
  }
}
