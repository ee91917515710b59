/**
 * Authorized top-k: the k highest-scoring chunks among those the principal may view, in the order an
 * exact scan with a check per chunk gives (score, then chunk id). Three strategies reach it:
 * - pre-filter: list every resource the principal may view, to the end, and search only among them;
 * - post-filter: search the whole store, check the candidates' resources in bulk (the user and every
 *   agent in one round), keep the allowed ones in rank order, and page further down the ranking with a
 *   growing window until k are found or the ranking ends; past its budget it finishes with pre-filter;
 * - container pre-filter: list the containers (collections, customers, documents granted directly) the
 *   user can view, search only chunks whose ingest metadata names one, and check every candidate as
 *   post-filter does. Metadata only narrows: the authorizer's verdict on each chunk is final.
 * The adaptive setting chooses per request from a learned cost model and an estimate of the principal's
 * readable share, and re-plans after each round from the denials it sees.
 *
 * Fail-closed: any authorizer or store failure, a `failed` check, or a lookup that cannot be followed to
 * its end fails the whole request. A truncated list never becomes a filter.
 */
import type { Authorizer, CheckOutcome, LookupPage, LookupResourcesRequest } from "../ports/authorizer.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { CheckRequest, Subject } from "./authz-model.ts";
import { containerKeys, type ScoredChunk } from "./chunk.ts";
import { BANK_CONTAINER_MODEL, type ContainerModel } from "./container-model.ts";
import { AppError } from "./errors.ts";
import { lookupAllResources } from "./lookup-all.ts";
import { type Principal, principalSubjects } from "./principal.ts";
import { RetrievalMeter, upstream } from "./retrieval-meter.ts";
import { CostModel, type PrincipalEstimate, PrincipalEstimates, sampledShare } from "./retrieval-planner.ts";

/** The entity types a chunk's resource can have, and the permission that lets a principal read it. */
export const RESOURCE_TYPES = ["document", "section"] as const;
export const VIEW_PERMISSION = "view";

export const STRATEGIES = ["pre-filter", "post-filter", "container-pre-filter"] as const;
export type StrategyName = (typeof STRATEGIES)[number];
export type StrategySetting = "adaptive" | StrategyName;

export interface RetrievalDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
}

export interface RetrievalRequest {
  readonly principal: Principal;
  readonly query: string;
  readonly k: number;
}

/** When post-filter and container pre-filter stop paging and finish with pre-filter. */
export interface ScanBudget {
  /** Bulk-check rounds. */
  readonly maxRounds: number;
  /** Candidates read from the store. */
  readonly maxCandidates: number;
  /** Milliseconds since the request began. */
  readonly maxMs: number;
}

export const DEFAULT_SCAN_BUDGET: ScanBudget = { maxRounds: 4, maxCandidates: 5_000, maxMs: 1_000 };

export interface RetrievalStats {
  /** The strategy chosen for the request. */
  readonly strategy: StrategyName;
  readonly chosenBy: "adaptive" | "configuration";
  /** `strategy`, or `pre-filter` when a scan spent its budget (or the planner found it cheaper) first. */
  readonly finishedWith: StrategyName;
  /** Chunks read from the vector store. */
  readonly candidatesScanned: number;
  /** Calls to the authorizer port (each lookup page, each bulk check). */
  readonly authzCalls: number;
  /** Authorization steps that had to wait for the one before: lookup pages in sequence, check rounds. */
  readonly authzRounds: number;
  /**
   * Chunks kept from the caller: for pre-filter every stored chunk outside the readable set, for a scan
   * the candidates it checked and denied before the k-th passage. Logged and audited, never returned.
   */
  readonly withheld: number;
  /** Resources the principal may view, when a complete listing ran. */
  readonly permittedResources?: number;
  readonly returned: number;
  readonly timingsMs: {
    readonly authorize: number;
    readonly embed: number;
    readonly search: number;
    readonly total: number;
  };
}

export interface RetrievalResult {
  readonly passages: readonly ScoredChunk[];
  readonly stats: RetrievalStats;
}

export type Retrieve = (deps: RetrievalDeps, request: RetrievalRequest) => Promise<RetrievalResult>;

export interface RetrievalEngineOptions {
  /** `adaptive` (default) chooses per request; a strategy name forces it. */
  readonly strategy?: StrategySetting;
  readonly budget?: Partial<ScanBudget>;
  /** How chunks' metadata maps to containers; `null` turns the container pre-filter off. */
  readonly containerModel?: ContainerModel | null;
  readonly estimates?: { readonly maxEntries?: number; readonly ttlMs?: number };
  readonly now?: () => number;
}

