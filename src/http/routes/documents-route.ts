import { createRoute } from "@hono/zod-openapi";
import { permittedResources } from "../../core/retrieval.ts";
import { upstream } from "../../core/retrieval-meter.ts";
import type { Authorizer } from "../../ports/authorizer.ts";
import type { VectorStore } from "../../ports/vector-store.ts";
import type { App } from "../app-env.ts";
import { documentsResponseSchema, errorResponseSchema } from "../schemas.ts";

/** `GET /v1/documents`: the stored documents the whole principal may read, by id. */
export function registerDocumentsRoute(
  app: App,
  deps: { readonly authorizer: Authorizer; readonly vectorStore: VectorStore },
): void {
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
        503: {
          description: "The authorizer or store failed",
          content: { "application/json": { schema: errorResponseSchema } },
        },
      },
    }),
    async (c) => {
      const [permitted, stored] = await Promise.all([
        permittedResources(deps.authorizer, c.get("principal")),
        upstream("vector-store", "the vector store failed", () => deps.vectorStore.listDocuments()),
      ]);
      const readable = stored.filter((id) => permitted.has(`document:${id}`));
      const documents = await Promise.all(
        readable.map(async (id) => {
          const [first] = await upstream("vector-store", "the vector store failed", () =>
            deps.vectorStore.documentChunks(id),
          );
          return { id, title: first?.title ?? id, collection: first?.metadata.collection ?? "" };
        }),
      );
      c.set("logFields", { permittedResources: permitted.size, returned: documents.length });
      return c.json({ documents }, 200);
    },
  );
}
