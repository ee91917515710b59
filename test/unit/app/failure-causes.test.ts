/**
 * A failure keeps its cause from the adapter to the request's log line, and never reaches the caller:
 * a bulk-check item that ran out of depth and one that hit a bug in the adapter each appear in the
 * server log under the request id with their own cause, while the caller sees the same 503 body.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { AppError } from "../../../src/core/errors.ts";
import { checkFailure } from "../../../src/ports/authorizer.ts";
import { createSmallBank, postJson } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

/** A stub around the real authorizer: its first bulk-check item fails with `error`. */
async function bankWhoseFirstItemFails(error: unknown) {
  const backing = await createEmbeddedAuthorizer();
  const lines: Record<string, unknown>[] = [];
  const bank = await createSmallBank({
    backing,
    authorizer: overridingAuthorizer(backing, {
      checkMany: async (requests) => {
        const outcomes = await backing.checkMany(requests);
        return outcomes.map((outcome, index) => (index === 0 ? checkFailure(error) : outcome));
      },
    }),
    retrieval: { strategy: "post-filter" },
    logger: pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
  });
  return { ...bank, lines };
}

describe("a failed check keeps its cause, for the log only", () => {
  const cases = [
    [
      "a depth limit",
      new AppError("DEPTH_EXCEEDED", "the check needs more nested evaluations (stub)"),
      "more nested evaluations",
    ],
    [
      "a bug in the adapter",
      new TypeError("cannot read properties of undefined (stub)"),
      "cannot read properties",
    ],
  ] as const;

  it.each(cases)("%s", async (_name, error, causeText) => {
    const bank = await bankWhoseFirstItemFails(error);
    const token = await signTestToken({ sub: "maria" });
    const response = await postJson(bank.app, "/v1/search", { query: "disputes", k: 3 }, token);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(JSON.stringify(body)).not.toContain("stub");

    const logged = bank.lines.filter(
      (line) => line.requestId === body.error.requestId && line.err !== undefined,
    );
    expect(logged).toHaveLength(1);
    const err = logged[0]?.err as { message: string; stack: string };
    // pino prints the cause chain in the message and the stack.
    expect(`${err.message}\n${err.stack}`).toContain(causeText);
    expect(bank.modelCalls()).toBe(0);
  });

  it("the caller sees the same body for both", async () => {
    const seen: unknown[] = [];
    for (const [, error] of cases) {
      const bank = await bankWhoseFirstItemFails(error);
      const response = await postJson(
        bank.app,
        "/v1/search",
        { query: "disputes", k: 3 },
        await signTestToken({ sub: "maria" }),
      );
      const { error: body } = (await response.json()) as { error: Record<string, unknown> };
      seen.push({ ...body, requestId: undefined });
    }
    expect(seen[0]).toEqual(seen[1]);
  });
});
