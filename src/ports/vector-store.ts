import type { Chunk, ChunkMetadata, EmbeddedChunk, ScoredChunk } from "../core/chunk.ts";
import type { LexicalQuery } from "../core/lexical.ts";

export interface VectorSearchRequest {
  readonly vector: Float32Array;
  /** How many chunks to return at most. */
  readonly k: number;
  /**
   * How many of the best results to skip first (default 0), for a retrieval engine that pages further down
   * the ranking: the same query with offsets 0, k, 2k, ... yields consecutive pages of one ranking (the
   * total order of `VectorStore.search`), with no gaps or repeats while the store is unchanged, however
   * many chunks share a score and wherever a page's edge cuts them. A non-negative integer; anything else
   * is `BAD_REQUEST`. An offset past the end returns nothing.
   */
  readonly offset?: number;
  /**
   * When present, only chunks whose resource is in this set are candidates (pre-filtering). An empty set
   * matches nothing. When absent, every chunk is a candidate: only trusted callers (benchmarks, the
   * post-filter strategy that checks every result) may search without it.
   */
  readonly resources?: ReadonlySet<string>;
  /**
   * Container keys (`containerKeys` in core/chunk.ts: `document:<id>`, which also holds the document's
   * sections, `collection:<id>`, `customer:<id>`, `owner:<subject>`), for the container pre-filter. When `resources` or `containers` is present, a chunk is a candidate when
   * its resource is in `resources` (absent: empty) or one of its container keys is in `containers` (absent:
   * empty). A chunk without ACL metadata matches no container. Narrowing only: the caller still checks
   * every candidate with the authorizer.
   */
  readonly containers?: ReadonlySet<string>;
  /**
   * Hybrid search: when present, a chunk's score is not its cosine but the fused score `LexicalQuery`
   * defines (`denseWeight × cosine` plus BM25 over the chunk's title and text with the query's fixed
   * weights), and the ranking is that score, then chunk id, under the same paging guarantees. The score
   * depends only on the query and the chunk itself, never on other chunks (see core/lexical.ts). A store
   * that cannot compute it exactly must refuse the request (`BAD_REQUEST`), never fall back to cosine.
   */
  readonly lexical?: LexicalQuery;
}

/**
 * Stores chunks with their vectors and resource metadata, and finds the nearest ones.
 *
 * Fail-closed contract: every failure throws an `AppError` (`UPSTREAM_UNAVAILABLE` for a store that
 * cannot be reached or read); a search never returns a chunk outside `resources` and never silently
 * returns fewer results than it found.
 */
export interface VectorStore {
  /**
   * Makes `chunks` the complete content of `documentId`, atomically: afterwards the document has exactly
   * these chunks (its earlier ones are gone), or, on a throw, exactly the chunks it had before.
   * Every chunk must belong to `documentId`. Replacing with the same chunks changes nothing.
   */
  replaceDocument(documentId: string, chunks: readonly EmbeddedChunk[]): Promise<void>;

  /**
   * Sets the ACL metadata (collection, owner, customer) of every chunk of `documentId` in place, without
   * touching text or vectors (an access change needs no re-embedding); resolves how many chunks it
   * changed. Resolves only once a search sees the new metadata (Qdrant: `wait: true`). Metadata only
   * narrows what the container pre-filter considers; the authorizer still decides every chunk.
   */
  updateDocumentMetadata(documentId: string, metadata: ChunkMetadata): Promise<number>;

  /**
   * Which of `chunkIds` are stored now. The retrieval engine asks it after authorizing its passages, so a
   * passage of a version replaced or deleted meanwhile is never returned.
   */
  presentChunks(chunkIds: readonly string[]): Promise<ReadonlySet<string>>;

  /** Removes every chunk of `documentId`; resolves how many were removed (0 when it had none). */
  deleteDocument(documentId: string): Promise<number>;

  /**
   * The k chunks most similar to the query by cosine after skipping the first `offset`, best first.
   *
   * The ranking is a total order: score descending, then chunk id ascending (JavaScript string order). An
   * adapter over a store that orders equal scores as it pleases (Qdrant does, differently per request)
   * must still return exactly this order, which fixes which of several equal-scoring chunks make the k-th
   * place: a chunk never appears twice in a ranking, pages never skip or repeat one, and two stores that
   * score the same chunks equally return the same chunks. Scores are the store's own cosine: a server
   * computing in float32 may differ from another store in the last bits, so two chunks whose cosines are
   * equal only on paper (different vectors) may come out in either order on different stores; chunks with
   * identical vectors, or scoring exactly 0, always tie and always follow the id order.
   */
  search(request: VectorSearchRequest): Promise<readonly ScoredChunk[]>;

  /** The ids of the documents that have at least one chunk, ascending. */
  listDocuments(): Promise<readonly string[]>;

  /** The chunks of one document in ordinal order, without vectors. */
  documentChunks(documentId: string): Promise<readonly Chunk[]>;

  /** How many chunks are stored; with `resources`, how many of them lie in those resources. */
  count(resources?: ReadonlySet<string>): Promise<number>;

  /**
   * Readiness: resolves when the store can serve a search now (its data readable, the server reachable
   * within the adapter's deadline); throws `UPSTREAM_UNAVAILABLE` otherwise, also after `close`.
   * It reads nothing a caller may not see and changes nothing.
   */
  probe(): Promise<void>;

  close(): Promise<void>;
}
