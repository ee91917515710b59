import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../app-env.ts";

/**
 * CORS for browser clients on other origins (the bank's pages embedding the chat widget). It runs before
 * authentication, so a preflight (which carries no token, by the spec) is answered instead of refused
 * with 401. Only the configured origins are allowed, by exact match; none by default. Credentials are
 * never allowed: the API authenticates by Bearer token only, so no cookie can make a request on a
 * user's behalf from another origin.
 */
export function corsForOrigins(allowedOrigins: readonly string[]): MiddlewareHandler<AppEnv> {
  const allowed = new Set(allowedOrigins);
  const allowOrigin = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ["GET", "POST"],
    allowHeaders: ["Authorization", "Content-Type", "Accept"],
    exposeHeaders: ["X-Request-Id", "WWW-Authenticate", "Retry-After"],
    credentials: false,
    maxAge: 600,
  });
  // A request from no origin or another one gets no CORS header at all: nothing to read from them.
  return (c, next) => (allowed.has(c.req.header("origin") ?? "") ? allowOrigin(c, next) : next());
}
