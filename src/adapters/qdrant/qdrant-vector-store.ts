/**
 * The VectorStore port over Qdrant's REST API (@qdrant/js-client-rest). Each chunk is one point whose
 * payload carries everything the port returns (text, title, ids, resource, tenant, ACL metadata); the
 * point id is a UUID derived from the chunk id, which Qdrant requires.
 *
 * Searches are exact (`params.exact`), so results equal the embedded store's exact scan, and are cut in the
 * port's total order (score, then chunk id), which Qdrant does not keep for equal scores (`rankedPage`);
 * the resource set is always a `must` filter (never `should`, which Qdrant 1.19 merges into prefetches
 * wrongly). Every transport error, timeout, 5xx or malformed answer is `UPSTREAM_UNAVAILABLE`. Verified
 * against a real Qdrant v1.18.3 by the contract suite, the leak table and the fault tests.
 *
 * The container pre-filter needs "resource in `resources` OR a container key in `containers`" in one
 * `must` condition, so every point also carries `acl`, a keyword array (indexed like the other fields) of
 * its resource, tagged `resource=<resource>`, and its container keys (`containerKeys`); a scoped search
 * matches `acl` against any of the tagged resources and the container keys. The tag is needed because a
 * document's container key `document:<id>` is also spelled like its resource: untagged, asking for the
 * resource `document:x` would also reach the chunks of x's narrower sections. A search with `resources`
 * alone keeps matching the `resource` field. Points written before `acl` existed have none, so a search
 * with `containers` never returns them (fail closed: they are missed, never leaked); re-ingesting their
 * documents writes it. Whatever Qdrant answers, every result is checked against the requested scope again.
 *
 * Point reads and writes (search, retrieve by id, count, upsert, delete) go through `undici.request` on a
 * keep-alive agent of the store's own, not through the client: the client sends them with `fetch`, and a
 * `fetch` to Qdrant carrying more than a couple of kilobytes (a page of passages, a batch of vectors) waits
 * about 40 ms on loopback, each time: 20 times the search itself (measured by bench:retrieval). The client
 * keeps the collection calls (create, inspect, index), made once at start.
 */
import { createHash } from "node:crypto";
import { QdrantClient } from "@qdrant/js-client-rest";
import { Agent, request } from "undici";
import { z } from "zod";
import {
  type Chunk,
  type ChunkMetadata,
  containerKeys,
  type EmbeddedChunk,
  type ScoredChunk,
} from "../../core/chunk.ts";
import { AppError } from "../../core/errors.ts";
import type { VectorSearchRequest, VectorStore } from "../../ports/vector-store.ts";

export interface QdrantVectorStoreOptions {
  readonly url: string;
  readonly apiKey?: string;
  readonly collection: string;
  /** The embedder's vector size; an existing collection of another size is refused. */
  readonly dimensions: number;
  /** Every request's deadline (default 5,000 ms). */
  readonly timeoutMs?: number;
  /** Written into every point as `tenant_id` (indexed with `is_tenant`); default "default". */
  readonly tenantId?: string;
  /** Points per upsert call (default 256). */
  readonly batchSize?: number;
  /**
   * A collection this creates: its shards (default 1), replicas per shard (default 1) and the replicas
   * that must apply a write before Qdrant acknowledges it (default 1). An existing collection must have
   * this replication factor and write consistency factor, or it is refused.
   */
  readonly shards?: number;
  readonly replicationFactor?: number;
  readonly writeConsistencyFactor?: number;
  /**
   * How many replicas of each shard answer every read (default 1). Above 1 Qdrant keeps only the points
   * every asked replica returned, which can cut a search short while a write is under way: a search
   * window that comes back short is then checked against a count, and a shortened one fails.
   */
  readonly readConsistency?: number | "majority" | "quorum" | "all";
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_BATCH_SIZE = 256;
const SCROLL_PAGE = 1_000;
/** Keyword-indexed payload fields: what searches and deletes filter by. */
const INDEXED_FIELDS = [
  "resource",
  "document_id",
  "tenant_id",
  "collection",
  "customer",
  "owner",
  "acl",
] as const;

const payloadSchema = z.object({
  chunk_id: z.string(),
  resource: z.string(),
  document_id: z.string(),
  section_id: z.string().nullish(),
  title: z.string(),
  text: z.string(),
  ordinal: z.number().int(),
  tenant_id: z.string(),
  collection: z.string(),
  owner: z.string(),
  customer: z.string().nullish(),
});
const pointIdSchema = z.union([z.string(), z.number()]);
const scoredPointSchema = z.object({ id: pointIdSchema, score: z.number(), payload: payloadSchema });
type ScoredPoint = z.infer<typeof scoredPointSchema>;
/** A search result that carries only the chunk id: what a wide window needs to place each point. */
const rankedPointSchema = z.object({
  id: pointIdSchema,
  score: z.number(),
  payload: z.object({ chunk_id: z.string() }),
});
type RankedPoint = z.infer<typeof rankedPointSchema>;
const pointSchema = z.object({ payload: payloadSchema });
const idPointSchema = z.object({ id: pointIdSchema, payload: payloadSchema });

export async function createQdrantVectorStore(options: QdrantVectorStoreOptions): Promise<VectorStore> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new QdrantClient({
    url: options.url,
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
    // The client's own timeout is in milliseconds; each call also passes an AbortSignal-free deadline.
    timeout: timeoutMs,
    checkCompatibility: false,
  });
  const store = new QdrantVectorStore(client, new QdrantHttp(options), options, timeoutMs);
  await store.ensureCollection();
  return store;
}

