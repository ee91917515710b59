/**
 * The vector stores a suite can run on: the embedded store always, and Qdrant when QDRANT_URL points at
 * one (QDRANT_API_KEY when it needs a key). Qdrant is opened the way the server opens it, from a
 * configuration with VECTORS=qdrant, in a fresh collection per suite that is dropped afterwards. Without
 * QDRANT_URL the Qdrant run is skipped, loudly: a green run without Qdrant proves nothing about it.
 */
import { randomUUID } from "node:crypto";
import { describe, it } from "vitest";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { openVectorStore } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";

export const qdrantUrl = process.env.QDRANT_URL || undefined;
const qdrantApiKey = process.env.QDRANT_API_KEY || undefined;

export interface OpenedVectorStore {
  readonly store: VectorStore;
  /** Closes the store and removes what opening it created (a Qdrant collection). */
  dispose(): Promise<void>;
}

export interface VectorStoreBackend {
  readonly name: "embedded" | "qdrant";
  /** A new, empty store for vectors of `dimensions`, named after `label` where that shows. */
  open(label: string, dimensions: number): Promise<OpenedVectorStore>;
}

const embedded: VectorStoreBackend = {
  name: "embedded",
  async open(_label, dimensions) {
    const store = await createEmbeddedVectorStore({ dimensions });
    return { store, dispose: () => store.close() };
  },
};

/** A collection name Qdrant accepts, unique to this run. */
export function uniqueCollection(label: string): string {
  return `clearance-${label.replace(/[^A-Za-z0-9_.-]/g, "-")}-${randomUUID()}`;
}

/** Drops a Qdrant collection; a failure to clean up is not the test's failure. */
export async function dropQdrantCollection(url: string, collection: string): Promise<void> {
  await fetch(new URL(`/collections/${collection}`, url), {
    method: "DELETE",
    headers: qdrantApiKey ? { "api-key": qdrantApiKey } : {},
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
}

function qdrantBackend(url: string): VectorStoreBackend {
  return {
    name: "qdrant",
    async open(label, dimensions) {
      const collection = uniqueCollection(label);
      const config = loadConfig({
        VECTORS: "qdrant",
        QDRANT_URL: url,
        QDRANT_API_KEY: qdrantApiKey,
        QDRANT_COLLECTION: collection,
      });
      const store = await openVectorStore(config, { dimensions });
      return {
        store,
        async dispose() {
          await store.close();
          await dropQdrantCollection(url, collection);
        },
      };
    },
  };
}

/** Warns once per file that the Qdrant runs were skipped, and why. */
let warned = false;
export function warnQdrantSkipped(what: string): void {
  if (warned) return;
  warned = true;
  console.warn(`\n!!! ${what} on Qdrant was SKIPPED: QDRANT_URL is not set. Set QDRANT_URL to run it. !!!\n`);
}

/** `describe(name (embedded store))`, and `describe(name (Qdrant))` or a loud skip in its place. */
export function describeEachVectorStore(name: string, fn: (backend: VectorStoreBackend) => void): void {
  describe(`${name} (embedded store)`, () => fn(embedded));
  if (qdrantUrl === undefined) {
    warnQdrantSkipped(name);
    describe(`${name} (Qdrant)`, () => {
      it.skip("needs a Qdrant server: set QDRANT_URL to run it", () => {});
    });
    return;
  }
  describe(`${name} (Qdrant)`, () => fn(qdrantBackend(qdrantUrl)));
}
