/**
 * Use case: an answer written only from passages the caller, and every agent acting for them, may read.
 * Authorization is complete before the model is called: it receives exactly the passages retrieval let
 * through, and none at all when there are none. The audit trail is asked first whether it can record:
 * a trail that is down costs no model call (and the answer would be refused anyway).
 */
import { answerFromPassages } from "../core/answering.ts";
import type { ScoredChunk } from "../core/chunk.ts";
import { upstreamFailure } from "../core/errors.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import type { ChatModel } from "../ports/chat-model.ts";
import { type AuditDetail, retrievalAuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";
import { retrievalLogFields, type SearchDeps, type SearchInput } from "./search.ts";

export interface AnswerDeps extends SearchDeps {
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
}

export interface AnswerOutcome {
  readonly text: string;
  /** The passages the answer cites, in citation order: each was given to the model. */
  readonly cited: readonly ScoredChunk[];
  /** Every passage the model was given. */
  readonly passages: readonly ScoredChunk[];
  readonly logFields: Readonly<Record<string, unknown>>;
}

export async function answer(
  deps: AnswerDeps,
  caller: Caller,
  input: SearchInput,
  audit: AuditDetail,
): Promise<AnswerOutcome> {
  audit.queryDigest = deps.queryDigest(input.query);
  audit.k = input.k;
  const result = await deps.retrieve({ principal: caller.principal, query: input.query, k: input.k });
  deps.metrics.observeRetrieval(result.stats);
  Object.assign(audit, retrievalAuditDetail(result));
  try {
    await deps.auditLog.probe();
  } catch (error) {
    throw upstreamFailure("audit-log", "the audit log cannot record the request", error);
  }
  audit.model = deps.chatModel.model;
  const answered = await answerFromPassages(deps.chatModel, input.query, result.passages);
  const byId = new Map(result.passages.map((passage) => [passage.id, passage]));
  const cited = answered.citations.flatMap((id) => byId.get(id) ?? []);
  audit.cited = answered.citations;
  return {
    text: answered.text,
    cited,
    passages: result.passages,
    logFields: { ...retrievalLogFields(result), cited: cited.length, model: deps.chatModel.model },
  };
}
