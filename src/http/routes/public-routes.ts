import { createRoute } from "@hono/zod-openapi";
import type { App } from "../app-env.ts";
import { healthResponseSchema } from "../schemas.ts";

/** Routes that need no token: liveness, the API description and, in demo mode, the signing key set. */
export function registerPublicRoutes(
  app: App,
  options: { readonly jwks?: { readonly keys: readonly object[] } },
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      summary: "Liveness: the process is up and serving",
      responses: {
        200: { description: "Up", content: { "application/json": { schema: healthResponseSchema } } },
      },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
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
