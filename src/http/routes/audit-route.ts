import { createRoute, z } from "@hono/zod-openapi";
import type { Application } from "../../app/application.ts";
import type { App } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import { errorResponseSchema } from "../schemas.ts";

const isoTime = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), "must be an ISO 8601 time")
  .optional();

const auditQuerySchema = z.strictObject({
  user: z.string().min(1).max(128).optional().openapi({ description: "The user the records are about" }),
  agent: z.string().min(1).max(128).optional().openapi({ description: "An agent in the delegation chain" }),
  resource: z
    .string()
    .min(1)
    .max(260)
    .optional()
    .openapi({ description: "A resource returned, listed or changed, e.g. `section:aml-legal-review`" }),
  surface: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: "A surface (`POST /v1/search`, `cli:grant`) or an action (`search`, `grant`)" }),
  outcome: z.enum(["allowed", "denied", "failed"]).optional(),
  since: isoTime.openapi({ description: "Inclusive, ISO 8601" }),
  until: isoTime.openapi({ description: "Exclusive, ISO 8601" }),
  after: z.coerce.number().int().min(0).optional().openapi({ description: "`next` of the previous page" }),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const auditResponseSchema = z
  .object({
    records: z.array(z.record(z.string(), z.unknown())).openapi({
      description: "Audit records, ascending by `seq`, as stored (see the README for every field)",
    }),
    next: z.number().int().optional().openapi({ description: "Pass as `after` for the next page" }),
  })
  .openapi("AuditResponse");

/** `GET /v1/audit`: the audit trail, filtered and paged, for principals with the audit permission. */
export function registerAuditRoute(app: App, application: Application): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/audit",
      summary: "Audit records, for principals with the audit permission (the read is itself audited)",
      security: [{ bearerAuth: [] }],
      request: { query: auditQuerySchema },
      responses: {
        200: {
          description: "A page of records",
          content: { "application/json": { schema: auditResponseSchema } },
        },
        400: {
          description: "Invalid filter",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        401: {
          description: "Missing or invalid token",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        403: {
          description: "The caller has no audit permission",
          content: { "application/json": { schema: errorResponseSchema } },
        },
        503: {
          description: "The authorizer or the audit trail failed",
          content: { "application/json": { schema: errorResponseSchema } },
        },
      },
    }),
    async (c) => {
      const { after, limit, ...filter } = c.req.valid("query");
      const page = await application.readAudit(callerOf(c, "GET /v1/audit"), {
        filter,
        limit,
        ...(after === undefined ? {} : { after }),
      });
      c.set("logFields", { returned: page.records.length });
      return c.json(
        {
          // Records are JSON as stored; the schema publishes them as open objects.
          records: page.records as unknown as Record<string, string>[],
          ...(page.next === undefined ? {} : { next: page.next }),
        },
        200,
      );
    },
  );
}
