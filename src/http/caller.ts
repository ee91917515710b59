import type { Context } from "hono";
import type { Caller } from "../app/caller.ts";
import type { AppEnv } from "./app-env.ts";

/** The caller of an authenticated route: the token's principal, this request's ids, the route (`POST /v1/search`). */
export function callerOf(c: Context<AppEnv>, surface: string): Caller {
  const callerRequestId = c.get("callerRequestId");
  return {
    principal: c.get("principal"),
    requestId: c.get("requestId"),
    ...(callerRequestId === undefined ? {} : { callerRequestId }),
    surface,
  };
}
