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
  CONSENT_REQUIRED: 403,
  INSUFFICIENT_SCOPE: 403,
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

export function errorResponse(
  c: Context,
  code: ErrorCode,
  message: string,
  options: { readonly scope?: string | undefined } = {},
): Response {
  const body: ErrorBody = { error: { code, message, requestId: String(c.get("requestId") ?? "") } };
  const response = c.json(body, STATUS_BY_CODE[code]);
  // RFC 9728: every challenge names where the resource's metadata is, so that a client can discover which
  // authorization server to get a token from.
  const metadata = c.get("resourceMetadataUrl") as string | undefined;
  const discovery = metadata === undefined ? "" : `, resource_metadata="${metadata}"`;
  if (code === "UNAUTHENTICATED") {
    // RFC 6750: tell the client which scheme to use, without echoing anything of the token.
    response.headers.set("WWW-Authenticate", `Bearer error="invalid_token"${discovery}`);
  } else if (code === "INSUFFICIENT_SCOPE") {
    // RFC 6750 section 3.1: the scope the request needs.
    const scope = options.scope === undefined ? "" : `, scope="${options.scope}"`;
    response.headers.set("WWW-Authenticate", `Bearer error="insufficient_scope"${scope}${discovery}`);
  }
  return response;
}
