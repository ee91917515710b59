/**
 * The in-memory state of the embedded vector store, without any I/O.
 *
 * Vectors live in one growable Float32Array, `stride` floats per slot (`dimensions` rounded up to a
 * multiple of 4 and zero-padded, so the unrolled dot product needs no remainder loop, which V8 compiles
 * about 1.5x slower); a freed slot is reused by the
 * next insert, and the slab is compacted when most of it is free. Each slot knows the index of its
 * chunk's resource, and each resource keeps a posting list of its slots, so that a search restricted to
 * a set of resources (the authorization pre-filter) costs what those resources hold, not what the store
 * holds, when they are few; when they are many, one sequential scan with a byte mask of allowed resources
 * is faster than hopping between postings.
 *
 * The container pre-filter (`containers` of a search: the keys of `containerKeys`, such as `collection:<id>`)
 * is resolved to resources the same way: each container key maps to the resources whose chunks carry it,
 * with a count of those chunks, kept up to date chunk by chunk as slots are placed and released (so a load,
 * a journal replay and a refresh rebuild it with the rest). A resource is normally all in or all out of a
 * container, since its chunks share their document's metadata; one whose count falls short (a section id
 * reused by documents with other metadata, or data written before metadata was checked) is "partial",
 * and its chunks are then checked one by one, so the filter stays exact whatever was stored.
 */
import { type Chunk, type ChunkMetadata, containerKeys, type ScoredChunk } from "../../core/chunk.ts";
import {
  type LexicalQuery,
  lexicalText,
  saturation,
  type TermCounts,
  termCounts,
} from "../../core/lexical.ts";
import { dot, TopK } from "./top-k.ts";

/** A stored chunk: an immutable copy of the caller's chunk, without its vector. */
export type StoredChunk = Chunk;

/** A document as written: chunks in ordinal order and their vectors back to back, already unit length. */
export interface DocumentContent {
  readonly chunks: readonly StoredChunk[];
  readonly vectors: Float32Array;
}

const FREE = -1;
/** Mask states while a container scope is resolved: every chunk of the resource, or only some of them. */
const WHOLE = 1;
const PARTIAL = 2;
const INITIAL_CAPACITY = 1_024;
/**
 * Postings are only scored on their own while they cover less than this share of the stored chunks.
 * Measured at 100k chunks: postings win clearly below 1% (0.1%: 0.12 ms against 0.35 ms), the two are
 * even at 10% while a document's slots are contiguous; above it the masked scan is preferred because it
 * reads the slab in order however fragmented the postings become, and the mask test costs ~2 ns a slot.
 */
const POSTINGS_SHARE = 0.1;
/** Compact the slab when at least this many slots are free and they outnumber the live ones. */
const COMPACT_MIN_FREE = 4_096;

export class VectorIndex {
  private capacity = 0;
  private vectors = new Float32Array(0);
  /** Resource index of each slot, or FREE. */
  private slotResource = new Int32Array(0);
  /** Position of each slot in its resource's posting list, for O(1) removal. */
  private slotPosting = new Int32Array(0);
  private slotChunk: (StoredChunk | undefined)[] = [];
  /** Slots [0, highWater) have been used; the scans stop there. */
  private highWater = 0;
  private freeSlots: number[] = [];
  private live = 0;

  private readonly resourceIndex = new Map<string, number>();
  private readonly resourceNames: string[] = [];
  private postings: number[][] = [];
  private freeResources: number[] = [];
  /** Scratch mask of allowed resource indices; always all zero between searches. */
  private mask = new Uint8Array(0);
  /** Container key -> resource index -> how many of that resource's chunks carry the key. */
  private readonly containerResources = new Map<string, Map<number, number>>();

  /**
   * Lexical postings, built on the first hybrid search (a dense-only store never pays for them) and kept
   * up to date slot by slot from then on: term -> slot -> frequency, and each slot's term counts.
   */
  private lexicalReady = false;
  private termPostings = new Map<string, TermPosting>();
  private slotTerms: (TermCounts | undefined)[] = [];
  /**
   * Scratch of each slot's lexical score during a hybrid search; all zero between searches, so a dense
   * search adds exactly 0 to every cosine.
   */
  private boost = new Float64Array(0);

