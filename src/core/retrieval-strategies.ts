/**
 * The strategies that reach the authorized top-k, each exact (the passages an exact scan with a check per
 * chunk would give, in its order) and fail-closed (any authorizer or store failure, a `failed` check, or a
 * lookup that cannot be followed to its end fails the whole request; a truncated list never filters):
 * - pre-filter: list every resource the principal may view, to the end, and search only among them;
 * - post-filter: search the whole store, check the candidates' resources in bulk (the user and every
 *   agent in one round), keep the allowed ones in rank order, and page further down the ranking with a
 *   growing window until k are found or the ranking ends; past its budget it finishes with pre-filter;
 * - container pre-filter: list the containers (collections, customers, documents granted directly) the
 *   user can view, search only chunks whose ingest metadata names one, and check every candidate as
 *   post-filter does. Metadata only narrows: the authorizer's verdict on each chunk is final.
 */
import {
  type Authorizer,
  type CheckOutcome,
  isCheckFailure,
  type LookupPage,
  type LookupResourcesRequest,
} from "../ports/authorizer.ts";
import type { CheckRequest, Subject } from "./authz-model.ts";
import { containerKeys, type ScoredChunk } from "./chunk.ts";
import type { ContainerLookup, ContainerModel } from "./container-model.ts";
import { AppError } from "./errors.ts";
import type { LexicalQuery } from "./lexical.ts";
import { lookupAllResources } from "./lookup-all.ts";
import { type Principal, principalSubjects } from "./principal.ts";
import { type RetrievalMeter, upstream } from "./retrieval-meter.ts";
import {
  type CostModel,
  type PrincipalEstimate,
  predictScan,
  sampledShare,
  switchToPreFilterCost,
  windowFor,
} from "./retrieval-planner.ts";
import {
  RESOURCE_TYPES,
  type RetrievalRequest,
  type ScanBudget,
  type ScanFallback,
  type StrategyName,
  type StrategyOutcome,
  VIEW_PERMISSION,
} from "./retrieval-types.ts";

export interface ScanContext {
  readonly meter: RetrievalMeter;
  readonly request: RetrievalRequest;
  readonly subjects: readonly Subject[];
  readonly vector: Promise<Float32Array>;
  /** The lexical half of a hybrid search, sent with every search of the request; absent: dense only. */
  readonly lexical?: LexicalQuery;
  /** Chunks in the store. */
  readonly total: number;
  readonly started: number;
  readonly now: () => number;
}

// ---------------------------------------------------------------------------------------------------
// Pre-filter

export async function preFilter(scan: ScanContext, costs: CostModel): Promise<StrategyOutcome> {
  const { meter, request } = scan;
  const listingStarted = scan.now();
  const listing = await listReadable(
    (page) => meter.lookupPage(page),
    principalSubjects(request.principal),
    RESOURCE_TYPES,
    VIEW_PERMISSION,
  );
  meter.authzRounds += listing.rounds;
  costs.listing.observe(listing.listedIds, scan.now() - listingStarted);
  const readable = listing.ids;
  const vector = await scan.vector;
  const counted = meter.count(readable);
  const [found, storedChunks, readableChunkCount] = await Promise.all([
    readable.size === 0
      ? Promise.resolve([])
      : meter.search({ vector, k: request.k, resources: readable, ...lexicalOf(scan) }, counted),
    meter.count(),
    counted,
  ]);
  // Defence in depth: the store promised to stay inside the set; a chunk outside it is a bug, and a bug
  // here must not become a leak.
  for (const chunk of found) {
    if (!readable.has(chunk.resource)) {
      throw new AppError("INTERNAL", "the vector store returned a chunk outside the readable resources");
    }
  }
  return {
    kind: "done",
    passages: found,
    finishedWith: "pre-filter",
    // Everything outside the readable set, which includes whatever a scan denied before falling back here.
    withheld: storedChunks - readableChunkCount,
    readableResources: readable.size,
    share: { value: storedChunks === 0 ? 0 : readableChunkCount / storedChunks, basis: "exact", of: "store" },
    ...(readableChunkCount === 0 ? {} : { resourcesPerChunk: readable.size / readableChunkCount }),
  };
}

