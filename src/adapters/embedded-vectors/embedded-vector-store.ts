import type { Chunk, ChunkMetadata, EmbeddedChunk, ScoredChunk } from "../../core/chunk.ts";
import { AppError } from "../../core/errors.ts";
import { checkLexicalQuery } from "../../core/lexical.ts";
import type { VectorSearchRequest, VectorStore } from "../../ports/vector-store.ts";
import { prepareDocument, prepareQuery } from "./document-content.ts";
import { compareIds } from "./top-k.ts";
import { VectorDataDirectory, type VectorRecord } from "./vector-data-directory.ts";
import { VectorIndex } from "./vector-index.ts";

export interface EmbeddedVectorStoreOptions {
  /** Where the vectors persist (`<dataDir>/vectors/`); omitted means memory only. */
  readonly dataDir?: string;
  readonly dimensions: number;
  /**
   * The embedder's `model`. Recorded in the data directory when it is created; a directory written with
   * another model is refused (CONFLICT), since its vectors would not be comparable with new queries.
   */
  readonly model?: string;
  /** Journal size in bytes that triggers compaction into the snapshot (default 64 MiB). */
  readonly compactJournalBytes?: number;
  /** How long a write waits for another process that is writing the same directory (default 10 s). */
  readonly lockTimeoutMs?: number;
}

/**
 * The VectorStore port in process: exact cosine search over every stored chunk (no approximation, so the
 * authorized top-k equals the oracle), restricted to a set of resources and containers before scoring;
 * with a lexical query, exact hybrid search (the cosine blended with BM25 over in-memory term postings,
 * built on the first hybrid search and scored only for the query's terms).
 *
 * Vectors are scaled to unit length on the way in (and queries too), so scores are cosines even when an
 * embedder's output is slightly off; a zero vector is accepted and scores 0 against everything.
 */
export async function createEmbeddedVectorStore(options: EmbeddedVectorStoreOptions): Promise<VectorStore> {
  return EmbeddedVectorStore.open(options);
}

class EmbeddedVectorStore implements VectorStore {
  private closed = false;

  private constructor(
    private index: VectorIndex,
    private readonly directory: VectorDataDirectory | undefined,
  ) {}

  static open(options: EmbeddedVectorStoreOptions): EmbeddedVectorStore {
    const { dimensions } = options;
    if (!Number.isSafeInteger(dimensions) || dimensions < 1 || dimensions > 65_536)
      throw new AppError("BAD_REQUEST", "dimensions must be an integer from 1 to 65536");
    if (options.dataDir === undefined) return new EmbeddedVectorStore(new VectorIndex(dimensions), undefined);
    const directory = new VectorDataDirectory(options.dataDir, {
      dimensions,
      model: options.model,
      compactJournalBytes: options.compactJournalBytes,
      lockTimeoutMs: options.lockTimeoutMs,
    });
    return new EmbeddedVectorStore(directory.load(), directory);
  }

  async replaceDocument(documentId: string, chunks: readonly EmbeddedChunk[]): Promise<void> {
    this.assertOpen();
    // Everything is checked before the lock is taken and before anything is written.
    const content = prepareDocument(documentId, chunks, this.index.dimensions);
    this.write(() => {
      for (const chunk of content.chunks) {
        const owner = this.index.ownerOf(chunk.id);
        if (owner !== undefined && owner !== documentId)
          throw new AppError("CONFLICT", `chunk id ${chunk.id} already belongs to document ${owner}`);
      }
      if (content.chunks.length === 0) {
        this.commitDelete(documentId);
        return;
      }
      if (this.index.holds(documentId, content)) return;
      const record: VectorRecord = { seq: this.nextSeq(), op: "replace", documentId, content };
      this.directory?.append(record);
      this.index.replace(documentId, content);
    });
  }

  /** A replace with the same vectors and new metadata: one journal record, so a crash keeps all or none. */
  async updateDocumentMetadata(documentId: string, metadata: ChunkMetadata): Promise<number> {
    this.assertOpen();
    const fresh: ChunkMetadata = Object.freeze({
      collection: metadata.collection,
      owner: metadata.owner,
      ...(metadata.customer === undefined ? {} : { customer: metadata.customer }),
    });
    return this.write(() => {
      const current = this.index.documentContent(documentId);
      if (current === undefined) return 0;
      const content = {
        chunks: current.chunks.map((chunk) => Object.freeze({ ...chunk, metadata: fresh })),
        vectors: current.vectors,
      };
      if (this.index.holds(documentId, content)) return 0;
      this.directory?.append({ seq: this.nextSeq(), op: "replace", documentId, content });
      this.index.replace(documentId, content);
      return content.chunks.length;
    });
  }

