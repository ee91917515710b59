/**
 * Prometheus metrics for one app: requests, retrieval strategies and their costs, upstream failures.
 * Every label has a small fixed set of values (route patterns, methods, statuses, strategy and upstream
 * names): no principal, query, document or chunk id ever becomes a label, so `/metrics` can be scraped
 * without a token and its series stay bounded.
 */
import { Counter, collectDefaultMetrics, Histogram, type PrometheusContentType, Registry } from "prom-client";
import type { Metrics, UpstreamLabel } from "../../ports/telemetry.ts";

export interface MetricsOptions {
  /**
   * Also export the process and Node.js runtime metrics (`process_*`, `nodejs_*`). Off by default: they
   * start process-wide observers, and tests build many apps in one process.
   */
  readonly defaultMetrics?: boolean;
}

/** Every label value of `clearance_upstream_errors_total`; the `Record` keeps it exhaustive. */
const UPSTREAM_LABELS = Object.keys({
  authorizer: true,
  "vector-store": true,
  embedder: true,
  model: true,
  "audit-log": true,
  unknown: true,
} satisfies Record<UpstreamLabel, true>) as UpstreamLabel[];

/** Methods outside this list (the HTTP parser admits a few dozen) share one label value. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function createPrometheusMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry<PrometheusContentType>();
  const registers = [registry];
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: "clearance_http_requests_total",
    help: "HTTP requests answered, by matched route pattern, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: "clearance_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by matched route pattern and method",
    labelNames: ["route", "method"] as const,
    // Up to the model's default 30 s timeout: /v1/answer waits for the model.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const retrievals = new Counter({
    name: "clearance_retrievals_total",
    help: "Authorized retrievals, by the strategy chosen, the one that finished and what chose it",
    labelNames: ["strategy", "finished_with", "chosen_by"] as const,
    registers,
  });
  const candidates = new Histogram({
    name: "clearance_retrieval_candidates",
    help: "Chunks read from the vector store for one retrieval",
    buckets: [0, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000],
    registers,
  });
  const authzCalls = new Histogram({
    name: "clearance_retrieval_authz_calls",
    help: "Calls to the authorizer for one retrieval (each lookup page, each bulk check)",
    buckets: [0, 1, 2, 3, 5, 10, 20, 50, 100, 500],
    registers,
  });
  const authzRounds = new Histogram({
    name: "clearance_retrieval_authz_rounds",
    help: "Sequential authorization steps for one retrieval (lookup pages in sequence, check rounds)",
    buckets: [0, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64],
    registers,
  });
  const retrievalDuration = new Histogram({
    name: "clearance_retrieval_duration_seconds",
    help: "Time to retrieve the authorized top-k (embedding, search and authorization), by strategy",
    labelNames: ["strategy"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const withheld = new Counter({
    name: "clearance_retrieval_withheld_total",
    help: "Chunks withheld from callers because the principal may not view them (never told to the caller)",
    registers,
  });
  const upstreamErrors = new Counter({
    name: "clearance_upstream_errors_total",
    help: "Requests that failed because an upstream failed, by upstream",
    labelNames: ["upstream"] as const,
    registers,
  });
  // Present at zero from the start, so an alert on the rate sees the first failure.
  for (const upstream of UPSTREAM_LABELS) upstreamErrors.inc({ upstream }, 0);

  return {
    contentType: registry.contentType,
    observeRequest({ route, method, status, seconds }) {
      const methodLabel = KNOWN_METHODS.has(method) ? method : "other";
      httpRequests.inc({ route, method: methodLabel, status: String(status) });
      httpDuration.observe({ route, method: methodLabel }, seconds);
    },
    observeRetrieval(stats) {
      retrievals.inc({
        strategy: stats.strategy,
        finished_with: stats.finishedWith,
        chosen_by: stats.chosenBy,
      });
      candidates.observe(stats.candidates);
      authzCalls.observe(stats.authzCalls);
      authzRounds.observe(stats.authzRounds);
      retrievalDuration.observe({ strategy: stats.strategy }, stats.timingsMs.total / 1_000);
      withheld.inc(stats.withheld);
    },
    countUpstreamError(upstream) {
      upstreamErrors.inc({ upstream });
    },
    render: () => registry.metrics(),
  };
}
