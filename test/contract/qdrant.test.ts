/**
 * The VectorStore contract against the run's real Qdrant (test/global-setup.ts, or QDRANT_URL). The file
 * has one collection per vector size, and each test's data directory maps to a tenant of its own in it
 * (the adapter's `tenantId`), so that reopening the same directory is a restart of the same data and the
 * tests also show that tenants sharing a collection never see each other's chunks. The collections are
 * dropped at the end. Without a Qdrant the suite is skipped loudly (under CI it fails).
 */
import { randomUUID } from "node:crypto";
import { afterAll } from "vitest";
import { createQdrantVectorStore } from "../../src/adapters/qdrant/qdrant-vector-store.ts";
import {
  describeWithQdrant,
  dropQdrantCollection,
  qdrantApiKey,
  uniqueCollection,
} from "../helpers/vector-stores.ts";
import { describeVectorStoreContract } from "./vector-store-contract.ts";

describeWithQdrant("VectorStore contract on Qdrant", (url) => {
  const collections = new Map<number, string>();
  const tenants = new Map<string, string>();

  describeVectorStoreContract(
    "qdrant",
    async ({ dataDir, dimensions }) => {
      let collection = collections.get(dimensions);
      if (collection === undefined) {
        collection = uniqueCollection(`contract-${dimensions}d`);
        collections.set(dimensions, collection);
      }
      let tenantId = tenants.get(dataDir);
      if (tenantId === undefined) {
        tenantId = randomUUID();
        tenants.set(dataDir, tenantId);
      }
      return createQdrantVectorStore({
        url,
        ...(qdrantApiKey ? { apiKey: qdrantApiKey } : {}),
        collection,
        dimensions,
        tenantId,
      });
    },
    { persistent: true },
  );

  afterAll(async () => {
    await Promise.all([...collections.values()].map((collection) => dropQdrantCollection(url, collection)));
  });
});
