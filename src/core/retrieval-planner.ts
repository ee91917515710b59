/**
 * How the adaptive strategy chooses (`choose`): a cost model of the plugged-in authorizer and vector store,
 * learned from the calls retrieval makes, and per principal an estimate of how much of the store they may
 * read and what each strategy took for them (`nextEstimate`). Both only steer the choice: every strategy
 * returns the same passages, so a wrong or stale estimate costs time, never correctness.
 */
import { LRUCache } from "lru-cache";
import type { Observation } from "./retrieval-meter.ts";
import type { StrategyName, StrategyOutcome } from "./retrieval-types.ts";

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
  /** From this principal's container scans: the share of the chunks in their containers they may read. */
  readonly containerShare?: number;
  /** Requests this estimate has seen, which dates the measurements. */
  readonly runs: number;
  /** What each strategy took for this principal: its last few times (ms), and the run that last timed it. */
  readonly measured: Readonly<Partial<Record<StrategyName, Measured>>>;
}

interface Measured {
  readonly samples: readonly number[];
  readonly at: number;
}

/** How many times per strategy are kept; their median is the strategy's cost, so one slow run (a pause) does not decide. */
const SAMPLES_KEPT = 5;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Estimates per principal, bounded (least recently used out) and expiring: they are hints, and grants and
 * revocations are written by other processes (the CLI, ingest, Permify's other clients) without telling
 * this one, so an estimate lives a minute rather than until a write it would never hear of.
 */
export function createPrincipalEstimates(options: {
  readonly maxEntries: number;
  readonly ttlMs: number;
}): LRUCache<string, PrincipalEstimate> {
  return new LRUCache<string, PrincipalEstimate>({ max: options.maxEntries, ttl: options.ttlMs });
}

/** A sampled share: allowed of checked, pulled towards the middle when the sample is small (Laplace). */
export function sampledShare(allowed: number, checked: number): number {
  return (allowed + 0.5) / (checked + 1);
}

/**
 * Chunks a scan should read to expect `needed` allowed ones at `share`, with a margin: too small a window
 * costs another round (a search and a bulk check), too large one checks candidates it will not use.
 */
export function windowFor(needed: number, share: number): number {
  return Math.ceil((needed / Math.max(share, 1e-6)) * 1.2) + 2;
}

export function predictPreFilter(
  costs: CostModel,
  estimate: Pick<PrincipalEstimate, "share" | "resourcesPerChunk">,
  total: number,
): number {
  const readableChunks = estimate.share * total;
  const listedIds = readableChunks * (estimate.resourcesPerChunk ?? 0.2);
  return costs.listing.predict(listedIds) + costs.search.predict(readableChunks);
}

export function predictScan(
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
export const CONTAINER_SHARE_GUESS = 0.5;

/**
 * Before the container pre-filter has run for a principal: a guess that its containers are a tenth as many
 * ids as the resources it reads, that their scope holds twice the chunks it reads, and so that half the
 * candidates pass. Its first run replaces the guess with what it measured.
 */
export function predictContainer(
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
 * A strategy that may cost at most this factor of the best (its fastest recent time, or its prediction) is
 * run now and then to (re)measure it: when it was never measured for the principal, every other run until
 * it has MIN_SAMPLES times (a first time is often a cold one), and then every REMEASURE_AFTER_RUNS runs.
 */
const EXPLORE_FACTOR = 2;
const MIN_SAMPLES = 3;
const REMEASURE_AFTER_RUNS = 16;

/**
 * The strategy expected to be fastest: the median of what it took for this principal when measured, else
 * the cost model's prediction. Predictions are coarse and times drift, so a strategy close to the best is
 * run once when it was never measured, and again when its measurement is old; that costs at most
 * EXPLORE_FACTOR on one request in REMEASURE_AFTER_RUNS. Without an estimate, a post-filter round is the
 * probe: a principal who may read much gets their answer from it, and the others' denials size the re-plan.
 */
/**
 * What switching a scan to pre-filter would cost at the share it has sampled: the principal's measured
 * pre-filter time when there is one, else the prediction.
 */
export function switchToPreFilterCost(
  costs: CostModel,
  estimate: PrincipalEstimate | undefined,
  sampledShare: number,
  total: number,
): number {
  const measured = estimate?.measured["pre-filter"];
  if (measured !== undefined) return median(measured.samples);
  return predictPreFilter(
    costs,
    {
      share: sampledShare,
      ...(estimate?.resourcesPerChunk === undefined ? {} : { resourcesPerChunk: estimate.resourcesPerChunk }),
    },
    total,
  );
}

export function choose(
  costs: CostModel,
  estimate: PrincipalEstimate | undefined,
  total: number,
  k: number,
  subjects: number,
  containersAvailable: boolean,
): StrategyName {
  if (estimate === undefined) return "post-filter";
  const predicted: [StrategyName, number][] = [
    ["pre-filter", predictPreFilter(costs, estimate, total)],
    ["post-filter", predictScan(costs, estimate.rankingShare ?? estimate.share, k, total, subjects)],
  ];
  if (containersAvailable) {
    predicted.push(["container-pre-filter", predictContainer(costs, estimate, k, total, subjects)]);
  }
  const cost = ([strategy, prediction]: [StrategyName, number]): number => {
    const measured = estimate.measured[strategy];
    return measured === undefined ? prediction : median(measured.samples);
  };
  const [best] = [...predicted].sort((a, b) => cost(a) - cost(b)) as [[StrategyName, number]];
  const due = predicted
    .filter(([strategy, prediction]) => {
      if (strategy === best[0]) return false;
      const measured = estimate.measured[strategy];
      if (measured === undefined) return prediction <= EXPLORE_FACTOR * cost(best);
      const age = estimate.runs - measured.at;
      const stale = measured.samples.length < MIN_SAMPLES ? age >= 2 : age >= REMEASURE_AFTER_RUNS;
      return stale && Math.min(...measured.samples) <= EXPLORE_FACTOR * cost(best);
    })
    .sort((a, b) => cost(a) - cost(b));
  return (due[0] ?? best)[0];
}

export function nextEstimate(
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
  const containerShare = learned?.of === "containers" ? learned.value : previous?.containerShare;
  const runs = (previous?.runs ?? 0) + 1;
  const samples = [...(previous?.measured[plan]?.samples ?? []), ms].slice(-SAMPLES_KEPT);
  const measured = { ...previous?.measured, [plan]: { samples, at: runs } };
  return {
    share: share.value,
    basis: share.basis,
    ...(resourcesPerChunk === undefined ? {} : { resourcesPerChunk }),
    ...(rankingShare === undefined ? {} : { rankingShare }),
    ...(containerShare === undefined ? {} : { containerShare }),
    runs,
    measured,
  };
}
