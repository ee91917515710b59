import type { MiddlewareHandler } from "hono";
import { AppError } from "../../core/errors.ts";
import type { AppEnv } from "../app-env.ts";
import type { TokenVerifier } from "../token-verifier.ts";

const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*)$/;

/** Requires `Authorization: Bearer <JWT>` and sets the request's principal; anything else is a 401. */
export function authenticate(verifier: TokenVerifier): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (header === undefined || header.trim() === "") {
      throw new AppError("UNAUTHENTICATED", "an Authorization: Bearer token is required");
    }
    const match = BEARER.exec(header.trim());
    if (!match?.[1]) {
      throw new AppError("UNAUTHENTICATED", "the Authorization header must use the Bearer scheme");
    }
    c.set("principal", await verifier.verify(match[1]));
    await next();
  };
}
