import type { MiddlewareHandler } from "hono";
import { describePrincipal } from "../../core/principal.ts";
import type { Logger } from "../../ports/telemetry.ts";
import type { AppEnv } from "../app-env.ts";

/**
 * One structured line per request: method, route, status, duration, who asked, and the counts a handler
 * recorded. Headers, bodies, queries and passages never reach the log.
 */
export function requestLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    c.set("logFields", {});
    await next();
    const principal = c.get("principal");
    const status = c.res.status;
    logger[status >= 500 ? "error" : status >= 400 ? "warn" : "info"](
      {
        requestId: c.get("requestId"),
        method: c.req.method,
        path: c.req.path,
        status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        ...(principal ? { principal: describePrincipal(principal) } : {}),
        ...c.get("logFields"),
      },
      "request",
    );
  };
}