class QdrantVectorStore implements VectorStore {
  private closed = false;
  private readonly tenantId: string;
  private readonly batchSize: number;
  private readonly cluster: {
    readonly replicationFactor: number;
    readonly writeConsistencyFactor: number;
    readonly readConsistency: number | "majority" | "quorum" | "all";
  };
  /** Whether Qdrant answers a read from several replicas of a shard, keeping what they all returned. */
  private readonly intersects: boolean;

  constructor(
    private readonly client: QdrantClient,
    private readonly http: QdrantHttp,
    private readonly options: QdrantVectorStoreOptions,
    private readonly timeoutMs: number,
  ) {
    this.tenantId = options.tenantId ?? "default";
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.cluster = {
      replicationFactor: options.replicationFactor ?? 1,
      writeConsistencyFactor: options.writeConsistencyFactor ?? 1,
      readConsistency: options.readConsistency ?? 1,
    };
    this.intersects = this.cluster.readConsistency !== 1;
    this.readParams = { consistency: String(this.cluster.readConsistency) };
  }

  /** The query string of every read: the configured read consistency. */
  private readonly readParams: Readonly<Record<string, string>>;

  /**
   * Creates the collection and its payload indexes when missing; refuses one of another vector size. Only
   * the missing indexes are created (each is a write Qdrant applies to every segment). Several clearance
   * replicas may start at once: a collection another one created meanwhile is used, not an error.
   */
  async ensureCollection(): Promise<void> {
    const { collection, dimensions } = this.options;
    const { replicationFactor, writeConsistencyFactor } = this.cluster;
    const exists = await this.call("checking the collection", () => this.client.collectionExists(collection));
    let indexed = new Set<string>();
    if (!exists.exists) {
      try {
        await this.call("creating the collection", () =>
          this.client.createCollection(collection, {
            vectors: { size: dimensions, distance: "Cosine" },
            shard_number: this.options.shards ?? 1,
            replication_factor: replicationFactor,
            write_consistency_factor: writeConsistencyFactor,
          }),
        );
      } catch (error) {
        const now = await this.call("checking the collection", () =>
          this.client.collectionExists(collection),
        );
        if (!now.exists) throw error;
        indexed = await this.checkCollection();
      }
    } else {
      indexed = await this.checkCollection();
    }
    for (const field of INDEXED_FIELDS) {
      if (indexed.has(field)) continue;
      await this.call(`indexing ${field}`, () =>
        this.client.createPayloadIndex(collection, {
          wait: true,
          field_name: field,
          field_schema: field === "tenant_id" ? { type: "keyword", is_tenant: true } : "keyword",
        }),
      );
    }
  }

