import { createRoute, z } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import type { App } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import { errorResponseSchema } from "../schemas.ts";

const agentParam = z.object({
  agentId: z
    .string()
    .regex(/^[A-Za-z0-9_\-@.:+]{1,128}$/)
    .openapi({ param: { name: "agentId", in: "path" }, example: "support-assistant" }),
});

const errors = {
  400: { description: "Invalid request", content: { "application/json": { schema: errorResponseSchema } } },
  401: {
    description: "Missing or invalid token",
    content: { "application/json": { schema: errorResponseSchema } },
  },
  403: {
    description:
      "The token lacks the delegations scope, or an agent holds it (only the user manages consent)",
    content: { "application/json": { schema: errorResponseSchema } },
  },
  503: {
    description: "The authorizer failed",
    content: { "application/json": { schema: errorResponseSchema } },
  },
} as const;

const delegationsSchema = z
  .object({ delegations: z.array(z.object({ agentId: z.string(), inForce: z.boolean() })) })
  .openapi("Delegations");

/**
 * `/v1/delegations`: the caller's own consents for agents to act for them. Only the user (a token with no
 * `act` chain) may list, give or revoke them; a revocation is in force for the agent's next request.
 */
export function registerDelegationRoutes(app: App, application: Application): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/delegations",
      summary: "The agents the caller has delegated to, and whether each delegation is in force",
      security: [{ bearerAuth: [] }],
      responses: {
        200: { description: "Delegations", content: { "application/json": { schema: delegationsSchema } } },
        ...errors,
      },
    }),
    async (c) => {
      const delegations = await application.listDelegations(callerOf(c, "GET /v1/delegations"));
      return c.json({ delegations: [...delegations] }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/delegations/{agentId}",
      summary:
        "Delegate to an agent: it may act for the caller (within both their grants) until revoked or expired",
      security: [{ bearerAuth: [] }],
      request: {
        params: agentParam,
        body: {
          required: false,
          content: {
            "application/json": {
              schema: z
                .strictObject({ expiresAt: z.iso.datetime({ offset: true }).optional() })
                .openapi("DelegationRequest"),
            },
          },
        },
      },
      responses: {
        200: {
          description: "The delegation is in force",
          content: {
            "application/json": {
              schema: z.object({ agentId: z.string(), expiresAt: z.string().nullable() }),
            },
          },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { agentId } = c.req.valid("param");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const expiresAt = body.expiresAt === undefined ? undefined : Date.parse(body.expiresAt);
      await application.delegate(callerOf(c, "PUT /v1/delegations"), {
        agentId,
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
      return c.json(
        { agentId, expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString() },
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/delegations/{agentId}",
      summary: "Revoke a delegation: the agent may no longer act for the caller, from the next request on",
      security: [{ bearerAuth: [] }],
      request: { params: agentParam },
      responses: {
        200: {
          description: "Revoked (`revoked: false` when there was none)",
          content: { "application/json": { schema: z.object({ revoked: z.boolean() }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { agentId } = c.req.valid("param");
      const revoked = await application.undelegate(callerOf(c, "DELETE /v1/delegations"), { agentId });
      return c.json({ revoked }, 200);
    },
  );
}
