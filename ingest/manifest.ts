/**
 * The ingest manifest: which files to load, who owns each document, which collection and customer it
 * belongs to, who else may read it, and which of its sections are narrower. Loading checks everything
 * that can be checked without the documents' contents or the authorizer, and reports every problem at
 * once, each with its field path and document id, so one run shows everything to fix.
 *
 * Every file the manifest names (documents, schema, relationships) must resolve inside the manifest's
 * folder after following symbolic links (confined-files.ts); problems quote positions and field names,
 * never the content of the files read.
 *
 * Format (paths relative to the manifest file):
 *
 *   schema: schema.perm                 # optional: a Permify schema that ingest writes to the authorizer
 *   relationships: relationships.yaml   # optional: `relationships:` a list of tuples in Permify notation
 *   documents:
 *     - id: help-reset-password         # Permify id
 *       path: documents/help/reset.md   # .md, .markdown, .txt or .pdf
 *       title: Resetting your password
 *       collection: help-center
 *       owner: user:nadia
 *       customer: cust-1001             # optional
 *       viewers: [team:fraud#member]    # optional
 *       sections:                       # optional; each has exactly one of heading (Markdown) or pages (PDF)
 *         - id: legal-hold
 *           heading: Legal hold procedure
 *           audience: [team:legal#member]
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { isValidId, type Subject, type Tuple } from "../src/core/authz-model.ts";
import { AppError } from "../src/core/errors.ts";
import { parseSubject, parseTuple } from "../src/core/permify-notation.ts";
import { readConfinedFile, resolveInside } from "./confined-files.ts";
import { formatOf, SUPPORTED_EXTENSIONS } from "./loaders/load-document.ts";
import type { DocumentFormat } from "./loaders/structured-document.ts";

export interface ManifestSection {
  readonly id: string;
  /** Markdown: the heading (matched trimmed and case-insensitively) whose content is the section. */
  readonly heading?: string;
  /** PDF: an inclusive range of 1-based pages. */
  readonly pages?: { readonly first: number; readonly last: number };
  /** Who may read the section, on top of being able to read its document. Never empty. */
  readonly audience: readonly Subject[];
}

export interface ManifestDocument {
  readonly id: string;
  /** As written in the manifest; reports and errors use this. */
  readonly path: string;
  /** Resolved against the manifest's directory; loaders read this. */
  readonly absolutePath: string;
  readonly format: DocumentFormat;
  readonly title: string;
  readonly collection: string;
  readonly owner: Subject;
  readonly customer?: string;
  readonly viewers: readonly Subject[];
  readonly sections: readonly ManifestSection[];
  /** The document's position in the manifest, from 0; error messages use it as `documents[i]`. */
  readonly index: number;
}

export interface Manifest {
  /** The manifest file as it was named to the loader. */
  readonly path: string;
  /** The folder every file the manifest names must lie in: the manifest's own. */
  readonly folder: string;
  /** The schema the manifest names, to be written to the authorizer. */
  readonly schema?: { readonly path: string; readonly text: string };
  /** The tuples of the manifest's relationships file, in file order (empty without one). */
  readonly relationships: readonly Tuple[];
  readonly relationshipsPath?: string;
  readonly documents: readonly ManifestDocument[];
}

const MAX_REPORTED_PROBLEMS = 50;

/** `documents[3] (id help-reset-password)`: how every problem with a document starts. */
/** How a problem names a format whose sections are chosen by heading. */
const HEADED_FORMATS: Readonly<Record<DocumentFormat, string>> = {
  markdown: "Markdown",
  html: "HTML",
  docx: "a DOCX file",
  text: "text",
  pdf: "a PDF",
};

export function documentLabel(document: Pick<ManifestDocument, "index" | "id">): string {
  return `documents[${document.index}] (id ${document.id})`;
}

/**
 * One error for every problem found, one per line after a header naming the manifest, so the CLI can print
 * them as they are. `BAD_REQUEST`: a manifest is the operator's input.
 */
