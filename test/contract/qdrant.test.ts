/**
 * The VectorStore contract against a real Qdrant, when QDRANT_URL points at one (QDRANT_API_KEY when it
 * needs a key). Each test's data directory maps to a fresh collection `clearance-contract-<random>`, so
 * reopening the same directory is a restart of the same collection; the collections are dropped at the
 * end. Without QDRANT_URL the run is skipped, loudly: a green run without Qdrant proves nothing about it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, it } from "vitest";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { describeVectorStoreContract } from "./vector-store-contract.ts";

interface QdrantOpenerOptions {
  readonly url: string;
  readonly apiKey?: string;
  readonly collection: string;
  readonly dimensions: number;
  readonly timeoutMs?: number;
}

type QdrantAdapter = { createQdrantVectorStore(options: QdrantOpenerOptions): Promise<VectorStore> };

// A specifier the compiler does not resolve: typecheck and the skipped run work without the adapter.
const ADAPTER_MODULE = "../../src/adapters/qdrant/qdrant-vector-store.ts";

const url = process.env.QDRANT_URL;
const apiKey = process.env.QDRANT_API_KEY || undefined;

if (!url) {
  console.warn(
    "\n!!! The Qdrant VectorStore contract run was SKIPPED: QDRANT_URL is not set. Set QDRANT_URL to run it. !!!\n",
  );
  describe("VectorStore contract: qdrant", () => {
    it.skip("needs a Qdrant server: set QDRANT_URL to run it", () => {});
  });
} else {
  const collections = new Map<string, string>();
  let adapter: Promise<QdrantAdapter> | undefined;

  describeVectorStoreContract(
    "qdrant",
    async ({ dataDir, dimensions }) => {
      adapter ??= import(ADAPTER_MODULE) as Promise<QdrantAdapter>;
      const { createQdrantVectorStore } = await adapter;
      let collection = collections.get(dataDir);
      if (collection === undefined) {
        collection = `clearance-contract-${randomUUID()}`;
        collections.set(dataDir, collection);
      }
      return createQdrantVectorStore({ url, ...(apiKey ? { apiKey } : {}), collection, dimensions });
    },
    { persistent: true },
  );

  afterAll(async () => {
    await Promise.all(
      [...collections.values()].map((collection) =>
        fetch(new URL(`/collections/${collection}`, url), {
          method: "DELETE",
          headers: apiKey ? { "api-key": apiKey } : {},
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined),
      ),
    );
  });
}
