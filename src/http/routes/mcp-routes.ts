import type { Context } from "hono";
import type { Application } from "../../app/application.ts";
import { handleMcpRequest } from "../../mcp/mcp-server.ts";
import type { App, AppEnv } from "../app-env.ts";
import type { RequestLimits } from "../schemas.ts";

/**
 * `/mcp`: the Model Context Protocol's Streamable HTTP endpoint. The token was verified by the same
 * middleware as every `/v1` route; the MCP surface (src/mcp) translates the protocol to use cases. POST
 * carries JSON-RPC; GET (a server-sent event stream) and DELETE (ending a session) are answered by the
 * transport as a stateless server does (405). Each method is registered on its own so the route matrix
 * of the authentication tests covers them.
 */
export function registerMcpRoutes(app: App, application: Application, limits: RequestLimits): void {
  const handler = (c: Context<AppEnv>) =>
    handleMcpRequest(c.req.raw, {
      application,
      principal: c.get("principal"),
      requestId: c.get("requestId"),
      limits,
    });
  app.post("/mcp", handler);
  app.get("/mcp", handler);
  app.delete("/mcp", handler);
}
