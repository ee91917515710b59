/**
 * The composition root: the one place that chooses adapters for a configuration and builds every service
 * from them (the retrieval engine with its ports, the application layer, the token verifier, the audit
 * log, the HTTP surface). Embedded defaults need no server; a Permify server replaces the embedded
 * authorizer when AUTHZ=permify, Qdrant replaces the embedded vector store when VECTORS=qdrant, and an
 * OpenAI-compatible endpoint replaces the embedder and the answerer when OPENAI_API_KEY is set.
 */
import { createPublicKey, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet } from "jose";
import { type Logger, pino } from "pino";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadCheckpointKey, loadQueryKey } from "./adapters/audit/audit-keys.ts";
import { createFileAuditTrail } from "./adapters/audit/file-audit-trail.ts";
import { DEMO_ALGORITHM, DEMO_ISSUER, loadDemoIdentity } from "./adapters/demo-identity/demo-identity.ts";
import { exposedDataPaths } from "./adapters/durable-files.ts";
import { createEmbeddedAuthorizer } from "./adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "./adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "./adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "./adapters/offline/hashing-embedder.ts";
import { createOpenAiChatModel } from "./adapters/openai/openai-chat-model.ts";
import { createOpenAiEmbedder } from "./adapters/openai/openai-embedder.ts";
import {
  createPermifyAuthorizer,
  createScratchPermifyAuthorizer,
  type PermifyAuthorizerOptions,
} from "./adapters/permify/permify-authorizer.ts";
import { createPostgresAuditTrail } from "./adapters/postgres/postgres-audit-trail.ts";
import { createPrometheusMetrics } from "./adapters/prometheus/prometheus-metrics.ts";
import { createQdrantVectorStore } from "./adapters/qdrant/qdrant-vector-store.ts";
import { type Application, createApplication } from "./app/application.ts";
import type { Caller } from "./app/caller.ts";
import { deriveContainerModel } from "./authz-schema/container-model.ts";
import type { AccessConfig, AuthConfig, Config, PermifyConfig } from "./config.ts";
import type { ContainerModel } from "./core/container-model.ts";
import { AppError, isAppError } from "./core/errors.ts";
import type { Ranking } from "./core/lexical.ts";
import { PUBLIC_BACKGROUND } from "./core/lexical-background.ts";
import { createRetrievalEngine, type RetrievalEngineOptions, type Retrieve } from "./core/retrieval.ts";
import type { App } from "./http/app-env.ts";
import { createHttpApp } from "./http/http-app.ts";
import { createMetricsApp } from "./http/metrics-app.ts";
import type { ProtectedResourceOptions } from "./http/routes/protected-resource-routes.ts";
import type { ConsoleSignIn, DemoTokens, WebSurface } from "./http/routes/web-routes.ts";
import type { RequestLimits } from "./http/schemas.ts";
import { createTokenVerifier, type TokenVerifier } from "./http/token-verifier.ts";
import type { AuditLog, AuditReader, AuditTrail } from "./ports/audit-log.ts";
import type { Authorizer } from "./ports/authorizer.ts";
import type { ChatModel } from "./ports/chat-model.ts";
import type { Embedder } from "./ports/embedder.ts";
import type { Metrics } from "./ports/telemetry.ts";
import type { VectorStore } from "./ports/vector-store.ts";
import { buildWebAssets } from "./web/build-web-assets.ts";

export interface Runtime {
  readonly config: Config;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chatModel: ChatModel;
  close(): Promise<void>;
}

export interface AuthorizerOptions {
  /**
   * Which snapshot a Permify authorizer reads at (the embedded one always reads its newest state):
   * - `"head"` (default): Permify's newest transaction, so a revocation made by anyone is in force for the
   *   very next read. The server uses it.
   * - `"own-writes"`: the snapshot of this process's newest write, for a one-shot writer (grant, revoke,
   *   ingest) that reads back what it wrote. Never for a long-lived process: Permify evaluates a read *at*
   *   the token it is given, so it would not see later revocations made by others.
   */
  readonly readConsistency?: "head" | "own-writes";
}

/** Opens the configured authorizer alone, for commands that touch no vectors and no model. */
export async function openAuthorizer(config: Config, options: AuthorizerOptions = {}): Promise<Authorizer> {
  if (config.authz.kind === "embedded") return createEmbeddedAuthorizer({ dataDir: config.dataDir });
  return createPermifyAuthorizer({
    ...(await permifyOptions(config.authz)),
    readConsistency: options.readConsistency ?? "head",
  });
}

