import { describe, expect, it } from "vitest";
import { contentWords, STOPWORDS, sentences, words } from "../../../../src/adapters/offline/tokenize.ts";

describe("tokenize", () => {
  it("splits lowercased words of letters, marks and digits in any script", () => {
    expect(words("Café déjà-vu, NAÏVE 3.5% APR; ﬁne 账户123")).toEqual([
      "café",
      "déjà",
      "vu",
      "naïve",
      "3",
      "5",
      "apr",
      "fine",
      "账户123",
    ]);
    expect(words("")).toEqual([]);
  });

  it("drops stopwords but keeps negations", () => {
    expect(contentWords("What is the fee if I do not pay?")).toEqual(["fee", "not", "pay"]);
    expect(STOPWORDS.has("not")).toBe(false);
    expect(STOPWORDS.has("no")).toBe(false);
  });

  it("splits sentences at punctuation and line breaks, not after common abbreviations", () => {
    expect(
      sentences(
        "Dr. Smith approved the loan, e.g. for Mr. Jones.  It was 3.5% APR!\n\n# Fees\n- Wire:   $25",
      ),
    ).toEqual([
      "Dr. Smith approved the loan, e.g. for Mr. Jones.",
      "It was 3.5% APR!",
      "# Fees",
      "- Wire: $25",
    ]);
    expect(sentences("  \n ")).toEqual([]);
  });
});
