import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { AnswerEvent } from "../../app/answer.ts";
import type { Application } from "../../app/application.ts";
import { publicMessage } from "../../app/failures.ts";
import type { ScoredChunk } from "../../core/chunk.ts";
import type { App, AppEnv } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import {
  answerResponseSchema,
  type citationSchema,
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
  403: {
    description: "The token lacks the scope, or an agent acting in it lacks the user's consent",
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
          description:
            "The answer, its citations and the passages it was written from. With `Accept: text/event-stream`, " +
            "Server-Sent Events instead: `passages` (the passages the model is given), `text` (the answer as it " +
            "is written, `{text}`), then one of `done` (`{answer, citations}`), `withheld` (access to a cited " +
            "passage changed while the answer was written: discard the text and ask again) or `error` (a " +
            "failure after streaming began: the answer is incomplete). Failures before the first event are " +
            "ordinary error responses.",
          content: {
            "application/json": { schema: answerResponseSchema },
            "text/event-stream": { schema: z.string() },
          },
        },
        409: {
          description: "Access to a cited passage changed while the answer was written; ask again",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      if (wantsEventStream(c.req.header("accept"))) {
        const answer = await application.streamAnswer(callerOf(c, "POST /v1/answer"), c.req.valid("json"));
        c.set("logFields", answer.logFields);
        // biome-ignore lint/suspicious/noExplicitAny: an event stream is outside the route's typed JSON responses
        return streamAnswerEvents(c, answer.events) as any;
      }
      const answer = await application.answer(callerOf(c, "POST /v1/answer"), c.req.valid("json"));
      c.set("logFields", answer.logFields);
      return c.json(
        {
          answer: answer.text,
          citations: answer.cited.map(toCitation),
          passages: answer.passages.map(toPassage),
        },
        200,
      );
    },
  );
}

/** Whether the client asked for Server-Sent Events (`Accept: text/event-stream`, not a wildcard). */
function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}

/** Formats the application's answer events as SSE; a client that goes away stops the answer. */
function streamAnswerEvents(c: Context<AppEnv>, events: AsyncIterable<AnswerEvent>): Response {
  c.header("X-Accel-Buffering", "no");
  const requestId = c.get("requestId");
  return streamSSE(c, async (stream) => {
    for await (const event of events) {
      if (stream.aborted || stream.closed) break;
      await stream.writeSSE({ event: event.type, data: JSON.stringify(sseData(event, requestId)) });
      // Let the socket flush the passages before the model starts: an in-process model's work is
      // synchronous and would otherwise hold the first event back until it finishes.
      if (event.type === "passages") await new Promise<void>((resolve) => setImmediate(resolve));
    }
  });
}

function sseData(event: AnswerEvent, requestId: string): unknown {
  switch (event.type) {
    case "passages":
      return { passages: event.passages.map(toPassage) };
    case "text":
      return { text: event.text };
    case "done":
      return { answer: event.text, citations: event.cited.map(toCitation) };
    case "withheld":
      return { error: { code: event.error.code, message: publicMessage(event.error), requestId } };
    case "error":
      return {
        error: { code: event.error.code, message: publicMessage(event.error), requestId },
        incomplete: true,
      };
  }
}

function toCitation(passage: ScoredChunk): typeof citationSchema._output {
  return {
    chunkId: passage.id,
    documentId: passage.documentId,
    sectionId: passage.sectionId ?? null,
    title: passage.title,
  };
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
