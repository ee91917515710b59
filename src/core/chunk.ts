/**
 * The stored unit of retrieval. Every chunk carries exactly one resource, the Permify entity whose `view`
 * permission decides who may read it: `document:<id>`, or `section:<id>` when the chunk lies in a section
 * narrower than its document.
 */
export interface ChunkMetadata {
  /** The manifest's collection id of the chunk's document. */
  readonly collection: string;
  /** The owner subject in Permify notation, e.g. `user:alice` or `team:legal#member`. */
  readonly owner: string;
  /** The customer id the document belongs to, for per-customer documents. */
  readonly customer?: string;
}

export interface Chunk {
  /** Deterministic: the same document, content and chunking options give the same id. */
  readonly id: string;
  /** `document:<id>` or `section:<id>`. */
  readonly resource: string;
  readonly documentId: string;
  readonly sectionId?: string;
  readonly title: string;
  readonly text: string;
  /** Position of the chunk within its document, from 0. */
  readonly ordinal: number;
  readonly metadata: ChunkMetadata;
}

/** A chunk with its embedding, as the vector store keeps it. */
export interface EmbeddedChunk extends Chunk {
  readonly vector: Float32Array;
}

/** A chunk returned by a search, with its cosine similarity to the query. */
export interface ScoredChunk extends Chunk {
  readonly score: number;
}

export function documentResource(documentId: string): string {
  return `document:${documentId}`;
}

export function sectionResource(sectionId: string): string {
  return `section:${sectionId}`;
}

/**
 * The containers a chunk lies in, from what ingest wrote into it: its document, and from its ACL metadata
 * its collection, customer and owner, as `document:<id>`, `collection:<id>`, `customer:<id>` and
 * `owner:<subject>`. The container pre-filter restricts a search to the containers a principal can view;
 * the authorizer still decides every chunk. A section's chunks carry their document's keys.
 */
export function containerKeys(chunk: Pick<Chunk, "documentId" | "metadata">): string[] {
  const { metadata } = chunk;
  return [
    `document:${chunk.documentId}`,
    `collection:${metadata.collection}`,
    ...(metadata.customer === undefined ? [] : [`customer:${metadata.customer}`]),
    `owner:${metadata.owner}`,
  ];
}