/**
 * Every resource (`document:<id>`, `section:<id>`) on which the user and each agent in the chain has
 * `view`. Any authorizer failure becomes `UPSTREAM_UNAVAILABLE`, so the caller denies everything.
 */
export async function readableResources(authorizer: Authorizer, principal: Principal): Promise<Set<string>> {
  const listing = await listReadable(
    (page) =>
      upstream("authorizer", "the authorizer could not list readable resources", () =>
        authorizer.lookupResources(page),
      ),
    principalSubjects(principal),
    RESOURCE_TYPES,
    VIEW_PERMISSION,
  );
  return listing.ids;
}

/**
 * `entityType:id` for every entity of `entityTypes` on which every subject has `permission`, each list
 * followed to its end. `rounds` is the longest chain of pages (the lookups run side by side).
 */
async function listReadable(
  lookupPage: (request: LookupResourcesRequest) => Promise<LookupPage>,
  subjects: readonly Subject[],
  entityTypes: readonly string[],
  permission: string,
): Promise<{ ids: Set<string>; rounds: number; listedIds: number }> {
  let rounds = 0;
  let listedIds = 0;
  const perType = await Promise.all(
    entityTypes.map(async (entityType) => {
      const lists = await Promise.all(
        subjects.map(async (subject) => {
          let pages = 0;
          const ids = await lookupAllResources(
            {
              lookupResources: (request) => {
                pages++;
                return lookupPage(request);
              },
            },
            { entityType, permission, subject },
          ).catch((error: unknown) => {
            throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not list readable resources", {
              cause: error,
              upstream: "authorizer",
            });
          });
          rounds = Math.max(rounds, pages);
          listedIds += ids.length;
          return ids;
        }),
      );
      // A resource is readable only if every subject may view it. The lists are strictly ascending
      // (`lookupAllResources` throws otherwise), so the intersection is a merge, with no set per subject.
      const [first = [], ...others] = lists;
      return { entityType, ids: others.reduce(intersectAscending, first) };
    }),
  );
  const ids = new Set<string>();
  for (const { entityType, ids: list } of perType) {
    for (const id of list) ids.add(`${entityType}:${id}`);
  }
  return { ids, rounds, listedIds };
}

/** The ids in both strictly ascending lists, ascending. */
function intersectAscending(a: readonly string[], b: readonly string[]): string[] {
  const both: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    if (x === y) {
      both.push(x);
      i++;
      j++;
    } else if (x < y) {
      i++;
    } else {
      j++;
    }
  }
  return both;
}

// ---------------------------------------------------------------------------------------------------
// Container pre-filter

/**
 * The container keys the user can read through. The user's alone: whatever an agent may read, the user
 * must read too, so the user's containers cover the whole principal's readable chunks.
 */
export async function containerScope(
  scan: ScanContext,
  model: ContainerModel,
  costs: CostModel,
): Promise<ReadonlySet<string>> {
  const started = scan.now();
  const user = principalSubjects(scan.request.principal).slice(0, 1);
  const lists = await Promise.all(
    model.lookups.map((lookup) =>
      listReadable((page) => scan.meter.lookupPage(page), user, [lookup.entityType], lookup.permission),
    ),
  );
  const keys = new Set<string>();
  let rounds = 0;
  let listedIds = 0;
  for (const [index, list] of lists.entries()) {
    const { entityType, key } = model.lookups[index] as ContainerLookup;
    // Listed as `<entityType>:<id>`; chunks carry `<key>:<id>` (the relation they mirror).
    for (const id of list.ids) keys.add(`${key}${id.slice(entityType.length)}`);
    rounds = Math.max(rounds, list.rounds);
    listedIds += list.listedIds;
  }
  scan.meter.authzRounds += rounds;
  costs.listing.observe(listedIds, scan.now() - started);
  return keys;
}

// ---------------------------------------------------------------------------------------------------
// Post-filter and the container scan

