/**
 * The application layer: one function per use case, which every surface (REST, MCP, the web, the CLI)
 * calls with a `Caller` it has established. Authorization (inside retrieval), auditing, metrics and the
 * mapping of failures happen here, once, so surfaces cannot disagree; a surface only parses, authenticates
 * and formats. The layer knows ports and core only; the composition root hands it the adapters.
 */
import { queryDigest } from "../core/audit-chain.ts";
import type { Entity } from "../core/authz-model.ts";
import type { AppError } from "../core/errors.ts";
import type { Retrieve } from "../core/retrieval.ts";
import type { AuditLog, AuditPage, AuditReader } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import { type AnswerOutcome, type AnswerStream, answer, streamAnswer } from "./answer.ts";
import { type AuditQuery, readAudit } from "./audit-queries.ts";
import { type AuditAction, type AuditDetail, createAuditedRunner } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";
import { listReadableDocuments, type ReadableDocument } from "./documents.ts";
import { type FailureReport, reportFailure } from "./failures.ts";
import { checkReadiness, DEFAULT_READINESS_TIMEOUT_MS, type Readiness } from "./readiness.ts";
import { type SearchInput, type SearchOutcome, search } from "./search.ts";

export interface ApplicationDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
  /** Where `readAudit` searches (usually the same store as `auditLog`). */
  readonly auditReader?: AuditReader;
  /** The key of the audit records' query digests (HMAC-SHA-256). */
  readonly auditQueryKey: Uint8Array;
  /** The entity whose `audit` permission lets a principal read the trail (default `bank:main`). */
  readonly auditResource?: Entity;
  /** Authorized top-k: the retrieval engine, built with its ports by the composition root. */
  readonly retrieve: Retrieve;
  readonly metrics: ApplicationMetrics;
  readonly logger: Logger;
  /** How long each readiness probe may take (default 2 s). */
  readonly readinessTimeoutMs?: number;
}

export const DEFAULT_AUDIT_RESOURCE: Entity = { type: "bank", id: "main" };

export interface Application {
  search(caller: Caller, input: SearchInput): Promise<SearchOutcome>;
  answer(caller: Caller, input: SearchInput): Promise<AnswerOutcome>;
  /**
   * The answer as a stream of events. Rejects (with the failure reported) only before anything is
   * streamed; afterwards a failure is an `error` event, already logged and counted.
   */
  streamAnswer(caller: Caller, input: SearchInput): Promise<AnswerStream>;
  listReadableDocuments(caller: Caller): Promise<{
    readonly documents: readonly ReadableDocument[];
    readonly logFields: Record<string, unknown>;
  }>;
  /** The audit trail, for principals with the audit permission; FORBIDDEN for everyone else. */
  readAudit(caller: Caller, query: AuditQuery): Promise<AuditPage>;
  /**
   * Runs a use case defined outside this module (the CLI's writes) the same way: its failures mapped and
   * logged, one audit record with its outcome and what `work` put in the detail.
   */
  run<T>(caller: Caller, action: AuditAction, work: (audit: AuditDetail) => Promise<T>): Promise<T>;
  /** Needs no principal: liveness and readiness are public. */
  readiness(request: { readonly requestId: string }): Promise<Readiness>;
  /** Logs and counts a failure a surface met outside a use case (e.g. authentication) the same way. */
  reportFailure(error: unknown, report: FailureReport): AppError;
}

export function createApplication(deps: ApplicationDeps): Application {
  const telemetry = { metrics: deps.metrics, logger: deps.logger };
  const digest = (query: string) => queryDigest(deps.auditQueryKey, query);
  const useCaseDeps = { ...deps, queryDigest: digest };
  const run = createAuditedRunner(deps);
  const auditReader = deps.auditReader;
  return {
    search: (caller, input) => run(caller, "search", (audit) => search(useCaseDeps, caller, input, audit)),
    answer: (caller, input) => run(caller, "answer", (audit) => answer(useCaseDeps, caller, input, audit)),
    streamAnswer: (caller, input) =>
      run(caller, "answer", (audit) =>
        streamAnswer(useCaseDeps, caller, input, audit, (error) => reportFailure(error, caller, telemetry)),
      ),
    listReadableDocuments: (caller) =>
      run(caller, "documents", (audit) => listReadableDocuments(deps, caller, audit)),
    readAudit: (caller, query) =>
      run(caller, "audit.read", (audit) => {
        if (auditReader === undefined) {
          throw new Error("this application was composed without an audit reader");
        }
        return readAudit(
          {
            authorizer: deps.authorizer,
            auditReader,
            auditResource: deps.auditResource ?? DEFAULT_AUDIT_RESOURCE,
          },
          caller,
          query,
          audit,
        );
      }),
    run,
    readiness: ({ requestId }) =>
      checkReadiness(
        { authorizer: deps.authorizer, vectorStore: deps.vectorStore, model: deps.chatModel },
        {
          timeoutMs: deps.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS,
          logger: deps.logger,
          requestId,
        },
      ),
    reportFailure: (error, report) => reportFailure(error, report, telemetry),
  };
}
