/**
 * The one error type of clearance. `code` is stable and machine-readable; `message` is for people and
 * never carries a token, a prompt, passage text or a secret. The HTTP layer maps codes to statuses.
 */
export type ErrorCode =
  | "BAD_REQUEST"
  /** A request body larger than the server accepts. */
  | "PAYLOAD_TOO_LARGE"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  /** A Permify schema that does not parse or compile, or that the embedded evaluator cannot run exactly. */
  | "SCHEMA_INVALID"
  /** A relationship or attribute that does not fit the schema or Permify's identifier rules. */
  | "DATA_INVALID"
  /** A check needed more nested evaluations than the configured depth: an error, never a silent deny. */
  | "DEPTH_EXCEEDED"
  /** A dependency (Permify, Qdrant, the model, the data directory) failed or timed out. */
  | "UPSTREAM_UNAVAILABLE"
  | "INTERNAL";

export class AppError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
