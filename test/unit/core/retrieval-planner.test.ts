/**
 * How the adaptive strategy chooses. Costs are made deterministic with a fake clock that stub adapters
 * (wrapping the real embedded ones) advance: each scenario prices lookups, bulk checks and searches, and
 * the engine must settle on the strategy that is cheapest there, having measured it, while returning the
 * same passages as the forced strategies throughout.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import type { Principal } from "../../../src/core/principal.ts";
import {
  createRetrievalEngine,
  type RetrievalPorts,
  type StrategyName,
} from "../../../src/core/retrieval.ts";
import { LinearCost } from "../../../src/core/retrieval-planner.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import type { Embedder } from "../../../src/ports/embedder.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";
import { containerModelOf } from "../../helpers/container-models.ts";
import { BANK_SCHEMA } from "../../helpers/random-bank.ts";
import { overridingAuthorizer, overridingVectorStore } from "../../helpers/stub-adapters.ts";

describe("LinearCost", () => {
  it("uses its prior until it has observations, then fits fixed + perUnit × size", () => {
    const cost = new LinearCost({ fixed: 1, perUnit: 2 });
    expect(cost.predict(10)).toBe(21);
    for (let size = 0; size <= 100; size += 10) cost.observe(size, 5 + 0.5 * size);
    expect(cost.coefficients().fixed).toBeCloseTo(5, 6);
    expect(cost.coefficients().perUnit).toBeCloseTo(0.5, 6);
    expect(cost.predict(1_000)).toBeCloseTo(505, 3);
  });

  it("keeps the prior's slope when every observation had the same size, and ignores nonsense", () => {
    const cost = new LinearCost({ fixed: 0, perUnit: 1 });
    cost.observe(10, 30);
    cost.observe(10, 30);
    cost.observe(Number.NaN, 5);
    cost.observe(10, -1);
    expect(cost.coefficients().fixed).toBeCloseTo(20, 9);
    expect(cost.coefficients().perUnit).toBe(1);
  });

  it("follows a server that slows down", () => {
    const cost = new LinearCost({ fixed: 0, perUnit: 0 });
    for (let i = 0; i < 200; i++) cost.observe(i % 10, 1 + (i % 10));
    for (let i = 0; i < 200; i++) cost.observe(i % 10, 10 * (1 + (i % 10)));
    expect(cost.predict(5)).toBeGreaterThan(50);
  });
});

const DOCUMENTS = 400;
const COLLECTIONS = 40;

/** Price list for one scenario, in fake milliseconds. */
interface Prices {
  readonly lookupPage: number;
  readonly lookupPerId: number;
  readonly checkCall: number;
  readonly checkPerItem: number;
  readonly search: number;
}

let authorizer: Authorizer;
let vectorStore: VectorStore;

/** Every document a reader of `share` may read, through collections granted to their team. */
function reader(share: number): Principal {
  return { userId: `reader-${share * 100}`, agentIds: [] };
}

beforeAll(async () => {
  authorizer = await createEmbeddedAuthorizer();
  await authorizer.writeSchema(BANK_SCHEMA);
  const tuples: string[] = [];
  for (let d = 0; d < DOCUMENTS; d++) tuples.push(`document:d${d}#collection@collection:c${d % COLLECTIONS}`);
  for (const share of [0.025, 0.5, 1]) {
    const { userId } = reader(share);
    tuples.push(`team:t-${userId}#member@user:${userId}`);
    for (let c = 0; c < COLLECTIONS * share; c++)
      tuples.push(`collection:c${c}#viewer@team:t-${userId}#member`);
  }
  await authorizer.writeData({ tuples: tuples.map(parseTuple) });
  vectorStore = await createEmbeddedVectorStore({ dimensions: 2 });
  for (let d = 0; d < DOCUMENTS; d++) {
    const angle = (d * 2 * Math.PI) / DOCUMENTS;
    await vectorStore.replaceDocument(`d${d}`, [
      {
        id: `d${d}:0`,
        resource: `document:d${d}`,
        documentId: `d${d}`,
        title: `d${d}`,
        text: `d${d}`,
        ordinal: 0,
        metadata: { collection: `c${d % COLLECTIONS}`, owner: "user:owner" },
        vector: Float32Array.from([Math.cos(angle), Math.sin(angle)]),
      },
    ]);
  }
});

