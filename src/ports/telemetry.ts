/**
 * What the application layer reports besides its answers: metrics and structured log lines. The server
 * plugs in Prometheus and pino; tests plug in recorders. Neither ever receives a query, a passage, a
 * prompt or a token.
 */
import type { Upstream } from "../core/errors.ts";
import type { RetrievalStats } from "../core/retrieval.ts";

/** An `UPSTREAM_UNAVAILABLE` that does not say where it came from is counted as `unknown`. */
export type UpstreamLabel = Upstream | "unknown";

export interface ApplicationMetrics {
  /** One retrieval's strategy, counts and timings. */
  observeRetrieval(stats: RetrievalStats): void;
  /** A request failed because of `upstream`. */
  countUpstreamError(upstream: UpstreamLabel): void;
}

/** The route label of a request that matched no route, so unknown paths cannot grow the series. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Every series of a server: the application's, and the requests each surface answered. Labels have small
 * fixed sets of values (route patterns, methods, statuses, strategy and upstream names): no principal,
 * query, document or chunk id ever becomes a label.
 */
export interface Metrics extends ApplicationMetrics {
  /** The exposition format's content type, e.g. `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** `route` is the matched pattern (`/v1/search`) or {@link UNMATCHED_ROUTE}, never the raw path. */
  observeRequest(request: {
    readonly route: string;
    readonly method: string;
    readonly status: number;
    readonly seconds: number;
  }): void;
  /** The exposition text of every series. */
  render(): Promise<string>;
}

/** The subset of pino's logger the application uses: a fields object first, then a message. */
export interface Logger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}