export interface RankedScanOptions {
  /** Container keys to search within; absent: the whole store. */
  readonly scope: ReadonlySet<string> | undefined;
  readonly estimate: PrincipalEstimate | undefined;
  /** The share of the scanned ranking the principal is expected to read, which sizes the first window. */
  readonly expectedShare: number | undefined;
  readonly budget: ScanBudget;
  /** Re-plan after each round (switch to pre-filter when it is expected to be cheaper). */
  readonly adaptive: boolean;
  readonly costs: CostModel;
}

/**
 * Walks down the ranking (of the whole store, or of a container scope) a window at a time, checks each
 * window's new resources for every subject in one bulk round, and keeps allowed chunks in rank order.
 * Exact: the first k allowed chunks of the ranking are the authorized top-k.
 */
export async function rankedScan(
  scan: ScanContext,
  options: RankedScanOptions,
): Promise<(StrategyOutcome & { kind: "done" }) | ScanFallback> {
  const { meter, request, subjects } = scan;
  const { k } = request;
  const strategy: StrategyName = options.scope === undefined ? "post-filter" : "container-pre-filter";
  if (options.scope !== undefined && options.scope.size === 0) {
    // No container and no direct grant: the user can read nothing, so neither can the principal.
    return {
      kind: "done",
      passages: [],
      finishedWith: strategy,
      withheld: 0,
      share: { value: 0, basis: "sampled", of: "containers" },
    };
  }
  const verdicts = new Map<string, boolean>();
  const passages: ScoredChunk[] = [];
  let withheld = 0;
  let checked = 0;
  let allowedSeen = 0;
  let offset = 0;
  let window = Math.min(
    options.budget.maxCandidates,
    options.expectedShare === undefined ? Math.max(2 * k, 20) : windowFor(k, options.expectedShare),
  );
  const vector = await scan.vector;
  for (let round = 1; ; round++) {
    const page = await meter.search(
      {
        vector,
        k: window,
        offset,
        ...(options.scope === undefined ? {} : { containers: options.scope }),
        ...lexicalOf(scan),
      },
      // A container scope's size is unknown (NaN): such searches do not teach the cost model.
      options.scope === undefined ? scan.total : Number.NaN,
    );
    if (options.scope !== undefined) assertInScope(page, options.scope);
    await checkResources(meter, subjects, page, verdicts);
    for (const chunk of page) {
      if (passages.length === k) break;
      checked++;
      if (verdicts.get(chunk.resource) === true) {
        passages.push(chunk);
        allowedSeen++;
      } else {
        withheld++;
      }
    }
    const share = sampledShare(allowedSeen, checked);
    if (passages.length === k || page.length < window) {
      return {
        kind: "done",
        passages,
        finishedWith: strategy,
        withheld,
        share: { value: share, basis: "sampled", of: options.scope === undefined ? "store" : "containers" },
      };
    }
    offset += window;
    const needed = k - passages.length;
    const next = Math.min(
      Math.max(2 * window, windowFor(needed, share)),
      options.budget.maxCandidates - offset,
    );
    const elapsed = scan.now() - scan.started;
    if (round >= options.budget.maxRounds || next <= 0 || elapsed >= options.budget.maxMs) {
      return { kind: "fallback" };
    }
    if (options.adaptive) {
      const continuing = predictScan(options.costs, share, needed, scan.total, subjects.length);
      if (switchToPreFilterCost(options.costs, options.estimate, share, scan.total) < continuing) {
        return { kind: "fallback" };
      }
    }
    window = next;
  }
}

/** The request's lexical query, for a search request: every search of one retrieval ranks the same way. */
function lexicalOf(scan: ScanContext): { lexical?: LexicalQuery } {
  return scan.lexical === undefined ? {} : { lexical: scan.lexical };
}

/**
 * Defence in depth: the store promised only chunks whose metadata names a container in scope. One outside
 * it would still be checked, but it means the store ignored the filter: a bug to surface, not to serve.
 */