  /** Refuses a collection of another vector size or distance; resolves the fields it has keyword indexes on. */
  private async checkCollection(): Promise<Set<string>> {
    const { collection, dimensions } = this.options;
    const info = await this.call("reading the collection", () => this.client.getCollection(collection));
    const vectors = info.config?.params?.vectors as { size?: number; distance?: string } | undefined;
    if (vectors?.size !== dimensions || vectors?.distance !== "Cosine") {
      throw new AppError(
        "BAD_REQUEST",
        `Qdrant collection ${collection} holds ${vectors?.distance ?? "unknown"} vectors of size ` +
          `${vectors?.size ?? "unknown"}, but the embedder makes cosine vectors of size ${dimensions}: ` +
          "set QDRANT_COLLECTION to another collection, or use the embedder it was made with",
      );
    }
    const params = info.config?.params as
      | { replication_factor?: number | null; write_consistency_factor?: number | null }
      | undefined;
    // Qdrant's defaults when a collection does not say.
    const replication = params?.replication_factor ?? 1;
    const writeConsistency = params?.write_consistency_factor ?? 1;
    const wanted = this.cluster;
    if (replication !== wanted.replicationFactor || writeConsistency !== wanted.writeConsistencyFactor) {
      // Serving with fewer copies, or acknowledging writes on fewer replicas, than configured would break
      // the durability the configuration promises; more would make writes fail where they should not.
      throw new AppError(
        "BAD_REQUEST",
        `Qdrant collection ${collection} has replication factor ${replication} and write consistency ` +
          `factor ${writeConsistency}, but QDRANT_REPLICATION_FACTOR is ${wanted.replicationFactor} and ` +
          `QDRANT_WRITE_CONSISTENCY_FACTOR is ${wanted.writeConsistencyFactor}: change the settings, or ` +
          "the collection (PATCH /collections/<name> with params, and replicate its shards)",
      );
    }
    const schema = (info.payload_schema ?? {}) as Record<string, { data_type?: string } | undefined>;
    return new Set(
      Object.entries(schema)
        .filter(([, index]) => index?.data_type === "keyword")
        .map(([field]) => field),
    );
  }

  /**
   * Qdrant has no transaction over several operations: the new chunks are upserted first, then the
   * document's chunks that are not among them are deleted. A failure in between leaves both (each with the
   * resource it was written with, so nothing becomes readable that was not), and a retry completes it.
   */
  async replaceDocument(documentId: string, chunks: readonly EmbeddedChunk[]): Promise<void> {
    this.assertOpen();
    for (const chunk of chunks) {
      if (chunk.documentId !== documentId) {
        throw new AppError(
          "BAD_REQUEST",
          `chunk ${chunk.id} belongs to ${chunk.documentId}, not ${documentId}`,
        );
      }
      if (chunk.vector.length !== this.options.dimensions) {
        throw new AppError(
          "BAD_REQUEST",
          `chunk ${chunk.id} has a vector of size ${chunk.vector.length}, not ${this.options.dimensions}`,
        );
      }
    }
    for (let start = 0; start < chunks.length; start += this.batchSize) {
      const batch = chunks.slice(start, start + this.batchSize);
      await this.call("writing chunks", (signal) =>
        this.http.send(
          "PUT",
          "points",
          {
            points: batch.map((chunk) => ({
              id: pointId(chunk.id),
              vector: Array.from(chunk.vector),
              payload: this.payloadOf(chunk),
            })),
          },
          { wait: "true" },
          signal,
        ),
      );
    }
    await this.call("deleting replaced chunks", (signal) =>
      this.http.send(
        "POST",
        "points/delete",
        {
          filter: {
            must: [this.tenantCondition(), { key: "document_id", match: { value: documentId } }],
            ...(chunks.length === 0
              ? {}
              : { must_not: [{ has_id: chunks.map((chunk) => pointId(chunk.id)) }] }),
          },
        },
        { wait: "true" },
        signal,
      ),
    );
  }

