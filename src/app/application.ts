/**
 * The application layer: one function per use case, which every surface (REST, MCP, the web, the CLI)
 * calls with a `Caller` it has established. Authorization (inside retrieval), auditing, metrics and the
 * mapping of failures happen here, once, so surfaces cannot disagree; a surface only parses, authenticates
 * and formats. The layer knows ports and core only; the composition root hands it the adapters.
 */
import { queryDigest } from "../core/audit-chain.ts";
import type { Entity } from "../core/authz-model.ts";
import { AppError } from "../core/errors.ts";
import type { Retrieve } from "../core/retrieval.ts";
import { requireScope, type Scope } from "../core/scopes.ts";
import type { AuditLog, AuditPage, AuditReader } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import { type AnswerOutcome, type AnswerStream, answer, streamAnswer } from "./answer.ts";
import { type AuditQuery, readAudit } from "./audit-queries.ts";
import { type AuditAction, type AuditDetail, createAuditedRunner } from "./audit-trail.ts";
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
  readAudit: "audit:read",
  putDocument: "documents:write",
  deleteDocument: "documents:write",
  documentAccess: "documents:write",
  changeAccess: "documents:write",
} as const satisfies Record<string, Scope>;

export type UseCase = keyof typeof USE_CASE_SCOPES;