function assertInScope(page: readonly ScoredChunk[], scope: ReadonlySet<string>): void {
  for (const chunk of page) {
    if (!containerKeys(chunk).some((key) => scope.has(key))) {
      throw new AppError("INTERNAL", "the vector store returned a chunk outside the container scope");
    }
  }
}

/**
 * Decides every resource in `page` not decided yet: the user and each agent in one bulk call. A resource
 * is allowed only when every subject's answer is `allowed`; a `failed` answer fails the request, since
 * treating it as a denial would silently return fewer passages than the principal may read.
 */
async function checkResources(
  meter: RetrievalMeter,
  subjects: readonly Subject[],
  page: readonly ScoredChunk[],
  verdicts: Map<string, boolean>,
): Promise<void> {
  const pending: string[] = [];
  for (const chunk of page) {
    if (!verdicts.has(chunk.resource) && !pending.includes(chunk.resource)) pending.push(chunk.resource);
  }
  if (pending.length === 0) return;
  const requests: CheckRequest[] = [];
  for (const resource of pending) {
    const entity = parseResource(resource);
    for (const subject of subjects) requests.push({ entity, permission: VIEW_PERMISSION, subject });
  }
  const outcomes: readonly CheckOutcome[] = await meter.checkMany(requests);
  pending.forEach((resource, index) => {
    let allowed = true;
    for (let s = 0; s < subjects.length; s++) {
      const outcome = outcomes[index * subjects.length + s];
      if (outcome === undefined || isCheckFailure(outcome)) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not decide a candidate", {
          upstream: "authorizer",
          // Why, for the log: a depth limit, a rule error or a bug each keep their own cause.
          cause: outcome?.failed ?? new AppError("INTERNAL", "the authorizer returned too few outcomes"),
        });
      }
      if (outcome !== "allowed") allowed = false;
    }
    verdicts.set(resource, allowed);
  });
}

/**
 * Binds the passages returned to what was authorized (issue 14). A strategy decides resources and reads
 * chunks at different moments, and a resource's verdict says nothing about which version of its content
 * was read: a customer allowed `document:memo` under its new, help-center relationships could otherwise
 * get the chunks of its old, executive version read a moment before (or, for pre-filter, read after the
 * listing but before the change became visible). So, after the strategy: every passage's resource is
 * checked again, *after* its chunk was read, and then every passage must still be stored.
 *
 * Why that suffices: ingest changes a document in the order narrow relationships, replace content, widen
 * relationships (ingest.ts `applyOrderedChange`). While a version's chunks are stored, the relationships in
 * force never admit anyone that version was not declared for. A chunk read before the check and still
 * stored after it was stored at the check, so the check judged it under relationships of its own version.
 * The one gap: content that goes away and comes back identical (the same chunk ids) within one query.
 *
 * Resolves the passages that pass, in order; `dropped` counts those that did not (a concurrent change).
 */
export async function confirmPassages(
  scan: ScanContext,
  passages: readonly ScoredChunk[],
  store: { presentChunks(chunkIds: readonly string[]): Promise<ReadonlySet<string>> },
): Promise<{ readonly passages: readonly ScoredChunk[]; readonly dropped: number }> {
  if (passages.length === 0) return { passages, dropped: 0 };
  const verdicts = new Map<string, boolean>();
  await checkResources(scan.meter, scan.subjects, passages, verdicts);
  const allowed = passages.filter((passage) => verdicts.get(passage.resource) === true);
  const present = await upstream("vector-store", "the vector store failed", () =>
    store.presentChunks(allowed.map((passage) => passage.id)),
  );
  const kept = allowed.filter((passage) => present.has(passage.id));
  return { passages: kept, dropped: passages.length - kept.length };
}

/** `document:x` → the entity; anything else is a chunk the engine must not return (fail closed). */
function parseResource(resource: string): { type: string; id: string } {
  const colon = resource.indexOf(":");
  const type = resource.slice(0, colon);
  if (colon <= 0 || !(RESOURCE_TYPES as readonly string[]).includes(type)) {
    throw new AppError("INTERNAL", "a stored chunk has a resource of an unknown type");
  }
  return { type, id: resource.slice(colon + 1) };
}