/**
 * A Permify authorizer in a new tenant of its own on the configured server, deleted when it is closed:
 * `clearance validate --authorizer permify` runs there, never in the tenant clearance serves from.
 */
export async function openScratchPermifyAuthorizer(
  config: Config,
  options: { readonly depth: number },
): Promise<Authorizer> {
  if (config.authz.kind !== "permify") {
    throw new AppError("BAD_REQUEST", "PERMIFY_ENDPOINT: needed to run against Permify");
  }
  const { tenant: _servedTenant, ...rest } = await permifyOptions(config.authz);
  return createScratchPermifyAuthorizer({ ...rest, depth: options.depth });
}

async function permifyOptions(authz: PermifyConfig): Promise<PermifyAuthorizerOptions> {
  let caPem: Buffer | undefined;
  if (authz.tls?.caFile !== undefined) {
    try {
      caPem = await readFile(authz.tls.caFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new AppError(
        "BAD_REQUEST",
        `PERMIFY_TLS_CA: cannot read ${authz.tls.caFile}${code ? ` (${code})` : ""}`,
        { cause: error },
      );
    }
  }
  return {
    endpoint: authz.endpoint,
    tenant: authz.tenant,
    ...(authz.token === undefined ? {} : { token: authz.token }),
    ...(authz.tls === undefined ? {} : { tls: caPem === undefined ? {} : { caPem } }),
    timeouts: authz.timeouts,
    depth: authz.depth,
  };
}

/** Opens the configured vector store for vectors of `dimensions` (the embedder's). */
export async function openVectorStore(
  config: Config,
  options: { readonly dimensions: number },
): Promise<VectorStore> {
  const { vectors } = config;
  if (vectors.kind === "embedded") {
    return createEmbeddedVectorStore({ dataDir: config.dataDir, dimensions: options.dimensions });
  }
  return createQdrantVectorStore({
    url: vectors.url,
    ...(vectors.apiKey === undefined ? {} : { apiKey: vectors.apiKey }),
    collection: vectors.collection,
    dimensions: options.dimensions,
    timeoutMs: vectors.timeoutMs,
    shards: vectors.cluster.shards,
    replicationFactor: vectors.cluster.replicationFactor,
    writeConsistencyFactor: vectors.cluster.writeConsistencyFactor,
    readConsistency: vectors.cluster.readConsistency,
  });
}

/**
 * Opens the store of agent memory: notes, apart from the documents, so that no document search can ever
 * return one (`<data dir>/memory/`, or the Qdrant collection `<QDRANT_COLLECTION>-memory`).
 */
export async function openMemoryStore(
  config: Config,
  options: { readonly dimensions: number },
): Promise<VectorStore> {
  const { vectors } = config;
  if (vectors.kind === "embedded") {
    return createEmbeddedVectorStore({
      dataDir: join(config.dataDir, "memory"),
      dimensions: options.dimensions,
    });
  }
  return createQdrantVectorStore({
    url: vectors.url,
    ...(vectors.apiKey === undefined ? {} : { apiKey: vectors.apiKey }),
    collection: `${vectors.collection}-memory`,
    dimensions: options.dimensions,
    timeoutMs: vectors.timeoutMs,
  });
}

export async function openRuntime(config: Config, options: AuthorizerOptions = {}): Promise<Runtime> {
  const embedder: Embedder = config.openai
    ? createOpenAiEmbedder({
        apiKey: config.openai.apiKey,
        ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
        model: config.openai.embeddingModel,
        ...(config.openai.embeddingDimensions === undefined
          ? {}
          : { dimensions: config.openai.embeddingDimensions }),
        timeoutMs: config.openai.timeoutMs,
      })
    : createHashingEmbedder();
  const chatModel: ChatModel = config.openai
    ? createOpenAiChatModel({
        apiKey: config.openai.apiKey,
        ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
        model: config.openai.chatModel,
        timeoutMs: config.openai.timeoutMs,
      })
    : createExtractiveAnswerer();
  const authorizer = await openAuthorizer(config, options);
  let vectorStore: VectorStore;
  try {
    vectorStore = await openVectorStore(config, { dimensions: embedder.dimensions });
  } catch (error) {
    await authorizer.close();
    throw error;
  }
  return {
    config,
    authorizer,
    vectorStore,
    embedder,
    chatModel,
    async close() {
      await Promise.allSettled([vectorStore.close(), authorizer.close()]);
    },
  };
}

/**
 * The container model retrieval may use: derived from the schema in force when it makes the container
 * pre-filter exact (as the embedded evaluator compiles it), else none and the reason. The schema
 * in force is the embedded authorizer's own text; Permify keeps no text, and `serve` has checked that
 * AUTHZ_SCHEMA_FILE is what it has in force.
 */
export async function containerModelFor(
  runtime: Pick<Runtime, "authorizer" | "config">,
): Promise<{ readonly model: ContainerModel | null; readonly reason?: string }> {
  let text: string | undefined;
  try {
    text = (await runtime.authorizer.readSchema()).schema;
  } catch (error) {
    if (!isAppError(error, "NOT_FOUND")) throw error;
  }
  if (text === undefined && runtime.config.authz.kind === "permify") {
    text = await readFile(runtime.config.authz.schemaFile, "utf8");
  }
  if (text === undefined) return { model: null, reason: "no schema is in force" };
  const derived = deriveContainerModel(text);
  return derived.ok ? { model: derived.model } : { model: null, reason: derived.reason };
}

/** The configured ranking, with the lexical statistics shipped with the code (never the store's). */
export function rankingFor(config: Pick<Config, "retrieval">): Ranking {
  const { ranking } = config.retrieval;
  return ranking.kind === "hybrid"
    ? { kind: "hybrid", denseWeight: ranking.denseWeight, statistics: PUBLIC_BACKGROUND }
    : { kind: "dense" };
}

/** Everything the HTTP surface is built from: the ports, identity, limits and retrieval settings. */
export interface AppDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
  readonly tokenVerifier: TokenVerifier;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** Demo mode publishes the key set its tokens are signed with. */
  readonly jwks?: { readonly keys: readonly object[] };
  /** How long each `/readyz` probe may take (default 2 s). */
  readonly readinessTimeoutMs?: number;
  /** INGEST_MAX_*: the largest upload and the most chunks per document for owners' writes. */
  readonly ingestLimits?: { readonly maxFileBytes: number; readonly maxChunksPerDocument: number };
  /** The retrieval engine's strategy, budget and container model (default: adaptive, no container model). */
  readonly retrieval?: Omit<RetrievalEngineOptions, "authorizer" | "vectorStore" | "embedder">;
  /** Agent memory's own store (absent: the memory use cases are refused). */
  readonly memoryStore?: VectorStore;
  /** The OAuth protected resource clearance presents (RFC 9728). */
  readonly protectedResource?: ProtectedResourceOptions;
  /** Wall-clock milliseconds, for delegation expiry (default `Date.now`). */
  readonly clock?: () => number;
  /** Replaces the engine: the benchmark swaps in an unauthorized search for its baseline. */
  readonly retrieve?: Retrieve;
  /**
   * Where the series are recorded (default: a registry of this app's own). They are served by the metrics
   * listener (`createMetricsApp`), never by this app: they count what callers were refused.
   */
  readonly metrics?: Metrics;
  /** Where `GET /v1/audit` reads (default: `auditLog` when it can be read). */
  readonly auditReader?: AuditReader;
  /** The HMAC key of query digests (default: a random key of this app's own). */
  readonly auditQueryKey?: Uint8Array;
  /** The entity whose `audit` permission lets a principal read the trail (default `bank:main`). */
  readonly auditResource?: { readonly type: string; readonly id: string };
  /** Origins whose pages may call `/v1/*` from a browser (default: none). */
  readonly corsAllowedOrigins?: readonly string[];
  /** The chat widget and the console (default: not served). */
  readonly web?: WebSurface;
}