export interface RetrievalEngine {
  readonly setting: StrategySetting;
  readonly retrieve: Retrieve;
  /** Forgets every principal's estimate (after a write through this process). */
  invalidate(): void;
}

/** How long the store's chunk count is reused: it sizes estimates only. */
const STORE_SIZE_TTL_MS = 5_000;

export function createRetrievalEngine(options: RetrievalEngineOptions = {}): RetrievalEngine {
  const setting = options.strategy ?? "adaptive";
  const budget: ScanBudget = { ...DEFAULT_SCAN_BUDGET, ...options.budget };
  const containerModel = options.containerModel === undefined ? BANK_CONTAINER_MODEL : options.containerModel;
  if (setting === "container-pre-filter" && containerModel === null) {
    throw new AppError("BAD_REQUEST", "the container pre-filter needs a container model");
  }
  const now = options.now ?? (() => performance.now());
  const costs = new CostModel();
  const estimates = new PrincipalEstimates({
    maxEntries: options.estimates?.maxEntries ?? 10_000,
    ttlMs: options.estimates?.ttlMs ?? 60_000,
    now,
  });
  let storeSize: { chunks: number; expires: number } | undefined;

  async function storedChunks(meter: RetrievalMeter): Promise<number> {
    if (storeSize !== undefined && storeSize.expires > now()) return storeSize.chunks;
    const chunks = await meter.count();
    storeSize = { chunks, expires: now() + STORE_SIZE_TTL_MS };
    return chunks;
  }

  async function retrieve(deps: RetrievalDeps, request: RetrievalRequest): Promise<RetrievalResult> {
    const started = now();
    const meter = new RetrievalMeter(deps.authorizer, deps.vectorStore);
    let embedMs = 0;
    const embedding = upstream("embedder", "the embedder failed", () =>
      deps.embedder.embedQuery(request.query),
    ).then((vector) => {
      embedMs = now() - started;
      return vector;
    });
    // A strategy that fails before it needs the vector must not leave this rejection unhandled.
    embedding.catch(() => undefined);

    const key = principalKey(request.principal);
    const total = await storedChunks(meter);
    const estimate = estimates.get(key);
    const scan: ScanContext = {
      meter,
      request,
      subjects: principalSubjects(request.principal),
      vector: embedding,
      total,
      started,
      now,
    };
    const plan =
      setting === "adaptive"
        ? choose(costs, estimate, total, request.k, scan.subjects.length, containerModel !== null)
        : setting;

    let outcome: StrategyOutcome;
    if (plan === "pre-filter") {
      outcome = await preFilter(scan, costs);
    } else {
      const scope =
        plan === "container-pre-filter" && containerModel !== null
          ? await containerScope(scan, containerModel, costs)
          : undefined;
      const scanned = await rankedScan(scan, {
        scope,
        estimate,
        expectedShare:
          scope === undefined ? (estimate?.rankingShare ?? estimate?.share) : estimate?.container?.share,
        budget,
        adaptive: setting === "adaptive",
        costs,
      });
      outcome = scanned.kind === "done" ? scanned : await preFilter(scan, costs, scanned);
    }
    costs.learn(meter.observations);
    const total_ms = now() - started;
    estimates.set(key, nextEstimate(estimate, outcome, plan, total_ms));
    return {
      passages: outcome.passages,
      stats: {
        strategy: plan,
        chosenBy: setting === "adaptive" ? "adaptive" : "configuration",
        finishedWith: outcome.finishedWith,
        candidatesScanned: meter.candidatesScanned,
        authzCalls: meter.authzCalls,
        authzRounds: meter.authzRounds,
        withheld: outcome.withheld,
        ...(outcome.permittedResources === undefined
          ? {}
          : { permittedResources: outcome.permittedResources }),
        returned: outcome.passages.length,
        timingsMs: { authorize: meter.authorizeMs, embed: embedMs, search: meter.searchMs, total: total_ms },
      },
    };
  }

  return { setting, retrieve, invalidate: () => estimates.clear() };
}

interface ScanContext {
  readonly meter: RetrievalMeter;
  readonly request: RetrievalRequest;
  readonly subjects: readonly Subject[];
  readonly vector: Promise<Float32Array>;
  /** Chunks in the store. */
  readonly total: number;
  readonly started: number;
  readonly now: () => number;
}

interface StrategyOutcome {
  readonly kind: "done";
  readonly passages: readonly ScoredChunk[];
  readonly finishedWith: StrategyName;
  readonly withheld: number;
  readonly permittedResources?: number;
  /**
   * What the strategy learned about the principal's share: of the whole store, or (container pre-filter) of
   * the chunks in their containers.
   */
  readonly share?: {
    readonly value: number;
    readonly basis: "exact" | "sampled";
    readonly of: "store" | "containers";
  };
  readonly resourcesPerChunk?: number;
}

