/**
 * Use case: an answer written only from passages the caller, and every agent acting for them, may read.
 * Authorization is complete before the model is called: it receives exactly the passages retrieval let
 * through, and none at all when there are none. The audit trail is asked first whether it can record: a
 * trail that is down costs no model call (and the answer would be refused anyway). After the model
 * finishes, the resources it cites are checked again (one bulk round): access revoked while the model was
 * writing withholds the answer.
 */
import { answerFromPassages, streamAnswerFromPassages } from "../core/answering.ts";
import type { CheckRequest } from "../core/authz-model.ts";
import type { ScoredChunk } from "../core/chunk.ts";
import { AppError, upstreamFailure } from "../core/errors.ts";
import { principalSubjects } from "../core/principal.ts";
import type { RetrievalResult } from "../core/retrieval.ts";
import { VIEW_PERMISSION } from "../core/retrieval-types.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import { type Authorizer, isCheckFailure } from "../ports/authorizer.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import { type AuditDetail, auditRecordOf, outcomeOf, recordAudit } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";
import { retrievalLogFields, retrieveAudited, type SearchDeps, type SearchInput } from "./search.ts";

export interface AnswerDeps extends SearchDeps {
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
  /** Re-checks the cited resources after the model has written. */
  readonly authorizer: Authorizer;
}

export interface AnswerOutcome {
  readonly text: string;
  /** The passages the answer cites, in citation order: each was given to the model. */
  readonly cited: readonly ScoredChunk[];
  /** Every passage the model was given. */
  readonly passages: readonly ScoredChunk[];
  readonly logFields: Readonly<Record<string, unknown>>;
}

/** What a caller is told when access changed while the model wrote: the answer is not given. */
export const ANSWER_WITHHELD_MESSAGE =
  "access to a passage this answer cites changed while it was written, so it is withheld; ask again";

export async function answer(
  deps: AnswerDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
): Promise<AnswerOutcome> {
  const result = await retrieveForAnswer(deps, caller, input, audit);
  try {
    await deps.auditLog.probe();
  } catch (error) {
    throw upstreamFailure("audit-log", "the audit log cannot record the request", error);
  }
  const answered = await answerFromPassages(deps.chatModel, input.query, result.passages);
  const cited = citedPassages(result.passages, answered.citations);
  audit.cited = answered.citations;
  if (!(await recheckCited(deps.authorizer, caller, cited))) {
    audit.phase = "answer-withheld";
    throw new AppError("CONFLICT", ANSWER_WITHHELD_MESSAGE);
  }
  return {
    text: answered.text,
    cited,
    passages: result.passages,
    logFields: { ...retrievalLogFields(result), cited: cited.length, model: deps.chatModel.model },
  };
}

/** Retrieval for an answer, with what it adds to the record: the query's digest, k, passages, the model. */
async function retrieveForAnswer(
  deps: AnswerDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
): Promise<RetrievalResult> {
  const result = await retrieveAudited(deps, caller, input, audit);
  audit.model = deps.chatModel.model;
  return result;
}

/** One event of a streamed answer, in this order: `passages`, `text`..., then one of the last three. */
export type AnswerEvent =
  /** The passages the model is given (the citations are among them). */
  | { readonly type: "passages"; readonly passages: readonly ScoredChunk[] }
  /** The answer as it is written. */
  | { readonly type: "text"; readonly text: string }
  /** The answer is complete and its cited resources are still readable. */
  | { readonly type: "done"; readonly text: string; readonly cited: readonly ScoredChunk[] }
  /** Access changed while the model wrote: the text streamed so far must be discarded. */
  | { readonly type: "withheld"; readonly error: AppError }
  /** A failure after streaming began: what was streamed is incomplete. Already logged and counted. */
  | { readonly type: "error"; readonly error: AppError };

export interface AnswerStream {
  readonly events: AsyncIterable<AnswerEvent>;
  /** Counts for the request log; `cited` and `outcome` are filled in when the stream ends. */
  readonly logFields: Record<string, unknown>;
}

/**
 * The streamed answer. The returned promise settles before anything is streamed, after retrieval: the
 * runner then stores `audit` as the `answer-started` record (durable first, so a failure up to there
 * rejects and the surface can still answer 503). After that nothing throws: a failure becomes an `error`
 * event (`report` logs and counts it first), and access revoked while the model wrote becomes a
 * `withheld` event instead of `done`. How the stream ended is a second record under the same request id.
 */
