/** A passage handed to the model: already authorized for the whole principal. */
export interface AnswerPassage {
  /** The chunk id, which the answer cites. */
  readonly id: string;
  readonly title: string;
  readonly text: string;
}

export interface AnswerRequest {
  readonly question: string;
  /** Only passages the principal may read; the model sees nothing else. */
  readonly passages: readonly AnswerPassage[];
}

export interface Answer {
  readonly text: string;
  /** The ids of the passages the answer rests on, a subset of the request's passage ids. */
  readonly citations: readonly string[];
}

/**
 * Writes an answer from authorized passages. The passages are data, never instructions: an adapter quotes
 * them with their ids and tells the model to answer only from them.
 *
 * Fail-closed contract: a failure or timeout throws an `AppError` (`UPSTREAM_UNAVAILABLE`); citations that
 * name a passage not in the request are dropped by the caller, never trusted.
 */
/** A piece of a streamed answer: text as it is written, then the whole answer once, last. */
export type AnswerPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "answer"; readonly answer: Answer };

export interface ChatModel {
  readonly model: string;
  answer(request: AnswerRequest): Promise<Answer>;

  /**
   * Optional: the same answer as `answer`, streamed. Yields `text` parts as the model writes them, then
   * exactly one `answer` part, last, whose text is the concatenation of the text parts and whose citations
   * are parsed from it. Same fail-closed contract: a failure or timeout at any point throws an `AppError`
   * (`UPSTREAM_UNAVAILABLE`) from the iterator, and the caller treats what was streamed as incomplete.
   * Breaking out of the iteration cancels the request. A model without it is streamed as one part.
   */
  streamAnswer?(request: AnswerRequest): AsyncIterable<AnswerPart>;

  /**
   * Readiness: resolves when the model can be asked now (the endpoint answers a cheap authenticated call
   * within the adapter's deadline; an in-process model always can); throws `UPSTREAM_UNAVAILABLE`
   * otherwise. It never sends a passage or a question.
   */
  probe(): Promise<void>;
}
