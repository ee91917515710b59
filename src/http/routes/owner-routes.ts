/**
 * The owners' routes (issue 14): upload, replace and delete a document, see and change who may read it.
 * They parse and format only; who may do what, the order of the writes and the audit record are the
 * application layer's (src/app/owners.ts).
 *
 * - `POST /v1/documents` (multipart: `file`, and `entry`, the manifest entry as JSON) adds a document;
 * - `PUT /v1/documents/{id}` (the same body) replaces it;
 * - `DELETE /v1/documents/{id}` deletes it;
 * - `GET /v1/documents/{id}/access` lists who may view it and each of its sections;
 * - `PATCH /v1/documents/{id}/access` (JSON: `addViewers`, `removeViewers`, `sectionAudiences`) changes it.
 * Each write takes `?dryRun=true` to say what it would change.
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Application } from "../../app/application.ts";
import { AppError } from "../../core/errors.ts";
import type { App, AppEnv } from "../app-env.ts";
import { callerOf } from "../caller.ts";
import { errorResponseSchema } from "../schemas.ts";

/** Accepted upload types: by the file name's extension, and the declared media type when it is specific. */
const ACCEPTED: Readonly<Record<string, readonly string[]>> = {
  ".pdf": ["application/pdf"],
  ".md": ["text/markdown", "text/x-markdown", "text/plain"],
  ".markdown": ["text/markdown", "text/x-markdown", "text/plain"],
  ".txt": ["text/plain"],
  ".html": ["text/html"],
  ".htm": ["text/html"],
  ".docx": ["application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
};
const GENERIC_TYPES = new Set(["", "application/octet-stream"]);

const accessChangeSchema = z
  .strictObject({
    addViewers: z
      .array(z.string())
      .max(1000)
      .optional()
      .openapi({
        description: "Subjects to add as viewers of the document",
        example: ["team:tellers#member"],
      }),
    removeViewers: z
      .array(z.string())
      .max(1000)
      .optional()
      .openapi({ example: ["user:maria"] }),
    sectionAudiences: z
      .array(z.strictObject({ section: z.string(), audience: z.array(z.string()).max(1000) }))
      .max(1000)
      .optional()
      .openapi({ description: "Replaces each named section's audience" }),
  })
  .openapi("AccessChange");

// The application checks the id (Permify's pattern) and answers 400 for a bad one, on every surface alike.
const idParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "help-wires" }),
});
const dryRunQuery = z.object({
  dryRun: z
    .string()
    .optional()
    .openapi({ description: "`true`: report what would change and change nothing", example: "true" }),
});

const uploadSchema = z
  .object({
    file: z.any().openapi({
      type: "string",
      format: "binary",
      description:
        "The document: PDF, Markdown, text, HTML or DOCX, by the file name's extension (and the declared type when it is specific), at most INGEST_MAX_FILE_BYTES",
    }),
    entry: z.string().openapi({
      description:
        "The manifest entry as JSON (id, title, collection, owner, customer, viewers, sections); its path is the file's name",
      example:
        '{"id":"help-wires","title":"Wire transfers","collection":"help-center","owner":"user:nadia","sections":[{"id":"wires-internal","heading":"Internal","audience":["team:tellers#member"]}]}',
    }),
  })
  .openapi("DocumentUpload");

const documentChangeSchema = z
  .object({
    chunksWritten: z.number().int(),
    chunksRemoved: z.number().int(),
    metadataUpdated: z.number().int(),
    relationshipsRemoved: z.array(z.string()),
    relationshipsAdded: z.array(z.string()),
  })
  .openapi("DocumentChange");

const putResponseSchema = z
  .object({
    id: z.string(),
    status: z.enum(["ingested", "unchanged", "failed"]),
    dryRun: z.boolean(),
    chunks: z.number().int(),
    change: documentChangeSchema.nullable(),
  })
  .openapi("DocumentWrite");