export async function streamAnswer(
  deps: AnswerDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
  report: (error: unknown) => AppError,
): Promise<AnswerStream> {
  const result = await retrieveForAnswer(deps, caller, input, audit);
  audit.phase = "answer-started";
  const ended = (phase: NonNullable<AuditDetail["phase"]>, failure?: AppError, cited?: readonly string[]) =>
    recordAudit(
      deps.auditLog,
      auditRecordOf(caller, "answer", outcomeOf(failure), {
        ...audit,
        ...(cited === undefined ? {} : { cited }),
        phase,
      }),
    );
  const logFields: Record<string, unknown> = {
    ...retrievalLogFields(result),
    model: deps.chatModel.model,
    streamed: true,
  };
  return { events: answerEvents(deps, caller, input, result, ended, logFields, report), logFields };
}

/** Stores the record of how a streamed answer ended. */
type RecordEnding = (
  phase: NonNullable<AuditDetail["phase"]>,
  failure?: AppError,
  cited?: readonly string[],
) => Promise<void>;

async function* answerEvents(
  deps: AnswerDeps,
  caller: Caller,
  input: SearchInput,
  result: RetrievalResult,
  ended: RecordEnding,
  logFields: Record<string, unknown>,
  report: (error: unknown) => AppError,
): AsyncGenerator<AnswerEvent> {
  yield { type: "passages", passages: result.passages };
  let finished = false;
  try {
    let citations: readonly string[] = [];
    let text = "";
    for await (const part of streamAnswerFromPassages(deps.chatModel, input.query, result.passages)) {
      if (part.kind === "text") yield { type: "text", text: part.text };
      else ({ text, citations } = part.answer);
    }
    const cited = citedPassages(result.passages, citations);
    const stillReadable = await recheckCited(deps.authorizer, caller, cited);
    const withheld = stillReadable ? undefined : new AppError("CONFLICT", ANSWER_WITHHELD_MESSAGE);
    const phase = withheld ? "answer-withheld" : "answer-finished";
    await ended(phase, withheld, citations);
    Object.assign(logFields, { cited: cited.length, outcome: phase });
    finished = true;
    yield withheld ? { type: "withheld", error: withheld } : { type: "done", text, cited };
  } catch (error) {
    const failure = report(error);
    logFields.outcome = "answer-incomplete";
    finished = true;
    // The caller must learn the answer is incomplete even if the audit log is down too.
    await ended("answer-incomplete", failure).catch(report);
    yield { type: "error", error: failure };
  } finally {
    // The client went away mid-answer (the surface stopped iterating): record that it was cut.
    if (!finished) {
      logFields.outcome = "answer-abandoned";
      await ended("answer-abandoned").catch(report);
    }
  }
}

function citedPassages(passages: readonly ScoredChunk[], citations: readonly string[]): ScoredChunk[] {
  const byId = new Map(passages.map((passage) => [passage.id, passage]));
  return citations.flatMap((id) => byId.get(id) ?? []);
}

/**
 * Whether the user and every agent may still view every cited resource, in one bulk round. Retrieval
 * authorized these passages before the model was called, but a revocation can land while it writes, and
 * an answer must not cite what its reader may no longer read. An item the authorizer cannot decide fails
 * the request (never an answer given on an unknown).
 */
async function recheckCited(
  authorizer: Authorizer,
  caller: Caller,
  cited: readonly ScoredChunk[],
): Promise<boolean> {
  const resources = [...new Set(cited.map((passage) => passage.resource))];
  if (resources.length === 0) return true;
  const subjects = principalSubjects(caller.principal);
  const requests: CheckRequest[] = resources.flatMap((resource) => {
    const colon = resource.indexOf(":");
    const entity = { type: resource.slice(0, colon), id: resource.slice(colon + 1) };
    return subjects.map((subject) => ({ entity, permission: VIEW_PERMISSION, subject }));
  });
  let outcomes: Awaited<ReturnType<Authorizer["checkMany"]>>;
  try {
    outcomes = await authorizer.checkMany(requests);
  } catch (error) {
    throw upstreamFailure("authorizer", "the authorizer failed to re-check the cited passages", error);
  }
  if (outcomes.length !== requests.length || outcomes.some((outcome) => isCheckFailure(outcome))) {
    const failed = outcomes.find((outcome) => isCheckFailure(outcome));
    throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not re-check a cited passage", {
      upstream: "authorizer",
      cause: failed?.failed ?? new AppError("INTERNAL", "the authorizer returned too few outcomes"),
    });
  }
  return outcomes.every((outcome) => outcome === "allowed");
}
