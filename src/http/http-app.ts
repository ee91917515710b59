/**
 * The REST surface: middleware order, routes and the translation of failures to HTTP. It parses,
 * authenticates and formats; every use case, with its authorization, auditing, metrics and error mapping,
 * is the application layer's. Nothing here reads the environment or chooses an adapter.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Application } from "../app/application.ts";
import { publicMessage } from "../app/failures.ts";
import type { Logger, Metrics } from "../ports/telemetry.ts";
import type { App, AppEnv } from "./app-env.ts";
import { errorResponse } from "./error-response.ts";
import { authenticate } from "./middleware/authenticate.ts";
import { corsForOrigins } from "./middleware/cors.ts";
import { requestIds } from "./middleware/request-id.ts";
import { requestLog } from "./middleware/request-log.ts";
import { requestMetrics } from "./middleware/request-metrics.ts";
import { registerAuditRoute } from "./routes/audit-route.ts";
import { registerDelegationRoutes } from "./routes/delegation-routes.ts";
import { registerDocumentsRoute } from "./routes/documents-route.ts";
import { registerMcpRoutes } from "./routes/mcp-routes.ts";
import { registerMemoryRoutes } from "./routes/memory-routes.ts";
import { registerOwnerRoutes } from "./routes/owner-routes.ts";
import {
  announceResourceMetadata,
  type ProtectedResourceOptions,
  registerProtectedResourceRoutes,
} from "./routes/protected-resource-routes.ts";
import { registerPublicRoutes } from "./routes/public-routes.ts";
import { registerRetrievalRoutes } from "./routes/retrieval-routes.ts";
import { registerWebRoutes, type WebSurface } from "./routes/web-routes.ts";
import type { RequestLimits } from "./schemas.ts";
import type { TokenVerifier } from "./token-verifier.ts";

export interface HttpAppDeps {
  readonly application: Application;
  readonly tokenVerifier: TokenVerifier;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** The request series, and the retrieval series the application records in the same registry. */
  readonly metrics: Metrics;
  /** Demo mode publishes the key set its tokens are signed with. */
  readonly jwks?: { readonly keys: readonly object[] };
  /** The largest document an owner may upload (INGEST_MAX_FILE_BYTES; default 10 MiB). */
  readonly maxUploadBytes?: number;
  /** Origins whose pages may call `/v1/*` from a browser (none by default). */
  readonly corsAllowedOrigins?: readonly string[];
  /** The chat widget, the staff console and, in demo mode, demo tokens for the console. */
  readonly web?: WebSurface;
  /** The OAuth protected resource clearance is (RFC 9728): default, `<origin>/mcp` and no authorization server. */
  readonly protectedResource?: ProtectedResourceOptions;
}

/** Requests larger than this are refused before they are parsed. */
const MAX_BODY_BYTES = 64 * 1024;

export function createHttpApp(deps: HttpAppDeps): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return errorResponse(c, "BAD_REQUEST", describeIssues(result.error.issues));
    },
  });

  const protectedResource = deps.protectedResource ?? { authorizationServers: [] };
  app.use("*", requestIds());
  app.use("*", requestLog(deps.logger));
  app.use("*", requestMetrics(deps.metrics));
  const maxUploadBytes = deps.maxUploadBytes ?? 10 * 1024 * 1024;
  const requestLimit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => errorResponse(c, "PAYLOAD_TOO_LARGE", `the request body exceeds ${MAX_BODY_BYTES} bytes`),
  });
  // An owner's upload carries a document: up to the file limit, plus room for its entry and the framing.
  const uploadLimit = bodyLimit({
    maxSize: maxUploadBytes + MAX_BODY_BYTES,
    onError: (c) => errorResponse(c, "PAYLOAD_TOO_LARGE", `the file exceeds ${maxUploadBytes} bytes`),
  });
  app.use("*", announceResourceMetadata(protectedResource));
  // Before authentication: a preflight carries no token.
  app.use("/v1/*", corsForOrigins(deps.corsAllowedOrigins ?? []));
  for (const path of ["/v1/*", "/mcp"]) {
    app.use(path, (c, next) => {
      const upload =
        (c.req.method === "POST" && c.req.path === "/v1/documents") ||
        (c.req.method === "PUT" && c.req.path.startsWith("/v1/documents/"));
      return (upload ? uploadLimit : requestLimit)(c, next);
    });
    app.use(path, authenticate(deps.tokenVerifier));
  }

  registerPublicRoutes(app, { application: deps.application, ...(deps.jwks ? { jwks: deps.jwks } : {}) });
  registerRetrievalRoutes(app, deps.application, deps.limits);
  registerDocumentsRoute(app, deps.application);
  registerOwnerRoutes(app, deps.application, { maxFileBytes: maxUploadBytes });
  registerAuditRoute(app, deps.application);
  if (deps.web) registerWebRoutes(app, deps.web);
  registerDelegationRoutes(app, deps.application);
  registerMemoryRoutes(app, deps.application, deps.limits);
  registerProtectedResourceRoutes(app, protectedResource);
  registerMcpRoutes(app, deps.application, deps.limits);

  app.notFound((c) => errorResponse(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's JSON validator rejects a body that does not parse before zod sees it.
      return errorResponse(c, "BAD_REQUEST", `body: ${error.message || "malformed request"}`);
    }
    // Use cases have reported their failures already; this reports the rest (authentication, a JWKS
    // that cannot be fetched) the same way, once.
    const failure = deps.application.reportFailure(error, {
      requestId: c.get("requestId"),
      surface: `${c.req.method} ${c.req.path}`,
    });
    return errorResponse(c, failure.code, publicMessage(failure), { scope: failure.scope });
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