export function invalidManifest(
  manifestPath: string,
  problems: readonly string[],
  cause?: unknown,
): AppError {
  const shown = problems.slice(0, MAX_REPORTED_PROBLEMS);
  const more = problems.length - shown.length;
  const lines = [
    `manifest ${manifestPath} is invalid (${problems.length} ${problems.length === 1 ? "problem" : "problems"}):`,
    ...shown.map((problem) => `  ${problem}`),
    ...(more > 0 ? [`  and ${more} more`] : []),
  ];
  return new AppError("BAD_REQUEST", lines.join("\n"), cause === undefined ? undefined : { cause });
}

/** The largest manifest, schema or relationships file read, unless the caller says otherwise. */
export const DEFAULT_MAX_MANIFEST_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Reads and checks the manifest, its schema file and its relationships file. Throws one `BAD_REQUEST`
 * listing every problem (see `invalidManifest`); reads nothing but these files, each at most `maxFileBytes`.
 */
export async function loadManifest(
  manifestPath: string,
  options: { readonly maxFileBytes?: number } = {},
): Promise<Manifest> {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_MANIFEST_FILE_BYTES;
  const folder = path.dirname(manifestPath);
  const text = await readManifestFile(manifestPath, maxFileBytes);
  const problems: string[] = [];
  const raw = parseYaml(text, manifestPath);
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalidManifest(
      manifestPath,
      parsed.error.issues.map((issue) => `${formatIssuePath(issue.path, raw)}: ${issue.message}`),
    );
  }
  const documents = parsed.data.documents.map((document, index): ManifestDocument => {
    const label = documentLabel({ index, id: document.id });
    const format = formatOf(document.path) as DocumentFormat; // the schema only lets supported names through
    for (const [sectionIndex, section] of document.sections.entries()) {
      const field = `${label}.sections[${sectionIndex}]`;
      if ((section.heading === undefined) === (section.pages === undefined)) {
        problems.push(
          `${field}: a section needs exactly one of heading (Markdown, HTML, DOCX) or pages (PDF)`,
        );
      } else if (format === "text") {
        problems.push(`${field}: a text file has no headings or pages, so it cannot have sections`);
      } else if (format !== "pdf" && section.pages) {
        problems.push(
          `${field}.pages: ${document.path} is ${HEADED_FORMATS[format]}; its sections are chosen by heading`,
        );
      } else if (format === "pdf" && section.heading !== undefined) {
        problems.push(`${field}.heading: ${document.path} is a PDF; its sections are chosen by pages`);
      }
    }
    return {
      id: document.id,
      path: document.path,
      absolutePath: path.resolve(folder, document.path),
      format,
      title: document.title,
      collection: document.collection,
      owner: document.owner,
      ...(document.customer === undefined ? {} : { customer: document.customer }),
      viewers: document.viewers,
      sections: document.sections.map((section) => ({
        id: section.id,
        ...(section.heading === undefined ? {} : { heading: section.heading }),
        ...(section.pages === undefined ? {} : { pages: section.pages }),
        audience: section.audience,
      })),
      index,
    };
  });
  problems.push(...duplicateIdProblems(documents));

  // Every path is confined to the manifest's folder, links followed, before anything is read.
  const confinedDocuments: ManifestDocument[] = [];
  for (const document of documents) {
    const confined = await resolveInside(folder, document.path);
    if (confined.ok) confinedDocuments.push({ ...document, absolutePath: confined.path });
    else {
      problems.push(`${documentLabel(document)}.path: ${confined.why}`);
      confinedDocuments.push(document);
    }
  }

  const schemaFile = parsed.data.schema;
  let schema: { path: string; text: string } | undefined;
  if (schemaFile !== undefined) {
    try {
      const name = `schema (${schemaFile})`;
      const bytes = await readConfinedFile(folder, schemaFile, name, maxFileBytes);
      schema = { path: schemaFile, text: decodeText(bytes, name) };
    } catch (error) {
      problems.push(messageOf(error));
    }
  }

  const relationshipsFile = parsed.data.relationships;
  let relationships: Tuple[] = [];
  if (relationshipsFile !== undefined) {
    try {
      relationships = await loadRelationships(folder, relationshipsFile, maxFileBytes);
    } catch (error) {
      problems.push(messageOf(error));
    }
  }

  if (problems.length > 0) throw invalidManifest(manifestPath, problems);
  return {
    path: manifestPath,
    folder,
    ...(schema ? { schema } : {}),
    relationships,
    ...(relationshipsFile === undefined ? {} : { relationshipsPath: relationshipsFile }),
    documents: confinedDocuments,
  };
}

