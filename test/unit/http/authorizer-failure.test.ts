import { describe, expect, it } from "vitest";
import { AppError } from "../../../src/core/errors.ts";
import type { Authorizer, LookupResourcesRequest } from "../../../src/ports/authorizer.ts";
import { createSmallBank, postJson } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

/**
 * Fault-injecting stubs around the real small-bank authorizer: each fails lookups in one way. Every one
 * of them must deny the whole request with 503, return no passage, and never reach the model.
 */
type Fault = (real: Authorizer, request: LookupResourcesRequest) => ReturnType<Authorizer["lookupResources"]>;

const faults: Record<string, Fault> = {
  "every lookup throws": async () => {
    throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
  },
  "a plain Error (not an AppError)": async () => {
    throw new Error("socket hang up");
  },
  "depth exceeded": async () => {
    throw new AppError("DEPTH_EXCEEDED", "too deep");
  },
  "the agent's lookup fails after the user's succeeds": async (real, request) => {
    if (request.subject.type === "agent") throw new AppError("UPSTREAM_UNAVAILABLE", "timeout");
    return real.lookupResources(request);
  },
  "the second page fails": async (real, request) => {
    if (request.cursor !== undefined) throw new AppError("UPSTREAM_UNAVAILABLE", "timeout on page 2");
    const page = await real.lookupResources({ ...request, pageSize: 1 });
    return page;
  },
  "a cursor that repeats (a list that never ends)": async (real, request) => {
    const page = await real.lookupResources({ ...request, pageSize: 1 });
    return { ids: page.ids, nextCursor: "same-cursor" };
  },
};

function withFault(real: Authorizer, fault: Fault): Authorizer {
  return overridingAuthorizer(real, {
    lookupResources: (request) => fault(real, request),
    check: async () => {
      throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
    },
    checkMany: async () => {
      throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
    },
  });
}

describe("an authorizer that fails denies the whole request", () => {
  for (const [name, fault] of Object.entries(faults)) {
    for (const path of ["/v1/search", "/v1/answer", "/v1/documents"]) {
      it(`${name}: ${path} → 503, no passage, no model call`, async () => {
        const healthy = await createSmallBank();
        const bank = await createSmallBank({ authorizer: withFault(healthy.authorizer, fault) });
        const token = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
        const response =
          path === "/v1/documents"
            ? await bank.app.request(path, { headers: { authorization: `Bearer ${token}` } })
            : await postJson(bank.app, path, { query: "card transaction dispute", k: 20 }, token);
        expect(response.status).toBe(503);
        const body = (await response.json()) as Record<string, unknown> & { error: { code: string } };
        expect(body.error.code).toBe("UPSTREAM_UNAVAILABLE");
        expect(Object.keys(body)).toEqual(["error"]);
        expect(bank.modelCalls()).toBe(0);
        // Audited as failed, with nothing returned: the principal was established.
        expect(bank.auditLog.records).toHaveLength(1);
        expect(bank.auditLog.records[0]).toMatchObject({
          userId: "maria",
          agentIds: ["support-assistant"],
          outcome: { status: "failed", code: "UPSTREAM_UNAVAILABLE" },
        });
        expect(bank.auditLog.records[0]?.returned ?? []).toEqual([]);
      });
    }
  }

  it("an audit log that cannot be written fails the request with 503 and returns nothing", async () => {
    const bank = await createSmallBank({
      failingAuditLog: {
        record: async () => {
          throw new AppError("UPSTREAM_UNAVAILABLE", "disk full");
        },
        probe: async () => {},
        close: async () => {},
      },
    });
    const response = await postJson(
      bank.app,
      "/v1/search",
      { query: "card transaction dispute" },
      await signTestToken(),
    );
    expect(response.status).toBe(503);
    expect(Object.keys((await response.json()) as object)).toEqual(["error"]);
  });
});
