/**
 * Consent, scopes and agent memory on the small bank (embedded adapters), through the REST surface.
 * - Consent: an agent acts only while the user's delegation is live; chains need the user's delegation
 *   for every agent; expiry; revocation in force for the next request; only the user manages delegations.
 * - Scopes: a matrix over every protected route: with exactly its scope a route is not refused for scope,
 *   without it 403 INSUFFICIENT_SCOPE with RFC 6750's challenge naming the scope.
 * - Consent costs no authorization round on the retrieval path.
 * - Memory: notes recalled only with view on the note and every source, as of the recall.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { USE_CASE_SCOPES } from "../../../src/app/application.ts";
import { consentPrecondition } from "../../../src/app/consent.ts";
import { delegationData } from "../../../src/core/delegation.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { createRetrievalEngine, STRATEGIES } from "../../../src/core/retrieval.ts";
import { SCOPES } from "../../../src/core/scopes.ts";
import { createSmallBank, postJson, type SmallBank } from "../../helpers/small-bank.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const ALL = SCOPES.join(" ");
let now = Date.parse("2026-06-01T12:00:00Z");
let bank: SmallBank;

beforeAll(async () => {
  bank = await createSmallBank({ clock: () => now });
  // An auditor, so that the audit route's scope is tested on someone the authorizer lets read the trail.
  await bank.authorizer.writeData({ tuples: [parseTuple("bank:main#auditor@user:cora")] });
});
afterAll(async () => {
  await bank?.authorizer.close();
});

interface Body {
  error: { code: string };
  id: string;
  delegations: { agentId: string; inForce: boolean }[];
  notes: { id: string }[];
  passages: { chunkId: string }[];
}
const json = async (response: Response) => (await response.json()) as Body;
const call = (method: string, path: string, token: string, body?: unknown) =>
  bank.app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined || body instanceof FormData ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
  });

/** An owner's upload: a Markdown file and its manifest entry. */
function upload(): FormData {
  const form = new FormData();
  form.set(
    "entry",
    JSON.stringify({
      id: "help-disputes",
      title: "Disputes",
      collection: "help-center",
      owner: "user:nadia",
    }),
  );
  form.set("file", new File(["# Disputes\n\nCall us.\n"], "disputes.md"));
  return form;
}

