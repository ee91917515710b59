/**
 * Reads a file in the format of `permify validate`: a schema (inline, or a path), relationships and
 * attributes in Permify's string notation, and scenarios of checks and entity/subject filters.
 *
 * Decoding mirrors Permify's Go decoder (yaml.v3 into typed structs) wherever a real file could tell the
 * difference: unknown keys are ignored, a null list is an empty list, a null assertion is `false` (Go's
 * zero value for a bool), and a scalar in a string position keeps its source text (`- 007` is "007", not 7).
 * Strings stay in Permify notation here; parsing them against the model is the runner's job, so that a
 * bad tuple fails its own assertion instead of the whole file.
 */
import { access, readFile } from "node:fs/promises";
import path from "node:path";
import { isMap, isPair, isScalar, parseDocument, visit } from "yaml";
import { z } from "zod";
import { AppError } from "../core/errors.ts";

export interface ValidationFile {
  /** The file as it was named to the loader. */
  readonly path: string;
  /** The schema text. */
  readonly schema: string;
  /** Where the schema text came from when `schema:` was a path; absent for an inline schema. */
  readonly schemaPath?: string;
  readonly relationships: readonly string[];
  readonly attributes: readonly string[];
  readonly scenarios: readonly Scenario[];
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly checks: readonly CheckCase[];
  readonly entityFilters: readonly EntityFilterCase[];
  readonly subjectFilters: readonly SubjectFilterCase[];
}

