/**
 * Building and storing the audit record of a use case. No trail, no answer: a record that cannot be
 * stored fails the request, named as the audit log's failure.
 */
import { createHash } from "node:crypto";
import { upstreamFailure } from "../core/errors.ts";
import type { RetrievalResult } from "../core/retrieval.ts";
import type { AuditLog, AuditRecord } from "../ports/audit-log.ts";
import type { Caller } from "./caller.ts";

export async function recordAudit(auditLog: AuditLog, record: AuditRecord): Promise<void> {
  try {
    await auditLog.record(record);
  } catch (error) {
    throw upstreamFailure("audit-log", "the audit log could not record the request", error);
  }
}

/** The record of a retrieval: who asked, for whom, a digest of the query, and what was returned and withheld. */
export function retrievalAuditRecord(
  caller: Caller,
  query: string,
  k: number,
  result: RetrievalResult,
): AuditRecord {
  const { stats } = result;
  return {
    time: new Date().toISOString(),
    requestId: caller.requestId,
    route: caller.surface,
    userId: caller.principal.userId,
    agentIds: caller.principal.agentIds,
    queryDigest: createHash("sha256").update(query).digest("hex"),
    k,
    strategy: stats.strategy,
    finishedWith: stats.finishedWith,
    ...(stats.readableResources === undefined ? {} : { readableResources: stats.readableResources }),
    withheld: stats.withheld,
    returned: result.passages.map((passage) => ({ chunkId: passage.id, resource: passage.resource })),
  };
}
