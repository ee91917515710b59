import { afterAll, beforeAll, expect, it } from "vitest";
import { describeEachAuthorizer } from "../../helpers/authorizers.ts";
import { createSmallBank, postJson, type SmallBank } from "../../helpers/small-bank.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

describeEachAuthorizer("bad input on /v1/search and /v1/answer", (backend) => {
  let bank: SmallBank;
  let token: string;
  beforeAll(async () => {
    bank = await createSmallBank({
      backing: await backend.open("bad-input"),
      limits: { maxK: 20, queryMaxChars: 500 },
    });
    token = await signTestToken();
  });
  afterAll(async () => {
    await bank?.authorizer.close();
  });

  const cases: { name: string; body: unknown; field: string }[] = [
    { name: "missing query", body: { k: 3 }, field: "query" },
    { name: "empty query", body: { query: "" }, field: "query" },
    { name: "whitespace-only query", body: { query: " \t\n  " }, field: "query" },
    { name: "oversized query", body: { query: "loan ".repeat(101) }, field: "query" },
    { name: "query not a string", body: { query: 42 }, field: "query" },
    { name: "k zero", body: { query: "loan", k: 0 }, field: "k" },
    { name: "k above the maximum", body: { query: "loan", k: 21 }, field: "k" },
    { name: "k not an integer", body: { query: "loan", k: 2.5 }, field: "k" },
    { name: "k a string", body: { query: "loan", k: "3" }, field: "k" },
    { name: "unknown field", body: { query: "loan", filter: { documentId: "exec-memo" } }, field: "filter" },
    { name: "not an object", body: ["loan"], field: "body" },
  ];

  for (const path of ["/v1/search", "/v1/answer"]) {
    for (const { name, body, field } of cases) {
      it(`${path}: ${name} → 400 naming ${field}`, async () => {
        const response = await postJson(bank.app, path, body, token);
        expect(response.status).toBe(400);
        const error = ((await response.json()) as ErrorBody).error;
        expect(error.code).toBe("BAD_REQUEST");
        expect(error.message).toMatch(new RegExp(`(^|; )${field}[.:]`));
      });
    }

    it(`${path}: malformed JSON → 400 naming the body`, async () => {
      const response = await postJson(bank.app, path, '{"query": "loan",', token);
      expect(response.status).toBe(400);
      const error = ((await response.json()) as ErrorBody).error;
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.message).toMatch(/^body/);
    });

    it(`${path}: an oversized body → 413 before parsing`, async () => {
      const response = await postJson(bank.app, path, { query: "x".repeat(70_000) }, token);
      expect(response.status).toBe(413);
      expect(((await response.json()) as ErrorBody).error.code).toBe("PAYLOAD_TOO_LARGE");
    });
  }

  it("trims the query and applies the default k", async () => {
    const response = await postJson(bank.app, "/v1/search", { query: "  card transaction  " }, token);
    expect(response.status).toBe(200);
    expect(bank.auditLog.records.at(-1)?.k).toBe(5);
  });

  it("answers an unknown route with a JSON 404", async () => {
    const response = await bank.app.request("/nothing-here");
    expect(response.status).toBe(404);
    expect(((await response.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
  });
});
