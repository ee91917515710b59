/** Use case: the k passages most relevant to a query among those the caller may read. */
import type { ScoredChunk } from "../core/chunk.ts";
import type { RetrievalResult, Retrieve } from "../core/retrieval.ts";
import type { ApplicationMetrics } from "../ports/telemetry.ts";
import { type AuditDetail, retrievalAuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";

export interface SearchInput {
  readonly query: string;
  readonly k: number;
}

export interface SearchDeps {
  readonly retrieve: Retrieve;
  readonly metrics: ApplicationMetrics;
  /** The keyed digest of a query, for the audit record (never the query itself). */
  readonly queryDigest: (query: string) => string;
}

export interface SearchOutcome {
  readonly passages: readonly ScoredChunk[];
  /** Counts and timings for the surface's request log line; never returned to the caller. */
  readonly logFields: Readonly<Record<string, unknown>>;
}

export async function search(
  deps: SearchDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
): Promise<SearchOutcome> {
  const result = await retrieveAudited(deps, caller, input, audit);
  return { passages: result.passages, logFields: retrievalLogFields(result) };
}

/**
 * Authorized top-k for a use case, counted in metrics, with what it adds to the record: the query's
 * keyed digest, k, the strategy, the passages returned and how many were withheld.
 */
export async function retrieveAudited(
  deps: SearchDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
): Promise<RetrievalResult> {
  audit.queryDigest = deps.queryDigest(input.query);
  audit.k = input.k;
  const result = await deps.retrieve({ principal: caller.principal, query: input.query, k: input.k });
  deps.metrics.observeRetrieval(result.stats);
  Object.assign(audit, retrievalAuditDetail(result));
  return result;
}

/** A retrieval's counts and timings for the log line: candidates, withheld, returned, strategy. */
export function retrievalLogFields(result: RetrievalResult): Record<string, unknown> {
  const { stats } = result;
  return {
    strategy: stats.strategy,
    chosenBy: stats.chosenBy,
    finishedWith: stats.finishedWith,
    candidates: stats.candidates,
    authzCalls: stats.authzCalls,
    authzRounds: stats.authzRounds,
    withheld: stats.withheld,
    returned: stats.returned,
    ...(stats.readableResources === undefined ? {} : { readableResources: stats.readableResources }),
    timingsMs: Object.fromEntries(
      Object.entries(stats.timingsMs).map(([step, ms]) => [step, Math.round(ms * 100) / 100]),
    ),
  };
}