  /**
   * A payload update (`set_payload`, `wait: true`), one call per resource of the document since each
   * chunk's `acl` names its own resource; no vector is sent or recomputed. Not atomic across the calls:
   * in between, some chunks carry the old metadata, which only makes the container pre-filter miss them
   * (never admit them: the authorizer decides every candidate).
   */
  async updateDocumentMetadata(documentId: string, metadata: ChunkMetadata): Promise<number> {
    const chunks = await this.documentChunks(documentId);
    const byResource = new Map<string, Chunk[]>();
    for (const chunk of chunks) {
      const group = byResource.get(chunk.resource) ?? [];
      group.push(chunk);
      byResource.set(chunk.resource, group);
    }
    let changed = 0;
    for (const [resource, group] of byResource) {
      const stale = group.filter((chunk) => !sameMetadata(chunk.metadata, metadata));
      if (stale.length === 0) continue;
      await this.call("updating chunk metadata", () =>
        this.client.setPayload(this.options.collection, {
          wait: true,
          points: stale.map((chunk) => pointId(chunk.id)),
          payload: {
            collection: metadata.collection,
            owner: metadata.owner,
            customer: metadata.customer ?? null,
            acl: [aclResource(resource), ...containerKeys({ documentId, metadata })],
          },
        }),
      );
      changed += stale.length;
    }
    return changed;
  }

  async presentChunks(chunkIds: readonly string[]): Promise<ReadonlySet<string>> {
    if (chunkIds.length === 0) return new Set();
    const points = await this.call("reading chunks by id", () =>
      this.client.retrieve(this.options.collection, {
        ids: chunkIds.map(pointId),
        with_payload: ["chunk_id", "tenant_id"],
        with_vector: false,
      }),
    );
    const parsed = this.parse(
      z.array(z.object({ payload: z.object({ chunk_id: z.string(), tenant_id: z.string() }) })),
      points,
      "a read by id",
    );
    const wanted = new Set(chunkIds);
    return new Set(
      parsed
        .filter((point) => point.payload.tenant_id === this.tenantId && wanted.has(point.payload.chunk_id))
        .map((point) => point.payload.chunk_id),
    );
  }

  async deleteDocument(documentId: string): Promise<number> {
    const filter = { must: [this.tenantCondition(), { key: "document_id", match: { value: documentId } }] };
    const counted = await this.countPoints("counting a document's chunks", filter);
    if (counted.count === 0) return 0;
    await this.call("deleting a document", (signal) =>
      this.http.send("POST", "points/delete", { filter }, { wait: "true" }, signal),
    );
    return counted.count;
  }

