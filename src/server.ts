/**
 * Serving a runtime over HTTP: chooses the token verifier for the configured identity, opens the audit
 * log, builds the app and listens. Used by `clearance serve` and `clearance demo`.
 */
import { createPublicKey } from "node:crypto";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { createRemoteJWKSet } from "jose";
import { type Logger, pino } from "pino";
import { createJsonlAuditLog } from "./adapters/audit/jsonl-audit-log.ts";
import { DEMO_ALGORITHM, DEMO_ISSUER, loadDemoIdentity } from "./adapters/demo-identity/demo-identity.ts";
import { exposedDataPaths } from "./adapters/durable-files.ts";
import { createApp } from "./app.ts";
import type { AuthConfig, Config } from "./config.ts";
import { AppError } from "./core/errors.ts";
import { createMetrics } from "./http/metrics.ts";
import { createMetricsApp } from "./http/metrics-app.ts";
import { createTokenVerifier, type TokenVerifier } from "./http/token-verifier.ts";
import { containerModelFor, type Runtime } from "./runtime.ts";

/** How long a JWKS fetch may take before requests fail with 503. */
const JWKS_TIMEOUT_MS = 5_000;

export interface RunningServer {
  readonly url: string;
  /** The metrics listener's URL; absent with METRICS_PORT=off. */
  readonly metricsUrl?: string;
  close(): Promise<void>;
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

export async function startServer(runtime: Runtime, logger: Logger): Promise<RunningServer> {
  const { config } = runtime;
  const identity = await tokenVerification(config.auth, config.dataDir, logger);
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
  const auditLog = await createJsonlAuditLog({ path: join(config.dataDir, "audit", "audit.jsonl") });
  warnIfDataDirectoryIsExposed(config.dataDir, logger);
  const metrics = createMetrics({ defaultMetrics: true });
  const app = createApp({
    authorizer: runtime.authorizer,
    vectorStore: runtime.vectorStore,
    embedder: runtime.embedder,
    chatModel: runtime.chatModel,
    auditLog,
    tokenVerifier: identity.verifier,
    logger,
    limits: config.retrieval,
    retrieval: {
      strategy: config.retrieval.strategy,
      budget: config.retrieval.scanBudget,
      containerModel: containers.model,
    },
    metrics,
    ...(identity.jwks ? { jwks: identity.jwks } : {}),
  });
  const server = await listen(app.fetch, config.host, config.port);
  const url = urlOf(server);
  let metricsServer: Listener | undefined;
  if (config.metrics) {
    try {
      metricsServer = await listen(createMetricsApp(metrics).fetch, config.metrics.host, config.metrics.port);
    } catch (error) {
      await closeListener(server);
      await auditLog.close();
      throw error;
    }
  }
  const metricsUrl = metricsServer ? urlOf(metricsServer) : undefined;
  logger.info(
    {
      url,
      // Where authorization comes from; never the Permify token.
      authorizer:
        config.authz.kind === "permify"
          ? { kind: "permify", endpoint: config.authz.endpoint, tenant: config.authz.tenant }
          : { kind: "embedded" },
      embedder: runtime.embedder.model,
      chatModel: runtime.chatModel.model,
      dataDir: config.dataDir,
      metrics: metricsUrl ?? "off",
    },
    "clearance is serving",
  );
  return {
    url,
    ...(metricsUrl ? { metricsUrl } : {}),
    async close() {
      await Promise.all([closeListener(server), metricsServer ? closeListener(metricsServer) : undefined]);
      await auditLog.close();
    },
  };
}

type Listener = ReturnType<typeof serve>;

function listen(fetch: (request: Request) => Response | Promise<Response>, host: string, port: number) {
  return new Promise<Listener>((resolve, reject) => {
    const started = serve({ fetch, hostname: host, port }, () => resolve(started));
    started.once("error", (error) =>
      reject(new AppError("UPSTREAM_UNAVAILABLE", `cannot listen on ${host}:${port}: ${error.message}`)),
    );
  });
}

function urlOf(server: Listener): string {
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function closeListener(server: Listener): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
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

async function tokenVerification(
  auth: AuthConfig,
  dataDir: string,
  logger: Logger,
): Promise<{ verifier: TokenVerifier; jwks?: { keys: readonly object[] } }> {
  if (auth.mode === "unset") {
    throw new AppError(
      "BAD_REQUEST",
      "AUTH_ISSUER: required to serve (with AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM); for a demo on this " +
        "machine only, set AUTH_MODE=demo",
    );
  }
  const maxLifetime =
    auth.maxTokenLifetimeSeconds > 0 ? { maxLifetimeSeconds: auth.maxTokenLifetimeSeconds } : {};
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
  const key =
    "jwksUrl" in auth.keys
      ? createRemoteJWKSet(new URL(auth.keys.jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS })
      : publicKeyFromPem(auth.keys.publicKeyPem);
  return {
    verifier: createTokenVerifier({
      issuer: auth.issuer,
      audience: auth.audience,
      algorithms: auth.algorithms,
      key,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      ...maxLifetime,
    }),
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