/** The retrieval engine, the application layer on it, and the HTTP surface on that. */
export function composeApp(deps: AppDeps): { readonly app: App; readonly application: Application } {
  const metrics = deps.metrics ?? createPrometheusMetrics();
  const retrieve =
    deps.retrieve ??
    createRetrievalEngine({
      authorizer: deps.authorizer,
      vectorStore: deps.vectorStore,
      embedder: deps.embedder,
      ...deps.retrieval,
    }).retrieve;
  const application = createApplication({
    authorizer: deps.authorizer,
    vectorStore: deps.vectorStore,
    chatModel: deps.chatModel,
    auditLog: deps.auditLog,
    ...auditReaderOf(deps),
    auditQueryKey: deps.auditQueryKey ?? randomBytes(32),
    ...(deps.auditResource === undefined ? {} : { auditResource: deps.auditResource }),
    retrieve,
    metrics,
    logger: deps.logger,
    ...(deps.readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs: deps.readinessTimeoutMs }),
    embedder: deps.embedder,
    ...(deps.ingestLimits === undefined ? {} : { ingestLimits: deps.ingestLimits }),
    ...(deps.memoryStore === undefined
      ? {}
      : { memory: { store: deps.memoryStore, embedder: deps.embedder } }),
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  });
  const app = createHttpApp({
    application,
    tokenVerifier: deps.tokenVerifier,
    logger: deps.logger,
    limits: deps.limits,
    metrics,
    ...(deps.jwks ? { jwks: deps.jwks } : {}),
    ...(deps.ingestLimits === undefined ? {} : { maxUploadBytes: deps.ingestLimits.maxFileBytes }),
    ...(deps.corsAllowedOrigins ? { corsAllowedOrigins: deps.corsAllowedOrigins } : {}),
    ...(deps.web ? { web: deps.web } : {}),
    ...(deps.protectedResource ? { protectedResource: deps.protectedResource } : {}),
  });
  return { app, application };
}

