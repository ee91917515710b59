/**
 * The VectorStore contract against a real Qdrant, when QDRANT_URL points at one (QDRANT_API_KEY when it
 * needs a key). Each test's data directory maps to a fresh collection, so reopening the same directory is
 * a restart of the same collection; the collections are dropped at the end. Without QDRANT_URL the run is
 * skipped, loudly: a green run without Qdrant proves nothing about it.
 */
import { afterAll, describe, it } from "vitest";
import { createQdrantVectorStore } from "../../src/adapters/qdrant/qdrant-vector-store.ts";
import {
  dropQdrantCollection,
  qdrantUrl,
  uniqueCollection,
  warnQdrantSkipped,
} from "../helpers/vector-stores.ts";
import { describeVectorStoreContract } from "./vector-store-contract.ts";

const url = qdrantUrl;
const apiKey = process.env.QDRANT_API_KEY || undefined;

if (url === undefined) {
  warnQdrantSkipped("The VectorStore contract");
  describe("VectorStore contract: qdrant", () => {
    it.skip("needs a Qdrant server: set QDRANT_URL to run it", () => {});
  });
} else {
  const collections = new Map<string, string>();

  describeVectorStoreContract(
    "qdrant",
    async ({ dataDir, dimensions }) => {
      let collection = collections.get(dataDir);
      if (collection === undefined) {
        collection = uniqueCollection("contract");
        collections.set(dataDir, collection);
      }
      return createQdrantVectorStore({ url, ...(apiKey ? { apiKey } : {}), collection, dimensions });
    },
    { persistent: true },
  );

  afterAll(async () => {
    await Promise.all([...collections.values()].map((collection) => dropQdrantCollection(url, collection)));
  });
}