describe("consent", () => {
  it("refuses an agent the user never delegated to, before any retrieval, with 403 CONSENT_REQUIRED", async () => {
    const calls = bank.modelCalls();
    for (const route of ["/v1/search", "/v1/answer"]) {
      const response = await postJson(
        bank.app,
        route,
        { query: "card transaction dispute" },
        await signTestToken({ sub: "james", agents: ["support-assistant"] }),
      );
      expect(response.status).toBe(403);
      const body = await json(response);
      expect(body.error.code).toBe("CONSENT_REQUIRED");
      expect(body.passages).toBeUndefined();
    }
    const documents = await call(
      "GET",
      "/v1/documents",
      await signTestToken({ sub: "james", agents: ["support-assistant"] }),
    );
    expect((await json(documents)).error.code).toBe("CONSENT_REQUIRED");
    expect(bank.modelCalls()).toBe(calls);
  });

  for (const strategy of STRATEGIES) {
    it(`refuses with CONSENT_REQUIRED, never another error, under ${strategy}`, async () => {
      const forced = await createSmallBank({ retrieval: { strategy } });
      const token = await signTestToken({ sub: "james", agents: ["support-assistant"] });
      for (const query of ["card transaction dispute", "legal hold", "memo"]) {
        const response = await postJson(forced.app, "/v1/search", { query, k: 3 }, token);
        expect((await json(response)).error.code).toBe("CONSENT_REQUIRED");
      }
      await forced.authorizer.close();
    });
  }

  it("needs the user's own delegation for every agent of a chain", async () => {
    const chain = await signTestToken({ sub: "maria", agents: ["sub-agent", "support-assistant"] });
    expect((await json(await postJson(bank.app, "/v1/search", { query: "dispute" }, chain))).error.code).toBe(
      "CONSENT_REQUIRED",
    );
    // support-assistant delegating onward is not the user's consent; maria's own delegation is.
    await bank.authorizer.writeData({
      tuples: [parseTuple("collection:help-center#viewer@agent:sub-agent")],
    });
    await bank.authorizer.writeData(delegationData("maria", "sub-agent"));
    expect((await postJson(bank.app, "/v1/search", { query: "dispute" }, chain)).status).toBe(200);
  });

  for (const strategy of STRATEGIES) {
    it(`adds no authorization round to retrieval (${strategy})`, async () => {
      const engine = createRetrievalEngine({
        authorizer: bank.authorizer,
        vectorStore: bank.vectorStore,
        embedder: createHashingEmbedder(),
        strategy,
        ...(strategy === "container-pre-filter"
          ? { containerModel: (await import("../../helpers/container-models.ts")).bankContainerModel() }
          : {}),
      });
      const principal = { userId: "maria", agentIds: ["support-assistant"] };
      const without = await engine.retrieve({ principal, query: "card transaction dispute", k: 3 });
      const precondition = consentPrecondition(principal, now);
      const withConsent = await engine.retrieve({
        principal,
        query: "card transaction dispute",
        k: 3,
        ...(precondition ? { precondition } : {}),
      });
      expect(withConsent.passages).toEqual(without.passages);
      expect(withConsent.stats.authzRounds).toBe(without.stats.authzRounds);
    });
  }

  it("lets the user delegate with an expiry, list, and revoke; revocation holds for the next request", async () => {
    const user = await signTestToken({ sub: "tom", extraClaims: { scope: "delegations" } });
    const agent = await signTestToken({ sub: "tom", agents: ["teller-bot"] });
    await bank.authorizer.writeData({
      tuples: [parseTuple("collection:help-center#viewer@agent:teller-bot")],
    });
    expect((await postJson(bank.app, "/v1/search", { query: "dispute" }, agent)).status).toBe(403);
    const expiresAt = new Date(now + 3_600_000).toISOString();
    expect((await call("PUT", "/v1/delegations/teller-bot", user, { expiresAt })).status).toBe(200);
    expect((await postJson(bank.app, "/v1/search", { query: "dispute" }, agent)).status).toBe(200);
    expect((await json(await call("GET", "/v1/delegations", user))).delegations).toContainEqual({
      agentId: "teller-bot",
      inForce: true,
    });
    now += 3_600_001; // past the expiry
    expect((await json(await postJson(bank.app, "/v1/search", { query: "dispute" }, agent))).error.code).toBe(
      "CONSENT_REQUIRED",
    );
    expect((await json(await call("GET", "/v1/delegations", user))).delegations).toContainEqual({
      agentId: "teller-bot",
      inForce: false,
    });
    expect((await call("PUT", "/v1/delegations/teller-bot", user, {})).status).toBe(200);
    expect((await postJson(bank.app, "/v1/search", { query: "dispute" }, agent)).status).toBe(200);
    expect(await json(await call("DELETE", "/v1/delegations/teller-bot", user))).toEqual({ revoked: true });
    expect((await postJson(bank.app, "/v1/search", { query: "dispute" }, agent)).status).toBe(403);
    expect(await json(await call("DELETE", "/v1/delegations/teller-bot", user))).toEqual({ revoked: false });
  });

  it("lets only the user manage their delegations, never an agent acting for them", async () => {
    const agent = await signTestToken({
      sub: "maria",
      agents: ["support-assistant"],
      extraClaims: { scope: ALL },
    });
    for (const [method, path] of [
      ["GET", "/v1/delegations"],
      ["PUT", "/v1/delegations/evil-bot"],
      ["DELETE", "/v1/delegations/support-assistant"],
    ] as const) {
      const response = await call(method, path, agent, method === "PUT" ? {} : undefined);
      expect(response.status).toBe(403);
      expect((await json(response)).error.code).toBe("FORBIDDEN");
    }
  });
});

