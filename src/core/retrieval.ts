/**
 * The retrieval engine: authorized top-k, the k highest-scoring chunks among those the principal may view,
 * in the order an exact scan with a check per chunk gives (score, then chunk id). It runs one of the
 * strategies in retrieval-strategies.ts, forced by configuration or chosen per request (adaptive) from a
 * learned cost model and an estimate of the principal's readable share (retrieval-planner.ts). Every
 * strategy returns the same passages; any failure fails the request.
 */
import type { Authorizer } from "../ports/authorizer.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { ScoredChunk } from "./chunk.ts";
import type { ContainerModel } from "./container-model.ts";
import { AppError } from "./errors.ts";
import { lexicalQuery, type Ranking } from "./lexical.ts";
import { type Principal, principalSubjects } from "./principal.ts";
import { RetrievalMeter, upstream } from "./retrieval-meter.ts";
import {
  CONTAINER_SHARE_GUESS,
  CostModel,
  choose,
  createPrincipalEstimates,
  nextEstimate,
} from "./retrieval-planner.ts";
import {
  confirmPassages,
  containerScope,
  preFilter,
  rankedScan,
  type ScanContext,
} from "./retrieval-strategies.ts";
import {
  DEFAULT_SCAN_BUDGET,
  type RetrievalRequest,
  type ScanBudget,
  type StrategyName,
  type StrategyOutcome,
} from "./retrieval-types.ts";

export { readableResources } from "./retrieval-strategies.ts";
export {
  DEFAULT_SCAN_BUDGET,
  type Precondition,
  RESOURCE_TYPES,
  type RetrievalRequest,
  type ScanBudget,
  STRATEGIES,
  type StrategyName,
  VIEW_PERMISSION,
} from "./retrieval-types.ts";

export type StrategySetting = "adaptive" | StrategyName;

/** The ports retrieval reads: an engine is created with them. */
export interface RetrievalPorts {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
}

export interface RetrievalStats {
  /** The strategy chosen for the request. */
  readonly strategy: StrategyName;
  readonly chosenBy: "adaptive" | "configuration";
  /** `strategy`, or `pre-filter` when a scan spent its budget (or the planner found it cheaper) first. */
  readonly finishedWith: StrategyName;
  /** Chunks read from the vector store. */
  readonly candidates: number;
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
  readonly readableResources?: number;
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

export type Retrieve = (request: RetrievalRequest) => Promise<RetrievalResult>;

export interface RetrievalEngineOptions extends RetrievalPorts {
  /** `adaptive` (default) chooses per request; a strategy name forces it. */
  readonly strategy?: StrategySetting;
  readonly budget?: Partial<ScanBudget>;
  /** How chunks' metadata maps to containers (derived from the schema in force); absent or `null`: no container pre-filter. */
  readonly containerModel?: ContainerModel | null;
  readonly estimates?: { readonly maxEntries?: number; readonly ttlMs?: number };
  readonly now?: () => number;
  /**
   * How chunks are ranked (default: dense, the cosine alone). Hybrid blends the cosine with BM25 on fixed
   * background statistics (core/lexical.ts): every strategy ranks by the fused score and stays exact,
   * and nothing a principal may not read changes their scores.
   */
  readonly ranking?: Ranking;
}

export interface RetrievalEngine {
  readonly setting: StrategySetting;
  readonly ranking: Ranking;
  readonly retrieve: Retrieve;
}

/** How long the store's chunk count is reused: it sizes estimates only. */
const STORE_SIZE_TTL_MS = 5_000;
/**
 * How many times a retrieval starts again when a document changed under it (a passage failed its
 * confirmation); after that it returns the confirmed passages, fewer than k.
 */
const CONFIRM_RETRIES = 2;

export function createRetrievalEngine(options: RetrievalEngineOptions): RetrievalEngine {
  const deps: RetrievalPorts = options;
  const setting = options.strategy ?? "adaptive";
  const budget: ScanBudget = { ...DEFAULT_SCAN_BUDGET, ...options.budget };
  const containerModel = options.containerModel ?? null;
  if (setting === "container-pre-filter" && containerModel === null) {
    throw new AppError("BAD_REQUEST", "the container pre-filter needs a container model");
  }
  const ranking: Ranking = options.ranking ?? { kind: "dense" };
  if (ranking.kind === "hybrid" && !(ranking.denseWeight >= 0 && ranking.denseWeight <= 1)) {
    throw new AppError("BAD_REQUEST", "the dense weight of a hybrid ranking must be from 0 to 1");
  }
  const now = options.now ?? (() => performance.now());
  const costs = new CostModel();
  const estimates = createPrincipalEstimates({
    maxEntries: options.estimates?.maxEntries ?? 10_000,
    ttlMs: options.estimates?.ttlMs ?? 60_000,
  });
  let storeSize: { chunks: number; expires: number } | undefined;

  async function storedChunks(meter: RetrievalMeter): Promise<number> {
    if (storeSize !== undefined && storeSize.expires > now()) return storeSize.chunks;
    const chunks = await meter.count();
    storeSize = { chunks, expires: now() + STORE_SIZE_TTL_MS };
    return chunks;
  }

  async function retrieve(request: RetrievalRequest, attempt = 0): Promise<RetrievalResult> {
    const started = now();
    const meter = new RetrievalMeter(deps.authorizer, deps.vectorStore, now, request.precondition);
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
      ...(ranking.kind === "hybrid" ? { lexical: lexicalQuery(request.query, ranking) } : {}),
      total,
      started,
      now,
    };
    const plan =
      setting === "adaptive"
        ? choose(costs, estimate, total, request.k, scan.subjects.length, containerModel !== null)
        : setting;

    let outcome: StrategyOutcome;
    try {
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
            scope === undefined
              ? (estimate?.rankingShare ?? estimate?.share)
              : (estimate?.containerShare ?? CONTAINER_SHARE_GUESS),
          budget,
          adaptive: setting === "adaptive",
          costs,
        });
        outcome = scanned.kind === "done" ? scanned : await preFilter(scan, costs);
      }
    } catch (error) {
      // A refused precondition is the request's answer, whatever the strategy made of the refusal.
      await meter.settled();
      throw error;
    }
    // Nothing leaves the engine before the precondition (consent) passed.
    await meter.settled();
    costs.learn(meter.observations);
    const confirmed = await confirmPassages(scan, outcome.passages, deps.vectorStore);
    const elapsedMs = now() - started;
    estimates.set(key, nextEstimate(estimate, outcome, plan, elapsedMs));
    if (confirmed.dropped > 0 && attempt < CONFIRM_RETRIES) {
      // A document changed under this query: ask again, against the new state.
      return retrieve(request, attempt + 1);
    }
    return {
      passages: confirmed.passages,
      stats: {
        strategy: plan,
        chosenBy: setting === "adaptive" ? "adaptive" : "configuration",
        finishedWith: outcome.finishedWith,
        candidates: meter.candidates,
        authzCalls: meter.authzCalls,
        authzRounds: meter.authzRounds,
        withheld: outcome.withheld + confirmed.dropped,
        ...(outcome.readableResources === undefined ? {} : { readableResources: outcome.readableResources }),
        returned: confirmed.passages.length,
        timingsMs: { authorize: meter.authorizeMs, embed: embedMs, search: meter.searchMs, total: elapsedMs },
      },
    };
  }

  return { setting, ranking, retrieve: (request) => retrieve(request) };
}

function principalKey(principal: Principal): string {
  return JSON.stringify([principal.userId, ...principal.agentIds]);
}