  async search(request: VectorSearchRequest): Promise<readonly ScoredChunk[]> {
    this.assertOpen();
    const offset = request.offset ?? 0;
    if (!Number.isSafeInteger(request.k) || request.k < 0) {
      throw new AppError("BAD_REQUEST", `k must be a non-negative integer, got ${request.k}`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new AppError("BAD_REQUEST", `offset must be a non-negative integer, got ${offset}`);
    }
    if (request.vector.length !== this.options.dimensions) {
      throw new AppError("BAD_REQUEST", `the query vector has size ${request.vector.length}`);
    }
    const { resources, containers } = request;
    checkSet(resources, "resources");
    checkSet(containers, "containers");
    if (request.lexical !== undefined) {
      // Not built yet: Qdrant's own IDF modifier counts every point of the collection, the leak that
      // core/lexical.ts is designed against; an exact fused ranking needs the adapter to score the lexical
      // half itself. Refusing keeps the port's promise (never a silent fallback to cosine).
      throw new AppError("BAD_REQUEST", "hybrid search is not available on the Qdrant store");
    }
    // As the port says (and Qdrant refuses a limit of 0): k = 0 asks for nothing.
    if (request.k === 0) return [];
    const must: object[] = [this.tenantCondition()];
    if (containers !== undefined) {
      if (containers.size === 0 && (resources === undefined || resources.size === 0)) return [];
      const tagged = resources === undefined ? [] : [...resources].map(aclResource);
      must.push({ key: "acl", match: { any: [...tagged, ...containers] } });
    } else if (resources !== undefined) {
      if (resources.size === 0) return [];
      must.push({ key: "resource", match: { any: [...resources] } });
    }
    const inScope = (chunk: { resource: string; documentId: string; metadata: ChunkMetadata }) =>
      (resources === undefined && containers === undefined) ||
      resources?.has(chunk.resource) === true ||
      (containers !== undefined && containerKeys(chunk).some((key) => containers.has(key)));
    const results = await this.rankedPage({ must }, request.vector, offset, request.k, inScope);
    for (const result of results) {
      if (!inScope(result))
        throw new AppError("INTERNAL", "Qdrant returned a chunk outside the requested scope");
    }
    return results;
  }

  /**
   * The page [offset, offset + k) of the ranking in the port's total order (score descending, then chunk
   * id ascending). Qdrant orders equal scores as it likes, differently from one request to the next, and
   * picks which of them fill its `limit`; so the page is read from a window that reaches past both of its
   * edges into a strictly better score before it and a strictly worse one after it (or the ranking's
   * start and end). Every run of equal scores that touches the page then lies whole inside one answer,
   * and sorting that answer by (score, chunk id) puts each chunk where the total order does.
   *
   * The first window has one point either side and carries the payloads: one request settles a page whose
   * edges fall between different scores, the usual case. Past that the margins grow fast, since a run of
   * equal scores is often long (every chunk sharing nothing with the query scores 0), and the windows carry
   * only chunk ids; the page's payloads are then read by point id. A page whose points changed in between
   * (a document replaced or deleted meanwhile: a point gone, or no longer in the tenant or scope) is
   * searched again, and after three such changes in a row the search fails rather than return a page that
   * is not one ranking.
   */
  private async rankedPage(
    filter: { must: object[] },
    vector: Float32Array,
    offset: number,
    k: number,
    inScope: (chunk: Omit<ScoredChunk, "score">) => boolean,
  ): Promise<ScoredChunk[]> {
    const query = Array.from(vector);
    for (let attempt = 1; attempt <= 3; attempt++) {
      for (let margin = 1; ; margin = margin === 1 ? Math.max(16, 2 * k) : margin * 8) {
        const withPayload = margin === 1;
        const from = Math.max(0, offset - margin);
        const limit = offset + k + margin - from;
        const response = await this.call("searching", (signal) =>
          this.http.send(
            "POST",
            "points/query",
            {
              query,
              limit,
              offset: from,
              filter,
              params: { exact: true },
              with_payload: withPayload ? true : ["chunk_id"],
              with_vector: false,
            },
            this.readParams,
            signal,
          ),
        );
        const points = withPayload
          ? this.parse(z.object({ points: z.array(scoredPointSchema) }), response, "a search").points
          : this.parse(z.object({ points: z.array(rankedPointSchema) }), response, "a search").points;
        for (let i = 1; i < points.length; i++) {
          // The window argument needs Qdrant's order by score; anything else is a broken answer.
          if ((points[i] as RankedPoint).score > (points[i - 1] as RankedPoint).score) {
            throw new AppError("UPSTREAM_UNAVAILABLE", "Qdrant answered a search out of score order");
          }
        }
        const first = offset - from;
        if (points.length <= first) return [];
        const last = Math.min(points.length, first + k) - 1;
        const startClosed =
          from === 0 || (points[0] as RankedPoint).score > (points[first] as RankedPoint).score;
        const endClosed =
          points.length < limit || (points.at(-1) as RankedPoint).score < (points[last] as RankedPoint).score;
        if (!startClosed || !endClosed) continue;
        if (points.length < limit && this.intersects)
          await this.assertRankingEnds(filter, from + points.length);
        const page = points
          .sort((a, b) => b.score - a.score || compareIds(a.payload.chunk_id, b.payload.chunk_id))
          .slice(first, first + k);
        if (withPayload) {
          return (page as ScoredPoint[]).map((point) => ({ ...chunkOf(point.payload), score: point.score }));
        }
        const chunks = await this.pageChunks(page, inScope);
        if (chunks !== undefined) return chunks;
        break; // the page changed under the search: search again
      }
    }
    throw new AppError("UPSTREAM_UNAVAILABLE", "Qdrant's chunks kept changing under a search");
  }

  /** The page's chunks by point id, or undefined when one is gone or no longer in the tenant or scope. */
  private async pageChunks(
    page: readonly RankedPoint[],
    inScope: (chunk: Omit<ScoredChunk, "score">) => boolean,
  ): Promise<ScoredChunk[] | undefined> {
    if (page.length === 0) return [];
    const response = await this.call("reading a page of chunks", (signal) =>
      this.http.send(
        "POST",
        "points",
        { ids: page.map((point) => point.id), with_payload: true, with_vector: false },
        this.readParams,
        signal,
      ),
    );
    const read = this.parse(z.array(idPointSchema), response, "a read of chunks by id");
    const byId = new Map(read.map((point) => [String(point.id), point.payload]));
    const chunks: ScoredChunk[] = [];
    for (const point of page) {
      const payload = byId.get(String(point.id));
      if (payload === undefined || payload.chunk_id !== point.payload.chunk_id) return undefined;
      const chunk = chunkOf(payload);
      if (payload.tenant_id !== this.tenantId || !inScope(chunk)) return undefined;
      chunks.push({ ...chunk, score: point.score });
    }
    return chunks;
  }

  async listDocuments(): Promise<readonly string[]> {
    const ids = new Set<string>();
    await this.scrollAll({ must: [this.tenantCondition()] }, (payload) => ids.add(payload.document_id));
    return [...ids].sort();
  }

  async documentChunks(documentId: string): Promise<readonly Chunk[]> {
    const chunks: Chunk[] = [];
    await this.scrollAll(
      { must: [this.tenantCondition(), { key: "document_id", match: { value: documentId } }] },
      (payload) => chunks.push(chunkOf(payload)),
    );
    return chunks.sort((a, b) => a.ordinal - b.ordinal);
  }

  async count(resources?: ReadonlySet<string>): Promise<number> {
    if (resources !== undefined && resources.size === 0) return 0;
    const must: object[] = [this.tenantCondition()];
    if (resources !== undefined) must.push({ key: "resource", match: { any: [...resources] } });
    const counted = await this.countPoints("counting chunks", { must });
    return counted.count;
  }

  async probe(): Promise<void> {
    this.assertOpen();
    await this.call("the readiness probe", () => this.client.collectionExists(this.options.collection));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.http.close();
  }

  private async scrollAll(
    filter: { must: object[] },
    visit: (payload: z.infer<typeof payloadSchema>) => void,
  ): Promise<void> {
    this.assertOpen();
    let offset: string | number | undefined;
    const seen = new Set<string | number>();
    do {
      const page = await this.call("reading chunks", () =>
        this.client.scroll(this.options.collection, {
          consistency: this.cluster.readConsistency,
          filter,
          limit: SCROLL_PAGE,
          with_payload: true,
          with_vector: false,
          ...(offset === undefined ? {} : { offset }),
        }),
      );
      const parsed = this.parse(
        z.object({
          points: z.array(pointSchema),
          next_page_offset: z.union([z.string(), z.number()]).nullish(),
        }),
        page,
        "a scroll",
      );
      for (const point of parsed.points) visit(point.payload);
      offset = parsed.next_page_offset ?? undefined;
      if (offset !== undefined) {
        // A page offset that comes back would loop forever; fail rather than return a partial list.
        if (seen.has(offset)) throw new AppError("UPSTREAM_UNAVAILABLE", "Qdrant repeated a scroll offset");
        seen.add(offset);
      }
    } while (offset !== undefined);
  }

  /** An exact count at the store's read consistency (the client's own `count` cannot pass one). */
  private async countPoints(what: string, filter: { must: object[] }): Promise<{ count: number }> {
    const response = await this.call(what, (signal) =>
      this.http.send("POST", "points/count", { filter, exact: true }, this.readParams, signal),
    );
    return this.parse(z.object({ count: z.number().int().nonnegative() }), response, "a count");
  }

  /**
   * A search read from several replicas keeps only the points all of them returned (Qdrant's resolution
   * for any read consistency above 1), so a window shorter than its limit may be short because replicas
   * disagreed (a write under way, or one that failed half-applied), not because the ranking ended there.
   * An exact count at the same consistency (per shard the smallest replica's) tells them apart: the
   * ranking must hold no more points than the window reached; if it does, fail rather than cut the page.
   */
  private async assertRankingEnds(filter: { must: object[] }, reached: number): Promise<void> {
    const { count } = await this.countPoints("counting a search's scope", filter);
    if (count > reached) {
      throw new AppError(
        "UPSTREAM_UNAVAILABLE",
        "Qdrant's replicas disagree: a search came back shorter than the points it matches",
      );
    }
  }

  private payloadOf(chunk: EmbeddedChunk): Record<string, unknown> {
    return {
      chunk_id: chunk.id,
      resource: chunk.resource,
      document_id: chunk.documentId,
      section_id: chunk.sectionId ?? null,
      title: chunk.title,
      text: chunk.text,
      ordinal: chunk.ordinal,
      tenant_id: this.tenantId,
      collection: chunk.metadata.collection,
      owner: chunk.metadata.owner,
      customer: chunk.metadata.customer ?? null,
      acl: [aclResource(chunk.resource), ...containerKeys(chunk)],
    };
  }

  private tenantCondition() {
    return { key: "tenant_id", match: { value: this.tenantId } };
  }

  private parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new AppError("UPSTREAM_UNAVAILABLE", `Qdrant answered ${what} with an unexpected shape`, {
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  /**
   * One call with the store's deadline; any failure is UPSTREAM_UNAVAILABLE naming what was being done. The
   * signal aborts a read made through `reads` at the deadline (the client's calls end by its own timeout).
   */
  private async call<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.assertOpen();
    let timer: NodeJS.Timeout | undefined;
    const abort = new AbortController();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new AppError("UPSTREAM_UNAVAILABLE", `Qdrant did not answer ${what} in time`));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([run(abort.signal), deadline]);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError("UPSTREAM_UNAVAILABLE", `Qdrant failed ${what}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UPSTREAM_UNAVAILABLE", "the Qdrant vector store is closed");
  }
}

/**
 * Qdrant's point endpoints over `undici.request` (see the module's note on `fetch`): a JSON body to
 * `/collections/<collection>/<path>?<query>`, resolving the answer's `result`. A status other than 200, or
 * a body that is not JSON, throws (the caller maps it to UPSTREAM_UNAVAILABLE).
 */
class QdrantHttp {
  private readonly agent = new Agent({ connections: 25, keepAliveTimeout: 10_000 });
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(options: QdrantVectorStoreOptions) {
    this.base = `${options.url.replace(/\/+$/, "")}/collections/${encodeURIComponent(options.collection)}/`;
    this.headers = {
      "content-type": "application/json",
      ...(options.apiKey === undefined ? {} : { "api-key": options.apiKey }),
    };
  }

  async send(
    method: "POST" | "PUT",
    path: string,
    body: object,
    query: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<unknown> {
    const response = await request(`${this.base}${path}?${new URLSearchParams(query).toString()}`, {
      method,
      headers: this.headers,
      body: JSON.stringify(body),
      dispatcher: this.agent,
      signal,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      throw new Error(`Qdrant answered ${path} with HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    }
    return (JSON.parse(text) as { result?: unknown }).result;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Qdrant point ids are unsigned integers or UUIDs: a UUID (v8 layout) from the chunk id's SHA-256. */
export function pointId(chunkId: string): string {
  const hex = createHash("sha256").update(chunkId).digest("hex");
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A resource as an `acl` entry: tagged, since `document:<id>` is also a container key (every chunk of the
 * document, sections included) while the resource `document:<id>` excludes the sections. `=` occurs in
 * no container key (Permify type names and ids never hold it), so the two never meet.
 */
function aclResource(resource: string): string {
  return `resource=${resource}`;
}

/** A Set, as the port says: a string or an array would iterate, but not as the caller meant. */
function checkSet(set: ReadonlySet<string> | undefined, name: "resources" | "containers"): void {
  if (set !== undefined && !(set instanceof Set)) throw new AppError("BAD_REQUEST", `${name} must be a Set`);
}

function sameMetadata(a: ChunkMetadata, b: ChunkMetadata): boolean {
  return (
    a.collection === b.collection && a.owner === b.owner && (a.customer ?? null) === (b.customer ?? null)
  );
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function chunkOf(payload: z.infer<typeof payloadSchema>): Omit<ScoredChunk, "score"> {
  return {
    id: payload.chunk_id,
    resource: payload.resource,
    documentId: payload.document_id,
    ...(payload.section_id ? { sectionId: payload.section_id } : {}),
    title: payload.title,
    text: payload.text,
    ordinal: payload.ordinal,
    metadata: {
      collection: payload.collection,
      owner: payload.owner,
      ...(payload.customer ? { customer: payload.customer } : {}),
    },
  };
}
