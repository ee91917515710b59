/**
 * The retrieval engine against the oracle on the embedded store (test/helpers/retrieval-oracle.ts says
 * what is checked); test/integration/retrieval-qdrant.test.ts runs the same property on a real Qdrant.
 */
import { describe, it } from "vitest";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { PUBLIC_BACKGROUND } from "../../../src/core/lexical-background.ts";
import { BANK_DIMENSIONS } from "../../helpers/random-bank.ts";
import { expectStrategiesEqualOracle } from "../../helpers/retrieval-oracle.ts";

describe("retrieval engine: every strategy equals the oracle", () => {
  it("over random banks, principals, agents and k, with the default and a tiny scan budget", async () => {
    await expectStrategiesEqualOracle(() => createEmbeddedVectorStore({ dimensions: BANK_DIMENSIONS }), {
      numRuns: 150,
      adaptivePaths: true,
    });
    // 150 random banks, each asked by every principal and strategy: seconds alone, more on a busy machine.
  }, 120_000);
});

describe("retrieval engine with hybrid ranking: every strategy equals the oracle", () => {
  it("over random banks with words, for a blend and for BM25 alone", { timeout: 300_000 }, async () => {
    for (const denseWeight of [0.3, 0]) {
      await expectStrategiesEqualOracle(() => createEmbeddedVectorStore({ dimensions: BANK_DIMENSIONS }), {
        numRuns: 40,
        adaptivePaths: false,
        ranking: { kind: "hybrid", denseWeight, statistics: PUBLIC_BACKGROUND },
      });
    }
  });
});
