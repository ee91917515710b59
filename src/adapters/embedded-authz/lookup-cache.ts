/**
 * Complete lookup results, kept so that paging a lookup costs one evaluation instead of one per page and
 * every page of it comes from the same snapshot of the data.
 *
 * A list is computed whole on its first page and stored under (generation, request), where the generation
 * changes whenever the schema or the data changes. Its cursors name that generation and a position in the
 * list, so later pages are slices of the same list even if a write happened in between: the pages of one
 * lookup never mix two states of the data. A repeated lookup at the same generation is served from the
 * list already computed (the evaluator is deterministic, so it would compute the same list again).
 *
 * Bounded as an LRU by entry count and by the ids held in all entries together. A cursor whose list was
 * evicted is recomputed when the data has not changed since; otherwise the lookup cannot continue on the
 * snapshot it started on and the cursor is refused (`CONFLICT`), never silently continued on newer data.
 */
import { randomBytes } from "node:crypto";
import type { RequestContext, Subject } from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import type { LookupPage } from "../../ports/authorizer.ts";

export interface LookupCacheLimits {
  /** Lists kept at most (default 256). */
  readonly maxEntries?: number;
  /** Ids kept at most over all lists (default 2,000,000, about 16 MB of references); the newest list is always kept. */
  readonly maxIds?: number;
}

const DEFAULT_MAX_ENTRIES = 256;
const DEFAULT_MAX_IDS = 2_000_000;
const CURSOR = /^l1\.([0-9a-f]{8})\.(\d{1,15})\.(\d{1,15})\.([0-9a-f]{8})$/;

export class LookupCache {
  private readonly entries = new Map<string, readonly string[]>();
  private heldIds = 0;
  private readonly maxEntries: number;
  private readonly maxIds: number;
  /** Tells this cache's cursors from another instance's (e.g. before a restart), whose generations differ. */
  private readonly instance = randomBytes(4).toString("hex");

  constructor(limits: LookupCacheLimits = {}) {
    this.maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxIds = limits.maxIds ?? DEFAULT_MAX_IDS;
  }

  /**
   * One page of the list `compute` produces for `request` at `generation` (the current one). `compute`
   * runs only when the list is not held; when it throws, nothing is stored and the error propagates.
   */
  page(
    requestKey: string,
    generation: number,
    pageSize: number,
    cursor: string | undefined,
    compute: () => readonly string[],
  ): LookupPage {
    const digest = fnv1a(requestKey);
    let listGeneration = generation;
    let offset = 0;
    if (cursor !== undefined) {
      const match = CURSOR.exec(cursor);
      if (!match || match[4] !== digest) {
        throw new AppError("BAD_REQUEST", "the lookup cursor is malformed or belongs to another lookup");
      }
      listGeneration = Number(match[2]);
      offset = Number(match[3]);
      if (match[1] !== this.instance || listGeneration > generation) {
        throw new AppError(
          "CONFLICT",
          "the lookup cursor was issued by another authorizer or before a restart; start the lookup again",
        );
      }
    }
    const key = `${listGeneration}\u0000${requestKey}`;
    let ids = this.entries.get(key);
    if (ids) {
      // Most recently used goes last; eviction takes from the front.
      this.entries.delete(key);
      this.entries.set(key, ids);
    } else {
      if (listGeneration !== generation) {
        throw new AppError(
          "CONFLICT",
          "the data changed since this lookup's first page and its snapshot is no longer held; start the lookup again",
        );
      }
      ids = compute();
      this.store(key, ids);
    }
    if (offset > ids.length) {
      throw new AppError("BAD_REQUEST", "the lookup cursor is malformed or belongs to another lookup");
    }
    const end = offset + pageSize;
    const pageIds = ids.slice(offset, end);
    return end < ids.length
      ? { ids: pageIds, nextCursor: `l1.${this.instance}.${listGeneration}.${end}.${digest}` }
      : { ids: pageIds };
  }

  clear(): void {
    this.entries.clear();
    this.heldIds = 0;
  }

  private store(key: string, ids: readonly string[]): void {
    this.entries.set(key, ids);
    this.heldIds += ids.length;
    for (const [oldest, held] of this.entries) {
      if (this.entries.size <= 1) break;
      if (this.entries.size <= this.maxEntries && this.heldIds <= this.maxIds) break;
      this.entries.delete(oldest);
      this.heldIds -= held.length;
    }
  }
}

/**
 * What identifies a lookup's result apart from the data: everything in the request except the page size
 * and the cursor. Contextual tuples, attributes and data are part of it, as JSON.
 */
export function lookupRequestKey(
  kind: "resources" | "subjects",
  target: string,
  permission: string,
  subject: Subject | string,
  context: RequestContext | undefined,
): string {
  const who =
    typeof subject === "string" ? subject : `${subject.type}:${subject.id}#${subject.relation ?? ""}`;
  return [kind, target, permission, who, contextKey(context)].join("\u0000");
}

/** A context as JSON, which it must be (Permify carries it as a protobuf Struct); anything else is refused. */
export function contextKey(context: RequestContext | undefined): string {
  if (context === undefined) return "";
  try {
    return JSON.stringify(context) ?? "";
  } catch (error) {
    throw new AppError("BAD_REQUEST", "the request context must be JSON", { cause: error });
  }
}

/** 32-bit FNV-1a, hex: binds a cursor to its lookup so that one lookup's cursor is refused by another. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}
