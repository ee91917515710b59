/**
 * The retrieval engine against the oracle on the run's real Qdrant (test/helpers/retrieval-oracle.ts says
 * what is checked): the random banks' vectors are drawn from a few values, so equal scores are common and
 * scans page through them, where Qdrant orders ties as it likes. One collection for the file, a tenant per
 * bank. Fewer runs than on the embedded store: each bank costs a few hundred requests to the server.
 */
import { randomUUID } from "node:crypto";
import { afterAll, it } from "vitest";
import { createQdrantVectorStore } from "../../src/adapters/qdrant/qdrant-vector-store.ts";
import { BANK_DIMENSIONS } from "../helpers/random-bank.ts";
import { expectStrategiesEqualOracle } from "../helpers/retrieval-oracle.ts";
import {
  describeWithQdrant,
  dropQdrantCollection,
  qdrantApiKey,
  uniqueCollection,
} from "../helpers/vector-stores.ts";

describeWithQdrant("retrieval engine on Qdrant: every strategy equals the oracle", (url) => {
  const collection = uniqueCollection("retrieval");
  afterAll(() => dropQdrantCollection(url, collection));

  it("over random banks with many equal scores, principals, agents and k, with the default and a tiny scan budget", async () => {
    await expectStrategiesEqualOracle(
      () =>
        createQdrantVectorStore({
          url,
          ...(qdrantApiKey ? { apiKey: qdrantApiKey } : {}),
          collection,
          dimensions: BANK_DIMENSIONS,
          tenantId: randomUUID(),
        }),
      { numRuns: 15, adaptivePaths: false },
    );
  }, 180_000);
});