  /** Slots of each document in ordinal order. */
  private readonly documents = new Map<string, number[]>();
  private readonly chunkSlot = new Map<string, number>();

  /** Floats per slot: `dimensions` rounded up to a multiple of 4. */
  readonly stride: number;

  constructor(
    readonly dimensions: number,
    capacity = INITIAL_CAPACITY,
  ) {
    this.stride = (dimensions + 3) & ~3;
    this.grow(Math.max(INITIAL_CAPACITY, capacity));
  }

  /**
   * An empty index with room for `count` chunks and the slab they go into, for loading a snapshot without
   * a second copy: the caller reads the vectors into `slab` (slot order), then calls `appendLoaded` for
   * each document in the same order.
   */
  static forLoad(dimensions: number, count: number): { index: VectorIndex; slab: Float32Array } {
    const index = new VectorIndex(dimensions, count);
    const slab =
      index.stride === dimensions
        ? index.vectors.subarray(0, count * dimensions)
        : new Float32Array(count * dimensions);
    return { index, slab };
  }

  /** Moves the rows of a `forLoad` slab into their padded slots, when the slab was not the index's own. */
  placeLoaded(slab: Float32Array): void {
    if (slab.buffer === this.vectors.buffer) return;
    const dims = this.dimensions;
    for (let row = 0; row * dims < slab.length; row++)
      this.vectors.set(slab.subarray(row * dims, (row + 1) * dims), row * this.stride);
  }

  /** Registers the next `chunks.length` slots, whose vectors are already in the slab, as `documentId`. */
  appendLoaded(documentId: string, chunks: readonly StoredChunk[]): void {
    if (this.documents.has(documentId)) throw new Error(`document ${documentId} appears twice`);
    if (this.highWater + chunks.length > this.capacity) throw new Error("more chunks than vectors");
    const slots: number[] = [];
    const keys = new ContainerKeyCache();
    for (const chunk of chunks) {
      if (this.chunkSlot.has(chunk.id)) throw new Error(`chunk ${chunk.id} appears twice`);
      const slot = this.highWater++;
      this.place(slot, chunk, keys.of(chunk));
      slots.push(slot);
    }
    this.live += slots.length;
    this.documents.set(documentId, slots);
  }

  get count(): number {
    return this.live;
  }

  /** How many chunks lie in `resources`. */
  countIn(resources: ReadonlySet<string>): number {
    let total = 0;
    for (const resource of resources) {
      const index = this.resourceIndex.get(resource);
      if (index !== undefined) total += (this.postings[index] as number[]).length;
    }
    return total;
  }

  /** The document that holds chunk `chunkId`, if any. */
  ownerOf(chunkId: string): string | undefined {
    const slot = this.chunkSlot.get(chunkId);
    return slot === undefined ? undefined : this.slotChunk[slot]?.documentId;
  }

  hasChunk(chunkId: string): boolean {
    return this.chunkSlot.has(chunkId);
  }

  /** The document's chunks and their vectors (a copy), as `replace` takes them; undefined without any. */
  documentContent(documentId: string): DocumentContent | undefined {
    const slots = this.documents.get(documentId);
    if (!slots || slots.length === 0) return undefined;
    const dims = this.dimensions;
    const vectors = new Float32Array(slots.length * dims);
    slots.forEach((slot, i) => {
      vectors.set(this.vectors.subarray(slot * this.stride, slot * this.stride + dims), i * dims);
    });
    return { chunks: slots.map((slot) => this.slotChunk[slot] as StoredChunk), vectors };
  }

  hasDocument(documentId: string): boolean {
    return this.documents.has(documentId);
  }

  documentIds(): string[] {
    return [...this.documents.keys()];
  }

  documentChunks(documentId: string): readonly StoredChunk[] {
    return (this.documents.get(documentId) ?? []).map((slot) => this.slotChunk[slot] as StoredChunk);
  }