/**
 * One manifest entry given on its own (the owners' upload: `POST /v1/documents` carries the file and its
 * entry as JSON), checked as `loadManifest` checks a listed document. `path` names the uploaded file only
 * for its format and for messages; nothing is read from it. Throws one `BAD_REQUEST` listing every problem.
 */
export function parseManifestEntry(raw: unknown): ManifestDocument {
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AppError(
      "BAD_REQUEST",
      `manifest entry: ${parsed.error.issues.map((issue) => `${formatIssuePath(issue.path, raw) === "(top level)" ? "entry" : formatIssuePath(issue.path, raw)}: ${issue.message}`).join("; ")}`,
    );
  }
  const entry = parsed.data;
  const format = formatOf(entry.path) as DocumentFormat;
  const problems: string[] = [];
  for (const [index, section] of entry.sections.entries()) {
    const field = `sections[${index}]`;
    if ((section.heading === undefined) === (section.pages === undefined)) {
      problems.push(`${field}: a section needs exactly one of heading or pages (PDF)`);
    } else if (format === "text") {
      problems.push(`${field}: a text file has no headings or pages, so it cannot have sections`);
    } else if (format !== "pdf" && section.pages) {
      problems.push(`${field}.pages: ${entry.path} is not a PDF; its sections are chosen by heading`);
    } else if (format === "pdf" && section.heading !== undefined) {
      problems.push(`${field}.heading: ${entry.path} is a PDF; its sections are chosen by pages`);
    }
  }
  const sectionIds = entry.sections.map((section) => section.id);
  sectionIds.forEach((id, index) => {
    if (sectionIds.indexOf(id) !== index)
      problems.push(`sections[${index}].id: duplicate section id "${id}"`);
  });
  if (problems.length > 0) throw new AppError("BAD_REQUEST", `manifest entry: ${problems.join("; ")}`);
  return {
    id: entry.id,
    path: entry.path,
    absolutePath: entry.path,
    format,
    title: entry.title,
    collection: entry.collection,
    owner: entry.owner,
    ...(entry.customer === undefined ? {} : { customer: entry.customer }),
    viewers: entry.viewers,
    sections: entry.sections.map((section) => ({
      id: section.id,
      ...(section.heading === undefined ? {} : { heading: section.heading }),
      ...(section.pages === undefined ? {} : { pages: section.pages }),
      audience: section.audience,
    })),
    index: 0,
  };
}

/** Document ids are unique in the manifest; section ids are unique across it (they are Permify entities). */
function duplicateIdProblems(documents: readonly ManifestDocument[]): string[] {
  const problems: string[] = [];
  const documentIds = new Map<string, ManifestDocument>();
  const sectionIds = new Map<string, string>();
  for (const document of documents) {
    const first = documentIds.get(document.id);
    if (first) {
      problems.push(
        `documents[${document.index}].id: duplicate document id "${document.id}" (first at documents[${first.index}])`,
      );
    } else {
      documentIds.set(document.id, document);
    }
    for (const [index, section] of document.sections.entries()) {
      const field = `${documentLabel(document)}.sections[${index}]`;
      const earlier = sectionIds.get(section.id);
      if (earlier) problems.push(`${field}.id: duplicate section id "${section.id}" (first at ${earlier})`);
      else sectionIds.set(section.id, field);
    }
  }
  return problems;
}

