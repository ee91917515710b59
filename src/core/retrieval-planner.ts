/**
 * What the adaptive strategy knows when it chooses: a cost model of the plugged-in authorizer and vector
 * store, learned from the calls retrieval makes, and a cached estimate of how much of the store each
 * principal may read. Both only steer the choice: every strategy returns the same passages, so a wrong or
 * stale estimate costs time, never correctness.
 */
import type { Observation } from "./retrieval-meter.ts";

/**
 * `ms ≈ fixed + perUnit × size`, fitted by least squares over an exponentially weighted window, so it
 * follows a server that speeds up or slows down. Until it has seen two distinct sizes it uses the prior.
 */
export class LinearCost {
  private w = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;

  constructor(
    private readonly prior: { readonly fixed: number; readonly perUnit: number },
    private readonly decay = 0.97,
  ) {}

  observe(size: number, ms: number): void {
    if (!Number.isFinite(size) || !Number.isFinite(ms) || size < 0 || ms < 0) return;
    this.w = this.w * this.decay + 1;
    this.sx = this.sx * this.decay + size;
    this.sy = this.sy * this.decay + ms;
    this.sxx = this.sxx * this.decay + size * size;
    this.sxy = this.sxy * this.decay + size * ms;
  }

  predict(size: number): number {
    const { fixed, perUnit } = this.coefficients();
    return Math.max(0, fixed + perUnit * size);
  }

  coefficients(): { fixed: number; perUnit: number } {
    if (this.w === 0) return this.prior;
    const meanX = this.sx / this.w;
    const meanY = this.sy / this.w;
    const varX = this.sxx / this.w - meanX * meanX;
    if (varX <= 1e-9 * Math.max(1, meanX * meanX)) {
      // One size seen so far: keep the prior's slope and move the intercept to what was measured.
      const perUnit = this.prior.perUnit;
      return { fixed: Math.max(0, meanY - perUnit * meanX), perUnit };
    }
    const perUnit = Math.max(0, (this.sxy / this.w - meanX * meanY) / varX);
    return { fixed: Math.max(0, meanY - perUnit * meanX), perUnit };
  }
}

/**
 * Learned costs, in milliseconds:
 * - `search`: by the number of chunks in the search's scope;
 * - `check`: one bulk check, by its items;
 * - `listing`: listing what a principal can view (every lookup of a request, in parallel), by ids listed.
 * The priors describe an in-process store and authorizer; the first requests replace them.
 */
export class CostModel {
  readonly search = new LinearCost({ fixed: 0.05, perUnit: 0.0006 });
  readonly check = new LinearCost({ fixed: 0.05, perUnit: 0.01 });
  readonly listing = new LinearCost({ fixed: 0.1, perUnit: 0.001 });

  /** Learns from a request's searches and bulk checks (listing is observed whole by the strategies). */
  learn(observations: readonly Observation[]): void {
    for (const { operation, size, ms } of observations) {
      if (operation === "search") this.search.observe(size, ms);
      else if (operation === "check") this.check.observe(size, ms);
    }
  }
}

/** What is known about one principal's view of the store. */
export interface PrincipalEstimate {
  /** Fraction of the stored chunks the principal may read (0 to 1). */
  readonly share: number;
  /** Exact (from a complete listing) or sampled (from checked candidates near the top of a ranking). */
  readonly basis: "exact" | "sampled";
  /**
   * The share of the top of rankings the principal may read, sampled by post-filter scans (smoothed): what
   * sizes a scan's window, since relevance and permission are rarely independent.
   */
  readonly rankingShare?: number;
  /** Readable resources per readable chunk, when a listing measured it. */
  readonly resourcesPerChunk?: number;
  /**
   * From this principal's container pre-filter runs: what one took (smoothed), and the share of the
   * chunks in their containers they may read.
   */
  readonly container?: { readonly ms: number; readonly share: number };
}

/**
 * Estimates per principal, bounded (least recently used out) and expiring: they are hints, and a grant or
 * revocation made elsewhere changes them without telling this process. `clear()` drops them all.
 */
export class PrincipalEstimates {
  private readonly entries = new Map<string, { estimate: PrincipalEstimate; expires: number }>();

  constructor(
    private readonly options: {
      readonly maxEntries: number;
      readonly ttlMs: number;
      readonly now: () => number;
    },
  ) {}

  get(key: string): PrincipalEstimate | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.options.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // Re-insert: Map order is the recency order the eviction relies on.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.estimate;
  }

  set(key: string, estimate: PrincipalEstimate): void {
    this.entries.delete(key);
    this.entries.set(key, { estimate, expires: this.options.now() + this.options.ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A sampled share: allowed of checked, pulled towards the middle when the sample is small (Laplace). */
export function sampledShare(allowed: number, checked: number): number {
  return (allowed + 0.5) / (checked + 1);
}
