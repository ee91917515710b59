/**
 * The lexical analysis hybrid ranking stands on: what a text's terms are, and that a chunk's lexical score
 * depends on the query, its own text and the fixed statistics only.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  analyze,
  DEFAULT_DENSE_WEIGHT,
  lexicalQuery,
  lexicalScore,
  termCounts,
} from "../../../src/core/lexical.ts";
import { PUBLIC_BACKGROUND } from "../../../src/core/lexical-background.ts";

const ranking = { kind: "hybrid", statistics: PUBLIC_BACKGROUND, denseWeight: DEFAULT_DENSE_WEIGHT } as const;

describe("analyze", () => {
  it("lowercases, drops stopwords and stems, so inflections meet", () => {
    expect(analyze("The account was Closed")).toEqual(["account", "close"]);
    expect(analyze("closing closes closed")).toEqual(["close", "close", "close"]);
    expect(analyze("deposits deposited")).toEqual(["deposit", "deposit"]);
    // A possessive's "s" is a stopword; negations are not.
    expect(analyze("the bank's fee is not waived")).toEqual(["bank", "fee", "not", "waiv"]);
  });

  it("keeps words outside English's letters as they are, and digits", () => {
    expect(analyze("Überweisung für 2024")).toEqual(["überweisung", "für", "2024"]);
    expect(analyze("ＡＴＭ fees")).toEqual(["atm", "fee"]); // NFKC folds full-width letters
  });
});

describe("lexical score", () => {
  it("is zero for a chunk sharing no term, positive for one sharing a term", () => {
    const query = lexicalQuery("overdraft fees", ranking);
    expect(lexicalScore(query, termCounts("Wire transfers leave before noon."))).toBe(0);
    expect(lexicalScore(query, termCounts("Overdraft fees are waived once a year."))).toBeGreaterThan(0);
  });

  it("never exceeds the lexical half of the blend, for any query and chunk", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 400 }), (question, text) => {
        const score = lexicalScore(lexicalQuery(question, ranking), termCounts(text));
        expect(score).toBeGreaterThanOrEqual(0);
        expect(score).toBeLessThanOrEqual(1 - DEFAULT_DENSE_WEIGHT + 1e-9);
      }),
      { numRuns: 300 },
    );
  });
});
