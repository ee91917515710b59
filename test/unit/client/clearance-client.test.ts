/**
 * The typed client against a real clearance (the small bank on its embedded adapters), called in process
 * through the client's `fetch` option: what it returns is what the server answered, and every failure
 * arrives as a `ClearanceError` carrying clearance's code, never as an empty result.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ClearanceError,
  type ClearanceErrorCode,
  createClearanceClient,
  isClearanceError,
} from "../../../src/client/index.ts";
import { AppError } from "../../../src/core/errors.ts";
import { freePort } from "../../helpers/free-port.ts";
import { createSmallBank, type SmallBank } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { FIXED_NOW_SECONDS, signTestToken } from "../../helpers/test-identity.ts";

const BASE_URL = "http://clearance.test";
const QUESTION = "card transaction dispute";

function clientOf(bank: SmallBank, token: string | (() => Promise<string>)) {
  return createClearanceClient({
    baseUrl: BASE_URL,
    token,
    fetch: async (request) => bank.app.fetch(request),
  });
}

/** What `work` rejected with, asserted to be a ClearanceError with `code`. */
async function expectClearanceError(
  work: () => Promise<unknown>,
  code: ClearanceErrorCode,
): Promise<ClearanceError> {
  const error = await work().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isClearanceError(error, code), `expected ClearanceError ${code}, got ${String(error)}`).toBe(true);
  return error as ClearanceError;
}

/** An authorizer whose every call fails, as a Permify that is down. */
function downAuthorizer(bank: SmallBank) {
  const down = async () => {
    throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
  };
  return overridingAuthorizer(bank.authorizer, { check: down, checkMany: down, lookupResources: down });
}

describe("the typed client returns what clearance answers for the caller's token", () => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank();
  });

  it("search: Maria's passages, typed, from her documents only", async () => {
    const client = clientOf(bank, await signTestToken({ sub: "maria" }));
    const { passages } = await client.search({ query: QUESTION, k: 20 });
    expect(passages.map((passage) => passage.documentId).sort()).toEqual([
      "help-disputes",
      "maria-statement",
    ]);
    for (const passage of passages) {
      expect(passage.chunkId).toMatch(/^[a-z-]+:\d+$/);
      expect(passage.text.length).toBeGreaterThan(0);
      expect(typeof passage.score).toBe("number");
      expect(passage.sectionId).toBeNull();
    }
  });

  it("search: Victor gets the memo Maria never does, and nothing of hers", async () => {
    const maria = clientOf(bank, await signTestToken({ sub: "maria" }));
    const victor = clientOf(bank, await signTestToken({ sub: "victor" }));
    const forVictor = (await victor.search({ query: QUESTION, k: 20 })).passages.map((p) => p.documentId);
    const forMaria = (await maria.search({ query: QUESTION, k: 20 })).passages.map((p) => p.documentId);
    expect(forVictor).toContain("exec-memo");
    expect(forVictor).not.toContain("maria-statement");
    expect(forMaria).not.toContain("exec-memo");
  });

  it("search: k is passed on, and left to the server when absent", async () => {
    const client = clientOf(bank, await signTestToken({ sub: "lena" }));
    expect((await client.search({ query: QUESTION, k: 1 })).passages).toHaveLength(1);
    expect((await client.search({ query: QUESTION })).passages.map((p) => p.chunkId).sort()).toEqual([
      "aml-legal-hold:0",
      "aml-policy:0",
    ]);
  });

  it("answer: the JSON answer, citing only passages it was given", async () => {
    const client = clientOf(bank, await signTestToken({ sub: "maria" }));
    const answer = await client.answer({ query: "How do I dispute a card transaction?", k: 5 });
    expect(answer.answer.length).toBeGreaterThan(0);
    const given = new Set(answer.passages.map((passage) => passage.chunkId));
    expect(answer.citations.length).toBeGreaterThan(0);
    for (const citation of answer.citations) expect(given.has(citation.chunkId)).toBe(true);
    expect(answer.passages.map((p) => p.documentId)).not.toContain("exec-memo");
  });

  it("readableDocuments: what the caller may read, by id", async () => {
    const client = clientOf(bank, await signTestToken({ sub: "tom" }));
    const { documents } = await client.readableDocuments();
    expect(documents.map((document) => document.id)).toEqual(["help-disputes"]);
  });

  it("api: every described route, typed, with the same errors", async () => {
    const client = clientOf(
      bank,
      await signTestToken({ sub: "maria", extraClaims: { scope: "delegations" } }),
    );
    const { data } = await client.api.GET("/v1/delegations");
    expect(data?.delegations.map((delegation) => delegation.agentId)).toContain("support-assistant");
    await expectClearanceError(() => client.api.GET("/v1/documents"), "INSUFFICIENT_SCOPE");
  });

  it("asks a token function before every request, so a renewed token is used", async () => {
    const tokens = [await signTestToken({ sub: "tom" }), await signTestToken({ sub: "victor" })];
    let asked = 0;
    const client = clientOf(bank, async () => tokens[Math.min(asked++, 1)] as string);
    expect((await client.readableDocuments()).documents.map((d) => d.id)).toEqual(["help-disputes"]);
    expect((await client.readableDocuments()).documents.map((d) => d.id).sort()).toEqual([
      "aml-policy",
      "exec-memo",
    ]);
    expect(asked).toBe(2);
  });
});

