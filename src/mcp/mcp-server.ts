/**
 * The MCP surface: clearance's use cases as Model Context Protocol tools, served over the Streamable HTTP
 * transport at `/mcp` inside the Hono app. Stateless: every HTTP request carries the Bearer token, is
 * authenticated by the same middleware as REST, and gets a server of its own holding only the tools that
 * token's scopes allow, so `tools/list` shows a token exactly what it may call. Each tool calls the same
 * application layer as REST with a caller whose surface is `mcp:<tool>`, so authorization, consent,
 * auditing and errors are identical; a tool error carries clearance's code and message, never internals.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { z } from "zod";
import { type Application, USE_CASE_SCOPES, type UseCase } from "../app/application.ts";
import type { Caller } from "../app/caller.ts";
import { publicMessage } from "../app/failures.ts";
import type { ScoredChunk } from "../core/chunk.ts";
import type { Principal } from "../core/principal.ts";
import { hasScope } from "../core/scopes.ts";

export interface McpRequestContext {
  readonly application: Application;
  readonly principal: Principal;
  readonly requestId: string;
  readonly limits: { readonly defaultK: number; readonly maxK: number; readonly queryMaxChars: number };
}

/** The tools, each with the use case (and so the scope) it calls. */
export const MCP_TOOLS = {
  search_documents: "search",
  answer_question: "answer",
  list_documents: "listReadableDocuments",
  remember: "remember",
  recall: "recall",
} as const satisfies Record<string, UseCase>;

export type McpToolName = keyof typeof MCP_TOOLS;

/** The scope each tool needs: its use case's. */
export function toolScope(tool: McpToolName): string {
  return USE_CASE_SCOPES[MCP_TOOLS[tool]];
}

/**
 * The SDK's validator of JSON Schemas (for elicitation, which clearance does not use). Each server would
 * otherwise build an Ajv instance of its own, the largest part of a stateless tool call's overhead.
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();

/** Answers one HTTP request to `/mcp` for an authenticated principal. */
export async function handleMcpRequest(request: Request, context: McpRequestContext): Promise<Response> {
  const server = createMcpServer(context);
  // Stateless (no session id) with plain JSON responses: every request stands alone with its own token.
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request);
  } finally {
    void server.close().catch(() => undefined);
  }
}

function createMcpServer(context: McpRequestContext): McpServer {
  const { application, principal, limits } = context;
  const server = new McpServer(
    { name: "clearance", version: "0.1.0" },
    { jsonSchemaValidator: SCHEMA_VALIDATOR },
  );
  const caller = (tool: McpToolName): Caller => ({
    principal,
    requestId: context.requestId,
    surface: `mcp:${tool}`,
  });
  const allowed = (tool: McpToolName) => hasScope(principal, USE_CASE_SCOPES[MCP_TOOLS[tool]]);
  const query = z.string().trim().min(1).max(limits.queryMaxChars).describe("The question or search text");
  const k = z
    .number()
    .int()
    .min(1)
    .max(limits.maxK)
    .optional()
    .describe(`How many results at most (default ${limits.defaultK})`);

  if (allowed("search_documents")) {
    server.registerTool(
      "search_documents",
      {
        description:
          "The passages most relevant to the query among those the user (and every agent acting for them) may read, best first, with chunk ids, titles and scores.",
        inputSchema: { query, k },
        annotations: { readOnlyHint: true },
      },
      (input) =>
        tool(application, caller("search_documents"), async (who) => {
          const { passages } = await application.search(who, {
            query: input.query,
            k: input.k ?? limits.defaultK,
          });
          return { passages: passages.map(toPassage) };
        }),
    );
  }
  if (allowed("answer_question")) {
    server.registerTool(
      "answer_question",
      {
        description:
          "An answer written only from passages the user (and every agent acting for them) may read, with its citations.",
        inputSchema: { query, k },
        annotations: { readOnlyHint: true },
      },
      (input) =>
        tool(application, caller("answer_question"), async (who) => {
          const answer = await application.answer(who, { query: input.query, k: input.k ?? limits.defaultK });
          return {
            answer: answer.text,
            citations: answer.cited.map((passage) => ({
              chunkId: passage.id,
              documentId: passage.documentId,
              sectionId: passage.sectionId ?? null,
              title: passage.title,
            })),
            passages: answer.passages.map(toPassage),
          };
        }),
    );
  }
  if (allowed("list_documents")) {
    server.registerTool(
      "list_documents",
      {
        description: "The documents the user (and every agent acting for them) may read.",
        inputSchema: {},
        annotations: { readOnlyHint: true },
      },
      () =>
        tool(application, caller("list_documents"), async (who) => {
          const { documents } = await application.listReadableDocuments(who);
          return { documents: [...documents] };
        }),
    );
  }
  if (allowed("remember")) {
    server.registerTool(
      "remember",
      {
        description:
          "Store a note for the user, derived from the given passages' resources (document:<id> or section:<id>). It is recalled only by principals who may read the note and every source.",
        inputSchema: {
          text: z.string().trim().min(1).max(4_000).describe("The note"),
          sources: z
            .array(z.string().regex(/^(document|section):[A-Za-z0-9_\-@.:+]{1,128}$/))
            .max(20)
            .optional()
            .describe("Resources of the passages the note was derived from"),
        },
      },
      (input) =>
        tool(application, caller("remember"), async (who) =>
          application.remember(who, { text: input.text, sources: input.sources ?? [] }),
        ),
    );
  }
  if (allowed("recall")) {
    server.registerTool(
      "recall",
      {
        description:
          "The notes most similar to the query that the user and every agent may view, together with every resource each was derived from.",
        inputSchema: { query, k },
        annotations: { readOnlyHint: true },
      },
      (input) =>
        tool(application, caller("recall"), async (who) => {
          const { notes } = await application.recall(who, {
            query: input.query,
            k: input.k ?? limits.defaultK,
          });
          return { notes: notes.map((note) => ({ ...note, sources: [...note.sources] })) };
        }),
    );
  }
  return server;
}

/**
 * Runs a tool's use case and formats the result: the JSON as text and as structured content, or a tool
 * error with clearance's error body (code, message, request id). The application layer has logged and
 * counted the failure; an unexpected error is masked as "internal error".
 */
async function tool(
  application: Application,
  caller: Caller,
  work: (caller: Caller) => Promise<Record<string, unknown>>,
): Promise<CallToolResult> {
  try {
    const result = await work(caller);
    return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
  } catch (error) {
    const failure = application.reportFailure(error, {
      requestId: caller.requestId,
      surface: caller.surface,
    });
    const body = {
      error: {
        code: failure.code,
        message: publicMessage(failure),
        requestId: caller.requestId,
        ...(failure.scope === undefined ? {} : { scope: failure.scope }),
      },
    };
    return {
      isError: true,
      content: [{ type: "text", text: JSON.stringify(body) }],
      structuredContent: body,
    };
  }
}

function toPassage(chunk: ScoredChunk) {
  return {
    chunkId: chunk.id,
    documentId: chunk.documentId,
    sectionId: chunk.sectionId ?? null,
    title: chunk.title,
    text: chunk.text,
    score: Math.round(chunk.score * 1e6) / 1e6,
  };
}
