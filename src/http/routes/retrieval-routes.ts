import { createRoute } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import type { ScoredChunk } from "../../core/chunk.ts";
import type { App } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import {
  answerResponseSchema,
  errorResponseSchema,
  type passageSchema,
  type RequestLimits,
  retrievalRequestSchema,
  searchResponseSchema,
} from "../schemas.ts";

const errorResponses = {
  400: { description: "Invalid request", content: { "application/json": { schema: errorResponseSchema } } },
  401: {
    description: "Missing or invalid token",
    content: { "application/json": { schema: errorResponseSchema } },
  },
  503: {
    description: "The authorizer, store or model failed; nothing is returned",
    content: { "application/json": { schema: errorResponseSchema } },
  },
} as const;

export function registerRetrievalRoutes(app: App, application: Application, limits: RequestLimits): void {
  const body = {
    required: true,
    content: { "application/json": { schema: retrievalRequestSchema(limits) } },
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/search",
      summary: "The k passages most relevant to the query among those the caller may read",
      security: [{ bearerAuth: [] }],
      request: { body },
      responses: {
        200: {
          description: "Passages, best first",
          content: { "application/json": { schema: searchResponseSchema } },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { passages, logFields } = await application.search(
        callerOf(c, "POST /v1/search"),
        c.req.valid("json"),
      );
      c.set("logFields", logFields);
      return c.json({ passages: passages.map(toPassage) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/answer",
      summary: "An answer written only from passages the caller (and every agent acting for them) may read",
      security: [{ bearerAuth: [] }],
      request: { body },
      responses: {
        200: {
          description: "The answer, its citations and the passages it was written from",
          content: { "application/json": { schema: answerResponseSchema } },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const answer = await application.answer(callerOf(c, "POST /v1/answer"), c.req.valid("json"));
      c.set("logFields", answer.logFields);
      return c.json(
        {
          answer: answer.text,
          citations: answer.cited.map((passage) => ({
            chunkId: passage.id,
            documentId: passage.documentId,
            sectionId: passage.sectionId ?? null,
            title: passage.title,
          })),
          passages: answer.passages.map(toPassage),
        },
        200,
      );
    },
  );
}

function toPassage(chunk: ScoredChunk): typeof passageSchema._output {
  return {
    chunkId: chunk.id,
    documentId: chunk.documentId,
    sectionId: chunk.sectionId ?? null,
    title: chunk.title,
    text: chunk.text,
    score: Math.round(chunk.score * 1e6) / 1e6,
  };
}
