/**
 * The application layer: one function per use case, which every surface (REST, MCP, the web, the CLI)
 * calls with a `Caller` it has established. Authorization (inside retrieval), auditing, metrics and the
 * mapping of failures happen here, once, so surfaces cannot disagree; a surface only parses, authenticates
 * and formats. The layer knows ports and core only; the composition root hands it the adapters.
 */
import { AppError } from "../core/errors.ts";
import type { Retrieve } from "../core/retrieval.ts";
import { requireScope, type Scope } from "../core/scopes.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import { type AnswerOutcome, answer } from "./answer.ts";
import type { Caller } from "./caller.ts";
import { consentingRetrieve, withConsent } from "./consent.ts";
import { type Delegation, delegate, listDelegations, requireUserItself, undelegate } from "./delegations.ts";
import { listReadableDocuments, type ReadableDocument } from "./documents.ts";
import { type FailureReport, reportFailure } from "./failures.ts";
import {
  deleteNote,
  MAX_NOTE_CHARS,
  type RecalledNote,
  type RememberInput,
  recall,
  remember,
  shareNote,
} from "./memory.ts";
import { checkReadiness, DEFAULT_READINESS_TIMEOUT_MS, type Readiness } from "./readiness.ts";
import { type SearchInput, type SearchOutcome, search } from "./search.ts";

/**
 * The scope each use case needs (core/scopes.ts): surfaces read it to show a token only what it may call
 * (the MCP tool list); the use cases enforce it themselves, so no surface can forget.
 */
export const USE_CASE_SCOPES = {
  search: "documents:search",
  answer: "documents:answer",
  listReadableDocuments: "documents:search",
  listDelegations: "delegations",
  delegate: "delegations",
  undelegate: "delegations",
  remember: "memory",
  recall: "memory",
  shareNote: "memory",
  deleteNote: "memory",
} as const satisfies Record<string, Scope>;

export type UseCase = keyof typeof USE_CASE_SCOPES;

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
  /** Agent memory: the notes' own vector store and the embedder (absent: memory use cases are refused). */
  readonly memory?: { readonly store: VectorStore; readonly embedder: Embedder };
  /** Wall-clock milliseconds since the epoch, for delegation expiry (default `Date.now`). */
  readonly clock?: () => number;
}

export interface Application {
  search(caller: Caller, input: SearchInput): Promise<SearchOutcome>;
  answer(caller: Caller, input: SearchInput): Promise<AnswerOutcome>;
  listReadableDocuments(caller: Caller): Promise<{
    readonly documents: readonly ReadableDocument[];
    readonly logFields: Record<string, unknown>;
  }>;
  listDelegations(caller: Caller): Promise<readonly Delegation[]>;
  /** `expiresAt` in ms since the epoch. */
  delegate(caller: Caller, input: { readonly agentId: string; readonly expiresAt?: number }): Promise<void>;
  /** False when the user had not delegated to the agent. */
  undelegate(caller: Caller, input: { readonly agentId: string }): Promise<boolean>;
  remember(caller: Caller, input: RememberInput): Promise<{ readonly id: string }>;
  recall(
    caller: Caller,
    input: SearchInput,
  ): Promise<{ readonly notes: readonly RecalledNote[]; readonly logFields: Record<string, unknown> }>;
  shareNote(caller: Caller, input: { readonly noteId: string; readonly subject: string }): Promise<void>;
  deleteNote(caller: Caller, input: { readonly noteId: string }): Promise<void>;
  /** Needs no principal: liveness and readiness are public. */
  readiness(request: { readonly requestId: string }): Promise<Readiness>;
  /** Logs and counts a failure a surface met outside a use case (e.g. authentication) the same way. */
  reportFailure(error: unknown, report: FailureReport): AppError;
}

export function createApplication(deps: ApplicationDeps): Application {
  const telemetry = { metrics: deps.metrics, logger: deps.logger };
  /** Every use case fails the same way: one `AppError`, its cause logged under the request id. */
  const clock = deps.clock ?? Date.now;
  /**
   * Every use case fails the same way, and first checks that the token's scopes cover it. Consent is
   * checked inside each use case, beside its first authorizer call.
   */
  const run = async <T>(useCase: UseCase, caller: Caller, work: () => Promise<T>): Promise<T> => {
    try {
      requireScope(caller.principal, USE_CASE_SCOPES[useCase]);
      return await work();
    } catch (error) {
      throw reportFailure(error, caller, telemetry);
    }
  };
  // Retrieval serves agents only with the user's consent, checked in its first authorization step.
  const retrieval = { ...deps, retrieve: consentingRetrieve(deps.retrieve, clock) };
  const delegations = { authorizer: deps.authorizer, clock };
  const memory = () => {
    if (deps.memory === undefined) throw new AppError("NOT_FOUND", "agent memory is not configured");
    return {
      authorizer: deps.authorizer,
      memoryStore: deps.memory.store,
      embedder: deps.memory.embedder,
      auditLog: deps.auditLog,
      clock,
    };
  };
  return {
    search: (caller, input) => run("search", caller, () => search(retrieval, caller, input)),
    answer: (caller, input) => run("answer", caller, () => answer(retrieval, caller, input)),
    listReadableDocuments: (caller) =>
      run("listReadableDocuments", caller, () =>
        withConsent(deps.authorizer, caller.principal, clock(), () => listReadableDocuments(deps, caller)),
      ),
    listDelegations: (caller) =>
      run("listDelegations", caller, async () => {
        requireUserItself(caller);
        return listDelegations(delegations, caller.principal.userId);
      }),
    delegate: (caller, input) =>
      run("delegate", caller, async () => {
        requireUserItself(caller);
        await delegate(delegations, caller.principal.userId, input.agentId, input.expiresAt);
      }),
    undelegate: (caller, input) =>
      run("undelegate", caller, async () => {
        requireUserItself(caller);
        return undelegate(delegations, caller.principal.userId, input.agentId);
      }),
    remember: (caller, input) =>
      run("remember", caller, async () => {
        if (input.text.trim() === "" || input.text.length > MAX_NOTE_CHARS) {
          throw new AppError("BAD_REQUEST", `text: 1 to ${MAX_NOTE_CHARS} characters`);
        }
        return remember(memory(), caller, input);
      }),
    recall: (caller, input) => run("recall", caller, () => recall(memory(), caller, input)),
    shareNote: (caller, input) =>
      run("shareNote", caller, () => shareNote(memory(), caller, input.noteId, input.subject)),
    deleteNote: (caller, input) =>
      run("deleteNote", caller, () => deleteNote(memory(), caller, input.noteId)),
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
