/**
 * One mapping from any failure to what a caller sees, for every surface: an `AppError` keeps its code and
 * message; anything else is `INTERNAL` ("internal error"). The cause goes to the log under the request id,
 * never to the caller, and a failure of an upstream is counted once.
 */
import { AppError, isAppError } from "../core/errors.ts";
import type { ApplicationMetrics, Logger } from "../ports/telemetry.ts";

const reported = new WeakSet<AppError>();

/** Codes whose cause an operator needs to see: something failed, as opposed to a caller's mistake. */
const LOGGED_CODES = new Set(["INTERNAL", "UPSTREAM_UNAVAILABLE", "DEPTH_EXCEEDED"]);

export interface FailureReport {
  readonly requestId: string;
  readonly surface: string;
}

/**
 * Logs and counts `error` (once, however many layers report it) and returns the `AppError` to show the
 * caller: the same error when it is one, else an `INTERNAL` whose cause is `error`.
 */
export function reportFailure(
  error: unknown,
  report: FailureReport,
  telemetry: { readonly metrics: ApplicationMetrics; readonly logger: Logger },
): AppError {
  const failure = isAppError(error) ? error : new AppError("INTERNAL", "internal error", { cause: error });
  if (reported.has(failure)) return failure;
  reported.add(failure);
  if (failure.upstream !== undefined || failure.code === "UPSTREAM_UNAVAILABLE") {
    telemetry.metrics.countUpstreamError(failure.upstream ?? "unknown");
  }
  if (LOGGED_CODES.has(failure.code)) {
    telemetry.logger.error(
      { requestId: report.requestId, surface: report.surface, code: failure.code, err: failure },
      failure.code === "INTERNAL" && failure.message === "internal error"
        ? "unhandled error"
        : failure.message,
    );
  }
  return failure;
}

/** The message a caller may see: an internal error's own message may name internals. */
export function publicMessage(error: AppError): string {
  return error.code === "INTERNAL" ? "internal error" : error.message;
}