  /** True when `documentId` already holds exactly `content`, vectors bit for bit. */
  holds(documentId: string, content: DocumentContent): boolean {
    const slots = this.documents.get(documentId) ?? [];
    if (slots.length !== content.chunks.length) return false;
    const dims = this.dimensions;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as number;
      if (!sameChunk(this.slotChunk[slot] as StoredChunk, content.chunks[i] as StoredChunk)) return false;
      const base = slot * this.stride;
      const other = i * dims;
      for (let d = 0; d < dims; d++) {
        if (!Object.is(this.vectors[base + d], content.vectors[other + d])) return false;
      }
    }
    return true;
  }

  /** Makes `content` the document's chunks. The caller has validated it, including chunk-id ownership. */
  replace(documentId: string, content: DocumentContent): void {
    this.remove(documentId);
    if (content.chunks.length === 0) return;
    const dims = this.dimensions;
    const slots: number[] = [];
    const keys = new ContainerKeyCache();
    for (let i = 0; i < content.chunks.length; i++) {
      const chunk = content.chunks[i] as StoredChunk;
      const slot = this.allocate();
      this.vectors.set(content.vectors.subarray(i * dims, (i + 1) * dims), slot * this.stride);
      this.place(slot, chunk, keys.of(chunk));
      slots.push(slot);
    }
    this.live += slots.length;
    this.documents.set(documentId, slots);
  }

  /** Removes the document's chunks; returns how many there were. */
  remove(documentId: string): number {
    const slots = this.documents.get(documentId);
    if (!slots) return 0;
    const keys = new ContainerKeyCache();
    for (const slot of slots) this.release(slot, keys);
    this.documents.delete(documentId);
    this.live -= slots.length;
    if (this.freeSlots.length >= COMPACT_MIN_FREE && this.freeSlots.length > this.live) this.compactSlots();
    return slots.length;
  }

  /**
   * The k best chunks for a unit-length `query`. With `resources` or `containers`, only chunks whose
   * resource is in `resources` or that carry a key in `containers` are ever scored (an absent set counts as
   * empty), so nothing outside them can be returned.
   */
  search(
    unitQuery: Float32Array,
    k: number,
    resources?: ReadonlySet<string>,
    containers?: ReadonlySet<string>,
    lexical?: LexicalQuery,
  ): ScoredChunk[] {
    const limit = Math.min(k, this.live);
    if (limit <= 0) return [];
    // Padded to the stride with zeros; float64 spares a conversion per element in the inner loop.
    const query = new Float64Array(this.stride);
    query.set(unitQuery);
    if (lexical === undefined) return this.searchScored(query, 1, limit, resources, containers);
    const touched = this.accumulateLexical(lexical);
    try {
      return this.searchScored(query, lexical.denseWeight, limit, resources, containers);
    } finally {
      // The scratch must be clean for the next search, whatever happened: a stale score would leak into it.
      const boost = this.boost;
      for (const slot of touched) boost[slot] = 0;
    }
  }

  /**
   * Adds every slot's lexical score (the sum over query terms, in their order, of weight × saturated
   * frequency) into `boost`, and returns the slots it touched. Only postings of the query's terms are read.
   */
  private accumulateLexical(lexical: LexicalQuery): number[] {
    this.ensureLexical();
    const boost = this.boost;
    const touched: number[] = [];
    for (const { term, weight } of lexical.terms) {
      const posting = this.termPostings.get(term);
      if (posting === undefined) continue;
      const { slots, tfs, lengths } = packed(posting, this.slotTerms);
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i] as number;
        if (boost[slot] === 0) touched.push(slot);
        boost[slot] =
          (boost[slot] as number) + weight * saturation(lexical, tfs[i] as number, lengths[i] as number);
      }
    }
    return touched;
  }

  private ensureLexical(): void {
    if (this.lexicalReady) return;
    this.lexicalReady = true;
    this.termPostings = new Map();
    this.slotTerms = [];
    for (let slot = 0; slot < this.highWater; slot++) {
      const chunk = this.slotChunk[slot];
      if (chunk !== undefined) this.indexTerms(slot, chunk);
    }
  }

  private indexTerms(slot: number, chunk: StoredChunk): void {
    const counts = termCounts(lexicalText(chunk));
    this.slotTerms[slot] = counts;
    counts.terms.forEach((term, i) => {
      let posting = this.termPostings.get(term);
      if (posting === undefined) {
        posting = { bySlot: new Map(), packed: undefined };
        this.termPostings.set(term, posting);
      }
      posting.bySlot.set(slot, counts.frequencies[i] as number);
      posting.packed = undefined;
    });
  }

  private unindexTerms(slot: number): void {
    const counts = this.slotTerms[slot];
    if (counts === undefined) return;
    for (const term of counts.terms) {
      const posting = this.termPostings.get(term);
      if (posting?.bySlot.delete(slot)) {
        posting.packed = undefined;
        if (posting.bySlot.size === 0) this.termPostings.delete(term);
      }
    }
    this.slotTerms[slot] = undefined;
  }

  /** The search proper: every in-scope slot scores `alpha × cosine + boost[slot]`. */
  private searchScored(
    query: Float64Array,
    alpha: number,
    limit: number,
    resources: ReadonlySet<string> | undefined,
    containers: ReadonlySet<string> | undefined,
  ): ScoredChunk[] {
    const top = new TopK(limit, (slot) => (this.slotChunk[slot] as StoredChunk).id);
    const scoring: Scoring = { query, alpha, boost: this.boost };
    if (containers !== undefined) {
      this.scanScope(scoring, top, resources, containers);
    } else if (resources === undefined) {
      this.scanAll(scoring, top);
    } else {
      const allowed: number[] = [];
      let covered = 0;
      for (const resource of resources) {
        const index = this.resourceIndex.get(resource);
        if (index === undefined) continue;
        allowed.push(index);
        covered += (this.postings[index] as number[]).length;
      }
      if (covered === 0) return [];
      if (covered < this.live * POSTINGS_SHARE) this.scanPostings(scoring, top, allowed);
      else this.scanMasked(scoring, top, allowed);
    }
    return top.drain().map(({ slot, score }) => ({ ...(this.slotChunk[slot] as StoredChunk), score }));
  }

  /** Every document with its chunks and a view of each chunk's vector, for snapshots. */
  *entries(): Generator<{ documentId: string; chunks: readonly StoredChunk[]; slots: readonly number[] }> {
    for (const [documentId, slots] of this.documents) {
      yield { documentId, chunks: slots.map((slot) => this.slotChunk[slot] as StoredChunk), slots };
    }
  }

  vectorOf(slot: number): Float32Array {
    const offset = slot * this.stride;
    return this.vectors.subarray(offset, offset + this.dimensions);
  }

  private scanAll(scoring: Scoring, top: TopK): void {
    const { query, alpha, boost } = scoring;
    const stride = this.stride;
    const vectors = this.vectors;
    const slotResource = this.slotResource;
    const end = this.highWater;
    for (let slot = 0, offset = 0; slot < end; slot++, offset += stride) {
      if (slotResource[slot] === FREE) continue;
      const score = alpha * dot(vectors, offset, query, stride) + (boost[slot] as number);
      if (score >= top.threshold) top.offer(slot, score);
    }
  }

  private scanMasked(scoring: Scoring, top: TopK, allowed: readonly number[]): void {
    const mask = this.mask;
    for (const index of allowed) mask[index] = 1;
    try {
      scanWithMask(this.vectors, this.stride, this.slotResource, this.highWater, mask, scoring, top);
    } finally {
      // The mask must be clean for the next search, whatever happened: a stale 1 would let it through.
      for (const index of allowed) mask[index] = 0;
    }
  }

  /**
   * A search restricted to `resources` ∪ the resources in `containers`: the scope is resolved into the mask
   * (deduplicated there, as a resource may be reached through several keys), then scanned by postings or
   * by the masked scan on the same share rule as a resource set. Partial resources are left out of both
   * and scanned chunk by chunk against `containers`.
   */
  private scanScope(
    scoring: Scoring,
    top: TopK,
    resources: ReadonlySet<string> | undefined,
    containers: ReadonlySet<string>,
  ): void {
    const mask = this.mask;
    const postings = this.postings;
    const touched: number[] = [];
    try {
      let covered = 0;
      if (resources !== undefined) {
        for (const resource of resources) {
          const index = this.resourceIndex.get(resource);
          if (index === undefined || mask[index] !== 0) continue;
          mask[index] = WHOLE;
          touched.push(index);
          covered += (postings[index] as number[]).length;
        }
      }
      for (const key of containers) {
        const members = this.containerResources.get(key);
        if (members === undefined) continue;
        for (const [index, carrying] of members) {
          const state = mask[index];
          if (state === WHOLE) continue;
          const whole = carrying === (postings[index] as number[]).length;
          if (state === PARTIAL) {
            if (whole) mask[index] = WHOLE;
            continue;
          }
          mask[index] = whole ? WHOLE : PARTIAL;
          touched.push(index);
          covered += (postings[index] as number[]).length;
        }
      }
      if (covered === 0) return;
      const partial = touched.filter((index) => mask[index] === PARTIAL);
      if (covered < this.live * POSTINGS_SHARE) {
        for (const index of touched) {
          if (mask[index] === WHOLE)
            scanSlots(this.vectors, this.stride, postings[index] as number[], scoring, top);
        }
      } else {
        for (const index of partial) mask[index] = 0;
        scanWithMask(this.vectors, this.stride, this.slotResource, this.highWater, mask, scoring, top);
      }
      for (const index of partial) this.scanPartial(scoring, top, index, containers);
    } finally {
      // The mask must be clean for the next search, whatever happened: a stale 1 would let it through.
      for (const index of touched) mask[index] = 0;
    }
  }

  /** The chunks of one resource that carry a key in `containers`. */
  private scanPartial(scoring: Scoring, top: TopK, index: number, containers: ReadonlySet<string>): void {
    const { query, alpha, boost } = scoring;
    const stride = this.stride;
    for (const slot of this.postings[index] as number[]) {
      const chunk = this.slotChunk[slot] as StoredChunk;
      if (!aclContainers(chunk).some((key) => containers.has(key))) continue;
      const score = alpha * dot(this.vectors, slot * stride, query, stride) + (boost[slot] as number);
      if (score >= top.threshold) top.offer(slot, score);
    }
  }

  private scanPostings(scoring: Scoring, top: TopK, allowed: readonly number[]): void {
    for (const index of allowed)
      scanSlots(this.vectors, this.stride, this.postings[index] as number[], scoring, top);
  }

  private place(slot: number, chunk: StoredChunk, keys: readonly string[]): void {
    const resource = this.internResource(chunk.resource);
    const posting = this.postings[resource] as number[];
    this.slotResource[slot] = resource;
    this.slotPosting[slot] = posting.length;
    posting.push(slot);
    this.slotChunk[slot] = chunk;
    this.chunkSlot.set(chunk.id, slot);
    if (this.lexicalReady) this.indexTerms(slot, chunk);
    for (const key of keys) {
      let members = this.containerResources.get(key);
      if (members === undefined) {
        members = new Map();
        this.containerResources.set(key, members);
      }
      members.set(resource, (members.get(resource) ?? 0) + 1);
    }
  }

  private allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.highWater === this.capacity) this.grow(this.capacity * 2);
    return this.highWater++;
  }

  private release(slot: number, keys: ContainerKeyCache): void {
    const resource = this.slotResource[slot] as number;
    const chunk = this.slotChunk[slot] as StoredChunk;
    for (const key of keys.of(chunk)) {
      const members = this.containerResources.get(key) as Map<number, number>;
      const carrying = (members.get(resource) as number) - 1;
      if (carrying > 0) members.set(resource, carrying);
      else if (members.delete(resource) && members.size === 0) this.containerResources.delete(key);
    }
    const posting = this.postings[resource] as number[];
    const position = this.slotPosting[slot] as number;
    const last = posting.pop() as number;
    if (last !== slot) {
      posting[position] = last;
      this.slotPosting[last] = position;
    }
    if (posting.length === 0) this.releaseResource(resource);
    if (this.lexicalReady) this.unindexTerms(slot);
    this.chunkSlot.delete(chunk.id);
    this.slotChunk[slot] = undefined;
    this.slotResource[slot] = FREE;
    this.freeSlots.push(slot);
  }

  private internResource(resource: string): number {
    const known = this.resourceIndex.get(resource);
    if (known !== undefined) return known;
    let index = this.freeResources.pop();
    if (index === undefined) {
      index = this.postings.length;
      this.postings.push([]);
      this.resourceNames.push(resource);
      if (index >= this.mask.length) {
        const mask = new Uint8Array(Math.max(64, this.mask.length * 2));
        mask.set(this.mask);
        this.mask = mask;
      }
    }
    this.resourceIndex.set(resource, index);
    this.resourceNames[index] = resource;
    this.postings[index] = [];
    return index;
  }

  private releaseResource(index: number): void {
    this.resourceIndex.delete(this.resourceNames[index] as string);
    this.freeResources.push(index);
  }

  private grow(capacity: number): void {
    const vectors = new Float32Array(capacity * this.stride);
    vectors.set(this.vectors.subarray(0, this.highWater * this.stride));
    const slotResource = new Int32Array(capacity).fill(FREE);
    slotResource.set(this.slotResource.subarray(0, this.highWater));
    const slotPosting = new Int32Array(capacity);
    slotPosting.set(this.slotPosting.subarray(0, this.highWater));
    this.vectors = vectors;
    this.slotResource = slotResource;
    this.slotPosting = slotPosting;
    this.boost = new Float64Array(capacity);
    this.capacity = capacity;
  }

  /** Moves every live slot to the front, in document order, and shrinks the slab. */
  private compactSlots(): void {
    const stride = this.stride;
    const capacity = Math.max(INITIAL_CAPACITY, 2 ** Math.ceil(Math.log2(Math.max(1, this.live * 1.5))));
    const vectors = new Float32Array(capacity * stride);
    const slotResource = new Int32Array(capacity).fill(FREE);
    const slotPosting = new Int32Array(capacity);
    const slotChunk: (StoredChunk | undefined)[] = [];
    for (const posting of this.postings) posting.length = 0;
    let next = 0;
    for (const slots of this.documents.values()) {
      for (let i = 0; i < slots.length; i++) {
        const old = slots[i] as number;
        const resource = this.slotResource[old] as number;
        vectors.set(this.vectors.subarray(old * stride, (old + 1) * stride), next * stride);
        const posting = this.postings[resource] as number[];
        slotResource[next] = resource;
        slotPosting[next] = posting.length;
        posting.push(next);
        const chunk = this.slotChunk[old] as StoredChunk;
        slotChunk[next] = chunk;
        this.chunkSlot.set(chunk.id, next);
        slots[i] = next;
        next++;
      }
    }
    this.vectors = vectors;
    this.slotResource = slotResource;
    this.slotPosting = slotPosting;
    this.slotChunk = slotChunk;
    this.boost = new Float64Array(capacity);
    this.capacity = capacity;
    this.highWater = next;
    this.freeSlots = [];
    // Slots moved: the lexical postings are rebuilt on the next hybrid search.
    this.lexicalReady = false;
    this.termPostings = new Map();
    this.slotTerms = [];
  }
}

