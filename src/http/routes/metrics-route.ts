import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app-env.ts";
import type { Metrics } from "../metrics.ts";

/**
 * `GET /metrics`, without a token, like `/healthz`: the series carry counts, durations, route patterns,
 * strategies and upstream names, never a principal, a query or a document. Keep it on an internal network.
 */
export function registerMetricsRoute(app: App, metrics: Metrics): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics: requests, retrieval strategies and costs, upstream failures",
      description:
        "Prometheus text format 0.0.4. Needs no token and names no principal, query or document; serve it " +
        "to the internal network only.",
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