/** How the audit trail names each use case. */
const USE_CASE_ACTIONS = {
  search: "search",
  answer: "answer",
  listReadableDocuments: "documents",
  listDelegations: "delegations",
  delegate: "delegate",
  undelegate: "undelegate",
  remember: "remember",
  recall: "recall",
  shareNote: "note.share",
  deleteNote: "note.delete",
  readAudit: "audit.read",
  putDocument: "document.put",
  deleteDocument: "document.delete",
  documentAccess: "document.access",
  changeAccess: "document.access.change",
} as const satisfies Record<UseCase, AuditAction>;

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
  /** Agent memory: the notes' own vector store and the embedder (absent: memory use cases are refused). */
  readonly memory?: { readonly store: VectorStore; readonly embedder: Embedder };
  /** Wall-clock milliseconds since the epoch, for delegation expiry (default `Date.now`). */
  readonly clock?: () => number;
  /** For the owners' use cases (issue 14): without one, they fail (a read-only deployment). */
  readonly embedder?: OwnersDeps["embedder"];
  readonly ingestLimits?: OwnersDeps["limits"];
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
  /** The audit trail, for principals with the audit permission; FORBIDDEN for everyone else. */
  readAudit(caller: Caller, query: AuditQuery): Promise<AuditPage>;
  /**
   * Runs a use case defined outside this module (the CLI's writes) the same way: its failures mapped and
   * logged, one audit record with its outcome and what `work` put in the detail.
   */
  run<T>(caller: Caller, action: AuditAction, work: (audit: AuditDetail) => Promise<T>): Promise<T>;
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
  const digest = (query: string) => queryDigest(deps.auditQueryKey, query);
  const clock = deps.clock ?? Date.now;
  const audited = createAuditedRunner(deps);
  /**
   * Every use case fails the same way, is audited once, and first checks that the token's scopes cover
   * it. Consent is checked inside each use case, beside its first authorizer call.
   */
  const run = <T>(useCase: UseCase, caller: Caller, work: (audit: AuditDetail) => Promise<T>): Promise<T> =>
    audited(caller, USE_CASE_ACTIONS[useCase], async (audit) => {
      requireScope(caller.principal, USE_CASE_SCOPES[useCase]);
      return work(audit);
    });
  // Retrieval serves agents only with the user's consent, checked in its first authorization step.
  const retrieval = { ...deps, queryDigest: digest, retrieve: consentingRetrieve(deps.retrieve, clock) };
  const delegations = { authorizer: deps.authorizer, clock };
  const memory = () => {
    if (deps.memory === undefined) throw new AppError("NOT_FOUND", "agent memory is not configured");
    return {
      authorizer: deps.authorizer,
      memoryStore: deps.memory.store,
      embedder: deps.memory.embedder,
      queryDigest: digest,
      clock,
    };
  };
  const owners = (): OwnersDeps => {
    if (deps.embedder === undefined) {
      throw new AppError("INTERNAL", "the application was built without an embedder for owners' writes");
    }
    return {
      authorizer: deps.authorizer,
      vectorStore: deps.vectorStore,
      embedder: deps.embedder,
      ...(deps.ingestLimits === undefined ? {} : { limits: deps.ingestLimits }),
    };
  };
  /** Writes wait for consent: nothing may change before the user's consent for every agent is known. */
  const consentFirst = (caller: Caller) =>
    withConsent(deps.authorizer, caller.principal, clock(), async () => undefined);
  const auditReader = deps.auditReader;
  return {
    putDocument: (caller, input, options) =>
      run("putDocument", caller, async (audit) => {
        await consentFirst(caller);
        return putDocument(owners(), caller, input, options, audit);
      }),
    deleteDocument: (caller, id, options) =>
      run("deleteDocument", caller, async (audit) => {
        await consentFirst(caller);
        return deleteDocument(owners(), caller, id, options, audit);
      }),
    documentAccess: (caller, id) =>
      run("documentAccess", caller, async () => {
        await consentFirst(caller);
        return documentAccess(owners(), caller, id);
      }),
    changeAccess: (caller, id, change, options) =>
      run("changeAccess", caller, async (audit) => {
        await consentFirst(caller);
        return changeAccess(owners(), caller, id, change, options, audit);
      }),
    search: (caller, input) => run("search", caller, (audit) => search(retrieval, caller, input, audit)),
    answer: (caller, input) => run("answer", caller, (audit) => answer(retrieval, caller, input, audit)),
    streamAnswer: (caller, input) =>
      run("answer", caller, (audit) =>
        streamAnswer(retrieval, caller, input, audit, (error) => reportFailure(error, caller, telemetry)),
      ),
    listReadableDocuments: (caller) =>
      run("listReadableDocuments", caller, (audit) =>
        withConsent(deps.authorizer, caller.principal, clock(), () =>
          listReadableDocuments(deps, caller, audit),
        ),
      ),
    readAudit: (caller, query) =>
      run("readAudit", caller, (audit) => {
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
    run: audited,
    listDelegations: (caller) =>
      run("listDelegations", caller, async () => {
        requireUserItself(caller);
        return listDelegations(delegations, caller.principal.userId);
      }),
    delegate: (caller, input) =>
      run("delegate", caller, async (audit) => {
        requireUserItself(caller);
        await delegate(delegations, caller.principal.userId, input.agentId, input.expiresAt);
        audit.changes = [{ op: "delegate", target: `agent:${input.agentId}` }];
      }),
    undelegate: (caller, input) =>
      run("undelegate", caller, async (audit) => {
        requireUserItself(caller);
        const revoked = await undelegate(delegations, caller.principal.userId, input.agentId);
        if (revoked) audit.changes = [{ op: "undelegate", target: `agent:${input.agentId}` }];
        return revoked;
      }),
    remember: (caller, input) =>
      run("remember", caller, async (audit) => {
        if (input.text.trim() === "" || input.text.length > MAX_NOTE_CHARS) {
          throw new AppError("BAD_REQUEST", `text: 1 to ${MAX_NOTE_CHARS} characters`);
        }
        return remember(memory(), caller, input, audit);
      }),
    recall: (caller, input) => run("recall", caller, (audit) => recall(memory(), caller, input, audit)),
    shareNote: (caller, input) =>
      run("shareNote", caller, (audit) => shareNote(memory(), caller, input.noteId, input.subject, audit)),
    deleteNote: (caller, input) =>
      run("deleteNote", caller, (audit) => deleteNote(memory(), caller, input.noteId, audit)),
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
