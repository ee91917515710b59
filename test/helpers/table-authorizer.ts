/**
 * A deliberately tiny Authorizer for tests of code that only drives the port (the validation runner, the
 * CLI): a permission is granted exactly when a tuple `entity#permission@subject` is stored or passed in the
 * request context. It evaluates no schema; the embedded evaluator has its own tests.
 */
import type { Attribute, CheckRequest, RequestContext, Subject, Tuple } from "../../src/core/authz-model.ts";
import { AppError } from "../../src/core/errors.ts";
import { formatSubject } from "../../src/core/permify-notation.ts";
import { type Authorizer, checkFailure, type LookupPage } from "../../src/ports/authorizer.ts";

export interface TableAuthorizer extends Authorizer {
  readonly calls: {
    readonly schemas: string[];
    readonly writes: { tuples: readonly Tuple[]; attributes: readonly Attribute[] }[];
    readonly checks: CheckRequest[];
    closed: boolean;
  };
}

export interface TableAuthorizerOptions {
  /** Permissions whose evaluation throws this error code (e.g. to stand in for DEPTH_EXCEEDED). */
  readonly failing?: Readonly<Record<string, "DEPTH_EXCEEDED" | "SCHEMA_INVALID" | "UPSTREAM_UNAVAILABLE">>;
  /** Lookups return pages of this size, so callers must follow cursors. */
  readonly pageSize?: number;
}

export function createTableAuthorizer(options: TableAuthorizerOptions = {}): TableAuthorizer {
  const tuples: Tuple[] = [];
  const calls: TableAuthorizer["calls"] = { schemas: [], writes: [], checks: [], closed: false };
  const pageSize = options.pageSize ?? 1;

  const sameSubject = (a: Subject, b: Subject) => formatSubject(a) === formatSubject(b);
  const allTuples = (context: RequestContext | undefined) => [...tuples, ...(context?.tuples ?? [])];
  const failIfAsked = (permission: string) => {
    const code = options.failing?.[permission];
    if (code) throw new AppError(code, `${permission} fails on purpose`);
  };
  const page = (ids: string[], cursor: string | undefined): LookupPage => {
    const sorted = [...new Set(ids)].sort();
    const start = cursor === undefined ? 0 : Number(cursor);
    const next = start + pageSize;
    return next < sorted.length
      ? { ids: sorted.slice(start, next), nextCursor: String(next) }
      : { ids: sorted.slice(start) };
  };

  return {
    calls,
    async writeSchema(schema) {
      if (schema.includes("syntax error")) throw new AppError("SCHEMA_INVALID", "1:1: syntax error");
      calls.schemas.push(schema);
      return { schemaVersion: String(calls.schemas.length) };
    },
    async readSchema() {
      const schema = calls.schemas.at(-1);
      if (schema === undefined) throw new AppError("NOT_FOUND", "no schema");
      return { schemaVersion: String(calls.schemas.length), schema };
    },
    async isSchemaInForce(schema) {
      return calls.schemas.at(-1) === schema;
    },
    async probe() {},
    async check(request) {
      calls.checks.push(request);
      failIfAsked(request.permission);
      return allTuples(request.context).some(
        (tuple) =>
          tuple.entity.type === request.entity.type &&
          tuple.entity.id === request.entity.id &&
          tuple.relation === request.permission &&
          sameSubject(tuple.subject, request.subject),
      );
    },
    async checkMany(requests) {
      return Promise.all(
        requests.map((request) =>
          this.check(request).then(
            (allowed) => (allowed ? "allowed" : "denied"),
            (error: unknown) => checkFailure(error),
          ),
        ),
      );
    },
    async lookupResources(request) {
      failIfAsked(request.permission);
      const ids = allTuples(request.context)
        .filter(
          (tuple) =>
            tuple.entity.type === request.entityType &&
            tuple.relation === request.permission &&
            sameSubject(tuple.subject, request.subject),
        )
        .map((tuple) => tuple.entity.id);
      return page(ids, request.cursor);
    },
    async lookupSubjects(request) {
      failIfAsked(request.permission);
      const ids = allTuples(request.context)
        .filter(
          (tuple) =>
            tuple.entity.type === request.entity.type &&
            tuple.entity.id === request.entity.id &&
            tuple.relation === request.permission &&
            tuple.subject.type === request.subjectType &&
            tuple.subject.relation === request.subjectRelation,
        )
        .map((tuple) => tuple.subject.id);
      return page(ids, request.cursor);
    },
    async writeData(data) {
      const written = { tuples: data.tuples ?? [], attributes: data.attributes ?? [] };
      if (written.tuples.some((tuple) => tuple.entity.type === "unknown")) {
        throw new AppError("DATA_INVALID", 'entity type "unknown" is not in the schema');
      }
      calls.writes.push(written);
      tuples.push(...written.tuples);
      return { snapToken: String(calls.writes.length) };
    },
    async deleteData() {
      throw new AppError("INTERNAL", "not supported by the table authorizer");
    },
    async readRelationships() {
      return { tuples: [...tuples] };
    },
    async close() {
      calls.closed = true;
    },
  };
}
