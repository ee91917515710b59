import { type components, errorErrorCodeValues } from "./openapi-types.ts";

/** A code clearance answers with (`{"error": {"code", ...}}`), as its API description lists them. */
export type ServerErrorCode = components["schemas"]["Error"]["error"]["code"];

/**
 * What a caller of clearance can be told went wrong: a code clearance answered with, or one of the
 * client's own:
 * - `UNREACHABLE`: no answer at all (connection refused, DNS, the client's timeout); the cause is kept;
 * - `UNEXPECTED_RESPONSE`: an answer that is not clearance's (a proxy's HTML 502, a 200 without a body).
 */
export type ClearanceErrorCode = ServerErrorCode | "UNREACHABLE" | "UNEXPECTED_RESPONSE";

const SERVER_CODES: ReadonlySet<string> = new Set(errorErrorCodeValues);

/**
 * The one error the client and the retriever throw. Branch on `code`, not on the message: 401
 * `UNAUTHENTICATED` (get a fresh token), 403 `INSUFFICIENT_SCOPE` / `CONSENT_REQUIRED` / `FORBIDDEN`, 503
 * `UPSTREAM_UNAVAILABLE` (clearance denied rather than guess: retry later). `requestId` is what clearance
 * logged the failure under; quote it to the bank's operators.
 */
export class ClearanceError extends Error {
  readonly code: ClearanceErrorCode;
  /** The HTTP status, or undefined when no response arrived (`UNREACHABLE`). */
  readonly status: number | undefined;
  /** clearance's request id, when the response came from clearance. */
  readonly requestId: string | undefined;

  constructor(
    code: ClearanceErrorCode,
    message: string,
    options: { status?: number; requestId?: string; cause?: unknown } = {},
  ) {
    super(`${code}: ${message}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "ClearanceError";
    this.code = code;
    this.status = options.status;
    this.requestId = options.requestId;
  }
}

export function isClearanceError(error: unknown, code?: ClearanceErrorCode): error is ClearanceError {
  return error instanceof ClearanceError && (code === undefined || error.code === code);
}

/**
 * The error a non-2xx response stands for. A body in clearance's shape gives its code, message and request
 * id; anything else (a gateway's page, a code this client does not know) is `UNEXPECTED_RESPONSE` with the
 * status, so that nothing is mistaken for a result.
 */
export async function errorFromResponse(response: Response): Promise<ClearanceError> {
  const text = await response.text().catch(() => "");
  const error = parseErrorBody(text);
  if (error === undefined) {
    return new ClearanceError(
      "UNEXPECTED_RESPONSE",
      `HTTP ${response.status} without clearance's error body (${response.headers.get("content-type") ?? "no content type"})`,
      { status: response.status },
    );
  }
  return new ClearanceError(error.code, error.message, {
    status: response.status,
    requestId: error.requestId,
  });
}

function parseErrorBody(
  text: string,
): { code: ServerErrorCode; message: string; requestId: string } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (body as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message, requestId } = error;
  if (typeof code !== "string" || !SERVER_CODES.has(code)) return undefined;
  if (typeof message !== "string" || typeof requestId !== "string") return undefined;
  return { code: code as ServerErrorCode, message, requestId };
}
