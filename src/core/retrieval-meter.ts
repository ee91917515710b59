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
import type { Precondition } from "./retrieval-types.ts";

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
  /** Settles once the precondition's checks were answered and accepted; absent until they are sent. */
  private gate: Promise<void> | undefined;

  constructor(
    private readonly authorizer: Authorizer,
    private readonly vectorStore: VectorStore,
    /** The engine's clock (tests drive it to make costs deterministic). */
    private readonly now: () => number = () => performance.now(),
    /** Checks that must pass before any authorizer answer is handed on (see `RetrievalRequest`). */
    private readonly precondition?: Precondition,
  ) {}

  /** One page of a lookup: one authorizer call. Rounds are counted by the caller (pages run in sequence). */
  async lookupPage(request: LookupResourcesRequest): Promise<LookupPage> {
    const started = this.now();
    this.authzCalls++;
    // The precondition goes beside the first lookup, in the same round.
    const gate = this.openGate();
    const paging = upstream("authorizer", "the authorizer could not list readable resources", () =>
      this.authorizer.lookupResources(request),
    );
    paging.catch(() => undefined);
    await gate;
    const page = await paging;
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
    // The precondition's checks are appended to the first bulk check: one call, one round.
    const batched = this.gate === undefined ? this.precondition : undefined;
    let settle: ((outcomes: readonly CheckOutcome[] | Error) => void) | undefined;
    if (batched !== undefined) {
      this.gate = new Promise<void>((resolve, reject) => {
        settle = (outcomes) => {
          if (outcomes instanceof Error) return reject(outcomes);
          try {
            batched.settle(outcomes);
            resolve();
          } catch (error) {
            reject(error);
          }
        };
      });
      this.gate.catch(() => undefined);
    }
    const asked = batched === undefined ? requests : [...requests, ...batched.checks];
    let outcomes: readonly CheckOutcome[];
    try {
      outcomes = await upstream("authorizer", "the authorizer could not check the candidates", () =>
        this.authorizer.checkMany(asked),
      );
      if (outcomes.length !== asked.length) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered a different number of checks", {
          upstream: "authorizer",
        });
      }
    } catch (error) {
      settle?.(error as Error);
      throw error;
    }
    settle?.(outcomes.slice(requests.length));
    await this.gate;
    const ms = this.now() - started;
    this.authorizeMs += ms;
    this.observations.push({ operation: "check", size: requests.length, ms });
    return outcomes.slice(0, requests.length);
  }

  /**
   * Resolves once the precondition passed; throws its error otherwise. A retrieval that asked the
   * authorizer nothing (an empty store) sends it now: nothing is returned before it passed.
   */
  async settled(): Promise<void> {
    await this.openGate();
  }

  /** Sends the precondition's checks on their own, if no call carried them yet. */
  private openGate(): Promise<void> {
    if (this.gate !== undefined) return this.gate;
    const precondition = this.precondition;
    if (precondition === undefined || precondition.checks.length === 0) {
      this.gate = Promise.resolve();
      return this.gate;
    }
    this.authzCalls++;
    this.gate = upstream("authorizer", "the authorizer could not check the delegations", () =>
      this.authorizer.checkMany(precondition.checks),
    ).then((outcomes) => {
      if (outcomes.length !== precondition.checks.length) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered a different number of checks", {
          upstream: "authorizer",
        });
      }
      precondition.settle(outcomes);
    });
    this.gate.catch(() => undefined);
    return this.gate;
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
