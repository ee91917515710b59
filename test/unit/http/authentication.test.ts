import { afterAll, beforeAll, expect, it } from "vitest";
import { describeEachAuthorizer } from "../../helpers/authorizers.ts";
import { createSmallBank, type SmallBank } from "../../helpers/small-bank.ts";
import {
  FIXED_NOW_SECONDS,
  hs256WithPublicKey,
  signTestToken,
  TEST_MAX_LIFETIME_SECONDS,
  tamperedToken,
  unsignedToken,
} from "../../helpers/test-identity.ts";

/** Routes anyone may call; every other route the app registers must refuse a request without a valid token. */
const PUBLIC_ROUTES = new Set([
  "GET /healthz",
  "GET /readyz",
  "GET /openapi.json",
  "GET /.well-known/jwks.json",
  // Protected Resource Metadata (RFC 9728): how a client finds the authorization server.
  "GET /.well-known/oauth-protected-resource",
  "GET /.well-known/oauth-protected-resource/*",
]);

/**
 * Every route the app serves, read from its own registry, so that a route added later is covered without
 * editing this test (path parameters get a placeholder value).
 */
const routes = (await createSmallBank()).app.routes
  .filter((route) => route.method !== "ALL" && !PUBLIC_ROUTES.has(`${route.method} ${route.path}`))
  .map((route) => ({ method: route.method, path: route.path.replace(/:[^/]+/g, "x") }));

/** The routes whose success with a valid token and the fixed body below is known. */
const ANSWERING = new Set(["POST /v1/search", "POST /v1/answer", "GET /v1/documents"]);

/** The owners' routes (issue 14): protected like the rest, and published in /openapi.json. */
const OWNER_ROUTES = [
  "POST /v1/documents",
  "PUT /v1/documents/x",
  "DELETE /v1/documents/x",
  "GET /v1/documents/x/access",
  "PATCH /v1/documents/x/access",
];

it("reads the protected routes from the app", () => {
  expect(routes.map((route) => `${route.method} ${route.path}`)).toEqual(
    expect.arrayContaining([...ANSWERING, ...OWNER_ROUTES]),
  );
});

/** Each case yields the Authorization header to send (undefined: none). */
const badCredentials: Record<string, () => Promise<string | undefined>> = {
  "no header": async () => undefined,
  "empty header": async () => "",
  "wrong scheme": async () => `Basic ${Buffer.from("maria:hunter2").toString("base64")}`,
  "bearer without a token": async () => "Bearer ",
  "not a JWT": async () => "Bearer not.a.jwt",
  "bad signature (untrusted key)": async () => `Bearer ${await signTestToken({ signWith: "stranger" })}`,
  "tampered payload": async () => `Bearer ${await tamperedToken()}`,
  expired: async () =>
    `Bearer ${await signTestToken({ issuedAt: FIXED_NOW_SECONDS - 3600, expiresAt: FIXED_NOW_SECONDS - 1 })}`,
  // Issue 13, finding 6: tokens that never expire, or were issued in the future.
  "exp in the year 2999": async () =>
    `Bearer ${await signTestToken({ expiresAt: Math.floor(Date.UTC(2999, 0, 1) / 1000) })}`,
  "lifetime one second over the maximum": async () =>
    `Bearer ${await signTestToken({ issuedAt: FIXED_NOW_SECONDS - 60, expiresAt: FIXED_NOW_SECONDS - 60 + TEST_MAX_LIFETIME_SECONDS + 1 })}`,
  "no iat while a maximum lifetime is set": async () => `Bearer ${await signTestToken({ issuedAt: null })}`,
  "iat in the future": async () =>
    `Bearer ${await signTestToken({ issuedAt: FIXED_NOW_SECONDS + 120, expiresAt: FIXED_NOW_SECONDS + 600 })}`,
  "not yet valid": async () => `Bearer ${await signTestToken({ notBefore: FIXED_NOW_SECONDS + 60 })}`,
  "wrong issuer": async () => `Bearer ${await signTestToken({ issuer: "https://evil.example" })}`,
  "wrong audience": async () => `Bearer ${await signTestToken({ audience: "another-service" })}`,
  "alg none": async () => `Bearer ${unsignedToken()}`,
  "HS256 signed with the public key": async () => `Bearer ${await hs256WithPublicKey()}`,
  "no sub": async () => `Bearer ${await signTestToken({ sub: null })}`,
  "wildcard sub": async () => `Bearer ${await signTestToken({ sub: "*" })}`,
  "malformed act": async () => `Bearer ${await signTestToken({ extraClaims: { act: "support-assistant" } })}`,
  "act without sub": async () =>
    `Bearer ${await signTestToken({ extraClaims: { act: { client_id: "x" } } })}`,
  "delegation chain too deep": async () =>
    `Bearer ${await signTestToken({ agents: ["a1", "a2", "a3", "a4", "a5"] })}`,
};