/**
 * A term's postings: slot -> frequency for writes, and a packed copy (typed arrays, with each slot's length)
 * for searches, rebuilt on the first search after a change: iterating a Map costs several times more.
 */
interface TermPosting {
  readonly bySlot: Map<number, number>;
  packed: { slots: Int32Array; tfs: Float64Array; lengths: Float64Array } | undefined;
}

function packed(
  posting: TermPosting,
  slotTerms: readonly (TermCounts | undefined)[],
): { slots: Int32Array; tfs: Float64Array; lengths: Float64Array } {
  if (posting.packed !== undefined) return posting.packed;
  const n = posting.bySlot.size;
  const slots = new Int32Array(n);
  const tfs = new Float64Array(n);
  const lengths = new Float64Array(n);
  let i = 0;
  for (const [slot, tf] of posting.bySlot) {
    slots[i] = slot;
    tfs[i] = tf;
    lengths[i] = (slotTerms[slot] as TermCounts).length;
    i++;
  }
  posting.packed = { slots, tfs, lengths };
  return posting.packed;
}

/** What a scan scores: `alpha × (stored vector · query) + boost[slot]`. */
interface Scoring {
  readonly query: Float64Array;
  readonly alpha: number;
  readonly boost: Float64Array;
}

function scanSlots(
  vectors: Float32Array,
  stride: number,
  slots: readonly number[],
  scoring: Scoring,
  top: TopK,
): void {
  const { query, alpha, boost } = scoring;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as number;
    const score = alpha * dot(vectors, slot * stride, query, stride) + (boost[slot] as number);
    if (score >= top.threshold) top.offer(slot, score);
  }
}

