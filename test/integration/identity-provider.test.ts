/**
 * clearance against a real identity provider (issue 16 part 5): `oidc-provider` in this process issues the
 * tokens (a user's through the authorization code flow, an agent's through client credentials, an
 * agent-for-user token through RFC 8693 token exchange), and clearance verifies them exactly as
 * `clearance serve` does: the verifier is built from the configuration (AUTH_ISSUER, AUTH_JWKS_URL,
 * AUTH_RESOURCE, AUTH_JWKS_REFRESH_SECONDS) and fetches the provider's JWKS over HTTP.
 *
 * Key rotation and the JWKS cache depend on the wall clock, which jose reads through `Date`; those tests
 * move `Date` (and only `Date`) forward instead of waiting, so nothing depends on how fast the machine is.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt, importJWK, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createIssuerTokenVerifier } from "../../src/composition.ts";
import { type Environment, loadConfig } from "../../src/config.ts";
import {
  type IdentityProvider,
  keyIdOf,
  newSigningKey,
  startIdentityProvider,
} from "../helpers/identity-provider.ts";
import { createSmallBank, postJson, type SmallBank } from "../helpers/small-bank.ts";

/** AUTH_JWKS_REFRESH_SECONDS in these tests: the delay within which a new key is accepted, a removed one refused. */
const REFRESH_SECONDS = 300;
const ALL_SCOPES = "documents:search documents:answer memory";

interface Clearance {
  readonly base: string;
  /** The resource identifier (AUTH_RESOURCE): this server's MCP endpoint. */
  readonly resource: string;
  readonly bank: SmallBank;
  /** `POST /v1/search` over HTTP. */
  search(token: string, query?: string): Promise<Response>;
  /** An MCP `initialize` over HTTP: the status says whether `/mcp` accepts the token. */
  initializeMcp(token?: string): Promise<Response>;
  close(): Promise<void>;
}

/**
 * clearance on a free port, its resource identifier its own `/mcp` URL, verifying `idp`'s tokens through the
 * configuration path of `clearance serve`; the small bank behind it. `idp` learns the resource.
 */
