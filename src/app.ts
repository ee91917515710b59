/**
 * The HTTP application: middleware order, routes and error handling. Adapters come in through `deps`;
 * nothing here reads the environment or chooses an adapter.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { Logger } from "pino";
import { isAppError } from "./core/errors.ts";
import {
  createRetrievalEngine,
  type RetrievalDeps,
  type RetrievalEngineOptions,
  type Retrieve,
} from "./core/retrieval.ts";
import type { App, AppEnv } from "./http/app-env.ts";
import { errorResponse } from "./http/error-response.ts";
import { createMetrics, type Metrics } from "./http/metrics.ts";
import { authenticate } from "./http/middleware/authenticate.ts";
import { requestLog } from "./http/middleware/request-log.ts";
import { requestMetrics } from "./http/middleware/request-metrics.ts";
import { registerDocumentsRoute } from "./http/routes/documents-route.ts";
import { registerPublicRoutes } from "./http/routes/public-routes.ts";
import { registerRetrievalRoutes } from "./http/routes/retrieval-routes.ts";
import type { RequestLimits } from "./http/schemas.ts";
import type { TokenVerifier } from "./http/token-verifier.ts";
import type { AuditLog } from "./ports/audit-log.ts";
import type { ChatModel } from "./ports/chat-model.ts";

export interface AppDeps extends RetrievalDeps {
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
  readonly tokenVerifier: TokenVerifier;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** Demo mode publishes the key set its tokens are signed with. */
  readonly jwks?: { readonly keys: readonly object[] };
  /** How long each `/readyz` probe may take (default 2 s). */
  readonly readinessTimeoutMs?: number;
  /** The retrieval engine's strategy and budget (default: adaptive, the default budget). */
  readonly retrieval?: RetrievalEngineOptions;
  /** Replaces the engine: the benchmark swaps in an unauthorized search for its baseline. */
  readonly retrieve?: Retrieve;
  /**
   * Where the series are recorded (default: a registry of this app's own). They are served by the metrics
   * listener (`createMetricsApp`), never by this app: they count what callers were refused.
   */
  readonly metrics?: Metrics;
}

/** Requests larger than this are refused before they are parsed. */
const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: AppDeps): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return errorResponse(c, "BAD_REQUEST", describeIssues(result.error.issues));
    },
  });

  const metrics = deps.metrics ?? createMetrics();

  app.use("*", requestId());
  app.use("*", requestLog(deps.logger));
  app.use("*", requestMetrics(metrics));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        errorResponse(c, "PAYLOAD_TOO_LARGE", `the request body exceeds ${MAX_BODY_BYTES} bytes`),
    }),
  );
  app.use("/v1/*", authenticate(deps.tokenVerifier));

  registerPublicRoutes(app, {
    ...(deps.jwks ? { jwks: deps.jwks } : {}),
    readiness: { authorizer: deps.authorizer, vectorStore: deps.vectorStore, model: deps.chatModel },
    ...(deps.readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs: deps.readinessTimeoutMs }),
    logger: deps.logger,
  });
  registerRetrievalRoutes(app, {
    ...deps,
    metrics,
    retrieve: deps.retrieve ?? createRetrievalEngine(deps.retrieval).retrieve,
  });
  registerDocumentsRoute(app, deps);

  app.notFound((c) => errorResponse(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    if (isAppError(error)) {
      if (error.upstream !== undefined || error.code === "UPSTREAM_UNAVAILABLE") {
        metrics.countUpstreamError(error.upstream ?? "unknown");
      }
      if (
        error.code === "INTERNAL" ||
        error.code === "UPSTREAM_UNAVAILABLE" ||
        error.code === "DEPTH_EXCEEDED"
      ) {
        deps.logger.error({ requestId: c.get("requestId"), err: error }, error.message);
      }
      return errorResponse(c, error.code, error.code === "INTERNAL" ? "internal error" : error.message);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's JSON validator rejects a body that does not parse before zod sees it.
      return errorResponse(c, "BAD_REQUEST", `body: ${error.message || "malformed request"}`);
    }
    deps.logger.error({ requestId: c.get("requestId"), err: error }, "unhandled error");
    return errorResponse(c, "INTERNAL", "internal error");
  });
  return app;
}

/** Names every rejected field, e.g. `query: must not be empty; k: Too big`, for a 400 body. */
function describeIssues(
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    code: string;
    keys?: readonly string[];
  }[],
): string {
  return issues
    .map((issue) => {
      if (issue.code === "unrecognized_keys" && issue.keys) {
        return issue.keys.map((key) => `${[...issue.path, key].join(".")}: unknown field`).join("; ");
      }
      const field = issue.path.length > 0 ? issue.path.map(String).join(".") : "body";
      return `${field}: ${issue.message}`;
    })
    .join("; ");
}