  async presentChunks(chunkIds: readonly string[]): Promise<ReadonlySet<string>> {
    this.assertOpen();
    this.refresh();
    return new Set(chunkIds.filter((id) => this.index.hasChunk(id)));
  }

  async deleteDocument(documentId: string): Promise<number> {
    this.assertOpen();
    if (typeof documentId !== "string") throw new AppError("BAD_REQUEST", "document id must be a string");
    return this.write(() => this.commitDelete(documentId));
  }

  async search(request: VectorSearchRequest): Promise<readonly ScoredChunk[]> {
    this.assertOpen();
    const { k, resources, containers, offset = 0 } = request;
    if (!Number.isSafeInteger(k) || k < 0)
      throw new AppError("BAD_REQUEST", "k must be a non-negative integer");
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new AppError("BAD_REQUEST", "offset must be a non-negative integer");
    checkSet(resources, "resources");
    checkSet(containers, "containers");
    checkLexicalQuery(request.lexical);
    const query = prepareQuery(request.vector, this.index.dimensions);
    this.refresh();
    if (k === 0) return [];
    // The exact ranking is deterministic, so a page is the top k+offset cut at offset.
    const ranked = this.index.search(query, k + offset, resources, containers, request.lexical);
    return offset === 0 ? ranked : ranked.slice(offset);
  }

  async listDocuments(): Promise<readonly string[]> {
    this.assertOpen();
    this.refresh();
    return this.index.documentIds().sort(compareIds);
  }

  async documentChunks(documentId: string): Promise<readonly Chunk[]> {
    this.assertOpen();
    this.refresh();
    // The port returns ScoredChunk; outside a search there is no similarity, so the score is 0.
    return this.index.documentChunks(documentId);
  }

  async count(resources?: ReadonlySet<string>): Promise<number> {
    this.assertOpen();
    checkSet(resources, "resources");
    this.refresh();
    return resources === undefined ? this.index.count : this.index.countIn(resources);
  }

  /** Ready when open, its data directory readable and writable, and the journal read up to date. */
  async probe(): Promise<void> {
    if (this.closed) throw new AppError("UPSTREAM_UNAVAILABLE", "the vector store is closed");
    this.directory?.checkAccess();
    this.refresh();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private commitDelete(documentId: string): number {
    if (!this.index.hasDocument(documentId)) return 0;
    this.directory?.append({ seq: this.nextSeq(), op: "delete", documentId });
    return this.index.remove(documentId);
  }

  private nextSeq(): number {
    return (this.directory?.seq ?? 0) + 1;
  }

  /**
   * Runs a change: with a data directory, under its write lock and after catching up with changes other
   * processes made, so the journal stays one sequence; the journal line is fsynced before the change is
   * applied in memory, so a resolved write survives a crash and a failed one changes nothing.
   */
  private write<T>(change: () => T): T {
    const directory = this.directory;
    if (!directory) return change();
    return directory.withWriteLock(() => {
      this.refresh();
      const result = change();
      if (directory.shouldCompact()) {
        try {
          directory.compact(this.index);
        } catch {
          // The change is already durable in the journal; compaction is retried after the next write.
        }
      }
      return result;
    });
  }

  /** Picks up changes another process appended to the journal, or reloads after its compaction. */
  private refresh(): void {
    const directory = this.directory;
    if (!directory) return;
    const update = directory.poll();
    if (update === "reload") {
      this.index = directory.load();
      return;
    }
    for (const record of update) directory.apply(this.index, record);
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("INTERNAL", "the vector store is closed");
  }
}

/** A Set, as the port says: a string or an array would iterate, but not as the caller meant. */
function checkSet(set: ReadonlySet<string> | undefined, name: "resources" | "containers"): void {
  if (set !== undefined && !(set instanceof Set)) throw new AppError("BAD_REQUEST", `${name} must be a Set`);
}
