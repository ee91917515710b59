import type { Context } from "hono";
import type { Caller } from "../app/caller.ts";
import type { AppEnv } from "./app-env.ts";

/** The caller of an authenticated route: the token's principal and this request's id. */
export function callerOf(c: Context<AppEnv>, surface: string): Caller {
  return { principal: c.get("principal"), requestId: c.get("requestId"), surface };
}
