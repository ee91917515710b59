/**
 * Runs a validation file against an authorizer, as `permify validate` does against its embedded engine:
 * write the schema and the data, then evaluate every assertion and compare.
 *
 * Assertions are counted the way Permify counts them: one per permission key of a check, one per
 * permission of an entity or subject filter. An assertion whose evaluation throws is failed, never skipped
 * and never taken as a denial that happens to match `false`.
 */
import type { Attribute, Entity, RequestContext, Subject, Tuple } from "../core/authz-model.ts";
import { isValidName } from "../core/authz-model.ts";
import { AppError, isAppError } from "../core/errors.ts";
import { lookupAllResources, lookupAllSubjects } from "../core/lookup-all.ts";
import {
  formatEntity,
  formatSubject,
  parseAttribute,
  parseEntity,
  parseSubject,
  parseTuple,
} from "../core/permify-notation.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { ContextSpec, Scenario, ValidationFile } from "./validation-file.ts";

export type AssertionKind = "check" | "entity_filter" | "subject_filter";

export interface AssertionResult {
  /** The scenario's name (names may repeat; `scenarioIndex` tells them apart). */
  readonly scenario: string;
  readonly scenarioIndex: number;
  readonly kind: AssertionKind;
  /**
   * As Permify prints it: `user:1 view document:1` for a check, `user:1 view document` for an entity
   * filter, `document:1 view user` for a subject filter.
   */
  readonly description: string;
  /** `true`/`false` for a check; a sorted id list such as `[1, 2]` for a filter. */
  readonly expected: string;
  /** Same forms as `expected`, or `error: <code>` when the evaluation threw. */
  readonly actual: string;
  readonly passed: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

export type SetupStage = "schema" | "relationships" | "attributes" | "data";

export interface ValidationRun {
  /** Set when the schema or the data could not be written; then no assertion ran. */
  readonly setupError?: { readonly stage: SetupStage; readonly code: string; readonly message: string };
  readonly assertions: readonly AssertionResult[];
  readonly passed: number;
  readonly failed: number;
  /** True exactly when setup succeeded and every assertion passed. */
  readonly ok: boolean;
}

/** `authorizer` should be empty: the file's relationships are written on top of whatever it holds. */
export async function runValidation(file: ValidationFile, authorizer: Authorizer): Promise<ValidationRun> {
  const setupError = await setUp(file, authorizer);
  if (setupError) return { setupError, assertions: [], passed: 0, failed: 0, ok: false };

  const assertions: AssertionResult[] = [];
  for (const [scenarioIndex, scenario] of file.scenarios.entries()) {
    assertions.push(...(await runScenario(scenario, scenarioIndex, authorizer)));
  }
  const passed = assertions.filter((assertion) => assertion.passed).length;
  const failed = assertions.length - passed;
  return { assertions, passed, failed, ok: failed === 0 };
}

async function setUp(file: ValidationFile, authorizer: Authorizer): Promise<ValidationRun["setupError"]> {
  try {
    await authorizer.writeSchema(file.schema);
  } catch (error) {
    return { stage: "schema", ...describeError(error) };
  }

  const tuples = parseAll(file.relationships, parseTuple);
  if (tuples.problems.length > 0) {
    return { stage: "relationships", code: "DATA_INVALID", message: tuples.problems.join("; ") };
  }
  const attributes = parseAll(file.attributes, parseAttribute);
  if (attributes.problems.length > 0) {
    return { stage: "attributes", code: "DATA_INVALID", message: attributes.problems.join("; ") };
  }
  if (tuples.values.length === 0 && attributes.values.length === 0) return undefined;
  try {
    await authorizer.writeData({ tuples: tuples.values, attributes: attributes.values });
  } catch (error) {
    return { stage: "data", ...describeError(error) };
  }
  return undefined;
}

/** Parses every item, collecting one message per bad item (each names the offending string). */
function parseAll<T>(
  items: readonly string[],
  parse: (text: string) => T,
): { values: T[]; problems: string[] } {
  const values: T[] = [];
  const problems: string[] = [];
  for (const [index, item] of items.entries()) {
    try {
      values.push(parse(item));
    } catch (error) {
      problems.push(`[${index}] ${describeError(error).message}`);
    }
  }
  return { values, problems };
}

async function runScenario(scenario: Scenario, scenarioIndex: number, authorizer: Authorizer) {
  const results: AssertionResult[] = [];
  const base = { scenario: scenario.name, scenarioIndex };

  for (const check of scenario.checks) {
    const prepared = attempt(() => ({
      entity: parseEntity(check.entity),
      subject: parseSubject(check.subject),
      context: toRequestContext(check.context),
    }));
    for (const { permission, expected } of check.assertions) {
      const description = `${displaySubject(prepared, check.subject)} ${permission} ${displayEntity(prepared, check.entity)}`;
      const outcome = prepared.ok
        ? await settle(() =>
            authorizer.check({
              entity: prepared.value.entity,
              subject: prepared.value.subject,
              permission,
              ...(prepared.value.context ? { context: prepared.value.context } : {}),
            }),
          )
        : prepared;
      results.push(compare({ ...base, kind: "check", description }, String(expected), outcome, String));
    }
  }

  for (const filter of scenario.entityFilters) {
    const prepared = attempt(() => {
      if (!isValidName(filter.entityType)) {
        throw new AppError("DATA_INVALID", `invalid entity type: "${filter.entityType}"`);
      }
      return { subject: parseSubject(filter.subject), context: toRequestContext(filter.context) };
    });
    for (const { permission, expected } of filter.assertions) {
      const subjectText = prepared.ok ? formatSubject(prepared.value.subject) : filter.subject;
      const description = `${subjectText} ${permission} ${filter.entityType}`;
      const outcome = prepared.ok
        ? await settle(() =>
            lookupAllResources(authorizer, {
              entityType: filter.entityType,
              permission,
              subject: prepared.value.subject,
              ...(prepared.value.context ? { context: prepared.value.context } : {}),
            }),
          )
        : prepared;
      results.push(
        compare({ ...base, kind: "entity_filter", description }, formatIds(expected), outcome, formatIds),
      );
    }
  }

  for (const filter of scenario.subjectFilters) {
    const prepared = attempt(() => ({
      reference: parseSubjectReference(filter.subjectReference),
      entity: parseEntity(filter.entity),
      context: toRequestContext(filter.context),
    }));
    for (const { permission, expected } of filter.assertions) {
      const entityText = prepared.ok ? formatEntity(prepared.value.entity) : filter.entity;
      const description = `${entityText} ${permission} ${filter.subjectReference}`;
      const outcome = prepared.ok
        ? await settle(() =>
            lookupAllSubjects(authorizer, {
              entity: prepared.value.entity,
              permission,
              subjectType: prepared.value.reference.type,
              ...(prepared.value.reference.relation
                ? { subjectRelation: prepared.value.reference.relation }
                : {}),
              ...(prepared.value.context ? { context: prepared.value.context } : {}),
            }),
          )
        : prepared;
      results.push(
        compare({ ...base, kind: "subject_filter", description }, formatIds(expected), outcome, formatIds),
      );
    }
  }

  return results;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

function attempt<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

async function settle<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

function compare<T>(
  head: Pick<AssertionResult, "scenario" | "scenarioIndex" | "kind" | "description">,
  expected: string,
  outcome: Outcome<T>,
  format: (value: T) => string,
): AssertionResult {
  if (!outcome.ok) {
    return { ...head, expected, actual: `error: ${outcome.error.code}`, passed: false, error: outcome.error };
  }
  const actual = format(outcome.value);
  return { ...head, expected, actual, passed: actual === expected };
}

/** Ids compare as sets, like Permify's `isSameArray` (sorted, then element by element). */
function formatIds(ids: readonly string[]): string {
  return `[${[...ids].sort(compareStrings).join(", ")}]`;
}

/** Code-unit order, as Go's sort.Strings; localeCompare would depend on the machine's locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toRequestContext(spec: ContextSpec | undefined): RequestContext | undefined {
  if (!spec) return undefined;
  const tuples: Tuple[] = spec.tuples.map(parseTuple);
  const attributes: Attribute[] = spec.attributes.map(parseAttribute);
  return { tuples, attributes, ...(spec.data ? { data: spec.data } : {}) };
}

/** Permify's relation reference: `user`, or `team#member`. `...` means no relation. */
function parseSubjectReference(text: string): { type: string; relation?: string } {
  const [type = "", relation, ...rest] = text.trim().split("#");
  if (!isValidName(type) || rest.length > 0) {
    throw new AppError(
      "DATA_INVALID",
      `invalid subject reference, expected type or type#relation: "${text}"`,
    );
  }
  if (relation === undefined || relation === "" || relation === "...") return { type };
  if (!isValidName(relation))
    throw new AppError("DATA_INVALID", `invalid subject reference relation: "${text}"`);
  return { type, relation };
}

function displaySubject(prepared: Outcome<{ subject: Subject }>, raw: string): string {
  return prepared.ok ? formatSubject(prepared.value.subject) : raw.trim();
}

function displayEntity(prepared: Outcome<{ entity: Entity }>, raw: string): string {
  return prepared.ok ? formatEntity(prepared.value.entity) : raw.trim();
}

function describeError(error: unknown): { code: string; message: string } {
  if (isAppError(error)) return { code: error.code, message: error.message };
  return { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) };
}
