/**
 * A real OAuth 2.0 / OpenID Connect provider for tests: `oidc-provider` (an OpenID-certified server
 * library) on a free loopback port, issuing JWT access tokens (RFC 9068) for clearance's resource identifier
 * (RFC 8707) and publishing its keys at `/jwks`, which clearance fetches like any JWKS.
 *
 * - a user signs in through the authorization code flow with PKCE (the library's development login and
 *   consent forms, driven as a browser would);
 * - an agent gets a token of its own with client credentials;
 * - an agent exchanges a user's token and its own for an agent-for-user token (RFC 8693 token exchange,
 *   registered through the library's grant type extension point), whose `act` claim names the agent.
 *
 * Key rotation replaces the provider's key set, as an operator's configuration change would: the first key
 * signs, every key listed is published. The issuer and port stay the same.
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLocalJWKSet, decodeProtectedHeader, type JWK, type JWTPayload, jwtVerify } from "jose";
import Provider, {
  type AccessTokenInstance,
  errors,
  type OidcContext,
  type ResourceServerInfo,
} from "oidc-provider";
import { SCOPES } from "../../src/core/scopes.ts";

export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** The bank's console: a public client signing users in with PKCE. */
const CONSOLE = { id: "console", redirectUri: "http://127.0.0.1/callback" } as const;

/** Agents registered at the provider, each with its secret and the scopes it may ever hold. */
export const AGENT_CLIENTS = {
  "support-assistant": { secret: "support-assistant-secret-0123456789abcdef", scope: SCOPES.join(" ") },
  "wealth-assistant": {
    secret: "wealth-assistant-secret-0123456789abcdef",
    scope: "documents:search documents:answer",
  },
} as const;
export type AgentClient = keyof typeof AGENT_CLIENTS;

/** A private signing key as a JWK, with its `kid`. */
export type SigningKey = JWK & { readonly kid: string };

/** A fresh RS256 signing key (RS256: the provider's default for ID tokens and access tokens alike). */
export function newSigningKey(kid: string): SigningKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } as SigningKey;
}

export interface IdentityProviderOptions {
  /** The resource identifiers it issues tokens for (more with `addResource`). */
  readonly resources?: readonly string[];
  /** The signing keys, first one signing (default: one new key). */
  readonly keys?: readonly SigningKey[];
}

