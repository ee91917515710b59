/** The HTTP API's request and response shapes: validated at the edge and published in /openapi.json. */
import { z } from "@hono/zod-openapi";
import { ERROR_CODES } from "../core/errors.ts";

export interface RequestLimits {
  readonly defaultK: number;
  readonly maxK: number;
  readonly queryMaxChars: number;
}

export function retrievalRequestSchema(limits: RequestLimits) {
  return z
    .strictObject({
      query: z
        .string()
        .trim()
        .min(1, "must not be empty")
        .max(limits.queryMaxChars, `must be at most ${limits.queryMaxChars} characters`)
        .openapi({ example: "How do I dispute a card transaction?" }),
      k: z
        .number()
        .int()
        .min(1)
        .max(limits.maxK)
        .default(limits.defaultK)
        .openapi({ description: "How many passages to return at most." }),
    })
    .openapi("RetrievalRequest");
}

export const passageSchema = z
  .object({
    chunkId: z.string(),
    documentId: z.string(),
    sectionId: z.string().nullable(),
    title: z.string(),
    text: z.string(),
    score: z.number(),
  })
  .openapi("Passage");

export const searchResponseSchema = z.object({ passages: z.array(passageSchema) }).openapi("SearchResponse");

export const citationSchema = z
  .object({
    chunkId: z.string(),
    documentId: z.string(),
    sectionId: z.string().nullable(),
    title: z.string(),
  })
  .openapi("Citation");

export const answerResponseSchema = z
  .object({ answer: z.string(), citations: z.array(citationSchema), passages: z.array(passageSchema) })
  .openapi("AnswerResponse");

export const documentsResponseSchema = z
  .object({ documents: z.array(z.object({ id: z.string(), title: z.string(), collection: z.string() })) })
  .openapi("DocumentsResponse");

export const errorResponseSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).openapi({ example: "UNAUTHENTICATED" }),
      message: z.string(),
      requestId: z.string(),
    }),
  })
  .openapi("Error");

export const healthResponseSchema = z.object({ status: z.literal("ok") }).openapi("Health");

export const componentCheckSchema = z
  .object({
    status: z.enum(["up", "down"]),
    latencyMs: z.number().int().min(0),
    error: z.string().optional().openapi({
      description: "The error code when down, e.g. UPSTREAM_UNAVAILABLE",
      example: "UPSTREAM_UNAVAILABLE",
    }),
    message: z
      .string()
      .optional()
      .openapi({ description: "A short fixed reason when down; details go to the server log only" }),
  })
  .openapi("ComponentCheck");

export const readinessResponseSchema = z
  .object({
    status: z.enum(["ready", "unavailable"]),
    checks: z.object({
      authorizer: componentCheckSchema,
      vectorStore: componentCheckSchema,
      model: componentCheckSchema,
    }),
  })
  .openapi("Readiness");
