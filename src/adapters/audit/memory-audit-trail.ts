import { chainRecord, matchesFilter } from "../../core/audit-chain.ts";
import { AppError } from "../../core/errors.ts";
import type { AuditCheckpoint, AuditTrail, ChainedAuditRecord } from "../../ports/audit-log.ts";

/** An audit trail kept in memory, chained like the others, for tests and benchmarks that read it back. */
export function createMemoryAuditLog(): AuditTrail & { readonly records: readonly ChainedAuditRecord[] } {
  const records: ChainedAuditRecord[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  let closed = false;
  return {
    records,
    async record(entry) {
      if (closed) throw new AppError("INTERNAL", "the audit trail is closed");
      const chained = chainRecord(entry, records.at(-1));
      records.push(chained);
      return chained;
    },
    async probe() {},
    async close() {
      closed = true;
    },
    async *scan() {
      for (const record of records) yield { kind: "record", record, where: `seq ${record.seq}` };
    },
    async checkpoints() {
      return checkpoints;
    },
    async search(filter, page) {
      const matching = records.filter(
        (record) => (page.after === undefined || record.seq > page.after) && matchesFilter(record, filter),
      );
      const slice = matching.slice(0, page.limit);
      return matching.length > page.limit
        ? { records: slice, next: (slice.at(-1) as ChainedAuditRecord).seq }
        : { records: slice };
    },
  };
}