const deleteResponseSchema = z
  .object({
    id: z.string(),
    status: z.enum(["deleted", "not-found"]),
    chunks: z.number().int(),
    relationships: z.array(z.string()),
    dryRun: z.boolean(),
  })
  .openapi("DocumentRemoval");

const accessViewSchema = z
  .object({
    document: z.object({ id: z.string(), viewers: z.array(z.string()) }),
    sections: z.array(z.object({ id: z.string(), viewers: z.array(z.string()) })),
  })
  .openapi("DocumentAccess");

const accessChangeResponseSchema = z
  .object({
    id: z.string(),
    relationshipsAdded: z.array(z.string()),
    relationshipsRemoved: z.array(z.string()),
    dryRun: z.boolean(),
  })
  .openapi("AccessChangeReport");

const json = (description: string) => ({
  description,
  content: { "application/json": { schema: errorResponseSchema } },
});
const commonErrors = {
  400: json("Invalid request: a bad id, field or manifest entry (a section heading missing or ambiguous)"),
  401: json("Missing or invalid token"),
  403: json("The token lacks documents:write, or the user or an agent acting for them may not manage it"),
  503: json(
    "The authorizer or store failed; a write left both stores as before or completed by the next run",
  ),
} as const;
const uploadErrors = {
  ...commonErrors,
  409: json("The id is taken (POST), or the document would change owner"),
  413: json("The file is larger than INGEST_MAX_FILE_BYTES, or a DOCX inflates beyond its expansion limit"),
  415: json("Not PDF, Markdown, text, HTML or DOCX"),
  422: json("The file does not parse (the reason is given); nothing is written"),
} as const;

export interface OwnerRoutesOptions {
  /** The largest file accepted (INGEST_MAX_FILE_BYTES): beyond it, 413 before anything is parsed. */
  readonly maxFileBytes: number;
}