describe("scopes: every protected route, allowed and refused", () => {
  const PUBLIC = /^\/(healthz|readyz|openapi\.json|\.well-known\/|mcp$)/;
  const SCOPE_OF: Record<string, string> = {
    "POST /v1/search": USE_CASE_SCOPES.search,
    "POST /v1/answer": USE_CASE_SCOPES.answer,
    "GET /v1/documents": USE_CASE_SCOPES.listReadableDocuments,
    "GET /v1/audit": USE_CASE_SCOPES.readAudit,
    "GET /v1/delegations": USE_CASE_SCOPES.listDelegations,
    "PUT /v1/delegations/:agentId": USE_CASE_SCOPES.delegate,
    "DELETE /v1/delegations/:agentId": USE_CASE_SCOPES.undelegate,
    "POST /v1/memory/notes": USE_CASE_SCOPES.remember,
    "POST /v1/memory/recall": USE_CASE_SCOPES.recall,
    "PUT /v1/memory/notes/:noteId/viewers": USE_CASE_SCOPES.shareNote,
    "DELETE /v1/memory/notes/:noteId": USE_CASE_SCOPES.deleteNote,
    "POST /v1/documents": USE_CASE_SCOPES.putDocument,
    "PUT /v1/documents/:id": USE_CASE_SCOPES.putDocument,
    "DELETE /v1/documents/:id": USE_CASE_SCOPES.deleteDocument,
    "GET /v1/documents/:id/access": USE_CASE_SCOPES.documentAccess,
    "PATCH /v1/documents/:id/access": USE_CASE_SCOPES.changeAccess,
  };
  const BODIES: Record<string, unknown> = {
    "POST /v1/search": { query: "dispute" },
    "POST /v1/answer": { query: "dispute" },
    "POST /v1/memory/recall": { query: "dispute" },
    "POST /v1/memory/notes": { text: "a note", sources: ["document:help-disputes"] },
    "PUT /v1/memory/notes/:noteId/viewers": { subject: "user:tom" },
    "PUT /v1/delegations/:agentId": {},
    "POST /v1/documents": upload,
    "PUT /v1/documents/:id": upload,
    "PATCH /v1/documents/:id/access": { addViewers: ["user:tom"] },
  };
  /** A fresh body per request (a FormData is read once). */
  const bodyOf = (route: string) => {
    const body = BODIES[route];
    return typeof body === "function" ? body() : body;
  };
  const routes = () =>
    bank.app.routes
      .filter((route) => route.method !== "ALL" && !PUBLIC.test(route.path))
      .map((route) => `${route.method} ${route.path}`);

  it("knows the scope of every protected route the app registers", () => {
    expect(routes().filter((route) => SCOPE_OF[route] === undefined)).toEqual([]);
  });

  for (const [route, scope] of Object.entries(SCOPE_OF)) {
    const [method, pattern] = route.split(" ") as [string, string];
    const path = pattern
      .replace(":agentId", "some-agent")
      .replace(":noteId", "n-none")
      .replace(":id", "help-disputes");
    const sub = route === "GET /v1/audit" ? "cora" : "maria";
    it(`${route}: allowed with ${scope}, 403 insufficient_scope without it`, async () => {
      const allowed = await call(
        method,
        path,
        await signTestToken({ sub, extraClaims: { scope } }),
        bodyOf(route),
      );
      // With the scope, the authorizer decides (maria manages no document, so an owner's route may still
      // refuse her): never for want of a scope.
      const allowedBody = (await allowed.clone().json()) as { error?: { code: string } };
      expect(allowedBody.error?.code, JSON.stringify(allowedBody)).not.toBe("INSUFFICIENT_SCOPE");
      const others = SCOPES.filter((s) => s !== scope).join(" ");
      const refused = await call(
        method,
        path,
        await signTestToken({ sub, extraClaims: { scope: others } }),
        bodyOf(route),
      );
      expect(refused.status).toBe(403);
      expect((await json(refused)).error.code).toBe("INSUFFICIENT_SCOPE");
      expect(refused.headers.get("www-authenticate")).toContain(
        `error="insufficient_scope", scope="${scope}"`,
      );
      const scp = await call(
        method,
        path,
        await signTestToken({ sub, extraClaims: { scp: [scope] } }),
        bodyOf(route),
      );
      const scpBody = (await scp.clone().json()) as { error?: { code: string } };
      expect(scpBody.error?.code).not.toBe("INSUFFICIENT_SCOPE");
    });
  }

  it("refuses a malformed scope claim as an invalid token", async () => {
    const response = await postJson(
      bank.app,
      "/v1/search",
      { query: "dispute" },
      await signTestToken({ extraClaims: { scope: 42 } }),
    );
    expect(response.status).toBe(401);
  });
});

