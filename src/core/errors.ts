/**
 * The one error type of clearance. `code` is stable and machine-readable; `message` is for people and
 * never carries a token, a prompt, passage text or a secret. The HTTP layer maps codes to statuses.
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  /** A request body larger than the server accepts. */
  "PAYLOAD_TOO_LARGE",
  /** An uploaded file of a type clearance does not read. */
  "UNSUPPORTED_MEDIA_TYPE",
  /** An uploaded file that does not parse (a corrupt PDF, text that is not UTF-8): nothing is written. */
  "UNPROCESSABLE",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  /** An agent in the token's delegation chain holds no live delegation (consent) from the user. */
  "CONSENT_REQUIRED",
  /** The token's scopes do not include the one the operation needs (RFC 6750 `insufficient_scope`). */
  "INSUFFICIENT_SCOPE",
  "NOT_FOUND",
  "CONFLICT",
  /** A Permify schema that does not parse or compile, or that the embedded evaluator cannot run exactly. */
  "SCHEMA_INVALID",
  /** A relationship or attribute that does not fit the schema or Permify's identifier rules. */
  "DATA_INVALID",
  /** A check needed more nested evaluations than the configured depth: an error, never a silent deny. */
  "DEPTH_EXCEEDED",
  /** A dependency (Permify, Qdrant, the model, the data directory) failed or timed out. */
  "UPSTREAM_UNAVAILABLE",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The dependency an `UPSTREAM_UNAVAILABLE` came from, for logs and metrics (never shown to callers). */
export type Upstream = "authorizer" | "vector-store" | "embedder" | "model" | "audit-log";

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly upstream?: Upstream;
  /** For `INSUFFICIENT_SCOPE`: the scope the operation needs, which surfaces name to the caller. */
  readonly scope?: string;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; upstream?: Upstream; scope?: string },
  ) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
    if (options?.upstream !== undefined) this.upstream = options.upstream;
    if (options?.scope !== undefined) this.scope = options.scope;
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/**
 * `error` as a failure of `component`, for logs and metrics: an `AppError` keeps its code and message (the
 * adapters' messages name no secret); anything else becomes `UPSTREAM_UNAVAILABLE` with `message`.
 */
export function upstreamFailure(component: Upstream, message: string, error: unknown): AppError {
  if (isAppError(error)) {
    return error.upstream !== undefined
      ? error
      : new AppError(error.code, error.message, { cause: error, upstream: component });
  }
  return new AppError("UPSTREAM_UNAVAILABLE", message, { cause: error, upstream: component });
}
