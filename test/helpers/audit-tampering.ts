/**
 * The tamper table: each way of altering a trail after the fact, and the record `audit verify` must name.
 * Every audit store runs the same table (test/unit/adapters/audit, test/integration/audit-postgres).
 */
import { chainRecord } from "../../src/core/audit-chain.ts";
import type { AuditRecord, ChainedAuditRecord } from "../../src/ports/audit-log.ts";

/** A record as a search by `user` for `agent` would leave it, at `time`. */
export function sampleRecord(index: number, time: Date): AuditRecord {
  return {
    time: time.toISOString(),
    requestId: `req-${index}`,
    surface: "POST /v1/search",
    action: "search",
    outcome: { status: "allowed" },
    userId: index % 2 === 0 ? "maria" : "tom",
    agentIds: index % 3 === 0 ? ["support-assistant"] : [],
    token: { issuer: "https://id.example", jti: `jti-${index}` },
    queryDigest: "0".repeat(63) + String(index % 10),
    k: 4,
    strategy: "pre-filter",
    finishedWith: "pre-filter",
    withheld: index,
    returned: [{ chunkId: `doc-${index}#0`, resource: `document:doc-${index}` }],
  };
}

export interface Tampering {
  readonly name: string;
  /** The records as they will be stored, in storage order. */
  readonly alter: (records: readonly ChainedAuditRecord[]) => ChainedAuditRecord[];
  /** Whether the checkpoints are removed too. */
  readonly dropCheckpoints?: boolean;
  /** The seq `audit verify` must name, and words its message must contain. */
  readonly names: (records: readonly ChainedAuditRecord[]) => number;
  readonly says: RegExp;
}

/** Re-chains every record from `from` (an attacker who can recompute hashes, without the checkpoint key). */
function rechain(records: readonly ChainedAuditRecord[], from: number): ChainedAuditRecord[] {
  const out = records.slice(0, from);
  for (const record of records.slice(from)) {
    const { seq: _seq, prev: _prev, hash: _hash, ...content } = record;
    out.push(chainRecord(content, out.at(-1)));
  }
  return out;
}

const at = (records: readonly ChainedAuditRecord[], index: number) => records[index] as ChainedAuditRecord;

export const TAMPERINGS: readonly Tampering[] = [
  {
    name: "a field edited",
    alter: (records) => records.map((record, i) => (i === 4 ? { ...record, userId: "mallory" } : record)),
    names: (records) => at(records, 4).seq,
    says: /edited/,
  },
  {
    name: "a record deleted",
    alter: (records) => records.filter((_, i) => i !== 4),
    names: (records) => at(records, 4).seq,
    says: /missing/,
  },
  {
    name: "two records swapped",
    alter: (records) => {
      const out = [...records];
      [out[4], out[5]] = [at(records, 5), at(records, 4)];
      return out;
    },
    names: (records) => at(records, 4).seq,
    says: /missing|reordered/,
  },
  {
    name: "a record inserted (with a hash of its own)",
    alter: (records) => {
      const forged = chainRecord(
        { ...at(records, 5), userId: "mallory", requestId: "forged" },
        at(records, 4),
      );
      return [...records.slice(0, 5), forged, ...records.slice(5)];
    },
    names: (records) => at(records, 5).seq,
    says: /reordered or inserted/,
  },
  {
    name: "the tail cut",
    alter: (records) => records.slice(0, -3),
    names: (records) => at(records, records.length - 3).seq,
    says: /cut/,
  },
  {
    name: "the whole trail rewritten consistently (without the checkpoint key)",
    alter: (records) =>
      rechain(
        records.map((record, i) => (i === 2 ? { ...record, withheld: 0, returned: [] } : record)),
        2,
      ),
    names: (records) => at(records, records.length - 1).seq,
    says: /rewritten/,
  },
  {
    name: "the whole trail rewritten consistently, its checkpoints removed",
    alter: (records) =>
      rechain(
        records.map((record, i) => (i === 2 ? { ...record, withheld: 0, returned: [] } : record)),
        0,
      ),
    dropCheckpoints: true,
    names: (records) => at(records, 0).seq,
    says: /no signed checkpoint/,
  },
];
