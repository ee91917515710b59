/**
 * What the application layer reports besides its answers: metrics and structured log lines. The server
 * plugs in Prometheus and pino; tests plug in recorders. Neither ever receives a query, a passage, a
 * prompt or a token.
 */
import type { Upstream } from "../core/errors.ts";
import type { RetrievalStats } from "../core/retrieval.ts";

export interface ApplicationMetrics {
  /** One retrieval's strategy, counts and timings. */
  observeRetrieval(stats: RetrievalStats): void;
  /** A request failed because of `upstream` (`unknown` when the failure does not say). */
  countUpstreamError(upstream: Upstream | "unknown"): void;
}

/** The subset of pino's logger the application uses: a fields object first, then a message. */
export interface Logger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}
