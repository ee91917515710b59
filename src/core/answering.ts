/**
 * Answering from authorized passages only. The model is called with exactly the passages retrieval
 * returned for the whole principal; with none, it is not called at all.
 */
import type { Answer, ChatModel } from "../ports/chat-model.ts";
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
  // A model may cite what it was never given; only ids of passages it received are kept.
  const given = new Set(passages.map((passage) => passage.id));
  const citations = [...new Set(answer.citations)].filter((id) => given.has(id));
  return { text: answer.text, citations };
}