describe("every failure is a ClearanceError with clearance's code, status and request id", () => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank();
  });

  const refusals: { name: string; token: () => Promise<string>; code: ClearanceErrorCode; status: number }[] =
    [
      { name: "no token", token: async () => "", code: "UNAUTHENTICATED", status: 401 },
      {
        name: "a token signed by a key clearance does not trust",
        token: () => signTestToken({ signWith: "stranger" }),
        code: "UNAUTHENTICATED",
        status: 401,
      },
      {
        name: "an expired token",
        token: () => signTestToken({ issuedAt: FIXED_NOW_SECONDS - 700, expiresAt: FIXED_NOW_SECONDS - 1 }),
        code: "UNAUTHENTICATED",
        status: 401,
      },
      {
        name: "a token without the search scope",
        token: () => signTestToken({ sub: "maria", extraClaims: { scope: "memory" } }),
        code: "INSUFFICIENT_SCOPE",
        status: 403,
      },
      {
        name: "an agent acting for a user who never consented",
        token: () => signTestToken({ sub: "nadia", agents: ["support-assistant"] }),
        code: "CONSENT_REQUIRED",
        status: 403,
      },
    ];
  for (const { name, token, code, status } of refusals) {
    it(`${name} → ${status} ${code}, from search and from readableDocuments`, async () => {
      const client = clientOf(bank, await token());
      for (const call of [() => client.search({ query: QUESTION }), () => client.readableDocuments()]) {
        const error = await expectClearanceError(call, code);
        expect(error.status).toBe(status);
        expect(error.requestId).toMatch(/.+/);
      }
    });
  }

  it("an empty query → 400 BAD_REQUEST", async () => {
    const client = clientOf(bank, await signTestToken({ sub: "maria" }));
    const error = await expectClearanceError(() => client.search({ query: " " }), "BAD_REQUEST");
    expect(error.status).toBe(400);
  });

  it("an authorizer that is down → 503 UPSTREAM_UNAVAILABLE for search, answer and documents", async () => {
    const failing = await createSmallBank({ authorizer: downAuthorizer(bank) });
    const client = clientOf(failing, await signTestToken({ sub: "maria" }));
    for (const call of [
      () => client.search({ query: QUESTION }),
      () => client.answer({ query: QUESTION }),
      () => client.readableDocuments(),
    ]) {
      const error = await expectClearanceError(call, "UPSTREAM_UNAVAILABLE");
      expect(error.status).toBe(503);
      expect(error.requestId).toMatch(/.+/);
    }
    expect(failing.modelCalls()).toBe(0);
  });

  it("a response that is not clearance's (a gateway's 502 page) → UNEXPECTED_RESPONSE with its status", async () => {
    const client = createClearanceClient({
      baseUrl: BASE_URL,
      token: "t",
      fetch: async () =>
        new Response("<html>Bad Gateway</html>", { status: 502, headers: { "content-type": "text/html" } }),
    });
    const error = await expectClearanceError(() => client.search({ query: QUESTION }), "UNEXPECTED_RESPONSE");
    expect(error.status).toBe(502);
    expect(error.requestId).toBeUndefined();
  });

  it("nothing listening → UNREACHABLE, with the network error as its cause", async () => {
    const client = createClearanceClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, token: "t" });
    const error = await expectClearanceError(() => client.search({ query: QUESTION }), "UNREACHABLE");
    expect(error.status).toBeUndefined();
    expect(error.cause).toBeDefined();
  });

  it("no answer within the timeout → UNREACHABLE", async () => {
    const client = createClearanceClient({
      baseUrl: BASE_URL,
      token: "t",
      timeoutMs: 1,
      // A server that never answers: only the client's timeout ends the request.
      fetch: (request) =>
        new Promise((_, reject) =>
          request.signal.addEventListener("abort", () => reject(request.signal.reason)),
        ),
    });
    await expectClearanceError(() => client.search({ query: QUESTION }), "UNREACHABLE");
  });

  it("the caller's own abort stays an abort, not a ClearanceError", async () => {
    const controller = new AbortController();
    const client = createClearanceClient({
      baseUrl: BASE_URL,
      token: "t",
      fetch: (request) =>
        new Promise((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
          controller.abort();
        }),
    });
    const error = await client.search({ query: QUESTION }, { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe("AbortError");
    expect(isClearanceError(error)).toBe(false);
  });
});
