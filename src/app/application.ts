/**
 * The application layer: one function per use case, which every surface (REST, MCP, the web, the CLI)
 * calls with a `Caller` it has established. Authorization (inside retrieval), auditing, metrics and the
 * mapping of failures happen here, once, so surfaces cannot disagree; a surface only parses, authenticates
 * and formats. The layer knows ports and core only; the composition root hands it the adapters.
 */
import { AppError } from "../core/errors.ts";
import type { Retrieve } from "../core/retrieval.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import { type AnswerOutcome, answer } from "./answer.ts";
import type { Caller } from "./caller.ts";
import { listReadableDocuments, type ReadableDocument } from "./documents.ts";
import { type FailureReport, reportFailure } from "./failures.ts";
import {
  type AccessChange,
  type AccessChangeReport,
  type AccessView,
  changeAccess,
  type DocumentReport,
  deleteDocument,
  documentAccess,
  type OwnersDeps,
  putDocument,
  type RemovalReport,
  type WriteOptions,
} from "./owners.ts";
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
  /** For the owners' use cases (issue 14): without one, they fail (a read-only deployment). */
  readonly embedder?: OwnersDeps["embedder"];
  readonly ingestLimits?: OwnersDeps["limits"];
}

export interface Application {
  search(caller: Caller, input: SearchInput): Promise<SearchOutcome>;
  answer(caller: Caller, input: SearchInput): Promise<AnswerOutcome>;
  listReadableDocuments(caller: Caller): Promise<{
    readonly documents: readonly ReadableDocument[];
    readonly logFields: Record<string, unknown>;
  }>;
  /** Document owners (issue 14): see owners.ts. */
  putDocument(
    caller: Caller,
    input: {
      readonly entry: unknown;
      readonly bytes: Buffer;
      readonly replace: boolean;
      readonly id?: string;
    },
    options?: WriteOptions,
  ): Promise<DocumentReport>;
  deleteDocument(caller: Caller, documentId: string, options?: WriteOptions): Promise<RemovalReport>;
  documentAccess(caller: Caller, documentId: string): Promise<AccessView>;
  changeAccess(
    caller: Caller,
    documentId: string,
    change: AccessChange,
    options?: WriteOptions,
  ): Promise<AccessChangeReport>;
  /** Needs no principal: liveness and readiness are public. */
  readiness(request: { readonly requestId: string }): Promise<Readiness>;
  /** Logs and counts a failure a surface met outside a use case (e.g. authentication) the same way. */
  reportFailure(error: unknown, report: FailureReport): AppError;
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
  const owners = (): OwnersDeps => {
    if (deps.embedder === undefined) {
      throw new AppError("INTERNAL", "the application was built without an embedder for owners' writes");
    }
    return {
      authorizer: deps.authorizer,
      vectorStore: deps.vectorStore,
      embedder: deps.embedder,
      auditLog: deps.auditLog,
      ...(deps.ingestLimits === undefined ? {} : { limits: deps.ingestLimits }),
    };
  };
  return {
    putDocument: (caller, input, options) => run(caller, () => putDocument(owners(), caller, input, options)),
    deleteDocument: (caller, id, options) => run(caller, () => deleteDocument(owners(), caller, id, options)),
    documentAccess: (caller, id) => run(caller, () => documentAccess(owners(), caller, id)),
    changeAccess: (caller, id, change, options) =>
      run(caller, () => changeAccess(owners(), caller, id, change, options)),
    search: (caller, input) => run(caller, () => search(deps, caller, input)),
    answer: (caller, input) => run(caller, () => answer(deps, caller, input)),
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
