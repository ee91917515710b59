import { AppError } from "../../core/errors.ts";
import type { Answer, AnswerRequest, ChatModel } from "../../ports/chat-model.ts";
import { contentWords, sentences } from "./tokenize.ts";

export interface ExtractiveAnswererOptions {
  /** Sentences in an answer at most (default 3). */
  readonly maxSentences?: number;
}

/** The answer when no passage has a sentence sharing a content word with the question. */
export const NO_ANSWER_TEXT = "Nothing you are allowed to read answers this question.";

const DEFAULT_MAX_SENTENCES = 3;
const MAX_SENTENCES_PER_PASSAGE = 2;
const BIGRAM_BONUS = 0.5;

/**
 * An answerer with no model: it quotes the sentences of the passages that share the most content words
 * with the question (rarer words count more), at most two per passage, in passage order, each passage's
 * sentences followed by its id as `[id]`. The text is the passages' own sentences and nothing else, so
 * it cannot say anything the passages do not; `citations` are the ids of the passages it quoted.
 */
export function createExtractiveAnswerer(options: ExtractiveAnswererOptions = {}): ChatModel {
  const maxSentences = options.maxSentences ?? DEFAULT_MAX_SENTENCES;
  if (!Number.isSafeInteger(maxSentences) || maxSentences < 1)
    throw new AppError("BAD_REQUEST", "maxSentences must be a positive integer");
  return {
    model: "extractive-v1",
    async answer(request) {
      const { pieces, citations } = extractAnswer(request, maxSentences);
      return { text: pieces.join(""), citations };
    },
    /** Streams the answer a sentence at a time (each piece is a sentence, or a citation marker). */
    async *streamAnswer(request) {
      const { pieces, citations } = extractAnswer(request, maxSentences);
      for (const text of pieces) yield { kind: "text", text };
      yield { kind: "answer", answer: { text: pieces.join(""), citations } };
    },
    /** In process, with no model and no state: always ready. */
    async probe() {},
  };
}

interface Candidate {
  readonly passage: number;
  readonly position: number;
  readonly text: string;
  readonly words: ReadonlySet<string>;
  readonly bigrams: ReadonlySet<string>;
  score: number;
}

const MARKDOWN_HEADING = /^#{1,6}\s/;

/** The answer as the pieces it is written in (sentences, separators, citation markers) and its citations. */
function extractAnswer(
  request: AnswerRequest,
  maxSentences: number,
): { readonly pieces: readonly string[]; readonly citations: Answer["citations"] } {
  const question = contentWords(request.question);
  const questionWords = new Set(question);
  const questionBigrams = new Set(bigrams(question));
  const candidates: Candidate[] = [];
  request.passages.forEach((passage, index) => {
    sentences(passage.text).forEach((text, position) => {
      // A heading names a topic; it does not answer a question about it.
      if (MARKDOWN_HEADING.test(text)) return;
      const words = contentWords(text);
      candidates.push({
        passage: index,
        position,
        text,
        words: new Set(words),
        bigrams: new Set(bigrams(words)),
        score: 0,
      });
    });
  });
  // Inverse sentence frequency within this request: a word every sentence has says little.
  const frequency = new Map<string, number>();
  for (const candidate of candidates)
    for (const word of candidate.words)
      if (questionWords.has(word)) frequency.set(word, (frequency.get(word) ?? 0) + 1);
  for (const candidate of candidates) {
    for (const word of candidate.words) {
      const count = frequency.get(word);
      if (count !== undefined) candidate.score += Math.log(1 + candidates.length / count);
    }
    if (candidate.score > 0)
      for (const bigram of candidate.bigrams)
        if (questionBigrams.has(bigram)) candidate.score += BIGRAM_BONUS;
  }
  const ranked = candidates
    .filter((candidate) => candidate.score > 0)
    .sort((a, b) => b.score - a.score || a.passage - b.passage || a.position - b.position);
  const chosen: Candidate[] = [];
  const perPassage = new Map<number, number>();
  const seen = new Set<string>();
  for (const candidate of ranked) {
    if (chosen.length === maxSentences) break;
    const used = perPassage.get(candidate.passage) ?? 0;
    if (used === MAX_SENTENCES_PER_PASSAGE || seen.has(candidate.text)) continue;
    perPassage.set(candidate.passage, used + 1);
    seen.add(candidate.text);
    chosen.push(candidate);
  }
  if (chosen.length === 0) return { pieces: [NO_ANSWER_TEXT], citations: [] };
  chosen.sort((a, b) => a.passage - b.passage || a.position - b.position);
  // One line per passage: its sentences, then its id as `[id]`; lines joined by a line break.
  const pieces: string[] = [];
  const citations: string[] = [];
  for (let i = 0; i < chosen.length; ) {
    const passage = (chosen[i] as Candidate).passage;
    for (let first = true; i < chosen.length && (chosen[i] as Candidate).passage === passage; i++) {
      const separator = first ? (pieces.length > 0 ? "\n" : "") : " ";
      pieces.push(`${separator}${(chosen[i] as Candidate).text}`);
      first = false;
    }
    const id = request.passages[passage]?.id as string;
    pieces.push(` [${id}]`);
    if (!citations.includes(id)) citations.push(id);
  }
  return { pieces, citations };
}

function bigrams(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < words.length; i++) out.push(`${words[i - 1]} ${words[i]}`);
  return out;
}