describeEachAuthorizer("authentication on every /v1 route", (backend) => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank({ backing: await backend.open("authentication") });
  });
  afterAll(async () => {
    await bank?.authorizer.close();
  });

  for (const route of routes) {
    for (const [name, credential] of Object.entries(badCredentials)) {
      it(`${route.method} ${route.path}: ${name} → 401 UNAUTHENTICATED`, async () => {
        const authorization = await credential();
        const response = await bank.app.request(route.path, {
          method: route.method,
          headers: {
            "content-type": "application/json",
            ...(authorization === undefined ? {} : { authorization }),
          },
          ...(route.method === "POST" ? { body: JSON.stringify({ query: "card transaction dispute" }) } : {}),
        });
        expect(response.status).toBe(401);
        expect(response.headers.get("www-authenticate")).toContain("Bearer");
        const body = (await response.json()) as {
          error: { code: string; requestId: string; message: string };
        };
        expect(body.error.code).toBe("UNAUTHENTICATED");
        expect(body.error.requestId).not.toBe("");
        if (authorization) expect(body.error.message).not.toContain(authorization.slice(7, 40) || "\u0000");
      });
    }

    it(`${route.method} ${route.path}: a valid token is accepted`, async () => {
      const response = await bank.app.request(route.path, {
        method: route.method,
        headers: { "content-type": "application/json", authorization: `Bearer ${await signTestToken()}` },
        ...(route.method === "POST" ? { body: JSON.stringify({ query: "card transaction dispute" }) } : {}),
      });
      if (ANSWERING.has(`${route.method} ${route.path}`)) expect(response.status).toBe(200);
      else expect(response.status).not.toBe(401);
    });
  }

  it("never calls the model for a rejected token", async () => {
    const before = bank.modelCalls();
    await bank.app.request("/v1/answer", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${unsignedToken()}` },
      body: JSON.stringify({ query: "card transaction dispute" }),
    });
    expect(bank.modelCalls()).toBe(before);
  });

  it("keeps /healthz, /readyz and /openapi.json public; /metrics is not on the public app", async () => {
    expect((await bank.app.request("/healthz")).status).toBe(200);
    expect((await bank.app.request("/readyz")).status).toBe(200);
    expect((await bank.app.request("/metrics")).status).toBe(404);
    const spec = (await (await bank.app.request("/openapi.json")).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(spec.paths).sort()).toEqual([
      "/healthz",
      "/readyz",
      "/v1/answer",
      "/v1/audit",
      "/v1/delegations",
      "/v1/delegations/{agentId}",
      "/v1/documents",
      "/v1/documents/{id}",
      "/v1/documents/{id}/access",
      "/v1/memory/notes",
      "/v1/memory/notes/{noteId}",
      "/v1/memory/notes/{noteId}/viewers",
      "/v1/memory/recall",
      "/v1/search",
    ]);
  });

  it("publishes the owners' routes with their bodies, responses and error codes", async () => {
    const spec = (await (await bank.app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: object }; responses: object }>>;
    };
    const methods = (path: string) => Object.keys(spec.paths[path] ?? {}).sort();
    expect(methods("/v1/documents")).toEqual(["get", "post"]);
    expect(methods("/v1/documents/{id}")).toEqual(["delete", "put"]);
    expect(methods("/v1/documents/{id}/access")).toEqual(["get", "patch"]);
    const post = spec.paths["/v1/documents"]?.post;
    expect(Object.keys(post?.requestBody?.content ?? {})).toEqual(["multipart/form-data"]);
    expect(Object.keys(post?.responses ?? {}).sort()).toEqual(
      ["200", "201", "400", "401", "403", "409", "413", "415", "422", "503"].sort(),
    );
    const patch = spec.paths["/v1/documents/{id}/access"]?.patch;
    expect(Object.keys(patch?.requestBody?.content ?? {})).toEqual(["application/json"]);
    for (const [path, operations] of Object.entries(spec.paths)) {
      if (!path.startsWith("/v1/documents/")) continue;
      for (const operation of Object.values(operations)) {
        expect(Object.keys(operation.responses)).toEqual(
          expect.arrayContaining(["200", "401", "403", "404"]),
        );
      }
    }
  });
});
