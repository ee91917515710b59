/**
 * Small in-test adapters for ingest tests: a stub embedder that can misbehave on purpose, a wrapper that
 * counts embedding calls, and fault injection around real adapters (a vector store whose writes fail, an
 * authorizer whose writes fail), so that the rollback paths of ingest are driven without monkey-patching.
 */
import { createHash } from "node:crypto";
import type { EmbeddedChunk } from "../../src/core/chunk.ts";
import { AppError } from "../../src/core/errors.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import type { Embedder } from "../../src/ports/embedder.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";

export interface StubEmbedder extends Embedder {
  /** How many texts each `embedDocuments` call received. */
  readonly batches: number[];
}

/** A unit vector per text from its sha256; `vectorsFor` lets a test return the wrong number or length. */
export function createStubEmbedder(
  options: { dimensions?: number; vectorsFor?: (texts: readonly string[]) => Float32Array[] } = {},
): StubEmbedder {
  const dimensions = options.dimensions ?? 8;
  const batches: number[] = [];
  const embed = (text: string) => {
    const digest = createHash("sha256").update(text).digest();
    const vector = Float32Array.from(
      { length: dimensions },
      (_, i) => (digest[i % digest.length] as number) - 127.5,
    );
    const norm = Math.hypot(...vector);
    return vector.map((value) => value / norm);
  };
  return {
    model: `stub-sha256-${dimensions}`,
    dimensions,
    batches,
    async embedDocuments(texts) {
      batches.push(texts.length);
      return options.vectorsFor ? options.vectorsFor(texts) : texts.map(embed);
    },
    async embedQuery(text) {
      return embed(text);
    },
  };
}

/** The same embedder, recording how many texts each `embedDocuments` call received. */
export function countingEmbedder(inner: Embedder): StubEmbedder {
  const batches: number[] = [];
  return {
    model: inner.model,
    dimensions: inner.dimensions,
    batches,
    async embedDocuments(texts) {
      batches.push(texts.length);
      return inner.embedDocuments(texts);
    },
    embedQuery: (text) => inner.embedQuery(text),
  };
}

/** Passes everything through to `inner`, except `replaceDocument` of the documents `failFor` names. */
export function withFailingReplace(
  inner: VectorStore,
  failFor: (documentId: string) => boolean,
): VectorStore {
  return overridingVectorStore(inner, {
    replaceDocument: async (documentId: string, chunks: readonly EmbeddedChunk[]) => {
      if (failFor(documentId))
        throw new AppError("UPSTREAM_UNAVAILABLE", "the vector store is down (on purpose)");
      return inner.replaceDocument(documentId, chunks);
    },
  });
}

/** Every method of `inner`, bound to it, with `overrides` in place of some. */
export function overridingVectorStore(inner: VectorStore, overrides: Partial<VectorStore>): VectorStore {
  return {
    replaceDocument: (documentId, chunks) => inner.replaceDocument(documentId, chunks),
    deleteDocument: (documentId) => inner.deleteDocument(documentId),
    updateDocumentMetadata: (documentId, metadata) => inner.updateDocumentMetadata(documentId, metadata),
    presentChunks: (chunkIds) => inner.presentChunks(chunkIds),
    search: (request) => inner.search(request),
    listDocuments: () => inner.listDocuments(),
    documentChunks: (documentId) => inner.documentChunks(documentId),
    count: (resources) => inner.count(resources),
    probe: () => inner.probe(),
    close: () => inner.close(),
    ...overrides,
  };
}

/** Every method of `inner`, bound to it, with `overrides` in place of some. */
export function overridingAuthorizer(inner: Authorizer, overrides: Partial<Authorizer>): Authorizer {
  return {
    writeSchema: (schema) => inner.writeSchema(schema),
    readSchema: () => inner.readSchema(),
    isSchemaInForce: (schema) => inner.isSchemaInForce(schema),
    probe: () => inner.probe(),
    check: (request) => inner.check(request),
    checkMany: (requests) => inner.checkMany(requests),
    lookupResources: (request) => inner.lookupResources(request),
    lookupSubjects: (request) => inner.lookupSubjects(request),
    writeData: (data) => inner.writeData(data),
    deleteData: (filters) => inner.deleteData(filters),
    readRelationships: (request) => inner.readRelationships(request),
    close: () => inner.close(),
    ...overrides,
  };
}

/**
 * Passes everything through to `inner`, except the writes `failWrite` or deletes `failDelete` pick (they
 * throw and change nothing, as the port promises for a failed atomic write).
 */
export function withFailingWrites(
  inner: Authorizer,
  faults: {
    failWrite?: (data: Parameters<Authorizer["writeData"]>[0]) => boolean;
    failDelete?: (filters: Parameters<Authorizer["deleteData"]>[0]) => boolean;
  },
): Authorizer {
  const down = () => new AppError("UPSTREAM_UNAVAILABLE", "the authorizer is down (on purpose)");
  return overridingAuthorizer(inner, {
    writeData: async (data) => {
      if (faults.failWrite?.(data)) throw down();
      return inner.writeData(data);
    },
    deleteData: async (filters) => {
      if (faults.failDelete?.(filters)) throw down();
      return inner.deleteData(filters);
    },
  });
}