/**
 * A relationships file: `relationships:` a list of tuples in Permify notation. Problems name the position
 * (`relationships[3]`) and what is wrong, never the text found there: a manifest that names a credentials
 * file as its relationships must not get its content printed back.
 */
async function loadRelationships(folder: string, relative: string, maxFileBytes: number): Promise<Tuple[]> {
  const name = `relationships (${relative})`;
  const bytes = await readConfinedFile(folder, relative, name, maxFileBytes);
  const raw = parseYaml(decodeText(bytes, name), name);
  const parsed = relationshipsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${formatIssuePath(issue.path, raw)}: ${withoutQuotedText(issue.message)}`,
    );
    throw new AppError("BAD_REQUEST", `${name}: ${problems.join("; ")}`);
  }
  const problems: string[] = [];
  const tuples: Tuple[] = [];
  for (const [index, text] of (parsed.data.relationships ?? []).entries()) {
    try {
      tuples.push(parseTuple(text));
    } catch (error) {
      problems.push(
        `relationships[${index}]: ${withoutQuotedText(messageOf(error))} (expected entity:id#relation@subject:id)`,
      );
    }
  }
  if (problems.length > 0) throw new AppError("BAD_REQUEST", `${name}: ${problems.join("; ")}`);
  return tuples;
}

/**
 * A message with every quoted fragment cut out (`invalid tuple: "AKIA..."` becomes `invalid tuple`), for
 * messages about files whose content must not be echoed.
 */
export function withoutQuotedText(message: string): string {
  return message
    .replace(/:\s*"[^"\n]*"\s*$/u, "")
    .replace(/"[^"\n]*"/gu, "(…)")
    .trim();
}

async function readManifestFile(manifestPath: string, maxFileBytes: number): Promise<string> {
  try {
    const info = await stat(manifestPath);
    if (!info.isFile()) throw new AppError("BAD_REQUEST", `${manifestPath}: not a regular file`);
    if (info.size > maxFileBytes) {
      throw new AppError(
        "PAYLOAD_TOO_LARGE",
        `${manifestPath}: the manifest is more than ${maxFileBytes} bytes`,
      );
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("BAD_REQUEST", `${manifestPath}: cannot read the manifest (${describeCode(error)})`, {
      cause: error,
    });
  }
  // The manifest itself is the operator's to name; the folder it is in is the one others are confined to.
  let bytes: Buffer;
  try {
    bytes = await readFile(manifestPath);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${manifestPath}: cannot read the manifest (${describeCode(error)})`, {
      cause: error,
    });
  }
  return decodeText(bytes, manifestPath);
}

function describeCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT"
    ? "no such file"
    : code === "EISDIR"
      ? "it is a directory"
      : (code ?? "unknown error");
}

/** UTF-8 text, or an error naming the file (never its bytes). */
function decodeText(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: not UTF-8 text`, { cause: error });
  }
}

/**
 * YAML's own messages quote the offending lines; the error names only the position and the kind of
 * mistake, so that a file named by mistake (a key, a password file) is not printed back.
 */