interface ScanFallback {
  readonly kind: "fallback";
  /** Denials seen before giving up, added to pre-filter's. */
  readonly withheld: number;
}

// ---------------------------------------------------------------------------------------------------
// Choosing

/**
 * Chunks a scan should read to expect `needed` allowed ones at `share`, with a margin: too small a window
 * costs another round (a search and a bulk check), too large one checks candidates it will not use.
 */
function windowFor(needed: number, share: number): number {
  return Math.ceil((needed / Math.max(share, 1e-6)) * 1.2) + 2;
}

function predictPreFilter(costs: CostModel, estimate: PrincipalEstimate, total: number): number {
  const readableChunks = estimate.share * total;
  const listedIds = readableChunks * (estimate.resourcesPerChunk ?? 0.2);
  return costs.listing.predict(listedIds) + costs.search.predict(readableChunks);
}

function predictScan(
  costs: CostModel,
  share: number,
  needed: number,
  total: number,
  subjects: number,
): number {
  const window = windowFor(needed, share);
  return costs.search.predict(total) + costs.check.predict(Math.min(window, total) * subjects);
}

/** Before a container scan has run for a principal: the share of their containers' chunks they may read. */
const CONTAINER_SHARE_GUESS = 0.5;

/**
 * Before the container pre-filter has run for a principal: a guess that its containers are a tenth as many
 * ids as the resources it reads, that their scope holds twice the chunks it reads, and so that half the
 * candidates pass. Its first run replaces the guess with what it measured.
 */
function predictContainer(
  costs: CostModel,
  estimate: PrincipalEstimate,
  k: number,
  total: number,
  subjects: number,
): number {
  const readableChunks = estimate.share * total;
  const listedIds = (readableChunks * (estimate.resourcesPerChunk ?? 0.2)) / 10;
  const scope = Math.min(total, 2 * readableChunks);
  return (
    costs.listing.predict(listedIds) +
    costs.search.predict(scope) +
    costs.check.predict(Math.min(windowFor(k, CONTAINER_SHARE_GUESS), scope) * subjects)
  );
}

/**
 * The strategy expected to be fastest. Without an estimate, a post-filter round is the probe: a principal
 * who may read much gets their answer from it, and the others' denials size the re-plan.
 */
function choose(
  costs: CostModel,
  estimate: PrincipalEstimate | undefined,
  total: number,
  k: number,
  subjects: number,
  containersAvailable: boolean,
): StrategyName {
  if (estimate === undefined) return "post-filter";
  const options: [StrategyName, number][] = [
    ["pre-filter", predictPreFilter(costs, estimate, total)],
    ["post-filter", predictScan(costs, estimate.rankingShare ?? estimate.share, k, total, subjects)],
  ];
  if (containersAvailable) {
    options.push([
      "container-pre-filter",
      estimate.container?.ms ?? predictContainer(costs, estimate, k, total, subjects),
    ]);
  }
  options.sort((a, b) => a[1] - b[1]);
  return (options[0] as [StrategyName, number])[0];
}

function nextEstimate(
  previous: PrincipalEstimate | undefined,
  outcome: StrategyOutcome,
  plan: StrategyName,
  ms: number,
): PrincipalEstimate {
  const learned = outcome.share;
  // An exact share (from a complete listing) is not replaced by a sample of the top of one ranking.
  const share =
    learned !== undefined &&
    learned.of === "store" &&
    !(learned.basis === "sampled" && previous?.basis === "exact")
      ? { value: learned.value, basis: learned.basis }
      : previous === undefined
        ? { value: 1, basis: "sampled" as const }
        : { value: previous.share, basis: previous.basis };
  const resourcesPerChunk = outcome.resourcesPerChunk ?? previous?.resourcesPerChunk;
  const rankingShare =
    learned?.of === "store" && learned.basis === "sampled"
      ? previous?.rankingShare === undefined
        ? learned.value
        : previous.rankingShare * 0.5 + learned.value * 0.5
      : previous?.rankingShare;
  const container =
    plan === "container-pre-filter"
      ? {
          ms: previous?.container === undefined ? ms : previous.container.ms * 0.5 + ms * 0.5,
          share:
            learned?.of === "containers"
              ? learned.value
              : (previous?.container?.share ?? CONTAINER_SHARE_GUESS),
        }
      : previous?.container;
  return {
    share: share.value,
    basis: share.basis,
    ...(resourcesPerChunk === undefined ? {} : { resourcesPerChunk }),
    ...(rankingShare === undefined ? {} : { rankingShare }),
    ...(container === undefined ? {} : { container }),
  };
}