/**
 * The served apps for a runtime: the public app with the configured identity, the container model the
 * schema in force allows and the audit log in the data directory; and the metrics app for the internal
 * listener. `close` releases what this opened (not the runtime).
 */
export async function composeServedApp(
  runtime: Runtime,
  logger: Logger,
): Promise<{
  readonly app: App;
  readonly metricsApp: ReturnType<typeof createMetricsApp>;
  close(): Promise<void>;
}> {
  const { config } = runtime;
  const identity = await tokenVerification(config.auth, config.dataDir, logger, config.access);
  const containers = await containerModelFor(runtime);
  if (containers.model === null) {
    if (config.retrieval.strategy === "container-pre-filter") {
      throw new AppError(
        "BAD_REQUEST",
        `RETRIEVAL_STRATEGY=container-pre-filter cannot be exact with this schema: ${containers.reason}`,
      );
    }
    logger.warn({ reason: containers.reason }, "the container pre-filter is off");
  }
  const auditLog = await openAuditTrail(config);
  const memoryStore = await openMemoryStore(config, { dimensions: runtime.embedder.dimensions });
  warnIfDataDirectoryIsExposed(config.dataDir, logger);
  const metrics = createPrometheusMetrics({ defaultMetrics: true });
  const { app } = composeApp({
    authorizer: runtime.authorizer,
    vectorStore: runtime.vectorStore,
    embedder: runtime.embedder,
    chatModel: runtime.chatModel,
    auditLog,
    tokenVerifier: identity.verifier,
    logger,
    limits: config.retrieval,
    ingestLimits: config.ingest,
    retrieval: {
      strategy: config.retrieval.strategy,
      budget: config.retrieval.scanBudget,
      containerModel: containers.model,
      ranking: rankingFor(config),
    },
    metrics,
    memoryStore,
    protectedResource: {
      ...(config.access.resource === undefined ? {} : { resource: config.access.resource }),
      authorizationServers: config.access.authorizationServers,
    },
    ...(identity.jwks ? { jwks: identity.jwks } : {}),
    auditReader: auditLog,
    auditQueryKey: await auditQueryKey(config),
    auditResource: config.audit.resource,
    corsAllowedOrigins: config.web.corsAllowedOrigins,
    web: await webSurface(config),
  });
  return {
    app,
    metricsApp: createMetricsApp(metrics),
    close: async () => {
      await Promise.allSettled([auditLog.close(), memoryStore.close()]);
    },
  };
}

/**
 * The data directory holds every document's text, who may read what and the audit trail. Files made by
 * this version are 0600 in 0700 directories; older ones, or a directory made by hand, may not be.
 */
function warnIfDataDirectoryIsExposed(dataDir: string, logger: Logger): void {
  const exposed = exposedDataPaths(dataDir);
  if (exposed.length === 0) return;
  logger.warn(
    { dataDir, exposed: exposed.slice(0, 20), more: Math.max(0, exposed.length - 20) },
    "the data directory can be read by other users of this host; run chmod -R go-rwx on it",
  );
}

function auditReaderOf(deps: AppDeps): { auditReader?: AuditReader } {
  if (deps.auditReader !== undefined) return { auditReader: deps.auditReader };
  const log = deps.auditLog as Partial<AuditReader>;
  return typeof log.search === "function" ? { auditReader: log as AuditReader } : {};
}

