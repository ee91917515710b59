import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { type Metrics, UNMATCHED_ROUTE } from "../../ports/telemetry.ts";
import type { AppEnv } from "../app-env.ts";

/** Times every request and counts it by matched route pattern, method and status. */
export function requestMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    metrics.observeRequest({
      route: routeLabel(c),
      method: c.req.method,
      status: c.res.status,
      seconds: (performance.now() - started) / 1_000,
    });
  };
}

/**
 * The pattern of the route that answers the request, never the raw path: a path can carry ids, and every
 * distinct path would be a new series. Middleware (`app.use`, method `ALL`) matches unknown paths too, so
 * a request that matched only middleware is "unmatched", whatever status it got (a 404, or a 401 first).
 */
function routeLabel(c: Context): string {
  return matchedRoutes(c).findLast((route) => route.method !== "ALL")?.path ?? UNMATCHED_ROUTE;
}
