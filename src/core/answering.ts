/**
 * Answering from authorized passages only. The model is called with exactly the passages retrieval
 * returned for the whole principal; with none, it is not called at all.
 */
import type { Answer, AnswerPart, ChatModel } from "../ports/chat-model.ts";
import type { ScoredChunk } from "./chunk.ts";
import { upstreamFailure } from "./errors.ts";

export const NOTHING_TO_ANSWER_FROM =
  "None of the documents you may read answers this question, so there is no answer to give.";

export async function answerFromPassages(
  chatModel: ChatModel,
  question: string,
  passages: readonly ScoredChunk[],
): Promise<Answer> {
  if (passages.length === 0) return { text: NOTHING_TO_ANSWER_FROM, citations: [] };
  let answer: Answer;
  try {
    answer = await chatModel.answer({
      question,
      passages: passages.map((passage) => ({ id: passage.id, title: passage.title, text: passage.text })),
    });
  } catch (error) {
    throw upstreamFailure("model", "the chat model failed", error);
  }
  return keepGivenCitations(answer, passages);
}

/**
 * The streamed variant: yields the model's text as it is written, then the whole answer (citations kept
 * only when they name a passage the model was given). With no passage the model is not called; a model
 * without `streamAnswer` is asked for the whole answer and streamed as one part. Every failure, at any
 * point, is thrown as the model's `UPSTREAM_UNAVAILABLE`.
 */
export async function* streamAnswerFromPassages(
  chatModel: ChatModel,
  question: string,
  passages: readonly ScoredChunk[],
): AsyncGenerator<AnswerPart> {
  if (passages.length === 0) {
    yield { kind: "text", text: NOTHING_TO_ANSWER_FROM };
    yield { kind: "answer", answer: { text: NOTHING_TO_ANSWER_FROM, citations: [] } };
    return;
  }
  const request = {
    question,
    passages: passages.map((passage) => ({ id: passage.id, title: passage.title, text: passage.text })),
  };
  if (chatModel.streamAnswer === undefined) {
    const answer = await answerFromPassages(chatModel, question, passages);
    yield { kind: "text", text: answer.text };
    yield { kind: "answer", answer };
    return;
  }
  let final: Answer | undefined;
  try {
    for await (const part of chatModel.streamAnswer(request)) {
      if (final !== undefined) throw new Error("the model streamed after its answer");
      if (part.kind === "answer") final = part.answer;
      else if (part.text !== "") yield part;
    }
  } catch (error) {
    throw upstreamFailure("model", "the chat model failed", error);
  }
  if (final === undefined) throw upstreamFailure("model", "the chat model stopped without an answer", null);
  yield { kind: "answer", answer: keepGivenCitations(final, passages) };
}

/** A model may cite what it was never given; only ids of passages it received are kept. */
function keepGivenCitations(answer: Answer, passages: readonly ScoredChunk[]): Answer {
  const given = new Set(passages.map((passage) => passage.id));
  const citations = [...new Set(answer.citations)].filter((id) => given.has(id));
  return { text: answer.text, citations };
}