/** The HMAC key of query digests: AUDIT_QUERY_KEY, or (demo mode) one kept in the data directory. */
export function auditQueryKey(config: Config): Promise<Uint8Array> {
  return loadQueryKey({
    ...(config.audit.queryKey === undefined ? {} : { configured: config.audit.queryKey }),
    dataDir: config.dataDir,
  });
}

/**
 * The checkpoint key: AUDIT_CHECKPOINT_KEY_FILE, else in demo mode one generated in the data directory,
 * else none (checkpoints unsigned).
 */
export function auditCheckpointKey(config: Config) {
  return loadCheckpointKey({
    ...(config.audit.checkpointKeyFile === undefined ? {} : { file: config.audit.checkpointKeyFile }),
    ...(config.auth.mode === "demo" ? { generateIn: config.dataDir } : {}),
  });
}

/** The configured audit trail: the data directory's (`AUDIT=file`), or PostgreSQL's. */
export async function openAuditTrail(
  config: Config,
  options: { readonly readOnly?: boolean } = {},
): Promise<AuditTrail> {
  const { audit } = config;
  const checkpointKey = options.readOnly ? undefined : await auditCheckpointKey(config);
  const common = {
    ...(checkpointKey === undefined ? {} : { checkpointKey }),
    checkpointIntervalMs: audit.checkpointIntervalMs,
    ...(options.readOnly ? { readOnly: true } : {}),
  };
  if (audit.store.kind === "postgres") {
    return createPostgresAuditTrail({
      ...common,
      connectionString: audit.store.url,
      timeoutMs: audit.timeoutMs,
    });
  }
  return createFileAuditTrail({
    ...common,
    dir: auditTrailDir(config),
    rotateBytes: audit.rotateBytes,
    rotateAgeMs: audit.rotateAgeMs,
    ...(audit.retentionMs === undefined ? {} : { retentionMs: audit.retentionMs }),
  });
}

export function auditTrailDir(config: Config): string {
  return join(config.dataDir, "audit", "trail");
}

/**
 * The CLI's caller: the operator (CLEARANCE_OPERATOR, else the OS user) with no agent, a request id of
 * its own, surface `cli:<command>`.
 */
export function operatorCaller(config: Config, command: string): Caller {
  let user = config.audit.operator;
  if (user === undefined) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  const safe = user.replace(/[^A-Za-z0-9_\-@.:+]/g, "_").slice(0, 128) || "unknown";
  return {
    principal: { userId: safe, agentIds: [], credential: { clientId: `clearance-cli@${hostname()}` } },
    requestId: crypto.randomUUID(),
    surface: `cli:${command}`,
  };
}

/**
 * The widget and the console, built from src/web, and how the console signs people in: demo tokens in
 * demo mode (the picker offers the fixture bank's people), else the issuer's OpenID Connect login when
 * the console has a client id there.
 */
async function webSurface(config: Config): Promise<WebSurface> {
  const assets = await buildWebAssets();
  if (config.auth.mode === "demo") {
    return { assets, signIn: { mode: "demo" }, demo: await demoTokens(config.dataDir, config.auth.audience) };
  }
  const signIn: ConsoleSignIn =
    config.web.consoleOidc === undefined || config.auth.mode !== "issuer"
      ? { mode: "none" }
      : { mode: "oidc", authority: config.auth.issuer, ...config.web.consoleOidc };
  return { assets, signIn };
}

const demoPeopleSchema = z.object({
  users: z.array(z.object({ id: z.string(), name: z.string(), role: z.string() })).default([]),
  agents: z.array(z.object({ id: z.string(), name: z.string(), role: z.string() })).default([]),
});

/** The README's four principals, for the console's side-by-side comparison (those that exist). */
const SHOWCASE = [
  { sub: "maria", agents: [] },
  { sub: "tom", agents: [] },
  { sub: "victor", agents: [] },
  { sub: "victor", agents: ["support-assistant"] },
] as const;