export function registerOwnerRoutes(app: App, application: Application, options: OwnerRoutesOptions): void {
  const upload = async (c: Context<AppEnv>, replace: boolean, id?: string) => {
    const form = await c.req.parseBody().catch((error: unknown) => {
      throw new AppError("BAD_REQUEST", "body: expected multipart/form-data with file and entry", {
        cause: error,
      });
    });
    const file = form.file;
    const entryText = form.entry;
    if (!(file instanceof File)) throw new AppError("BAD_REQUEST", "file: missing (a multipart file field)");
    if (typeof entryText !== "string")
      throw new AppError("BAD_REQUEST", "entry: missing (the manifest entry as JSON)");
    if (file.size > options.maxFileBytes) {
      throw new AppError("PAYLOAD_TOO_LARGE", `file: more than ${options.maxFileBytes} bytes`);
    }
    let entry: unknown;
    try {
      entry = JSON.parse(entryText);
    } catch (error) {
      throw new AppError("BAD_REQUEST", "entry: not valid JSON", { cause: error });
    }
    const name = file.name.toLowerCase();
    const extension = name.includes(".") ? name.slice(name.lastIndexOf(".")) : "";
    const types = ACCEPTED[extension];
    const declared = (file.type.split(";")[0] ?? "").trim().toLowerCase();
    if (types === undefined || !(GENERIC_TYPES.has(declared) || types.includes(declared))) {
      throw new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        `file: accepted types are PDF, Markdown, text, HTML and DOCX (${Object.keys(ACCEPTED).join(", ")})`,
      );
    }
    // The entry's path is the uploaded file's name: its format is the file's, whatever the entry says.
    const withPath =
      entry !== null && typeof entry === "object" ? { ...(entry as object), path: file.name } : entry;
    const dryRun = c.req.query("dryRun") === "true";
    const report = await application.putDocument(
      callerOf(c, replace ? "PUT /v1/documents/{id}" : "POST /v1/documents"),
      {
        entry: withPath,
        bytes: Buffer.from(await file.arrayBuffer()),
        replace,
        ...(id === undefined ? {} : { id }),
      },
      { dryRun },
    );
    const change = report.change
      ? {
          ...report.change,
          relationshipsRemoved: [...report.change.relationshipsRemoved],
          relationshipsAdded: [...report.change.relationshipsAdded],
        }
      : null;
    return { id: report.id, status: report.status, dryRun, chunks: report.chunks, change };
  };

  const uploadBody = {
    required: true,
    content: { "multipart/form-data": { schema: uploadSchema } },
  };
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/documents",
      summary: "Upload a document with its manifest entry (the collection's managers)",
      security: [{ bearerAuth: [] }],
      request: { query: dryRunQuery, body: uploadBody },
      responses: {
        201: { description: "Ingested", content: { "application/json": { schema: putResponseSchema } } },
        200: {
          description: "A dry run: what would change",
          content: { "application/json": { schema: putResponseSchema } },
        },
        ...uploadErrors,
      },
    }),
    async (c) => {
      const body = await upload(c, false);
      return body.dryRun ? c.json(body, 200) : c.json(body, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/documents/{id}",
      summary: "Replace a document: access narrows before its content changes and widens after",
      security: [{ bearerAuth: [] }],
      request: { params: idParam, query: dryRunQuery, body: uploadBody },
      responses: {
        200: {
          description: "Replaced (or, in a dry run, what would change)",
          content: { "application/json": { schema: putResponseSchema } },
        },
        404: json("No such document"),
        ...uploadErrors,
      },
    }),
    async (c) => c.json(await upload(c, true, c.req.param("id")), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/documents/{id}",
      summary: "Delete a document: its relationships, chunks and sections' relationships",
      security: [{ bearerAuth: [] }],
      request: { params: idParam, query: dryRunQuery },
      responses: {
        200: {
          description: "Deleted (or, in a dry run, what would be)",
          content: { "application/json": { schema: deleteResponseSchema } },
        },
        404: json("No such document"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const dryRun = c.req.query("dryRun") === "true";
      const report = await application.deleteDocument(
        callerOf(c, "DELETE /v1/documents/{id}"),
        c.req.param("id"),
        { dryRun },
      );
      return c.json({ ...report, relationships: [...report.relationships], dryRun }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/documents/{id}/access",
      summary: "Who may view the document and each of its sections: users, teams and agents",
      security: [{ bearerAuth: [] }],
      request: { params: idParam },
      responses: {
        200: {
          description: "The subjects the authorizer's lookup returns, paged to the end",
          content: { "application/json": { schema: accessViewSchema } },
        },
        404: json("No such document"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const view = await application.documentAccess(
        callerOf(c, "GET /v1/documents/{id}/access"),
        c.req.param("id"),
      );
      return c.json(
        {
          document: { id: view.document.id, viewers: [...view.document.viewers] },
          sections: view.sections.map((section) => ({ id: section.id, viewers: [...section.viewers] })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/documents/{id}/access",
      summary: "Change the document's viewers and its sections' audiences, without re-embedding",
      security: [{ bearerAuth: [] }],
      request: {
        params: idParam,
        query: dryRunQuery,
        body: { required: true, content: { "application/json": { schema: accessChangeSchema } } },
      },
      responses: {
        200: {
          description: "Changed (or, in a dry run, what would change)",
          content: { "application/json": { schema: accessChangeResponseSchema } },
        },
        404: json("No such document"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const dryRun = c.req.query("dryRun") === "true";
      const report = await application.changeAccess(
        callerOf(c, "PATCH /v1/documents/{id}/access"),
        c.req.param("id"),
        c.req.valid("json"),
        { dryRun },
      );
      return c.json(
        {
          id: report.id,
          relationshipsAdded: [...report.relationshipsAdded],
          relationshipsRemoved: [...report.relationshipsRemoved],
          dryRun,
        },
        200,
      );
    },
  );
}
