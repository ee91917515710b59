/**
 * vectors/write.lock: held by a writer for the length of one change or compaction, so that writers in
 * several processes (a server and `clearance ingest`) take turns. The lock file names its holder
 * (`<pid> <host>`); a lock whose holder is gone is removed, but only if it still names that holder.
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { AppError } from "../../core/errors.ts";
import { fileIoError, PRIVATE_FILE_MODE, removeFile } from "../durable-files.ts";

/** Runs `write` holding the lock at `lockPath`; waits up to `timeoutMs` for another holder. */
export function withWriteLock<T>(lockPath: string, dataDir: string, timeoutMs: number, write: () => T): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(lockPath, `${process.pid} ${hostname()}\n`, { flag: "wx", mode: PRIVATE_FILE_MODE });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw fileIoError(lockPath, "create", error);
    }
    const holder = readLockHolder(lockPath);
    if (typeof holder === "object") {
      // Removed only if it still names the dead holder, so a fresh lock taken meanwhile survives.
      removeLockIfUnchanged(lockPath, holder.stale);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new AppError(
        "UPSTREAM_UNAVAILABLE",
        `the vector data in ${dataDir} is being written by ${holder}; try again when it is done ` +
          `(if that process no longer runs, delete ${lockPath})`,
      );
    }
    sleep(10);
  }
  try {
    return write();
  } finally {
    removeFile(lockPath);
  }
}

/** Blocks the thread: writes never await while holding the lock, so waiting for it cannot either. */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