async function demoTokens(dataDir: string, audience: string): Promise<DemoTokens> {
  const identity = await loadDemoIdentity(dataDir);
  let people: z.infer<typeof demoPeopleSchema> = { users: [], agents: [] };
  try {
    people = demoPeopleSchema.parse(
      parseYaml(await readFile(new URL("../fixtures/users.yaml", import.meta.url), "utf8")),
    );
  } catch {
    // No fixture bank beside the code: the picker is empty, and tokens are still issued for any id.
  }
  const name = (id: string, list: readonly { id: string; name: string }[]) =>
    list.find((person) => person.id === id)?.name;
  const showcase = SHOWCASE.flatMap(({ sub, agents }) => {
    const user = name(sub, people.users);
    const agentNames = agents.map((id) => name(id, people.agents));
    if (user === undefined || agentNames.some((agent) => agent === undefined)) return [];
    const label = agents.length === 0 ? user : `${agentNames.join(", ")} for ${user}`;
    return [{ sub, agents: [...agents], label }];
  });
  return {
    people: { ...people, showcase },
    issue: ({ sub, agentIds, ttlSeconds }) => identity.sign({ sub, agentIds, audience, ttlSeconds }),
  };
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "clearance" },
    // Belt and braces: no code path logs these, and if one ever does they are masked.
    redact: {
      paths: [
        "authorization",
        "*.authorization",
        "headers.authorization",
        "token",
        "*.token",
        "query",
        "prompt",
      ],
      censor: "[redacted]",
    },
  });
}

/** How long a JWKS fetch may take before requests fail with 503. */
const JWKS_TIMEOUT_MS = 5_000;

async function tokenVerification(
  auth: AuthConfig,
  dataDir: string,
  logger: Logger,
  access: AccessConfig,
): Promise<{ verifier: TokenVerifier; jwks?: { keys: readonly object[] } }> {
  if (auth.mode === "unset") {
    throw new AppError(
      "BAD_REQUEST",
      "AUTH_ISSUER: required to serve (with AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM); for a demo on this " +
        "machine only, set AUTH_MODE=demo",
    );
  }
  const maxLifetime = {
    ...(auth.maxTokenLifetimeSeconds > 0 ? { maxLifetimeSeconds: auth.maxTokenLifetimeSeconds } : {}),
    defaultScopes: access.defaultScopes,
  };
  if (auth.mode === "demo") {
    const identity = await loadDemoIdentity(dataDir);
    logger.warn(
      { issuer: DEMO_ISSUER },
      "demo identity: tokens are signed with a key kept in the data directory; this is not for production " +
        "(set AUTH_ISSUER and AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM)",
    );
    return {
      verifier: createTokenVerifier({
        issuer: DEMO_ISSUER,
        audience: auth.audience,
        algorithms: [DEMO_ALGORITHM],
        key: identity.publicKey,
        clockToleranceSeconds: auth.clockToleranceSeconds,
        ...maxLifetime,
      }),
      jwks: identity.jwks,
    };
  }
  return { verifier: createIssuerTokenVerifier(auth, access) };
}

/**
 * The verifier of the bank's identity provider's tokens (AUTH_MODE=issuer): its keys from AUTH_JWKS_URL
 * (re-read as `jwksOptions` says) or AUTH_PUBLIC_KEY_PEM. Exported so that tests against a real provider
 * verify exactly as `clearance serve` does.
 */
export function createIssuerTokenVerifier(
  auth: Extract<AuthConfig, { mode: "issuer" }>,
  access: Pick<AccessConfig, "defaultScopes" | "jwksRefreshSeconds">,
): TokenVerifier {
  const key =
    "jwksUrl" in auth.keys
      ? createRemoteJWKSet(new URL(auth.keys.jwksUrl), jwksOptions(access.jwksRefreshSeconds))
      : publicKeyFromPem(auth.keys.publicKeyPem);
  return createTokenVerifier({
    issuer: auth.issuer,
    audience: auth.audience,
    algorithms: auth.algorithms,
    key,
    clockToleranceSeconds: auth.clockToleranceSeconds,
    ...(auth.maxTokenLifetimeSeconds > 0 ? { maxLifetimeSeconds: auth.maxTokenLifetimeSeconds } : {}),
    defaultScopes: access.defaultScopes,
  });
}

/**
 * Key rotation: an unknown `kid` makes jose re-read the JWKS at most once per refresh delay (a new key is
 * accepted within it), and the whole set is re-read once it is that old (a removed key is refused within
 * it, even if no unknown `kid` came by).
 */
export function jwksOptions(refreshSeconds: number) {
  return {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: refreshSeconds * 1000,
    cacheMaxAge: refreshSeconds * 1000,
  };
}

function publicKeyFromPem(pem: string) {
  try {
    const key = createPublicKey(pem);
    if (key.type !== "public") throw new Error("not a public key");
    return key;
  } catch (error) {
    throw new AppError("BAD_REQUEST", "AUTH_PUBLIC_KEY_PEM: not a PEM public key", { cause: error });
  }
}
