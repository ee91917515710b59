import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { AppError } from "../../core/errors.ts";
import type { AuditLog, AuditRecord } from "../../ports/audit-log.ts";
import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from "../durable-files.ts";

/**
 * The audit trail as JSON lines appended to one file (by default `<data dir>/audit/audit.jsonl`). Appends
 * are serialized so that lines never interleave; a failed append rejects, and the request fails.
 */
export async function createJsonlAuditLog(options: { readonly path: string }): Promise<AuditLog> {
  // The trail names who read what: 0700 and 0600, like every data file (see durable-files.ts).
  await mkdir(dirname(options.path), { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  let tail: Promise<void> = Promise.resolve();
  let closed = false;
  return {
    record(entry: AuditRecord) {
      if (closed) return Promise.reject(new AppError("INTERNAL", "the audit log is closed"));
      const write = tail.then(() =>
        appendFile(options.path, `${JSON.stringify(entry)}\n`, { encoding: "utf8", mode: PRIVATE_FILE_MODE }),
      );
      tail = write.catch(() => {});
      return write.catch((error: unknown) => {
        throw new AppError("UPSTREAM_UNAVAILABLE", "the audit log could not be written", { cause: error });
      });
    },
    async close() {
      closed = true;
      await tail;
    },
  };
}

/** An audit log kept in memory, for tests and benchmarks that read back what was recorded. */
export function createMemoryAuditLog(): AuditLog & { readonly records: readonly AuditRecord[] } {
  const records: AuditRecord[] = [];
  return {
    records,
    async record(entry) {
      records.push(entry);
    },
    async close() {},
  };
}