/** Request-scoped data in notation form, as in Permify's `context`. */
export interface ContextSpec {
  readonly tuples: readonly string[];
  readonly attributes: readonly string[];
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface CheckCase {
  /** `type:id` */
  readonly entity: string;
  /** `type:id` or `type:id#relation` */
  readonly subject: string;
  readonly context?: ContextSpec;
  /** In file order; one assertion per permission key. */
  readonly assertions: readonly { readonly permission: string; readonly expected: boolean }[];
}

export interface EntityFilterCase {
  readonly entityType: string;
  readonly subject: string;
  readonly context?: ContextSpec;
  readonly assertions: readonly { readonly permission: string; readonly expected: readonly string[] }[];
}

export interface SubjectFilterCase {
  /** `user`, or `team#member` */
  readonly subjectReference: string;
  readonly entity: string;
  readonly context?: ContextSpec;
  readonly assertions: readonly { readonly permission: string; readonly expected: readonly string[] }[];
}

const MAX_REPORTED_ISSUES = 5;

export interface LoadValidationFileOptions {
  /**
   * Maps the `schema:` value (when it is a path) to a file path. The default resolves it against the
   * directory of the validation file, so a file validates the same from any working directory.
   */
  readonly resolveSchemaPath?: (reference: string, fileDirectory: string) => string;
}

/** Reads, decodes and checks the shape of a validation file. Throws `BAD_REQUEST` naming the file. */
export async function loadValidationFile(
  filePath: string,
  options: LoadValidationFileOptions = {},
): Promise<ValidationFile> {
  let text: string;
  try {
    text = await readFile(filePath, "utf8");
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${filePath}: cannot read the file (${describeIoError(error)})`, {
      cause: error,
    });
  }
  const raw = parseValidationText(text, filePath);
  const resolve = options.resolveSchemaPath ?? ((reference, directory) => path.resolve(directory, reference));
  const schema = await loadSchema(raw.schema, filePath, resolve);
  return { path: filePath, ...raw, ...schema };
}

/**
 * Decodes the YAML text of a validation file without touching the file system: the schema is returned as
 * written (`schema` may still be a path). `source` names the file in error messages.
 */
export function parseValidationText(
  text: string,
  source: string,
): Omit<ValidationFile, "schemaPath" | "path"> {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [yamlError] = document.errors;
  if (yamlError) {
    throw new AppError("BAD_REQUEST", `${source}: not valid YAML: ${yamlError.message.trimEnd()}`, {
      cause: yamlError,
    });
  }
  keepSourceTextOfNumbers(document);
  const parsed = fileSchema.safeParse(document.toJS({ maxAliasCount: 1000 }) ?? {});
  if (!parsed.success) {
    const { issues } = parsed.error;
    const problems = issues
      .slice(0, MAX_REPORTED_ISSUES)
      .map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    if (issues.length > MAX_REPORTED_ISSUES) problems.push(`and ${issues.length - MAX_REPORTED_ISSUES} more`);
    throw new AppError("BAD_REQUEST", `${source}: ${problems.join("; ")}`, { cause: parsed.error });
  }
  return parsed.data;
}

async function loadSchema(
  value: string,
  filePath: string,
  resolve: (reference: string, fileDirectory: string) => string,
): Promise<{ schema: string; schemaPath?: string }> {
  const reference = value.trim();
  if (reference.includes("\n")) return { schema: value };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(reference)) {
    throw new AppError("BAD_REQUEST", `${filePath}: schema: URLs are not supported ("${reference}")`);
  }
  const schemaPath = resolve(reference, path.dirname(filePath));
  const exists = await access(schemaPath).then(
    () => true,
    () => false,
  );
  if (!exists) {
    if (reference.endsWith(".perm")) {
      throw new AppError(
        "BAD_REQUEST",
        `${filePath}: schema: file "${reference}" not found (looked at ${schemaPath})`,
      );
    }
    // One line that names no file: an inline schema such as `entity user {}`.
    return { schema: value };
  }
  try {
    return { schema: await readFile(schemaPath, "utf8"), schemaPath };
  } catch (error) {
    throw new AppError(
      "BAD_REQUEST",
      `${filePath}: schema: cannot read "${schemaPath}" (${describeIoError(error)})`,
      { cause: error },
    );
  }
}

/**
 * yaml.v3 decodes a scalar into a Go string field as written, so `- 007` stays "007". Number scalars
 * everywhere except inside `context.data` (the only place where Permify keeps YAML types) are turned
 * back into their source text before the schema below coerces them to strings.
 */
function keepSourceTextOfNumbers(document: ReturnType<typeof parseDocument>): void {
  visit(document, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== "number" || node.source === undefined) return;
      if (isInsideContextData(ancestors)) return;
      node.value = node.source;
    },
  });
}

function isInsideContextData(ancestors: readonly unknown[]): boolean {
  for (let i = 2; i < ancestors.length; i++) {
    const pair = ancestors[i];
    const map = ancestors[i - 1];
    const parentPair = ancestors[i - 2];
    if (
      isPair(pair) &&
      isMap(map) &&
      isPair(parentPair) &&
      keyIs(pair, "data") &&
      keyIs(parentPair, "context")
    ) {
      return true;
    }
  }
  return false;
}

function keyIs(pair: { key: unknown }, name: string): boolean {
  return isScalar(pair.key) && pair.key.value === name;
}

function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES") return "permission denied";
  return code ?? "unknown error";
}

function formatPath(segments: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of segments) {
    text +=
      typeof segment === "number" ? `[${segment}]` : text === "" ? String(segment) : `.${String(segment)}`;
  }
  return text === "" ? "(top level)" : text;
}

// ---------------------------------------------------------------------------------------------------------
// The shape, after Permify's `file.Shape` (pkg/development/file).

/** A Go string field: any scalar, as written. */
const text = z.union([z.string(), z.number(), z.boolean()], { error: "expected a string" }).transform(String);

/** A Go string field that must not be empty for the file to mean anything. */
const requiredText = (what: string) =>
  z
    .union([z.string(), z.number(), z.boolean()], { error: `expected ${what}` })
    .transform(String)
    .refine((value) => value.trim() !== "", { error: `expected ${what}, got an empty string` });

/** A Go slice: null and absent are empty. */
const list = <T extends z.ZodType>(item: T) =>
  z
    .array(item, { error: "expected a list" })
    .nullish()
    .transform((value) => value ?? []);

/**
 * A Go bool: null is false (the zero value), and yaml.v3 accepts YAML 1.1's yes/no/on/off when the target
 * is a bool, so Permify does too.
 */
const goBool = z
  .union([z.boolean(), z.null(), z.string()], { error: "expected true or false" })
  .transform((value, ctx) => {
    if (value === null) return false;
    if (typeof value === "boolean") return value;
    if (["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"].includes(value)) return true;
    if (["n", "N", "no", "No", "NO", "off", "Off", "OFF"].includes(value)) return false;
    ctx.addIssue({ code: "custom", message: `expected true or false, got "${value}"` });
    return z.NEVER;
  });

const contextSchema = z
  .object(
    {
      tuples: list(requiredText("a tuple")),
      attributes: list(requiredText("an attribute")),
      data: z.record(z.string(), z.unknown(), { error: "expected a mapping" }).nullish(),
    },
    { error: "expected a mapping with tuples, attributes and data" },
  )
  .nullish()
  .transform((value): ContextSpec | undefined => {
    if (!value) return undefined;
    return {
      tuples: value.tuples,
      attributes: value.attributes,
      ...(value.data ? { data: value.data } : {}),
    };
  });

const boolAssertions = z
  .record(z.string(), goBool, { error: "expected a mapping of permission: true|false" })
  .nullish()
  .transform((value) =>
    Object.entries(value ?? {}).map(([permission, expected]) => ({ permission, expected })),
  );

const listAssertions = z
  .record(z.string(), list(requiredText("an id")), { error: "expected a mapping of permission: [ids]" })
  .nullish()
  .transform((value) =>
    Object.entries(value ?? {}).map(([permission, expected]) => ({ permission, expected })),
  );

const checkSchema = z.object(
  {
    entity: requiredText("an entity (type:id)"),
    subject: requiredText("a subject (type:id or type:id#relation)"),
    context: contextSchema,
    assertions: boolAssertions,
  },
  { error: "expected a check (entity, subject, assertions)" },
);

const entityFilterSchema = z
  .object(
    {
      entity_type: requiredText("an entity type"),
      subject: requiredText("a subject (type:id or type:id#relation)"),
      context: contextSchema,
      assertions: listAssertions,
    },
    { error: "expected an entity filter (entity_type, subject, assertions)" },
  )
  .transform(
    (value): EntityFilterCase => ({
      entityType: value.entity_type,
      subject: value.subject,
      assertions: value.assertions,
      ...(value.context ? { context: value.context } : {}),
    }),
  );

const subjectFilterSchema = z
  .object(
    {
      subject_reference: requiredText("a subject reference (type or type#relation)"),
      entity: requiredText("an entity (type:id)"),
      context: contextSchema,
      assertions: listAssertions,
    },
    { error: "expected a subject filter (subject_reference, entity, assertions)" },
  )
  .transform(
    (value): SubjectFilterCase => ({
      subjectReference: value.subject_reference,
      entity: value.entity,
      assertions: value.assertions,
      ...(value.context ? { context: value.context } : {}),
    }),
  );

const scenarioSchema = z
  .object(
    {
      name: text.nullish(),
      description: text.nullish(),
      checks: list(checkSchema),
      entity_filters: list(entityFilterSchema),
      subject_filters: list(subjectFilterSchema),
    },
    { error: "expected a scenario (name, checks, entity_filters, subject_filters)" },
  )
  .transform(
    (value): Scenario => ({
      name: value.name ?? "",
      description: value.description ?? "",
      checks: value.checks.map(
        (check): CheckCase => ({
          entity: check.entity,
          subject: check.subject,
          assertions: check.assertions,
          ...(check.context ? { context: check.context } : {}),
        }),
      ),
      entityFilters: value.entity_filters,
      subjectFilters: value.subject_filters,
    }),
  );

const fileSchema = z.object(
  {
    schema: requiredText("a schema (inline text or a path to a .perm file)"),
    relationships: list(requiredText("a relationship")),
    attributes: list(requiredText("an attribute")),
    scenarios: list(scenarioSchema),
  },
  { error: "expected a mapping with schema, relationships, attributes and scenarios" },
);
