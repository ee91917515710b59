import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dot, TopK } from "../../../../src/adapters/embedded-vectors/top-k.ts";

describe("dot", () => {
  it("equals the plain loop for every stride (a multiple of 4) and offset", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).map((quarters) => quarters * 4),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 100, maxLength: 100 }),
        (stride, row, values) => {
          const slab = Float32Array.from(values);
          const query = Float64Array.from(slab.slice(0, stride).reverse());
          let plain = 0;
          for (let i = 0; i < stride; i++) plain += (slab[row * stride + i] as number) * (query[i] as number);
          expect(dot(slab, row * stride, query, stride)).toBeCloseTo(plain, 9);
        },
      ),
    );
  });
});

describe("TopK", () => {
  it("keeps the k best by score descending, then id ascending, whatever the arrival order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        (scores, k) => {
          const ids = scores.map((_, i) => `id-${String((i * 17) % 41).padStart(2, "0")}-${i}`);
          const top = new TopK(k, (slot) => ids[slot] as string);
          scores.forEach((score, slot) => {
            if (score >= top.threshold) top.offer(slot, score);
          });
          const expected = scores
            .map((score, slot) => ({ slot, score }))
            .sort((a, b) => b.score - a.score || ((ids[a.slot] as string) < (ids[b.slot] as string) ? -1 : 1))
            .slice(0, k);
          expect(top.drain()).toEqual(expected);
        },
      ),
    );
  });
});