/** The real adapters, with every call advancing the fake clock by its price. */
function priced(prices: Prices): { deps: RetrievalPorts; now: () => number } {
  let clock = 0;
  const embedder: Embedder = {
    model: "angle",
    dimensions: 2,
    // Queries turn around the circle, so each one ranks the documents differently.
    embedQuery: async (text) => {
      const angle = Number(text);
      return Float32Array.from([Math.cos(angle), Math.sin(angle)]);
    },
    embedDocuments: async () => [],
  };
  const pricedAuthorizer = overridingAuthorizer(authorizer, {
    lookupResources: async (request) => {
      const page = await authorizer.lookupResources(request);
      clock += prices.lookupPage + prices.lookupPerId * page.ids.length;
      return page;
    },
    checkMany: async (requests) => {
      clock += prices.checkCall + prices.checkPerItem * requests.length;
      return authorizer.checkMany(requests);
    },
  });
  const pricedStore = overridingVectorStore(vectorStore, {
    search: async (request) => {
      clock += prices.search;
      return vectorStore.search(request);
    },
  });
  return { deps: { authorizer: pricedAuthorizer, vectorStore: pricedStore, embedder }, now: () => clock };
}

async function settle(
  prices: Prices,
  principal: Principal,
): Promise<{ strategies: StrategyName[]; mismatches: number }> {
  const { deps, now } = priced(prices);
  const containerModel = containerModelOf(BANK_SCHEMA);
  const adaptive = createRetrievalEngine({ ...deps, now, containerModel });
  const oracle = createRetrievalEngine({ ...deps, strategy: "pre-filter" });
  const strategies: StrategyName[] = [];
  let mismatches = 0;
  for (let q = 0; q < 12; q++) {
    const request = { principal, query: String(q * 0.5), k: 5 };
    const result = await adaptive.retrieve(request);
    const expected = await oracle.retrieve(request);
    if (
      JSON.stringify(result.passages.map((p) => p.id)) !== JSON.stringify(expected.passages.map((p) => p.id))
    ) {
      mismatches++;
    }
    strategies.push(result.stats.strategy);
  }
  return { strategies, mismatches };
}

describe("adaptive strategy choice (fake clock)", () => {
  it("settles on post-filter for a reader of everything when listing is dear and checks are cheap", async () => {
    const { strategies, mismatches } = await settle(
      { lookupPage: 200, lookupPerId: 5, checkCall: 1, checkPerItem: 0.1, search: 2 },
      reader(1),
    );
    expect(mismatches).toBe(0);
    expect(strategies.slice(-6)).toEqual(Array(6).fill("post-filter"));
  });

  it("settles on pre-filter for a reader of little when checks are dear and listing is cheap", async () => {
    const { strategies, mismatches } = await settle(
      { lookupPage: 1, lookupPerId: 0.01, checkCall: 20, checkPerItem: 5, search: 2 },
      reader(0.025),
    );
    expect(mismatches).toBe(0);
    expect(strategies.slice(-6)).toEqual(Array(6).fill("pre-filter"));
  });

  it("settles on the container pre-filter when listing costs by the id and checks are dear", async () => {
    // A reader of half the bank: 200 documents to list one by one, or 20 collections.
    const { strategies, mismatches } = await settle(
      { lookupPage: 1, lookupPerId: 2, checkCall: 1, checkPerItem: 10, search: 30 },
      reader(0.5),
    );
    expect(mismatches).toBe(0);
    expect(strategies.slice(-6)).toEqual(Array(6).fill("container-pre-filter"));
  });
});
