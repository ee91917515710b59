import { createRoute, z } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import { MAX_NOTE_CHARS, MAX_NOTE_SOURCES } from "../../app/memory.ts";
import type { App } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import { errorResponseSchema, type RequestLimits, retrievalRequestSchema } from "../schemas.ts";

const errors = {
  400: { description: "Invalid request", content: { "application/json": { schema: errorResponseSchema } } },
  401: {
    description: "Missing or invalid token",
    content: { "application/json": { schema: errorResponseSchema } },
  },
  403: {
    description: "Missing scope or consent, or a source the caller may not read",
    content: { "application/json": { schema: errorResponseSchema } },
  },
  503: {
    description: "An upstream failed",
    content: { "application/json": { schema: errorResponseSchema } },
  },
} as const;

export const rememberRequestSchema = z
  .strictObject({
    text: z.string().trim().min(1).max(MAX_NOTE_CHARS),
    sources: z
      .array(z.string().regex(/^(document|section):[A-Za-z0-9_\-@.:+]{1,128}$/))
      .max(MAX_NOTE_SOURCES)
      .default([])
      .openapi({
        description: "The resources of the passages the note was derived from",
        example: ["document:help-card-dispute"],
      }),
  })
  .openapi("RememberRequest");

export const noteSchema = z
  .object({ id: z.string(), text: z.string(), sources: z.array(z.string()), score: z.number() })
  .openapi("Note");

const noteParam = z.object({
  noteId: z
    .string()
    .regex(/^n-[A-Za-z0-9-]{1,100}$/)
    .openapi({ param: { name: "noteId", in: "path" } }),
});

/** `/v1/memory`: agent memory, the same use cases as the MCP tools `remember` and `recall`. */
export function registerMemoryRoutes(app: App, application: Application, limits: RequestLimits): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/memory/notes",
      summary: "Remember a note for the caller's user, derived from the given sources",
      security: [{ bearerAuth: [] }],
      request: {
        body: { required: true, content: { "application/json": { schema: rememberRequestSchema } } },
      },
      responses: {
        201: {
          description: "Stored",
          content: { "application/json": { schema: z.object({ id: z.string() }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { id } = await application.remember(callerOf(c, "POST /v1/memory/notes"), c.req.valid("json"));
      return c.json({ id }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/memory/recall",
      summary: "The notes most similar to the query that the caller may view, with every source",
      security: [{ bearerAuth: [] }],
      request: {
        body: { required: true, content: { "application/json": { schema: retrievalRequestSchema(limits) } } },
      },
      responses: {
        200: {
          description: "Notes, best first",
          content: { "application/json": { schema: z.object({ notes: z.array(noteSchema) }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { notes, logFields } = await application.recall(
        callerOf(c, "POST /v1/memory/recall"),
        c.req.valid("json"),
      );
      c.set("logFields", logFields);
      return c.json({ notes: notes.map((note) => ({ ...note, sources: [...note.sources] })) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/memory/notes/{noteId}/viewers",
      summary: "Share a note the caller owns with a user or an agent",
      security: [{ bearerAuth: [] }],
      request: {
        params: noteParam,
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.strictObject({ subject: z.string().openapi({ example: "user:james" }) }),
            },
          },
        },
      },
      responses: {
        200: {
          description: "Shared",
          content: { "application/json": { schema: z.object({ shared: z.boolean() }) } },
        },
        404: {
          description: "No such note that the caller owns",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        ...errors,
      },
    }),
    async (c) => {
      await application.shareNote(callerOf(c, "PUT /v1/memory/notes/viewers"), {
        noteId: c.req.valid("param").noteId,
        subject: c.req.valid("json").subject,
      });
      return c.json({ shared: true }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/memory/notes/{noteId}",
      summary: "Delete a note the caller owns",
      security: [{ bearerAuth: [] }],
      request: { params: noteParam },
      responses: {
        200: {
          description: "Deleted",
          content: { "application/json": { schema: z.object({ deleted: z.boolean() }) } },
        },
        404: {
          description: "No such note that the caller owns",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        ...errors,
      },
    }),
    async (c) => {
      await application.deleteNote(callerOf(c, "DELETE /v1/memory/notes"), {
        noteId: c.req.valid("param").noteId,
      });
      return c.json({ deleted: true }, 200);
    },
  );
}
