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

import type { Context } from "hono";
import { z } from "zod";
import type { Application } from "../../app/application.ts";
import { AppError } from "../../core/errors.ts";
import type { App, AppEnv } from "../app-env.ts";
import { callerOf } from "../caller.ts";

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

const accessChangeSchema = z.strictObject({
  addViewers: z.array(z.string()).max(1000).optional(),
  removeViewers: z.array(z.string()).max(1000).optional(),
  sectionAudiences: z
    .array(z.strictObject({ section: z.string(), audience: z.array(z.string()).max(1000) }))
    .max(1000)
    .optional(),
});

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
    return c.json(
      { id: report.id, status: report.status, dryRun, chunks: report.chunks, change: report.change ?? null },
      replace || dryRun ? 200 : 201,
    );
  };

  app.post("/v1/documents", (c) => upload(c, false));
  app.put("/v1/documents/:id", (c) => upload(c, true, c.req.param("id")));

  app.delete("/v1/documents/:id", async (c) => {
    const dryRun = c.req.query("dryRun") === "true";
    const report = await application.deleteDocument(
      callerOf(c, "DELETE /v1/documents/{id}"),
      c.req.param("id"),
      { dryRun },
    );
    return c.json({ ...report, dryRun }, 200);
  });

  app.get("/v1/documents/:id/access", async (c) => {
    const view = await application.documentAccess(
      callerOf(c, "GET /v1/documents/{id}/access"),
      c.req.param("id"),
    );
    return c.json(view, 200);
  });

  app.patch("/v1/documents/:id/access", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (error) {
      throw new AppError("BAD_REQUEST", "body: not valid JSON", { cause: error });
    }
    const parsed = accessChangeSchema.safeParse(body);
    if (!parsed.success) {
      throw new AppError(
        "BAD_REQUEST",
        parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "),
      );
    }
    const dryRun = c.req.query("dryRun") === "true";
    const report = await application.changeAccess(
      callerOf(c, "PATCH /v1/documents/{id}/access"),
      c.req.param("id"),
      parsed.data,
      { dryRun },
    );
    return c.json({ ...report, dryRun }, 200);
  });
}
