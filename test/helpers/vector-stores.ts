/**
 * The vector stores a suite can run on: the embedded store always, and Qdrant: the run's shared server
 * (test/global-setup.ts starts one, or `QDRANT_URL` names yours, with `QDRANT_API_KEY` if it needs a key).
 * Qdrant is opened the way the server opens it, from a configuration with VECTORS=qdrant, in a fresh
 * collection per suite that is dropped afterwards. Without a Qdrant the Qdrant runs are skipped loudly,
 * and under CI they fail instead: a green run without Qdrant proves nothing about it.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { openVectorStore } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { findQdrantBinary } from "./qdrant-server.ts";

export const qdrantApiKey = process.env.QDRANT_API_KEY || undefined;

/** The run's Qdrant REST URL, or null when the run has none (no binary and no QDRANT_URL, outside CI). */
export function sharedQdrantUrl(): string | null {
  // undefined when the global setup did not run (another config): same as no server.
  return inject("qdrantUrl") ?? null;
}

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

export function qdrantBackend(url: string): VectorStoreBackend {
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

/**
 * `describe(name, ...)` with the run's Qdrant URL. Without one the suite is skipped with a loud message,
 * and under CI it fails instead.
 */
export function describeWithQdrant(name: string, fn: (url: string) => void): void {
  const url = sharedQdrantUrl();
  if (url !== null) {
    describe(name, () => fn(url));
    return;
  }
  describe(name, () => {
    if (process.env.CI) {
      it("has a Qdrant server", () => {
        expect.fail(
          `CI=${process.env.CI} but no Qdrant server was started (QDRANT_BIN, ../shared/bin/qdrant, PATH)`,
        );
      });
    } else {
      console.warn(
        `\n!!! SKIPPING ${name}: this run has no Qdrant (no binary in QDRANT_BIN, ../shared/bin/qdrant or PATH, and no QDRANT_URL).\n`,
      );
      it.skip("needs a Qdrant binary (QDRANT_BIN) or server (QDRANT_URL)", () => {});
    }
  });
}

/**
 * `describe(name, ...)` for suites that start Qdrant servers of their own (to stop, pause or cluster them):
 * without a binary skipped loudly, and under CI failed.
 */
export function describeWithQdrantBinary(name: string, fn: () => void): void {
  if (findQdrantBinary() !== undefined) {
    describe(name, fn);
    return;
  }
  describe(name, () => {
    if (process.env.CI) {
      it("has a Qdrant binary", () => {
        expect.fail(
          `CI=${process.env.CI} but no Qdrant binary was found (QDRANT_BIN, ../shared/bin/qdrant, PATH)`,
        );
      });
    } else {
      console.warn(`\n!!! SKIPPING ${name}: no Qdrant binary in QDRANT_BIN, ../shared/bin/qdrant or PATH.\n`);
      it.skip("needs a Qdrant binary (QDRANT_BIN)", () => {});
    }
  });
}

/** `describe(name (embedded store))`, and `describe(name (Qdrant))`, skipped or failed as Qdrant suites are. */
export function describeEachVectorStore(name: string, fn: (backend: VectorStoreBackend) => void): void {
  describe(`${name} (embedded store)`, () => fn(embedded));
  describeWithQdrant(`${name} (Qdrant)`, (url) => fn(qdrantBackend(url)));
}
