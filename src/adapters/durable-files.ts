/**
 * Durable, private files for the data directories (the embedded authorizer's, the embedded vector
 * store's, the audit trail and the demo key). One place decides two things every writer needs:
 *
 * - **Durability.** An atomic replace writes a temporary file, fsyncs it, renames it over the target and
 *   then fsyncs the containing directory: without the last step a crash can lose the rename itself, and the
 *   old file comes back after a reboot (or, for a new file, no file at all).
 * - **Privacy.** The data directory holds the full text of every document, who may read what, and the audit
 *   trail. Files are created 0600 and directories 0700, so only the service's own user can read them. The
 *   modes are requested at creation and the process umask still applies, so a stricter umask (077) is kept;
 *   nothing is ever chmod-ed wider.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { AppError } from "../core/errors.ts";

/** Data files: read and written by the service's user only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Data directories: entered and listed by the service's user only. */
export const PRIVATE_DIRECTORY_MODE = 0o700;

/** Creates `dir` and any missing parents with mode 0700 (less whatever the umask takes away). */
export function makePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
}

/** Opens `path` for appending, creating it 0600 when it does not exist. */
export function openPrivateForAppend(path: string): number {
  return openSync(path, "a", PRIVATE_FILE_MODE);
}

/** Writes every byte of `bytes` at `position`, however many `write` calls that takes. */
export function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** Reads into `target` from `position` until it is full or the file ends; returns the bytes read. */
export function readAll(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const read = readSync(fd, target, done, Math.min(target.length - done, 1 << 30), position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}

/** Creates (or truncates) `path` 0600, writes `bytes` and fsyncs it. Not atomic: for temporary files. */
export function writeDurably(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "w", PRIVATE_FILE_MODE);
  try {
    writeAll(fd, bytes, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The name of this process's temporary file for `path`. */
export function temporaryPathFor(path: string): string {
  return `${path}.${process.pid}.tmp`;
}

/**
 * Replaces `path` with `content` atomically and durably: temporary file (0600), fsync, rename, fsync the
 * directory. Readers see the old content or the new, never a mix; after a crash, the new content once this
 * returned. A failure removes the temporary file and leaves the old content in place.
 */
export function writeAtomically(path: string, content: Uint8Array | string): void {
  const temporary = temporaryPathFor(path);
  try {
    writeDurably(temporary, typeof content === "string" ? Buffer.from(content, "utf8") : content);
    renameSync(temporary, path);
  } catch (error) {
    removeFile(temporary);
    throw error;
  }
  fsyncDirectory(dirname(path));
}

/**
 * Moves an already written and fsynced temporary file over `path`, then fsyncs the directory: the last
 * step of an atomic replace whose content was streamed (a snapshot too large to build in memory).
 */
export function publishAtomically(temporary: string, path: string): void {
  renameSync(temporary, path);
  fsyncDirectory(dirname(path));
}

/**
 * Writes `content` to `path` only if nothing is there yet, atomically: temporary file, fsync, link (which
 * fails when `path` exists), fsync the directory. Resolves false when another writer was first.
 */
export function createExclusively(path: string, content: Uint8Array | string): boolean {
  const temporary = temporaryPathFor(path);
  try {
    writeDurably(temporary, typeof content === "string" ? Buffer.from(content, "utf8") : content);
    linkSync(temporary, path);
    fsyncDirectory(dirname(path));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    removeFile(temporary);
  }
}

/** Makes a rename or link durable; some platforms cannot open a directory, and there it is a no-op. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // best effort: e.g. Windows cannot open a directory
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Files and directories under `root` (two levels down: the data directory, its stores' folders and their
 * files) that users other than the owner may read or enter, for the start-up warning. A path that cannot
 * be read is skipped: this is advice, not a check that can fail a start.
 */
export function exposedDataPaths(root: string, depth = 2): string[] {
  const exposed: string[] = [];
  const visit = (path: string, level: number): void => {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch {
      return;
    }
    if ((stat.mode & 0o077) !== 0) exposed.push(path);
    if (!stat.isDirectory() || level >= depth) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const name of names.sort()) visit(join(path, name), level + 1);
  };
  visit(root, 0);
  return exposed;
}

/** Runs a file operation, turning a system error into `UPSTREAM_UNAVAILABLE` naming the path and errno. */
export function fileIo<T>(path: string, action: "read" | "write" | "create", run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw fileIoError(path, action, error);
  }
}

export function fileIoError(path: string, action: string, cause: unknown): AppError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new AppError("UPSTREAM_UNAVAILABLE", `cannot ${action} ${path}${code ? ` (${code})` : ""}`, {
    cause,
  });
}

/** Read size for line-by-line and streaming reads. */
export const IO_BLOCK_BYTES = 8 * 1024 * 1024;

const NEWLINE = Buffer.from("\n");

/**
 * Calls `onLine` for every complete line from `start` (1-based line numbers counted from `start`), and
 * `onBytes` for every byte consumed; returns the offset after the last complete line. An unterminated
 * last line is left unread (a torn append).
 */
export function forEachLine(
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
