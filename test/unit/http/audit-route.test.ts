import { describe, expect, it } from "vitest";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { createSmallBank, postJson } from "../../helpers/small-bank.ts";
import { signTestToken, TEST_ISSUER } from "../../helpers/test-identity.ts";

async function getAudit(
  app: Awaited<ReturnType<typeof createSmallBank>>["app"],
  query: string,
  token: string,
) {
  return app.request(`/v1/audit${query}`, { headers: { authorization: `Bearer ${token}` } });
}

describe("the audit record of a request", () => {
  it("names the token (issuer, jti, client id), keeps clearance's own request id, and keys the query digest", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({
      sub: "maria",
      agents: ["support-assistant"],
      extraClaims: { jti: "token-42", client_id: "chat-widget" },
    });
    const response = await bank.app.request("/v1/search", {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "x-request-id": "someone-elses-id",
      },
      body: JSON.stringify({ query: "fees", k: 3 }),
    });
    expect(response.status).toBe(200);
    const ours = response.headers.get("x-request-id");
    expect(ours).not.toBe("someone-elses-id");
    const record = bank.auditLog.records.at(-1);
    expect(record).toMatchObject({
      requestId: ours,
      callerRequestId: "someone-elses-id",
      surface: "POST /v1/search",
      action: "search",
      outcome: { status: "allowed" },
      token: { issuer: TEST_ISSUER, jti: "token-42", clientId: "chat-widget" },
      userId: "maria",
      agentIds: ["support-assistant"],
      k: 3,
      seq: 1,
    });
    // Not a plain SHA-256 of the text, which a dictionary of common questions would read back.
    const { createHash } = await import("node:crypto");
    expect(record?.queryDigest).not.toBe(createHash("sha256").update("fees").digest("hex"));
    expect(record?.queryDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it("records answers (model, citations) and document lists, each with its outcome, one record per request", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({ sub: "maria" });
    await postJson(bank.app, "/v1/answer", { query: "dispute a card transaction", k: 3 }, token);
    await bank.app.request("/v1/documents", { headers: { authorization: `Bearer ${token}` } });
    const [answer, documents] = bank.auditLog.records;
    expect(answer).toMatchObject({ action: "answer", surface: "POST /v1/answer", model: expect.any(String) });
    expect(answer?.cited?.length).toBeGreaterThan(0);
    expect(documents).toMatchObject({ action: "documents", surface: "GET /v1/documents" });
    expect(documents?.documents?.every((resource) => resource.startsWith("document:"))).toBe(true);
    expect(bank.auditLog.records).toHaveLength(2);
  });

  it("does not audit a request that fails authentication", async () => {
    const bank = await createSmallBank();
    const response = await postJson(bank.app, "/v1/search", { query: "fees" }, "not-a-token");
    expect(response.status).toBe(401);
    expect(bank.auditLog.records).toHaveLength(0);
  });
});

describe("GET /v1/audit", () => {
  it("is refused (403) to everyone without the audit permission, and the refusal is audited", async () => {
    const bank = await createSmallBank();
    // The token may read the trail (its scope); maria may not (the authorizer).
    const response = await getAudit(
      bank.app,
      "",
      await signTestToken({ sub: "maria", extraClaims: { scope: "audit:read" } }),
    );
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    expect(bank.auditLog.records.at(-1)).toMatchObject({
      action: "audit.read",
      userId: "maria",
      outcome: { status: "denied", code: "FORBIDDEN" },
    });
  });

  it("answers an auditor with filters and pages, and records the read; an agent acting for the auditor is refused", async () => {
    const bank = await createSmallBank();
    await bank.authorizer.writeData({ tuples: [parseTuple("bank:main#auditor@user:cora")] });
    const maria = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
    for (let i = 0; i < 3; i++)
      await postJson(bank.app, "/v1/search", { query: `dispute ${i}`, k: 5 }, maria);
    await postJson(bank.app, "/v1/search", { query: "fees" }, await signTestToken({ sub: "tom" }));
    const cora = await signTestToken({ sub: "cora", extraClaims: { scope: "audit:read" } });

    // "Which agents read help-disputes, and for whom": one query.
    const first = await getAudit(
      bank.app,
      "?resource=document:help-disputes&agent=support-assistant&limit=2",
      cora,
    );
    expect(first.status).toBe(200);
    const page = (await first.json()) as {
      records: { userId: string; agentIds: string[]; seq: number }[];
      next?: number;
    };
    expect(page.records).toHaveLength(2);
    expect(page.records.every((r) => r.userId === "maria" && r.agentIds.includes("support-assistant"))).toBe(
      true,
    );
    const second = (await (
      await getAudit(
        bank.app,
        `?resource=document:help-disputes&agent=support-assistant&after=${page.next}`,
        cora,
      )
    ).json()) as { records: unknown[]; next?: number };
    expect(second.records).toHaveLength(1);
    expect(second.next).toBeUndefined();

    const byUser = (await (await getAudit(bank.app, "?user=tom&outcome=allowed", cora)).json()) as {
      records: { userId: string }[];
    };
    expect(byUser.records.map((r) => r.userId)).toEqual(["tom"]);
    expect(bank.auditLog.records.at(-1)).toMatchObject({
      action: "audit.read",
      userId: "cora",
      outcome: { status: "allowed" },
      filter: { user: "tom", outcome: "allowed", limit: 100 },
    });

    const throughAgent = await getAudit(
      bank.app,
      "",
      await signTestToken({
        sub: "cora",
        agents: ["support-assistant"],
        extraClaims: { scope: "audit:read" },
      }),
    );
    expect(throughAgent.status).toBe(403);
    expect((await getAudit(bank.app, "?since=yesterday", cora)).status).toBe(400);
  });
});