function parseYaml(text: string, name: string): unknown {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const [error] = document.errors;
  if (error) {
    const offset = error.pos[0];
    const before = text.slice(0, offset).split("\n");
    const where = ` at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
    throw new AppError("BAD_REQUEST", `${name}: not valid YAML${where} (${error.code})`, { cause: error });
  }
  return document.toJS({ maxAliasCount: 1000 }) ?? {};
}

/** `documents[3] (id help-x).sections[0].heading`: the zod path, with the document's id when it has one. */
function formatIssuePath(segments: readonly PropertyKey[], raw: unknown): string {
  let text = "";
  let node: unknown = raw;
  for (const segment of segments) {
    text +=
      typeof segment === "number" ? `[${segment}]` : text === "" ? String(segment) : `.${String(segment)}`;
    node =
      node !== null && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[segment] : undefined;
    if (text.match(/^documents\[\d+\]$/)) {
      const id = node !== null && typeof node === "object" ? (node as Record<string, unknown>).id : undefined;
      if (typeof id === "string" && id !== "") text += ` (id ${id})`;
    }
  }
  return text === "" ? "(top level)" : text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------
// The shape. Strict objects: a misspelt field (`viewer:` for `viewers:`) would otherwise silently grant
// nothing, or worse, silently drop a section's narrower audience.

/** A message for a value of the wrong type; other issues (such as unknown keys) keep zod's message. */
const onlyForWrongType = (message: string) => (issue: { code?: string }) =>
  issue.code === "invalid_type" ? message : undefined;

const requiredText = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `missing ${what}` : `expected ${what} as text`),
    })
    .trim()
    .min(1, { error: `expected ${what}, got an empty string` });

/** Permify's id pattern, without the `*` wildcard, which would mean every entity. */
const permifyId = (what: string) =>
  // An empty value is already reported by requiredText; the pattern is checked on the rest.
  requiredText(`a ${what}`).refine((value) => value === "" || (value !== "*" && isValidId(value)), {
    error: (issue) =>
      `"${String(issue.input)}" is not a valid ${what} (allowed: A-Z a-z 0-9 _ - @ . : +, at most 128)`,
  });

const subject = z
  .string({ error: "expected a subject in Permify notation (type:id or type:id#relation)" })
  .transform((value, ctx): Subject => {
    try {
      const parsed = parseSubject(value);
      if (parsed.id === "*")
        throw new AppError("DATA_INVALID", `invalid subject: "${value}" (wildcards are not allowed)`);
      return parsed;
    } catch (error) {
      ctx.addIssue({ code: "custom", message: messageOf(error) });
      return z.NEVER;
    }
  });

const pageNumber = z
  .number({ error: "expected a page number" })
  .int({ error: "expected a whole page number" })
  .min(1, { error: "pages are numbered from 1" });

const sectionSchema = z.strictObject({
  id: permifyId("section id"),
  heading: requiredText("a heading").optional(),
  pages: z
    .tuple([pageNumber, pageNumber], { error: "expected [first, last], an inclusive range of pages" })
    .refine(([first, last]) => first <= last, { error: "the first page comes after the last" })
    .transform(([first, last]) => ({ first, last }))
    .optional(),
  audience: z
    .array(subject, { error: "expected a list of subjects" })
    .min(1, { error: "a section needs an audience; with none, nobody could read it" }),
});

const documentSchema = z.strictObject({
  id: permifyId("document id"),
  path: requiredText("a path").refine((value) => formatOf(value) !== undefined, {
    error: (issue) =>
      `"${String(issue.input)}" has an unsupported extension (expected ${SUPPORTED_EXTENSIONS.join(", ")})`,
  }),
  title: requiredText("a title"),
  collection: permifyId("collection id"),
  owner: subject,
  customer: permifyId("customer id").optional(),
  viewers: z.array(subject, { error: "expected a list of subjects" }).default([]),
  sections: z.array(sectionSchema, { error: "expected a list of sections" }).default([]),
});

const manifestSchema = z.strictObject(
  {
    schema: requiredText("a path to a .perm file").optional(),
    relationships: requiredText("a path to a relationships file").optional(),
    documents: z
      .array(documentSchema, {
        error: (issue) =>
          issue.input === undefined
            ? "missing: list the documents to ingest"
            : "expected a list of documents",
      })
      .min(1, { error: "the manifest lists no documents" }),
  },
  { error: onlyForWrongType("expected a mapping with schema, relationships and documents") },
);

const relationshipsSchema = z.strictObject(
  {
    relationships: z
      .array(z.string({ error: "expected a tuple as text" }), { error: "expected a list" })
      .nullish(),
  },
  { error: onlyForWrongType("expected a mapping with relationships") },
);
