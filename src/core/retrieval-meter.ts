/**
 * Counts and times what one retrieval asks of the authorizer and the vector store: the figures its log
 * line, audit record and metrics report, and the observations the planner's cost model learns from.
 * Every failure of a port becomes `UPSTREAM_UNAVAILABLE` naming the component, so the request fails whole.
 */
import type { Authorizer, CheckOutcome, LookupPage, LookupResourcesRequest } from "../ports/authorizer.ts";
import type { VectorSearchRequest, VectorStore } from "../ports/vector-store.ts";
import type { CheckRequest } from "./authz-model.ts";
import type { ScoredChunk } from "./chunk.ts";
import { AppError, isAppError, type Upstream } from "./errors.ts";

/** One timed call, for the cost model: `size` is what the call's cost grows with. */
export interface Observation {
  readonly operation: "lookup" | "check" | "search";
  /** Ids returned (lookup), items asked (check), chunks in scope (search). */
  readonly size: number;
  readonly ms: number;
}

export class RetrievalMeter {
  authzCalls = 0;
  authzRounds = 0;
  candidates = 0;
  authorizeMs = 0;
  searchMs = 0;
  readonly observations: Observation[] = [];

  constructor(
    private readonly authorizer: Authorizer,
    private readonly vectorStore: VectorStore,
    /** The engine's clock (tests drive it to make costs deterministic). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** One page of a lookup: one authorizer call. Rounds are counted by the caller (pages run in sequence). */
  async lookupPage(request: LookupResourcesRequest): Promise<LookupPage> {
    const started = this.now();
    this.authzCalls++;
    const page = await upstream("authorizer", "the authorizer could not list readable resources", () =>
      this.authorizer.lookupResources(request),
    );
    const ms = this.now() - started;
    this.authorizeMs += ms;
    this.observations.push({ operation: "lookup", size: page.ids.length, ms });
    return page;
  }

  /** One bulk check: one round of authorization, however the adapter splits it into server calls. */
  async checkMany(requests: readonly CheckRequest[]): Promise<readonly CheckOutcome[]> {
    if (requests.length === 0) return [];
    const started = this.now();
    this.authzCalls++;
    this.authzRounds++;
    const outcomes = await upstream("authorizer", "the authorizer could not check the candidates", () =>
      this.authorizer.checkMany(requests),
    );
    const ms = this.now() - started;
    this.authorizeMs += ms;
    this.observations.push({ operation: "check", size: requests.length, ms });
    if (outcomes.length !== requests.length) {
      throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered a different number of checks", {
        upstream: "authorizer",
      });
    }
    return outcomes;
  }

  /** A search; `scopeSize` (chunks it ranks, NaN when unknown) feeds the cost model. */
  async search(
    request: VectorSearchRequest,
    scopeSize: number | Promise<number>,
  ): Promise<readonly ScoredChunk[]> {
    const started = this.now();
    const found = await upstream("vector-store", "the vector store failed", () =>
      this.vectorStore.search(request),
    );
    const ms = this.now() - started;
    this.searchMs += ms;
    this.candidates += found.length;
    this.observations.push({ operation: "search", size: await scopeSize, ms });
    return found;
  }

  async count(resources?: ReadonlySet<string>): Promise<number> {
    return upstream("vector-store", "the vector store failed", () => this.vectorStore.count(resources));
  }
}

/**
 * Runs a port call; any failure becomes an upstream failure naming the component (unless it already names
 * one), with a message of our own: an adapter's message can name resources the caller must not learn of.
 */
export async function upstream<T>(component: Upstream, message: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isAppError(error) && error.upstream !== undefined) throw error;
    throw new AppError("UPSTREAM_UNAVAILABLE", message, { cause: error, upstream: component });
  }
}
