/**
 * The MCP endpoint over real HTTP, driven by the MCP SDK's own client: tools listed per the token's scopes,
 * each tool's result equal to the REST API's for the same principal and query, refusals as the MCP
 * authorization specification says (401 with the resource metadata, wrong audience refused), consent and
 * scope errors as tool errors carrying clearance's codes, and the audit records naming tool, user and agents.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCOPES } from "../../../src/core/scopes.ts";
import { createSmallBank, postJson, type SmallBank } from "../../helpers/small-bank.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const ALL_SCOPES = SCOPES.join(" ");
const QUERIES = ["card transaction dispute", "legal hold litigation", "dispute volumes memo"];
/** Principals: users, and the support assistant acting for users who delegated to it. */
const PRINCIPALS = [
  { user: "maria", agents: [] },
  { user: "victor", agents: [] },
  { user: "lena", agents: [] },
  { user: "maria", agents: ["support-assistant"] },
  { user: "victor", agents: ["support-assistant"] },
] as const;

let bank: SmallBank;
let server: ReturnType<typeof serve>;
let base: string;

beforeAll(async () => {
  bank = await createSmallBank();
  server = serve({ fetch: bank.app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await bank?.authorizer.close();
});

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: "clearance-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

type ToolResult = { isError?: boolean; structuredContent?: Record<string, unknown> };

describe("MCP over Streamable HTTP", () => {
  it("lists every tool with its input schema for a token holding every scope", async () => {
    const client = await connect(await signTestToken({ extraClaims: { scope: ALL_SCOPES } }));
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      "answer_question",
      "list_documents",
      "recall",
      "remember",
      "search_documents",
    ]);
    const search = tools.find((tool) => tool.name === "search_documents");
    expect(search?.inputSchema.properties).toHaveProperty("query");
    expect(search?.inputSchema.required).toEqual(["query"]);
    await client.close();
  });

  it("shows a token only the tools its scopes allow", async () => {
    const client = await connect(await signTestToken({ extraClaims: { scope: "documents:search" } }));
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual([
      "list_documents",
      "search_documents",
    ]);
    await client.close();
    // No scope claim: the default scopes (search and answer).
    const unscoped = await connect(await signTestToken());
    expect((await unscoped.listTools()).tools.map((tool) => tool.name).sort()).toEqual([
      "answer_question",
      "list_documents",
      "search_documents",
    ]);
    await unscoped.close();
  });

  for (const principal of PRINCIPALS) {
    const name =
      principal.agents.length > 0 ? `${principal.agents.join(">")} for ${principal.user}` : principal.user;
    it(`gives ${name} exactly what REST gives, tool by tool`, async () => {
      const token = await signTestToken({ sub: principal.user, agents: [...principal.agents] });
      const client = await connect(token);
      for (const query of QUERIES) {
        const viaMcp = (await client.callTool({
          name: "search_documents",
          arguments: { query, k: 5 },
        })) as ToolResult;
        const viaRest = await (await postJson(bank.app, "/v1/search", { query, k: 5 }, token)).json();
        expect(viaMcp.isError).toBeFalsy();
        expect(viaMcp.structuredContent).toEqual(viaRest);
        const answered = (await client.callTool({
          name: "answer_question",
          arguments: { query, k: 5 },
        })) as ToolResult;
        const restAnswer = await (await postJson(bank.app, "/v1/answer", { query, k: 5 }, token)).json();
        expect(answered.structuredContent).toEqual(restAnswer);
      }
      const listed = (await client.callTool({ name: "list_documents", arguments: {} })) as ToolResult;
      const restDocuments = await (
        await bank.app.request("/v1/documents", { headers: { authorization: `Bearer ${token}` } })
      ).json();
      expect(listed.structuredContent).toEqual(restDocuments);
      await client.close();
    });
  }

  it("remembers and recalls through the tools, as REST does", async () => {
    const token = await signTestToken({
      sub: "maria",
      agents: ["support-assistant"],
      extraClaims: { scope: ALL_SCOPES },
    });
    const client = await connect(token);
    const stored = (await client.callTool({
      name: "remember",
      arguments: { text: "Maria asked how to dispute a grocery charge", sources: ["document:help-disputes"] },
    })) as ToolResult;
    expect(stored.isError, JSON.stringify(stored.structuredContent)).toBeFalsy();
    const id = stored.structuredContent?.id as string;
    const recalled = (await client.callTool({
      name: "recall",
      arguments: { query: "grocery dispute", k: 3 },
    })) as ToolResult;
    const viaRest = await (
      await postJson(bank.app, "/v1/memory/recall", { query: "grocery dispute", k: 3 }, token)
    ).json();
    expect(recalled.structuredContent).toEqual(viaRest);
    expect(((recalled.structuredContent ?? {}).notes as { id: string }[]).map((note) => note.id)).toEqual([
      id,
    ]);
    await client.close();
  });

  it("refuses an agent without the user's delegation with CONSENT_REQUIRED, as REST does", async () => {
    const token = await signTestToken({ sub: "james", agents: ["support-assistant"] });
    const client = await connect(token);
    const result = (await client.callTool({
      name: "search_documents",
      arguments: { query: "card transaction dispute" },
    })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(((result.structuredContent ?? {}).error as { code: string }).code).toBe("CONSENT_REQUIRED");
    const rest = await postJson(bank.app, "/v1/search", { query: "card transaction dispute" }, token);
    expect(rest.status).toBe(403);
    expect(((await rest.json()) as { error: { code: string } }).error.code).toBe("CONSENT_REQUIRED");
    await client.close();
  });

  it("validates tool input against the published schema", async () => {
    const client = await connect(await signTestToken());
    const result = (await client.callTool({
      name: "search_documents",
      arguments: { query: "", k: 0 },
    })) as ToolResult;
    expect(result.isError).toBe(true);
    await client.close();
  });

  it("records MCP calls in the audit trail under the tool's name, with the user and every agent", async () => {
    const token = await signTestToken({ sub: "victor", agents: ["support-assistant"] });
    const client = await connect(token);
    await client.callTool({ name: "search_documents", arguments: { query: "dispute volumes memo" } });
    await client.callTool({ name: "answer_question", arguments: { query: "dispute volumes memo" } });
    await client.close();
    const records = bank.auditLog.records.filter((record) => record.surface.startsWith("mcp:")).slice(-2);
    expect(records.map((record) => [record.surface, record.userId, record.agentIds])).toEqual([
      ["mcp:search_documents", "victor", ["support-assistant"]],
      ["mcp:answer_question", "victor", ["support-assistant"]],
    ]);
  });
});

describe("MCP authorization discovery", () => {
  const initialize = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  };
  const post = (authorization?: string) =>
    fetch(`${base}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify(initialize),
    });

  it("answers an unauthenticated call with 401 and where the resource metadata is", async () => {
    const response = await post();
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`${base}/.well-known/oauth-protected-resource/mcp`);
    const metadata = (await (await fetch(metadataUrl as string)).json()) as Record<string, unknown>;
    expect(metadata.resource).toBe(`${base}/mcp`);
    expect(metadata.bearer_methods_supported).toEqual(["header"]);
    expect(metadata.scopes_supported).toEqual([...SCOPES]);
    expect(metadata).toHaveProperty("authorization_servers");
  });

  it("refuses a token issued for another audience (RFC 8707)", async () => {
    const response = await post(`Bearer ${await signTestToken({ audience: "https://other.example/mcp" })}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
  });

  it("accepts a valid token", async () => {
    const response = await post(`Bearer ${await signTestToken()}`);
    expect(response.status).toBe(200);
  });
});
