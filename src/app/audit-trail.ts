/**
 * The audit record of a use case. `run` (application.ts) gives every use case an `AuditDetail` to fill
 * as it goes (the query's digest and k first, the retrieval when it is done, the model's citations last)
 * and records it once, with the outcome, whether the use case succeeded or failed after its principal was
 * established. No record, no answer: a record that cannot be stored fails the request.
 */

import type { AppError } from "../core/errors.ts";
import { upstreamFailure } from "../core/errors.ts";
import type { RetrievalResult } from "../core/retrieval.ts";
import type { AuditLog, AuditOutcome, AuditRecord } from "../ports/audit-log.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { Caller } from "./caller.ts";
import { reportFailure } from "./failures.ts";

/** What a use case adds to its record: everything but who, when, where and how it ended. */
export type AuditDetail = {
  -readonly [key in Exclude<
    keyof AuditRecord,
    | "time"
    | "requestId"
    | "callerRequestId"
    | "surface"
    | "action"
    | "outcome"
    | "userId"
    | "agentIds"
    | "token"
  >]?: AuditRecord[key];
};

/** The use cases, as records name them. */
export type AuditAction =
  | "search"
  | "answer"
  | "documents"
  | "audit.read"
  | "grant"
  | "revoke"
  | "ingest"
  | "schema.push"
  | "delegations"
  | "delegate"
  | "undelegate"
  | "remember"
  | "recall"
  | "note.share"
  | "note.delete"
  | "document.put"
  | "document.delete"
  | "document.access"
  | "document.access.change"
  | "prune";

export async function recordAudit(auditLog: AuditLog, record: AuditRecord): Promise<void> {
  try {
    await auditLog.record(record);
  } catch (error) {
    throw upstreamFailure("audit-log", "the audit log could not record the request", error);
  }
}

/** Codes that mean "you may not", as opposed to "it did not work". */
const DENIALS = new Set(["FORBIDDEN", "UNAUTHENTICATED", "CONSENT_REQUIRED", "INSUFFICIENT_SCOPE"]);

export function outcomeOf(failure: AppError | undefined): AuditOutcome {
  if (failure === undefined) return { status: "allowed" };
  return { status: DENIALS.has(failure.code) ? "denied" : "failed", code: failure.code };
}

export function auditRecordOf(
  caller: Caller,
  action: AuditAction,
  outcome: AuditOutcome,
  detail: AuditDetail,
  time: Date = new Date(),
): AuditRecord {
  const { credential } = caller.principal;
  return {
    time: time.toISOString(),
    requestId: caller.requestId,
    ...(caller.callerRequestId === undefined ? {} : { callerRequestId: caller.callerRequestId }),
    surface: caller.surface,
    action,
    outcome,
    userId: caller.principal.userId,
    agentIds: [...caller.principal.agentIds],
    ...(credential === undefined || Object.keys(credential).length === 0 ? {} : { token: credential }),
    ...detail,
  };
}

/** What a retrieval adds to its record: the strategy, what was returned and how much was withheld. */
export function retrievalAuditDetail(result: RetrievalResult): AuditDetail {
  const { stats } = result;
  return {
    strategy: stats.strategy,
    finishedWith: stats.finishedWith,
    ...(stats.readableResources === undefined ? {} : { readableResources: stats.readableResources }),
    withheld: stats.withheld,
    returned: result.passages.map((passage) => ({ chunkId: passage.id, resource: passage.resource })),
  };
}

/** Runs a use case and records it: see `createAuditedRunner`. */
export type AuditedRunner = <T>(
  caller: Caller,
  action: AuditAction,
  work: (audit: AuditDetail) => Promise<T>,
) => Promise<T>;

/**
 * Every use case fails the same way (one `AppError`, its cause logged under the request id) and is
 * audited once, after the principal is established: allowed only once its record is durable, denied or
 * failed with the code the caller gets. A failure to record a failure is logged; the caller still gets
 * the original failure.
 */
export function createAuditedRunner(deps: {
  readonly auditLog: AuditLog;
  readonly metrics: ApplicationMetrics;
  readonly logger: Logger;
}): AuditedRunner {
  const telemetry = { metrics: deps.metrics, logger: deps.logger };
  return async (caller, action, work) => {
    const detail: AuditDetail = {};
    let value: Awaited<ReturnType<typeof work>>;
    try {
      value = await work(detail);
    } catch (error) {
      const failure = reportFailure(error, caller, telemetry);
      if (failure.upstream !== "audit-log") {
        try {
          await recordAudit(deps.auditLog, auditRecordOf(caller, action, outcomeOf(failure), detail));
        } catch (auditError) {
          reportFailure(auditError, caller, telemetry);
        }
      }
      throw failure;
    }
    try {
      await recordAudit(deps.auditLog, auditRecordOf(caller, action, outcomeOf(undefined), detail));
    } catch (error) {
      throw reportFailure(error, caller, telemetry);
    }
    return value;
  };
}
