/**
 * The application layer: one function per use case, which every surface (REST, MCP, the web, the CLI)
 * calls with a `Caller` it has established. Authorization (inside retrieval), auditing, metrics and the
 * mapping of failures happen here, once, so surfaces cannot disagree; a surface only parses, authenticates
 * and formats. The layer knows ports and core only; the composition root hands it the adapters.
 */
import type { AppError } from "../core/errors.ts";
import type { Retrieve } from "../core/retrieval.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import { type AnswerOutcome, type AnswerStream, answer, streamAnswer } from "./answer.ts";
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
  /** Authorized top-k: the retrieval engine, built with its ports by the composition root. */
  readonly retrieve: Retrieve;
  readonly metrics: ApplicationMetrics;
  readonly logger: Logger;
  /** How long each readiness probe may take (default 2 s). */
  readonly readinessTimeoutMs?: number;
}

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
  /** Needs no principal: liveness and readiness are public. */
  readiness(request: { readonly requestId: string }): Promise<Readiness>;
  /** Logs and counts a failure a surface met outside a use case (e.g. authentication) the same way. */
  reportFailure(
    error: unknown,
    report: { readonly requestId: string; readonly surface: string },
  ): ReturnType<typeof reportFailure>;
}

export function createApplication(deps: ApplicationDeps): Application {
  const telemetry = { metrics: deps.metrics, logger: deps.logger };
  /** Every use case fails the same way: one `AppError`, its cause logged under the request id. */
  const run = async <T>(caller: Caller, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw reportFailure(error, caller, telemetry);
    }
  };
  return {
    search: (caller, input) => run(caller, () => search(deps, caller, input)),
    answer: (caller, input) => run(caller, () => answer(deps, caller, input)),
    streamAnswer: (caller, input) =>
      run(caller, () =>
        streamAnswer(deps, caller, input, (error) => reportFailure(error, caller, telemetry)),
      ),
    listReadableDocuments: (caller) => run(caller, () => listReadableDocuments(deps, caller)),
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
