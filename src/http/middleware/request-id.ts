import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";

/** A caller's `X-Request-Id` is kept (for correlation) only when it is short printable ASCII. */
const CALLER_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Every request gets clearance's own id (a UUID), in the log, the audit trail and the `X-Request-Id`
 * response header. A caller's `X-Request-Id` is never adopted: a caller could otherwise make its audit
 * record share an id with someone else's. It is kept apart, as `callerRequestId`.
 */
export function requestIds(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = randomUUID();
    c.set("requestId", id);
    const theirs = c.req.header("x-request-id");
    if (theirs !== undefined && CALLER_REQUEST_ID.test(theirs)) c.set("callerRequestId", theirs);
    c.header("X-Request-Id", id);
    await next();
  };
}
