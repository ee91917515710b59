import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../core/principal.ts";

/** What a request's middleware hands its handlers, and what a handler leaves for the request log line. */
export interface AppEnv {
  Variables: {
    /** clearance's own id for the request. */
    requestId: string;
    /** The caller's `X-Request-Id`, when it sent a well-formed one; never used as `requestId`. */
    callerRequestId: string | undefined;
    principal: Principal;
    /** Counts and timings for the one log line per request; never text, prompts or tokens. */
    logFields: Record<string, unknown>;
    /** Where this resource's OAuth metadata is (RFC 9728), for the challenge of every 401 and 403. */
    resourceMetadataUrl: string;
  };
}

export type App = OpenAPIHono<AppEnv>;
