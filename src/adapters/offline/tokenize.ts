/**
 * The one tokenizer of the offline adapters: the hashing embedder and the extractive answerer must agree
 * on what a word is, or the answerer would pick sentences for words the retrieval never matched.
 */

/**
 * Short English function words that carry no topic. Kept small on purpose: words like "not", "no" or
 * "account" stay, since in a bank's documents they change what a sentence means.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an and are as at be been being but by can could did do does doing for from had has have having he her " +
    "here hers him his how i if in into is it its itself just me my of on or our ours s she should so some t " +
    "than that the their theirs them then there these they this those through to too was we were what when " +
    "where which while who whom why will with would you your yours"
  ).split(" "),
);

const WORD = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu;

/** Lowercased words (runs of letters, marks and digits, in any script), in order, stopwords included. */
export function words(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(WORD) ?? [];
}

/** The words that carry content: `words(text)` without stopwords. */
export function contentWords(text: string): string[] {
  return words(text).filter((word) => !STOPWORDS.has(word));
}

const SENTENCES = new Intl.Segmenter("en", { granularity: "sentence" });
/** Abbreviations after which ICU breaks a sentence although the sentence goes on ("Dr. Smith"). */
const NOT_AN_END = /(?:^|\s)(?:mr|mrs|ms|dr|prof|sr|jr|st|vs|no|e\.g|i\.e|approx)\.\s*$/i;

/**
 * Sentences of a passage, trimmed and with runs of whitespace collapsed. Line breaks also end a sentence,
 * because headings and list items in Markdown and PDF text rarely end with a full stop.
 */
export function sentences(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\n+/)) {
    let pending = "";
    for (const { segment } of SENTENCES.segment(line)) {
      pending += segment;
      if (NOT_AN_END.test(pending)) continue;
      const sentence = pending.replace(/\s+/g, " ").trim();
      if (sentence !== "") out.push(sentence);
      pending = "";
    }
    const rest = pending.replace(/\s+/g, " ").trim();
    if (rest !== "") out.push(rest);
  }
  return out;
}
