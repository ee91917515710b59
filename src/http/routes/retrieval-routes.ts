import { createHash } from "node:crypto";
import { createRoute } from "@hono/zod-openapi";
import { answerFromPassages } from "../../core/answering.ts";
import type { ScoredChunk } from "../../core/chunk.ts";
import { upstreamFailure } from "../../core/errors.ts";
import type { Principal } from "../../core/principal.ts";
import type { RetrievalDeps, RetrievalResult, Retrieve } from "../../core/retrieval.ts";
import type { AuditLog, AuditRecord } from "../../ports/audit-log.ts";
import type { ChatModel } from "../../ports/chat-model.ts";
import type { App } from "../app-env.ts";
import type { Metrics } from "../metrics.ts";
import {
  answerResponseSchema,
  errorResponseSchema,
  type passageSchema,
  type RequestLimits,
  retrievalRequestSchema,
  searchResponseSchema,
} from "../schemas.ts";

export interface RetrievalRouteDeps extends RetrievalDeps {
  readonly chatModel: ChatModel;
  readonly auditLog: AuditLog;
  readonly limits: RequestLimits;
  readonly retrieve: Retrieve;
  readonly metrics: Metrics;
}

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

export function registerRetrievalRoutes(app: App, deps: RetrievalRouteDeps): void {
  const body = {
    required: true,
    content: { "application/json": { schema: retrievalRequestSchema(deps.limits) } },
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
      const { query, k } = c.req.valid("json");
      const principal = c.get("principal");
      const result = await deps.retrieve(deps, { principal, query, k });
      deps.metrics.observeRetrieval(result.stats);
      c.set("logFields", retrievalLogFields(result));
      await recordAudit(
        deps.auditLog,
        auditRecord(c.get("requestId"), "/v1/search", principal, query, k, result),
      );
      return c.json({ passages: result.passages.map(toPassage) }, 200);
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
      const { query, k } = c.req.valid("json");
      const principal = c.get("principal");
      const result = await deps.retrieve(deps, { principal, query, k });
      deps.metrics.observeRetrieval(result.stats);
      // Authorization is complete here: the model receives exactly the passages retrieval let through.
      const answer = await answerFromPassages(deps.chatModel, query, result.passages);
      const byId = new Map(result.passages.map((passage) => [passage.id, passage]));
      const cited = answer.citations.flatMap((id) => byId.get(id) ?? []);
      c.set("logFields", { ...retrievalLogFields(result), cited: cited.length, model: deps.chatModel.model });
      await recordAudit(deps.auditLog, {
        ...auditRecord(c.get("requestId"), "/v1/answer", principal, query, k, result),
        model: deps.chatModel.model,
        cited: answer.citations,
      });
      return c.json(
        {
          answer: answer.text,
          citations: cited.map((passage) => ({
            chunkId: passage.id,
            documentId: passage.documentId,
            sectionId: passage.sectionId ?? null,
            title: passage.title,
          })),
          passages: result.passages.map(toPassage),
        },
        200,
      );
    },
  );
}

/** No trail, no answer: a failed record fails the request, named as the audit log's failure. */
async function recordAudit(auditLog: AuditLog, record: AuditRecord): Promise<void> {
  try {
    await auditLog.record(record);
  } catch (error) {
    throw upstreamFailure("audit-log", "the audit log could not record the request", error);
  }
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

function retrievalLogFields(result: RetrievalResult): Record<string, unknown> {
  const { stats } = result;
  return {
    strategy: stats.strategy,
    chosenBy: stats.chosenBy,
    finishedWith: stats.finishedWith,
    candidates: stats.candidatesScanned,
    authzCalls: stats.authzCalls,
    authzRounds: stats.authzRounds,
    withheld: stats.withheld,
    returned: stats.returned,
    ...(stats.permittedResources === undefined ? {} : { permittedResources: stats.permittedResources }),
    timingsMs: Object.fromEntries(
      Object.entries(stats.timingsMs).map(([step, ms]) => [step, Math.round(ms * 100) / 100]),
    ),
  };
}

function auditRecord(
  requestId: string,
  route: string,
  principal: Principal,
  query: string,
  k: number,
  result: RetrievalResult,
): AuditRecord {
  return {
    time: new Date().toISOString(),
    requestId,
    route,
    userId: principal.userId,
    agentIds: principal.agentIds,
    queryDigest: createHash("sha256").update(query).digest("hex"),
    k,
    strategy: result.stats.strategy,
    finishedWith: result.stats.finishedWith,
    ...(result.stats.permittedResources === undefined
      ? {}
      : { permittedResources: result.stats.permittedResources }),
    withheldChunks: result.stats.withheld,
    returned: result.passages.map((passage) => ({ chunkId: passage.id, resource: passage.resource })),
  };
}
