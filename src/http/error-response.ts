import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "../core/errors.ts";

/** One table from error code to HTTP status; `satisfies` keeps it exhaustive when a code is added. */
export const STATUS_BY_CODE = {
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  SCHEMA_INVALID: 400,
  DATA_INVALID: 400,
  // Depth is exceeded by the authorizer mid-request: the caller cannot fix it, and it must deny.
  DEPTH_EXCEEDED: 503,
  UPSTREAM_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>;

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly requestId: string };
}

export function errorResponse(c: Context, code: ErrorCode, message: string): Response {
  const body: ErrorBody = { error: { code, message, requestId: String(c.get("requestId") ?? "") } };
  const response = c.json(body, STATUS_BY_CODE[code]);
  if (code === "UNAUTHENTICATED") {
    // RFC 6750: tell the client which scheme to use, without echoing anything of the token.
    response.headers.set("WWW-Authenticate", 'Bearer error="invalid_token"');
  }
  return response;
}