describe("agent memory", () => {
  const maria = () =>
    signTestToken({ sub: "maria", agents: ["support-assistant"], extraClaims: { scope: ALL } });
  const recallIds = async (token: string, query = "litigation hold note") => {
    const response = await postJson(bank.app, "/v1/memory/recall", { query, k: 10 }, token);
    expect(response.status).toBe(200);
    return ((await json(response)).notes as { id: string }[]).map((note) => note.id);
  };

  it("never lets a note name a source its writer may not read", async () => {
    const response = await postJson(
      bank.app,
      "/v1/memory/notes",
      { text: "memo", sources: ["document:exec-memo"] },
      await maria(),
    );
    expect(response.status).toBe(403);
  });

  it("hides a note from a reader of the note who may not read every source, and shows it once they may", async () => {
    const lena = await signTestToken({ sub: "lena", extraClaims: { scope: ALL } });
    const stored = await json(
      await postJson(
        bank.app,
        "/v1/memory/notes",
        {
          text: "litigation hold note about card records",
          sources: ["section:aml-legal-hold", "document:aml-policy"],
        },
        lena,
      ),
    );
    const victor = await signTestToken({ sub: "victor", extraClaims: { scope: ALL } });
    expect(await recallIds(lena)).toContain(stored.id);
    // Shared with victor, who may read the policy but not its legal-only section: withheld.
    expect(
      (await call("PUT", `/v1/memory/notes/${stored.id}/viewers`, lena, { subject: "user:victor" })).status,
    ).toBe(200);
    expect(await recallIds(victor)).not.toContain(stored.id);
    await bank.authorizer.writeData({ tuples: [parseTuple("section:aml-legal-hold#audience@user:victor")] });
    expect(await recallIds(victor)).toContain(stored.id);
    // Revoking a source hides the note again, from everyone without it.
    await bank.authorizer.deleteData({
      tuples: {
        entity: { type: "section", ids: ["aml-legal-hold"] },
        relation: "audience",
        subject: { type: "user", ids: ["victor"], relation: "" },
      },
    });
    expect(await recallIds(victor)).not.toContain(stored.id);
    // Only an owner deletes it; then nobody recalls it.
    expect((await call("DELETE", `/v1/memory/notes/${stored.id}`, victor)).status).toBe(404);
    expect((await call("DELETE", `/v1/memory/notes/${stored.id}`, lena)).status).toBe(200);
    expect(await recallIds(lena)).not.toContain(stored.id);
  });

  it("never gives a note written for one user to the same agent acting for another", async () => {
    const stored = await json(
      await postJson(
        bank.app,
        "/v1/memory/notes",
        { text: "maria prefers paper statements", sources: ["document:help-disputes"] },
        await maria(),
      ),
    );
    expect(await recallIds(await maria(), "paper statements")).toContain(stored.id);
    const forVictor = await signTestToken({
      sub: "victor",
      agents: ["support-assistant"],
      extraClaims: { scope: ALL },
    });
    expect(await recallIds(forVictor, "paper statements")).not.toContain(stored.id);
    // And a document search never returns a note.
    const search = await json(
      await postJson(
        bank.app,
        "/v1/search",
        { query: "maria prefers paper statements", k: 20 },
        await maria(),
      ),
    );
    expect((search.passages as { chunkId: string }[]).every((p) => !p.chunkId.startsWith("n-"))).toBe(true);
  });
});
