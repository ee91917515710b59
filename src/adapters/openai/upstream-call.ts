import { AppError } from "../../core/errors.ts";

/**
 * Runs one call to the OpenAI-compatible endpoint under a deadline, and turns every failure into
 * `UPSTREAM_UNAVAILABLE`. The deadline holds even when the client library retries or does not honour the
 * abort signal. The message names the service and the HTTP status only: library messages may quote the
 * request or the response (the prompt, passage text), so they stay in `cause`, for the log.
 */
export async function callUpstream<T>(
  service: string,
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new AppError("UPSTREAM_UNAVAILABLE", `${service} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal), deadline]);
  } catch (error) {
    throw upstreamError(service, timeoutMs, error, controller.signal.aborted);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `error` from a call to `service` as the `AppError` to throw: itself when it is one, a timeout when the
 * deadline aborted the call, else a failure naming the HTTP status only.
 */
export function upstreamError(
  service: string,
  timeoutMs: number,
  error: unknown,
  aborted: boolean,
): AppError {
  if (error instanceof AppError) return error;
  if (aborted || isTimeout(error))
    return new AppError("UPSTREAM_UNAVAILABLE", `${service} did not answer within ${timeoutMs} ms`, {
      cause: error,
    });
  const status = statusOf(error);
  return new AppError("UPSTREAM_UNAVAILABLE", `${service} failed${status ? ` (HTTP ${status})` : ""}`, {
    cause: error,
  });
}

/** An error for a response that arrived but cannot be used; the message never quotes the response. */
export function badResponse(service: string, why: string): AppError {
  return new AppError("UPSTREAM_UNAVAILABLE", `${service} returned an unusable response: ${why}`);
}

export function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new AppError("BAD_REQUEST", "timeoutMs must be a positive number");
}

function isTimeout(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === "TimeoutError" || name === "AbortError" || name === "APIConnectionTimeoutError";
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === "number" ? status : undefined;
}
