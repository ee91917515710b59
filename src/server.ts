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
import { createApp } from "./app.ts";
import type { AuthConfig, Config } from "./config.ts";
import { AppError } from "./core/errors.ts";
import { createMetrics } from "./http/metrics.ts";
import { createTokenVerifier, type TokenVerifier } from "./http/token-verifier.ts";
import { containerModelFor, type Runtime } from "./runtime.ts";

/** How long a JWKS fetch may take before requests fail with 503. */
const JWKS_TIMEOUT_MS = 5_000;

export interface RunningServer {
  readonly url: string;
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
    metrics: createMetrics({ defaultMetrics: true }),
    ...(identity.jwks ? { jwks: identity.jwks } : {}),
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () =>
      resolve(started),
    );
    started.once("error", (error) =>
      reject(
        new AppError(
          "UPSTREAM_UNAVAILABLE",
          `cannot listen on ${config.host}:${config.port}: ${error.message}`,
        ),
      ),
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
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
    },
    "clearance is serving",
  );
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await auditLog.close();
    },
  };
}

async function tokenVerification(
  auth: AuthConfig,
  dataDir: string,
  logger: Logger,
): Promise<{ verifier: TokenVerifier; jwks?: { keys: readonly object[] } }> {
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