export interface IdentityProvider {
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Registers a resource server it will issue tokens for (e.g. clearance, once its URL is known). */
  addResource(identifier: string): void;
  /** How many times its JWKS was asked for. */
  jwksRequests(): number;
  /** A user's access token for `resource`, through the authorization code flow with PKCE. */
  userToken(user: string, options: { resource: string; scope: string }): Promise<string>;
  /** An agent's own access token (client credentials); its `sub` is the agent's client id. */
  agentToken(agent: AgentClient, options: { resource: string; scope: string }): Promise<string>;
  /** RFC 8693: the agent, presenting its own token as the actor, gets a token for the subject's user. */
  exchange(
    agent: AgentClient,
    options: { subjectToken: string; actorToken: string; resource: string; scope?: string },
  ): Promise<string>;
  /** The keys it holds now, private parts included (an impostor issuer may sign with the same ones). */
  signingKeys(): SigningKey[];
  /** Publishes `keys` from now on; the first one signs. */
  rotate(keys: readonly SigningKey[]): void;
  /** Stops listening, closing open connections: the provider is unreachable until `resume`. */
  pause(): Promise<void>;
  /** Listens again on the same port (if it stopped). */
  resume(): Promise<void>;
  /** Until called again with `undefined`, every request is answered with this HTTP status. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

/** The `kid` a token was signed with. */
export function keyIdOf(token: string): string | undefined {
  return decodeProtectedHeader(token).kid;
}

export async function startIdentityProvider(
  options: IdentityProviderOptions = {},
): Promise<IdentityProvider> {
  let keys = options.keys ?? [newSigningKey("key-1")];
  let failure: number | undefined;
  let jwksRequests = 0;
  const resources = new Set(options.resources ?? []);
  let provider: Provider | undefined;
  let handle: ReturnType<Provider["callback"]> | undefined;
  const server: Server = createServer((req, res) => {
    if (req.url === "/jwks") jwksRequests += 1;
    if (failure !== undefined || handle === undefined) {
      res.writeHead(failure ?? 503).end();
      return;
    }
    handle(req, res);
  });
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const install = () => {
    provider = createProvider(issuer, keys, resources);
    handle = provider.callback();
  };
  install();

  const post = async (path: string, form: Record<string, string>) => {
    const response = await fetch(`${issuer}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    addResource(identifier) {
      resources.add(identifier);
    },
    jwksRequests: () => jwksRequests,
    async userToken(user, { resource, scope }) {
      const verifier = randomBytes(32).toString("base64url");
      const code = await signIn(issuer, user, {
        resource,
        scope: `openid ${scope}`,
        challenge: createHash("sha256").update(verifier).digest("base64url"),
      });
      const body = await post("/token", {
        grant_type: "authorization_code",
        client_id: CONSOLE.id,
        code,
        code_verifier: verifier,
        redirect_uri: CONSOLE.redirectUri,
        resource,
      });
      return body.access_token as string;
    },
    async agentToken(agent, { resource, scope }) {
      const body = await post("/token", {
        grant_type: "client_credentials",
        client_id: agent,
        client_secret: AGENT_CLIENTS[agent].secret,
        resource,
        scope,
      });
      return body.access_token as string;
    },
    async exchange(agent, { subjectToken, actorToken, resource, scope }) {
      const body = await post("/token", {
        grant_type: TOKEN_EXCHANGE,
        client_id: agent,
        client_secret: AGENT_CLIENTS[agent].secret,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor_token: actorToken,
        actor_token_type: ACCESS_TOKEN_TYPE,
        resource,
        ...(scope === undefined ? {} : { scope }),
      });
      return body.access_token as string;
    },
    signingKeys: () => [...keys],
    rotate(next) {
      keys = [...next];
      install();
    },
    async pause() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    resume: () => (server.listening ? Promise.resolve() : listen(server, port)),
    failWith(status) {
      failure = status;
    },
    async close() {
      if (!server.listening) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1" }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The agent chain a token exchange put into a token, kept until the token is formatted. */
const actors = new WeakMap<object, JWTPayload>();

function createProvider(
  issuer: string,
  keys: readonly SigningKey[],
  resources: ReadonlySet<string>,
): Provider {
  const resourceServerInfo = (resource: unknown): ResourceServerInfo => {
    if (typeof resource !== "string" || !resources.has(resource)) {
      throw new errors.InvalidTarget("unknown resource indicator");
    }
    return {
      scope: SCOPES.join(" "),
      audience: resource,
      accessTokenTTL: 600,
      accessTokenFormat: "jwt",
      jwt: { sign: { alg: "RS256" } },
    };
  };
  const provider = new Provider(issuer, {
    jwks: { keys },
    clients: [
      {
        client_id: CONSOLE.id,
        application_type: "native",
        token_endpoint_auth_method: "none",
        redirect_uris: [CONSOLE.redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
      ...Object.entries(AGENT_CLIENTS).map(([id, agent]) => ({
        client_id: id,
        client_secret: agent.secret,
        token_endpoint_auth_method: "client_secret_post",
        grant_types: ["client_credentials", TOKEN_EXCHANGE],
        response_types: [],
        redirect_uris: [],
        scope: agent.scope,
      })),
    ],
    // Agents' client metadata limits their scopes, which must then be the provider's own.
    scopes: ["openid", ...SCOPES],
    // Any account exists: who may read what is clearance's business, not the provider's.
    findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId }) }),
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => resourceServerInfo(resource),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: object) => {
      const act = actors.get(token);
      return act === undefined ? undefined : { act };
    },
    pkce: { required: () => true },
    // Explicit lifetimes (the library's defaults work, but announce themselves on every run).
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
  });

  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx: OidcContext) => {
      const { params, client } = ctx.oidc;
      if (client === undefined) throw new errors.InvalidRequest("client authentication is required");
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE || params.actor_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest("subject and actor tokens must be access tokens");
      }
      const published = createLocalJWKSet({ keys: keys.map(publicJwk) });
      const verify = async (token: unknown) => {
        try {
          return (await jwtVerify(String(token), published, { issuer })).payload;
        } catch {
          throw new errors.InvalidGrant("a token is not valid");
        }
      };
      const subject = await verify(params.subject_token);
      const actor = await verify(params.actor_token);
      // The actor token proves which agent acts: it must be the authenticated client's own, unchained.
      if (actor.sub !== client.clientId || actor.act !== undefined) {
        throw new errors.InvalidGrant("the actor token is not the client's own");
      }
      if (typeof subject.sub !== "string") throw new errors.InvalidGrant("the subject token names no one");
      // Never more than the user granted and the agent may hold.
      const held = new Set(String(subject.scope ?? "").split(" "));
      const allowed = new Set((client.scope ?? "").split(" "));
      const requested = params.scope === undefined ? [...held] : String(params.scope).split(" ");
      const scope = requested.filter((name) => held.has(name) && allowed.has(name));
      if (scope.length === 0) throw new errors.InvalidScope("no requested scope may be delegated", "");
      const token: AccessTokenInstance = new ctx.oidc.provider.AccessToken({
        accountId: subject.sub,
        client,
        gty: TOKEN_EXCHANGE,
        scope: scope.join(" "),
      });
      token.resourceServer = new ctx.oidc.provider.ResourceServer(
        String(params.resource),
        resourceServerInfo(params.resource),
      );
      // The current actor first, earlier actors nested under it (RFC 8693 section 4.1).
      actors.set(token, {
        sub: client.clientId,
        ...(subject.act === undefined ? {} : { act: subject.act }),
      });
      const value = await token.save();
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: "Bearer",
        expires_in: token.expiration,
        scope: token.scope,
      };
    },
    ["subject_token", "subject_token_type", "actor_token", "actor_token_type", "scope", "resource"],
  );
  return provider;
}

function publicJwk({ kty, n, e, crv, x, y, kid, alg, use }: SigningKey): JWK {
  return Object.fromEntries(
    Object.entries({ kty, n, e, crv, x, y, kid, alg, use }).filter(([, value]) => value !== undefined),
  );
}

/**
 * The authorization code flow as a browser would run it: the authorization request, the development login
 * form, the resumed request, and the redirect carrying the code. Cookies are kept between the steps.
 */
async function signIn(
  issuer: string,
  user: string,
  request: { resource: string; scope: string; challenge: string },
): Promise<string> {
  const cookies = new Map<string, string>();
  const step = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(new URL(url, issuer), {
      ...init,
      redirect: "manual",
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join("; "),
      },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = (pair as string).indexOf("=");
      cookies.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
    }
    const location = response.headers.get("location");
    if (location === null)
      throw new Error(`${url}: ${response.status}, no redirect: ${await response.text()}`);
    return location;
  };
  const query = new URLSearchParams({
    client_id: CONSOLE.id,
    response_type: "code",
    redirect_uri: CONSOLE.redirectUri,
    scope: request.scope,
    resource: request.resource,
    code_challenge: request.challenge,
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
  });
  let location = await step(`/auth?${query}`);
  // The user signs in, then consents to what the console asked for; each answer resumes the request.
  const forms: Record<string, string>[] = [
    { prompt: "login", login: user, password: "any" },
    { prompt: "consent" },
  ];
  for (const form of forms) {
    const resumed = await step(location, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
    location = await step(resumed);
  }
  const callback = new URL(location);
  const code = callback.searchParams.get("code");
  if (code === null) throw new Error(`sign-in failed: ${callback.search}`);
  return code;
}
