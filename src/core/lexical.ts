/**
 * Lexical relevance: BM25 whose statistics cannot leak.
 *
 * BM25 needs two corpus statistics: how many chunks hold a term (its inverse document frequency) and how
 * long a chunk usually is. Computed over the whole store, as search engines do, they would carry what a
 * principal may not read into that principal's scores: a rare word that appears only in a legal-only
 * section lowers its own IDF, so a teller's passages, their order and their scores would change with
 * documents the teller cannot see. clearance therefore takes both from a **fixed public background**:
 * document frequencies counted once over public text and shipped with the code (`LexicalStatistics`,
 * `lexical-background.ts`), and a fixed average length. A chunk's lexical score is then a function of the
 * query, the chunk's own text and constants, nothing else; adding, changing or removing any other chunk
 * cannot change it. The fused score is a linear blend of that and the cosine (no reciprocal rank fusion,
 * whose ranks would be counted over chunks the principal may not read), so the fused ranking is one total
 * order over every chunk, and every retrieval strategy, exact against the oracle for the dense ranking, is
 * exact for the hybrid one too.
 */

import { stemmer } from "stemmer";
import { AppError } from "./errors.ts";

/**
 * Short English function words. A term that every text has tells nothing and costs a long posting list.
 * Negations ("not", "no") and bank words stay.
 */
export const LEXICAL_STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again all am an and any are as at be because been before being below between both " +
    "but by can could did do does doing down during each few for from further had has have having he her here " +
    "hers herself him himself his how i if in into is it its itself just me more most my myself of off on " +
    "once only or other our ours ourselves out over own s same she should so some such t than that the their " +
    "theirs them themselves then there these they this those through to too under until up very was we were " +
    "what when where which while who whom why will with would you your yours yourself yourselves"
  ).split(" "),
);

const WORD = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu;
const ASCII_WORD = /^[a-z]+$/;

/**
 * Porter's stemmer (the `stemmer` package), so that a question's inflection does not decide whether a
 * passage matches: `closing`, `closed` and `closes` become `close`. It knows English only, so a word with
 * anything but ASCII letters is kept as it is.
 */
const stem = (word: string): string => (ASCII_WORD.test(word) ? stemmer(word) : word);

/** The terms of a text: lowercased words (NFKC), stopwords dropped, Porter-stemmed, in order. */
export function analyze(text: string): string[] {
  const out: string[] = [];
  for (const word of text.normalize("NFKC").toLowerCase().match(WORD) ?? []) {
    // Possessives: "bank's" is split by the word pattern into "bank" and "s"; "s" is a stopword.
    if (LEXICAL_STOPWORDS.has(word)) continue;
    out.push(stem(word));
  }
  return out;
}

/** What lexical search reads of a chunk: its title (a field every chunk of a document shares) and text. */
export function lexicalText(chunk: { readonly title: string; readonly text: string }): string {
  return `${chunk.title}\n${chunk.text}`;
}

/** A chunk's terms with their frequencies, and its length in terms. */
export interface TermCounts {
  readonly terms: readonly string[];
  readonly frequencies: readonly number[];
  readonly length: number;
}

export function termCounts(text: string): TermCounts {
  const counts = new Map<string, number>();
  const terms = analyze(text);
  for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
  return { terms: [...counts.keys()], frequencies: [...counts.values()], length: terms.length };
}

/**
 * Fixed corpus statistics: in how many of `documents` background texts each term appears. Never derived
 * from the store.
 */
export interface LexicalStatistics {
  /** A name for logs and reports, e.g. `harbor-public-v1`. */
  readonly name: string;
  readonly documents: number;
  readonly frequencies: Readonly<Record<string, number>>;
  /** The average chunk length in terms that BM25's length normalisation assumes. */
  readonly averageLength: number;
}

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/**
 * The lexical half of a hybrid search, as a vector store evaluates it. A chunk with term frequencies `tf`
 * and length `len` (both from `termCounts(lexicalText(chunk))`) scores
 *
 *   denseWeight × cosine + Σ over `terms`: weight × tf × (k1 + 1) / (tf + k1 × (1 − b + b × len / averageLength))
 *
 * summed in float64 in the order of `terms` (so every store computes the same number). Every quantity is the
 * query's, the chunk's own, or a constant.
 */
