import { createRoute } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import { DEFAULT_READINESS_TIMEOUT_MS } from "../../app/readiness.ts";
import type { App } from "../app-env.ts";
import { healthResponseSchema, readinessResponseSchema } from "../schemas.ts";

/**
 * Routes that need no token: liveness, readiness, the API description and, in demo mode, the signing key
 * set.
 */
export function registerPublicRoutes(
  app: App,
  options: {
    readonly application: Application;
    readonly jwks?: { readonly keys: readonly object[] };
  },
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      summary: "Liveness: the process is up and serving (asks no upstream)",
      responses: {
        200: { description: "Up", content: { "application/json": { schema: healthResponseSchema } } },
      },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      summary: "Readiness: the authorizer, the vector store and the model each answer a probe",
      description:
        `Each upstream is probed in parallel, with ${DEFAULT_READINESS_TIMEOUT_MS} ms each by default. A component that is down reports ` +
        "an error code and a short reason; details go to the server log only.",
      responses: {
        200: {
          description: "Every upstream is up",
          content: { "application/json": { schema: readinessResponseSchema } },
        },
        503: {
          description: "At least one upstream is down",
          content: { "application/json": { schema: readinessResponseSchema } },
        },
      },
    }),
    async (c) => {
      const readiness = await options.application.readiness({ requestId: c.get("requestId") });
      c.set("logFields", readiness.ready ? {} : { down: readiness.down });
      c.header("cache-control", "no-store");
      return c.json(
        { status: readiness.ready ? ("ready" as const) : ("unavailable" as const), checks: readiness.checks },
        readiness.ready ? 200 : 503,
      );
    },
  );
  const { jwks } = options;
  if (jwks) {
    app.get("/.well-known/jwks.json", (c) => c.json(jwks));
  }
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "clearance",
      version: "0.1.0",
      description:
        "Permission-aware retrieval for RAG: every passage is authorized for the caller, and for every agent " +
        "acting for them, before any model sees it.",
    },
  });
}
