/**
 * The metrics listener's app: `GET /metrics` and nothing else, served on its own host and port
 * (METRICS_HOST, loopback by default; METRICS_PORT), never on the public listener.
 *
 * Why apart: the series count, across every request, what the authorizer withheld and how hard each
 * retrieval had to look. Read by an anonymous caller between two of their own queries, such counters
 * tell whether restricted documents match a query and how large the restricted corpus is. They are for
 * operators; no caller may reach them.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import type { Metrics } from "../ports/telemetry.ts";
import type { AppEnv } from "./app-env.ts";
import { errorResponse } from "./error-response.ts";
import { registerMetricsRoute } from "./routes/metrics-route.ts";

export function createMetricsApp(metrics: Metrics): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.use("*", requestId());
  registerMetricsRoute(app, metrics);
  app.notFound((c) => errorResponse(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  return app;
}