export interface LexicalQuery {
  /** Weight of the cosine in the fused score, from 0 (lexical only) to 1. */
  readonly denseWeight: number;
  /** Distinct query terms, in order of first appearance, with their weights (already scaled). */
  readonly terms: readonly { readonly term: string; readonly weight: number }[];
  readonly k1: number;
  readonly b: number;
  readonly averageLength: number;
}

/** Hybrid ranking: the fused score of `LexicalQuery`, with these statistics and this blend. */
export interface HybridRanking {
  readonly kind: "hybrid";
  /** Weight of the cosine, from 0 (BM25 only) to 1 (dense only). */
  readonly denseWeight: number;
  readonly statistics: LexicalStatistics;
}

export type Ranking = { readonly kind: "dense" } | HybridRanking;

/** The default blend, chosen on the relevance set with the offline embedder (see bench/results/quality.md). */
export const DEFAULT_DENSE_WEIGHT = 0.3;

/** Robertson–Spärck Jones IDF with +1 inside the log, so it is positive for every term. */
export function inverseDocumentFrequency(statistics: LexicalStatistics, term: string): number {
  const n = statistics.documents;
  const df = statistics.frequencies[term] ?? 0;
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

/**
 * The lexical query for `text`: each distinct term weighted by its background IDF (times how often the
 * query repeats it), scaled so that a chunk matching every term with saturated frequency would score
 * `1 − denseWeight`: the two halves of the blend stay on comparable scales whatever the query's length.
 * A query with no term gets no lexical part (its chunks all score `denseWeight × cosine`).
 */
export function lexicalQuery(text: string, ranking: HybridRanking): LexicalQuery {
  const { statistics, denseWeight } = ranking;
  const repeats = new Map<string, number>();
  for (const term of analyze(text)) repeats.set(term, (repeats.get(term) ?? 0) + 1);
  const raw = [...repeats].map(([term, count]) => ({
    term,
    weight: count * inverseDocumentFrequency(statistics, term),
  }));
  const total = raw.reduce((sum, { weight }) => sum + weight, 0);
  const scale = total > 0 ? (1 - denseWeight) / (total * (BM25_K1 + 1)) : 0;
  return {
    denseWeight,
    terms: scale === 0 ? [] : raw.map(({ term, weight }) => ({ term, weight: weight * scale })),
    k1: BM25_K1,
    b: BM25_B,
    averageLength: statistics.averageLength,
  };
}

/** BM25's saturated term frequency for one term of a chunk. */
export function saturation(query: LexicalQuery, tf: number, length: number): number {
  return (tf * (query.k1 + 1)) / (tf + query.k1 * (1 - query.b + (query.b * length) / query.averageLength));
}

/**
 * The lexical part of the fused score for a chunk with `counts`, in the order of `query.terms` (the
 * reference every store must match; stores compute it from their own postings).
 */
export function lexicalScore(query: LexicalQuery, counts: TermCounts): number {
  let score = 0;
  for (const { term, weight } of query.terms) {
    const at = counts.terms.indexOf(term);
    if (at >= 0) score += weight * saturation(query, counts.frequencies[at] as number, counts.length);
  }
  return score;
}

/**
 * Checks a lexical query from a caller of a vector store: `BAD_REQUEST` unless every number is finite and
 * in range and every term a string (a NaN weight would make the ranking no order at all).
 */
export function checkLexicalQuery(query: LexicalQuery | undefined): void {
  if (query === undefined) return;
  const finite = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n);
  const ok =
    typeof query === "object" &&
    query !== null &&
    finite(query.denseWeight) &&
    query.denseWeight >= 0 &&
    query.denseWeight <= 1 &&
    finite(query.k1) &&
    query.k1 >= 0 &&
    finite(query.b) &&
    query.b >= 0 &&
    query.b <= 1 &&
    finite(query.averageLength) &&
    query.averageLength > 0 &&
    Array.isArray(query.terms) &&
    query.terms.every(
      (t) =>
        typeof t === "object" &&
        t !== null &&
        typeof t.term === "string" &&
        finite(t.weight) &&
        t.weight >= 0,
    ) &&
    new Set(query.terms.map((t) => t.term)).size === query.terms.length;
  if (!ok) throw new AppError("BAD_REQUEST", "the lexical query is not valid");
}
