import { createRoute } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import type { App } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import { documentsResponseSchema, errorResponseSchema } from "../schemas.ts";

/** `GET /v1/documents`: the stored documents the whole principal may read, by id. */
export function registerDocumentsRoute(app: App, application: Application): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/documents",
      summary: "The documents the caller (and every agent acting for them) may read",
      security: [{ bearerAuth: [] }],
      responses: {
        200: {
          description: "Documents, by id",
          content: { "application/json": { schema: documentsResponseSchema } },
        },
        401: {
          description: "Missing or invalid token",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        403: {
          description: "The token lacks the scope, or an agent acting in it lacks the user's consent",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        503: {
          description: "The authorizer or store failed",
          content: { "application/json": { schema: errorResponseSchema } },
        },
      },
    }),
    async (c) => {
      const { documents, logFields } = await application.listReadableDocuments(
        callerOf(c, "GET /v1/documents"),
      );
      c.set("logFields", logFields);
      return c.json({ documents: [...documents] }, 200);
    },
  );
}