/** The masked scan's loop, outside any try block so that V8 optimizes it like the unrestricted one. */
function scanWithMask(
  vectors: Float32Array,
  stride: number,
  slotResource: Int32Array,
  end: number,
  mask: Uint8Array,
  scoring: Scoring,
  top: TopK,
): void {
  const { query, alpha, boost } = scoring;
  for (let slot = 0, offset = 0; slot < end; slot++, offset += stride) {
    const resource = slotResource[slot] as number;
    if (resource === FREE || mask[resource] === 0) continue;
    const score = alpha * dot(vectors, offset, query, stride) + (boost[slot] as number);
    if (score >= top.threshold) top.offer(slot, score);
  }
}

/**
 * The chunk's container keys (`containerKeys`); none when its metadata lacks the collection or owner (only
 * possible in data not written through `prepareDocument`): such a chunk matches no container.
 */
function aclContainers(chunk: StoredChunk): string[] {
  const { collection, owner, customer } = chunk.metadata as { [K in keyof ChunkMetadata]?: unknown };
  if (typeof collection !== "string" || typeof owner !== "string") return [];
  if (customer !== undefined && typeof customer !== "string") return [];
  return containerKeys(chunk);
}

/**
 * `aclContainers` remembered for the last chunk seen: a document's chunks carry its id and equal metadata,
 * so a write or a removal computes the keys once per document rather than once per chunk.
 */
class ContainerKeyCache {
  private last: StoredChunk | undefined;
  private keys: readonly string[] = [];

  of(chunk: StoredChunk): readonly string[] {
    const last = this.last;
    // `containerKeys` reads the document id and the metadata only.
    if (
      last === undefined ||
      last.documentId !== chunk.documentId ||
      (last.metadata !== chunk.metadata && !sameRecord(last.metadata, chunk.metadata))
    ) {
      this.last = chunk;
      this.keys = aclContainers(chunk);
    }
    return this.keys;
  }
}

function sameChunk(a: StoredChunk, b: StoredChunk): boolean {
  return (
    a.id === b.id &&
    a.resource === b.resource &&
    a.documentId === b.documentId &&
    a.sectionId === b.sectionId &&
    a.title === b.title &&
    a.text === b.text &&
    a.ordinal === b.ordinal &&
    sameRecord(a.metadata, b.metadata)
  );
}

function sameRecord(a: object, b: object): boolean {
  const left = Object.entries(a).filter(([, value]) => value !== undefined);
  const right = Object.entries(b).filter(([, value]) => value !== undefined);
  if (left.length !== right.length) return false;
  const other = b as Record<string, unknown>;
  return left.every(([key, value]) => Object.is(other[key], value));
}