async function startClearance(idp: IdentityProvider, env: Environment = {}): Promise<Clearance> {
  let handle: (request: Request) => Response | Promise<Response> = () => new Response(null, { status: 503 });
  const server = serve({ fetch: (request) => handle(request), hostname: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({
    AUTH_ISSUER: idp.issuer,
    AUTH_JWKS_URL: idp.jwksUrl,
    AUTH_RESOURCE: `${base}/mcp`,
    AUTH_JWKS_REFRESH_SECONDS: String(REFRESH_SECONDS),
    AUDIT_QUERY_KEY: "a-test-query-key-of-at-least-32-characters",
    ...env,
  });
  if (config.auth.mode !== "issuer") throw new Error("expected AUTH_MODE=issuer");
  const resource = config.access.resource as string;
  idp.addResource(resource);
  const bank = await createSmallBank({
    tokenVerifier: createIssuerTokenVerifier(config.auth, config.access),
    protectedResource: { resource, authorizationServers: config.access.authorizationServers },
  });
  handle = bank.app.fetch;
  return {
    base,
    resource,
    bank,
    search: (token, query = "card transaction dispute") =>
      fetch(`${base}/v1/search`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, k: 5 }),
      }),
    initializeMcp: (token) =>
      fetch(`${base}/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "raw", version: "1" },
          },
        }),
      }),
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await bank.authorizer.close();
    },
  };
}

async function connectMcp(clearance: Clearance, token: string): Promise<Client> {
  const client = new Client({ name: "clearance-idp-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${clearance.base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function errorCode(response: Response): Promise<string | undefined> {
  return ((await response.json()) as { error?: { code?: string } }).error?.code;
}

async function documentIds(response: Response): Promise<string[]> {
  expect(response.status).toBe(200);
  const body = (await response.json()) as { passages: { documentId: string }[] };
  return [...new Set(body.passages.map((passage) => passage.documentId))].sort();
}

describe("tokens from a real identity provider, end to end", () => {
  let idp: IdentityProvider;
  let clearance: Clearance;

  beforeAll(async () => {
    idp = await startIdentityProvider({ resources: ["https://payments.harbor-federal.example/api"] });
    clearance = await startClearance(idp);
  });

  afterAll(async () => {
    await clearance?.close();
    await idp?.close();
  });

  it("lets an MCP client discover the provider from clearance's 401 and its resource metadata", async () => {
    const refused = await clearance.initializeMcp();
    expect(refused.status).toBe(401);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(
      refused.headers.get("www-authenticate") ?? "",
    )?.[1];
    const metadata = (await (await fetch(metadataUrl as string)).json()) as {
      resource: string;
      authorization_servers: string[];
    };
    expect(metadata.resource).toBe(clearance.resource);
    expect(metadata.authorization_servers).toEqual([idp.issuer]);
    const discovery = (await (
      await fetch(`${metadata.authorization_servers[0]}/.well-known/openid-configuration`)
    ).json()) as { issuer: string; jwks_uri: string; grant_types_supported: string[] };
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.jwks_uri).toBe(idp.jwksUrl);
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining([
        "authorization_code",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
      ]),
    );
  });

  it("accepts a user's token from the authorization code flow on REST and MCP, with the same passages", async () => {
    const token = await idp.userToken("maria", { resource: clearance.resource, scope: ALL_SCOPES });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: idp.issuer,
      aud: clearance.resource,
      sub: "maria",
      scope: ALL_SCOPES,
    });
    const viaRest = await clearance.search(token);
    const restBody = await viaRest.clone().json();
    expect(await documentIds(viaRest)).toEqual(["help-disputes", "maria-statement"]);
    const client = await connectMcp(clearance, token);
    const viaMcp = (await client.callTool({
      name: "search_documents",
      arguments: { query: "card transaction dispute", k: 5 },
    })) as { isError?: boolean; structuredContent?: unknown };
    expect(viaMcp.isError).toBeFalsy();
    expect(viaMcp.structuredContent).toEqual(restBody);
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual([
      "answer_question",
      "list_documents",
      "recall",
      "remember",
      "search_documents",
    ]);
    await client.close();
  });

  it("accepts an agent-for-user token from token exchange, whose act claim limits it to what both may read", async () => {
    const userToken = await idp.userToken("maria", { resource: clearance.resource, scope: ALL_SCOPES });
    const agentToken = await idp.agentToken("support-assistant", {
      resource: clearance.resource,
      scope: ALL_SCOPES,
    });
    const token = await idp.exchange("support-assistant", {
      subjectToken: userToken,
      actorToken: agentToken,
      resource: clearance.resource,
    });
    expect(decodeJwt(token)).toMatchObject({ sub: "maria", act: { sub: "support-assistant" } });
    // Maria reads her statement too; the assistant is a viewer of the help center only.
    expect(await documentIds(await clearance.search(token))).toEqual(["help-disputes"]);
    const client = await connectMcp(clearance, token);
    const listed = (await client.callTool({ name: "list_documents", arguments: {} })) as {
      structuredContent?: unknown;
    };
    const viaRest = await (
      await fetch(`${clearance.base}/v1/documents`, { headers: { authorization: `Bearer ${token}` } })
    ).json();
    expect(listed.structuredContent).toEqual(viaRest);
    await client.close();
    // The audit record names the user, the agent, and the provider's own identifiers of the token.
    const record = clearance.bank.auditLog.records.filter((r) => r.surface === "mcp:list_documents").at(-1);
    expect(record).toMatchObject({
      userId: "maria",
      agentIds: ["support-assistant"],
      token: { issuer: idp.issuer, jti: decodeJwt(token).jti, clientId: "support-assistant" },
    });
  });

  it("never widens an exchanged token's scopes beyond the user's, and clearance enforces what remains", async () => {
    const userToken = await idp.userToken("maria", {
      resource: clearance.resource,
      scope: "documents:search",
    });
    const agentToken = await idp.agentToken("support-assistant", {
      resource: clearance.resource,
      scope: ALL_SCOPES,
    });
    const token = await idp.exchange("support-assistant", {
      subjectToken: userToken,
      actorToken: agentToken,
      resource: clearance.resource,
      scope: "documents:search memory",
    });
    expect(decodeJwt(token).scope).toBe("documents:search");
    expect((await clearance.search(token)).status).toBe(200);
    const recall = await postJson(clearance.bank.app, "/v1/memory/recall", { query: "dispute", k: 3 }, token);
    expect(recall.status).toBe(403);
    expect(await errorCode(recall)).toBe("INSUFFICIENT_SCOPE");
  });

  it("refuses an exchanged token for an agent the user never delegated to, before any retrieval", async () => {
    const userToken = await idp.userToken("maria", { resource: clearance.resource, scope: ALL_SCOPES });
    const agentToken = await idp.agentToken("wealth-assistant", {
      resource: clearance.resource,
      scope: "documents:search",
    });
    const token = await idp.exchange("wealth-assistant", {
      subjectToken: userToken,
      actorToken: agentToken,
      resource: clearance.resource,
    });
    const response = await clearance.search(token);
    expect(response.status).toBe(403);
    expect(await errorCode(response)).toBe("CONSENT_REQUIRED");
  });

  it("reads an agent's own client-credentials token as its client id's principal, which may read nothing", async () => {
    const token = await idp.agentToken("support-assistant", {
      resource: clearance.resource,
      scope: "documents:search",
    });
    expect(decodeJwt(token)).toMatchObject({ sub: "support-assistant", client_id: "support-assistant" });
    expect(decodeJwt(token).act).toBeUndefined();
    expect(await documentIds(await clearance.search(token))).toEqual([]);
  });

  it("refuses on REST and MCP a token the provider issued for another resource (RFC 8707)", async () => {
    const token = await idp.userToken("maria", {
      resource: "https://payments.harbor-federal.example/api",
      scope: ALL_SCOPES,
    });
    const viaRest = await clearance.search(token);
    expect(viaRest.status).toBe(401);
    expect(await errorCode(viaRest)).toBe("UNAUTHENTICATED");
    const viaMcp = await clearance.initializeMcp(token);
    expect(viaMcp.status).toBe(401);
    expect(viaMcp.headers.get("www-authenticate")).toContain("resource_metadata=");
  });

  it("refuses a token from another issuer, even one signing with the same keys", async () => {
    const impostor = await startIdentityProvider({
      keys: idp.signingKeys(),
      resources: [clearance.resource],
    });
    try {
      const token = await impostor.userToken("maria", { resource: clearance.resource, scope: ALL_SCOPES });
      const response = await clearance.search(token);
      expect(response.status).toBe(401);
      expect(await errorCode(response)).toBe("UNAUTHENTICATED");
      expect((await clearance.initializeMcp(token)).status).toBe(401);
    } finally {
      await impostor.close();
    }
  });
});

/** Moves `Date` (what jose's JWKS cache reads) past the refresh delay; timers and I/O run as ever. */
function passTheRefreshDelay(): void {
  vi.setSystemTime(Date.now() + (REFRESH_SECONDS + 1) * 1000);
}

describe("key rotation at the provider", () => {
  let idp: IdentityProvider;
  let clearance: Clearance;
  const first = newSigningKey("key-1");
  const second = newSigningKey("key-2");

  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    idp = await startIdentityProvider({ keys: [first] });
  });

  afterEach(async () => {
    await clearance?.close();
    idp.rotate([first]);
  });

  afterAll(async () => {
    vi.useRealTimers();
    await idp?.close();
  });

  const tokenFor = (user: string) => idp.userToken(user, { resource: clearance.resource, scope: ALL_SCOPES });

  it("accepts tokens signed with a newly published key within the refresh delay, without a restart", async () => {
    clearance = await startClearance(idp);
    const before = await tokenFor("maria");
    expect((await clearance.search(before)).status).toBe(200);

    idp.rotate([second, first]);
    const after = await tokenFor("maria");
    expect(keyIdOf(after)).toBe("key-2");
    // The set read a moment ago is not re-read for an unknown key until the delay has passed: a flood of
    // unknown key ids cannot make clearance hammer the provider.
    const refused = await clearance.search(after);
    expect(refused.status).toBe(401);
    expect(await errorCode(refused)).toBe("UNAUTHENTICATED");

    passTheRefreshDelay();
    expect((await clearance.search(after)).status).toBe(200);
    expect((await clearance.initializeMcp(after)).status).toBe(200);
    // The old key is still published, so its tokens still verify.
    expect((await clearance.search(before)).status).toBe(200);
  });

  it("refuses tokens signed with a removed key once the set is re-read, on REST and MCP", async () => {
    clearance = await startClearance(idp);
    const old = await tokenFor("maria");
    expect((await clearance.search(old)).status).toBe(200);

    idp.rotate([second]);
    passTheRefreshDelay();
    const viaRest = await clearance.search(old);
    expect(viaRest.status).toBe(401);
    expect(await errorCode(viaRest)).toBe("UNAUTHENTICATED");
    expect((await clearance.initializeMcp(old)).status).toBe(401);
    // A token of the key that replaced it is accepted from the same refreshed set.
    const current = await tokenFor("maria");
    expect(keyIdOf(current)).toBe("key-2");
    expect((await clearance.search(current)).status).toBe(200);
  });

  it("re-reads the set at most once per refresh delay however many unknown key ids arrive", async () => {
    clearance = await startClearance(idp);
    expect((await clearance.search(await tokenFor("maria"))).status).toBe(200);
    const fetched = idp.jwksRequests();
    const stranger = newSigningKey("unused");
    for (let i = 0; i < 5; i++) {
      const forged = await new SignJWT({ scope: ALL_SCOPES })
        .setProtectedHeader({ alg: "RS256", kid: `forged-${i}` })
        .setIssuer(idp.issuer)
        .setAudience(clearance.resource)
        .setSubject("victor")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(await importJWK(stranger, "RS256"));
      expect((await clearance.search(forged)).status).toBe(401);
    }
    expect(idp.jwksRequests()).toBe(fetched);
  });
});

describe("the provider's JWKS unreachable", () => {
  let idp: IdentityProvider;
  let clearance: Clearance;

  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    idp = await startIdentityProvider();
  });

  afterEach(async () => {
    await clearance?.close();
    idp.failWith(undefined);
    await idp.resume();
  });

  afterAll(async () => {
    vi.useRealTimers();
    await idp?.close();
  });

  const tokenFor = (user: string) => idp.userToken(user, { resource: clearance.resource, scope: ALL_SCOPES });

  it("fails closed with 503 while no key could ever be fetched, and recovers without a restart", async () => {
    clearance = await startClearance(idp);
    const token = await tokenFor("maria");
    await idp.pause();
    const viaRest = await clearance.search(token);
    expect(viaRest.status).toBe(503);
    expect(await errorCode(viaRest)).toBe("UPSTREAM_UNAVAILABLE");
    expect((await clearance.initializeMcp(token)).status).toBe(503);

    await idp.resume();
    expect((await clearance.search(token)).status).toBe(200);
  });

  it("never verifies with a set older than the refresh delay when it cannot be re-read", async () => {
    clearance = await startClearance(idp);
    const token = await tokenFor("maria");
    expect((await clearance.search(token)).status).toBe(200);
    await idp.pause();
    passTheRefreshDelay();
    const stale = await clearance.search(token);
    expect(stale.status).toBe(503);
    expect(await errorCode(stale)).toBe("UPSTREAM_UNAVAILABLE");

    await idp.resume();
    expect((await clearance.search(token)).status).toBe(200);
  });

  it("reads a provider answering its JWKS with an error status as an outage (503), not as a bad token", async () => {
    clearance = await startClearance(idp);
    const token = await tokenFor("maria");
    idp.failWith(503);
    const response = await clearance.search(token);
    expect(response.status).toBe(503);
    expect(await errorCode(response)).toBe("UPSTREAM_UNAVAILABLE");

    idp.failWith(undefined);
    expect((await clearance.search(token)).status).toBe(200);
  });
});
