/**
 * Catching what a call under test throws, so that a test can assert on it: `error.code`, never the
 * message alone (see DESIGN.md).
 */
import { expect } from "vitest";
import { type AppError, type ErrorCode, isAppError } from "../../src/core/errors.ts";

/** What `work` rejected with (or threw, before it returned a promise), or undefined when it fulfilled. */
async function caughtError(work: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (error) {
    return error;
  }
  return undefined;
}

/** What `fn` threw, or undefined when it returned. */
function thrownError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Asserts that `error` is an AppError, with `code` when one is given, and returns it. */
function expectAppErrorValue(error: unknown, code?: ErrorCode): AppError {
  expect(
    isAppError(error, code),
    `expected an AppError${code === undefined ? "" : ` ${code}`}, got ${String(error)}`,
  ).toBe(true);
  return error as AppError;
}

/**
 * Asserts that `work` rejects with an AppError (with `code` when given) and returns the error. Pass a
 * function when building the call's arguments may itself throw the error under test.
 */
export async function expectAppError(
  work: Promise<unknown> | (() => Promise<unknown>),
  code?: ErrorCode,
): Promise<AppError> {
  return expectAppErrorValue(await caughtError(work), code);
}

/** Asserts that `fn` throws an AppError (with `code` when given) and returns the error. */
export function expectThrownAppError(fn: () => unknown, code?: ErrorCode): AppError {
  return expectAppErrorValue(thrownError(fn), code);
}
