/**
 * The vocabulary the retrieval engine, its strategies and its planner share: the strategies' names, a
 * request, a scan's budget and what a strategy produces. Kept apart so that strategies and planner depend
 * on it and not on each other.
 */
import type { CheckOutcome } from "../ports/authorizer.ts";
import type { CheckRequest } from "./authz-model.ts";
import type { ScoredChunk } from "./chunk.ts";
import type { Principal } from "./principal.ts";

/** The entity types a chunk's resource can have, and the permission that lets a principal read it. */
export const RESOURCE_TYPES = ["document", "section"] as const;
export const VIEW_PERMISSION = "view";

export const STRATEGIES = ["pre-filter", "post-filter", "container-pre-filter"] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface RetrievalRequest {
  readonly principal: Principal;
  readonly query: string;
  readonly k: number;
  /**
   * Checks that must allow the request before any authorizer answer reaches a strategy (the consent of
   * every agent in the chain). They ride along the first authorization step: appended to the first bulk
   * check, or sent beside the first lookup, so they add no round; no passage is returned unless `settle`
   * accepted their outcomes.
   */
  readonly precondition?: Precondition;
}

export interface Precondition {
  readonly checks: readonly CheckRequest[];
  /** Throws (the request's error) unless the outcomes, in the order of `checks`, allow the request. */
  settle(outcomes: readonly CheckOutcome[]): void;
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

export interface StrategyOutcome {
  readonly kind: "done";
  readonly passages: readonly ScoredChunk[];
  readonly finishedWith: StrategyName;
  readonly withheld: number;
  readonly readableResources?: number;
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

/** A scan that spent its budget, or that the planner found cheaper to abandon: pre-filter finishes. */
export interface ScanFallback {
  readonly kind: "fallback";
}