function principalKey(principal: Principal): string {
  return JSON.stringify([principal.userId, ...principal.agentIds]);
}

// ---------------------------------------------------------------------------------------------------
// Pre-filter

async function preFilter(
  scan: ScanContext,
  costs: CostModel,
  fellBackFrom?: ScanFallback,
): Promise<StrategyOutcome> {
  const { meter, request } = scan;
  const listingStarted = scan.now();
  const listing = await listViewable(
    (page) => meter.lookupPage(page),
    principalSubjects(request.principal),
    RESOURCE_TYPES,
    VIEW_PERMISSION,
  );
  meter.authzRounds += listing.rounds;
  costs.listing.observe(listing.listedIds, scan.now() - listingStarted);
  const permitted = listing.ids;
  const vector = await scan.vector;
  const counted = meter.count(permitted);
  const [found, storedChunks, permittedChunks] = await Promise.all([
    permitted.size === 0
      ? Promise.resolve([])
      : meter.search({ vector, k: request.k, resources: permitted }, counted),
    meter.count(),
    counted,
  ]);
  // Defence in depth: the store promised to stay inside the set; a chunk outside it is a bug, and a bug
  // here must not become a leak.
  for (const chunk of found) {
    if (!permitted.has(chunk.resource)) {
      throw new AppError("INTERNAL", "the vector store returned a chunk outside the permitted resources");
    }
  }
  return {
    kind: "done",
    passages: found,
    finishedWith: "pre-filter",
    withheld: storedChunks - permittedChunks + (fellBackFrom?.withheld ?? 0),
    permittedResources: permitted.size,
    share: { value: storedChunks === 0 ? 0 : permittedChunks / storedChunks, basis: "exact", of: "store" },
    ...(permittedChunks === 0 ? {} : { resourcesPerChunk: permitted.size / permittedChunks }),
  };
}

/**
 * Every resource (`document:<id>`, `section:<id>`) on which the user and each agent in the chain has
 * `view`. Any authorizer failure becomes `UPSTREAM_UNAVAILABLE`, so the caller denies everything.
 */
export async function permittedResources(authorizer: Authorizer, principal: Principal): Promise<Set<string>> {
  const listing = await listViewable(
    (page) =>
      upstream("authorizer", "the authorizer could not list permitted resources", () =>
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
async function listViewable(
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
            throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not list permitted resources", {
              cause: error,
              upstream: "authorizer",
            });
          });
          rounds = Math.max(rounds, pages);
          listedIds += ids.length;
          return ids;
        }),
      );
      // A resource is permitted only if every subject may view it. The lists are strictly ascending
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
async function containerScope(
  scan: ScanContext,
  model: ContainerModel,
  costs: CostModel,
): Promise<ReadonlySet<string>> {
  const started = scan.now();
  const user = principalSubjects(scan.request.principal).slice(0, 1);
  const lists = await Promise.all(
    model.lookups.map((lookup) =>
      listViewable((page) => scan.meter.lookupPage(page), user, [lookup.entityType], lookup.permission),
    ),
  );
  const keys = new Set<string>();
  let rounds = 0;
  let listedIds = 0;
  for (const list of lists) {
    for (const id of list.ids) keys.add(id);
    rounds = Math.max(rounds, list.rounds);
    listedIds += list.listedIds;
  }
  scan.meter.authzRounds += rounds;
  costs.listing.observe(listedIds, scan.now() - started);
  return keys;
}

// ---------------------------------------------------------------------------------------------------
// Post-filter and the container scan

interface RankedScanOptions {
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
async function rankedScan(
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
      { vector, k: window, offset, ...(options.scope === undefined ? {} : { containers: options.scope }) },
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
      return { kind: "fallback", withheld };
    }
    if (options.adaptive) {
      const estimate: PrincipalEstimate = {
        share,
        basis: "sampled",
        ...(options.estimate?.resourcesPerChunk === undefined
          ? {}
          : { resourcesPerChunk: options.estimate.resourcesPerChunk }),
      };
      const continuing = predictScan(options.costs, share, needed, scan.total, subjects.length);
      if (predictPreFilter(options.costs, estimate, scan.total) < continuing) {
        return { kind: "fallback", withheld };
      }
    }
    window = next;
  }
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
      if (outcome === "failed" || outcome === undefined) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not decide a candidate", {
          upstream: "authorizer",
        });
      }
      if (outcome !== "allowed") allowed = false;
    }
    verdicts.set(resource, allowed);
  });
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
