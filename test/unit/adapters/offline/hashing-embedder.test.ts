import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHashingEmbedder, fnv1a, hashText } from "../../../../src/adapters/offline/hashing-embedder.ts";
import { expectThrownAppError } from "../../../helpers/errors.ts";

function cosine(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

function norm(v: Float32Array): number {
  return Math.sqrt(cosine(v, v));
}

describe("hashing embedder", () => {
  const embedder = createHashingEmbedder();

  it("names its model and dimensions", () => {
    expect(embedder.dimensions).toBe(384);
    expect(embedder.model).toBe("hashing-v1-384");
    const small = createHashingEmbedder({ dimensions: 64 });
    expect(small.model).toBe("hashing-v1-64");
  });

  it("is deterministic across calls and instances, and embeds documents in order", async () => {
    const texts = ["Overdraft fees for checking accounts", "Mortgage rates", "Wire transfer limits"];
    const first = await embedder.embedDocuments(texts);
    const second = await createHashingEmbedder().embedDocuments(texts);
    expect(first).toHaveLength(3);
    expect(first).toEqual(second);
    expect(await embedder.embedQuery(texts[1] as string)).toEqual(first[1]);
  });

  it("returns unit vectors of the configured length, with signed components", async () => {
    for (const text of [
      "fee",
      "Overdraft fees apply when the balance goes below zero.",
      "数字 银行 账户 123",
    ]) {
      const vector = await embedder.embedQuery(text);
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(384);
      expect(norm(vector)).toBeCloseTo(1, 6);
    }
    const long = await embedder.embedQuery(
      "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu",
    );
    expect(long.some((x) => x < 0)).toBe(true);
    expect(long.some((x) => x > 0)).toBe(true);
  });

  it("returns the zero vector for text with no content word (documented deviation from unit norm)", async () => {
    for (const text of ["", "   ", "!!! ???", "the and of to is"]) {
      const vector = await embedder.embedQuery(text);
      expect(vector).toHaveLength(384);
      expect(vector.every((x) => x === 0)).toBe(true);
    }
  });

  it("ignores case, stopwords and Unicode compatibility forms", async () => {
    expect(await embedder.embedQuery("The OVERDRAFT fee")).toEqual(
      await embedder.embedQuery("overdraft fee"),
    );
    expect(await embedder.embedQuery("ﬁne print")).toEqual(await embedder.embedQuery("fine print"));
    expect(await embedder.embedQuery("Café")).toEqual(await embedder.embedQuery("café"));
  });

  it("puts texts that share words closer than texts that do not; word order matters a little", async () => {
    const [fee, question, mortgage, reversed] = await embedder.embedDocuments([
      "The overdraft fee for checking accounts is 35 dollars.",
      "What is the overdraft fee on my checking account?",
      "Mortgage interest rates for home loans are fixed for ten years.",
      "fee overdraft",
    ]);
    const overdraftFee = await embedder.embedQuery("overdraft fee");
    expect(cosine(fee as Float32Array, question as Float32Array)).toBeGreaterThan(
      cosine(mortgage as Float32Array, question as Float32Array),
    );
    // Unrelated texts are near orthogonal: only hash collisions (signed, so they cancel on average) remain.
    expect(Math.abs(cosine(mortgage as Float32Array, question as Float32Array))).toBeLessThan(0.2);
    const swapped = cosine(overdraftFee, reversed as Float32Array);
    expect(swapped).toBeGreaterThan(0.7);
    expect(swapped).toBeLessThan(0.999);
  });

  it("uses FNV-1a 32-bit over UTF-8", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
    // Multi-byte code points hash as their UTF-8 bytes: U+00E9 is C3 A9.
    const manual = Math.imul(Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) ^ 0xa9, 0x01000193) >>> 0;
    expect(fnv1a("é")).toBe(manual);
    expect(hashText("x", 8)).toHaveLength(8);
    const reference = (text: string): number => {
      let hash = 0x811c9dc5;
      for (const byte of Buffer.from(text, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193);
      return hash >>> 0;
    };
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" })), (text) => {
        expect(fnv1a(text)).toBe(reference(text));
      }),
    );
    expect(fnv1a("a\ud800b")).toBe(reference("a\ud800b"));
  });

  it("rejects invalid dimensions", () => {
    for (const dimensions of [0, -1, 1.5, 100_000]) {
      expectThrownAppError(() => createHashingEmbedder({ dimensions }), "BAD_REQUEST");
    }
  });
});
