import { createRoute, z } from "@hono/zod-openapi";
import type { Metrics } from "../../ports/telemetry.ts";
import type { App } from "../app-env.ts";

/**
 * `GET /metrics`, on the metrics listener only (see ../metrics-app.ts), never the public one: the series
 * name no principal, query or document, but they count what callers were refused.
 */
export function registerMetricsRoute(app: App, metrics: Metrics): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics: requests, retrieval strategies and costs, upstream failures",
      description:
        "Prometheus text format 0.0.4, on the metrics listener (METRICS_HOST:METRICS_PORT) only. Names no " +
        "principal, query or document.",
      responses: {
        200: {
          description: "The exposition text",
          content: { [metrics.contentType]: { schema: z.string() } },
        },
      },
    }),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.text(await metrics.render(), 200, { "Content-Type": metrics.contentType });
    },
  );
}
