import type {
  Attribute,
  AttributeFilter,
  CheckRequest,
  Entity,
  RequestContext,
  Subject,
  Tuple,
  TupleFilter,
} from "../core/authz-model.ts";
import { AppError, isAppError } from "../core/errors.ts";

/**
 * The authorizer decides who may read what. Its schema is a Permify schema; the production adapter is a
 * Permify server, the embedded one evaluates the same schema in process.
 *
 * Fail-closed contract, for every method: a failure (transport, timeout, depth exceeded, invalid
 * input, storage) is thrown as an `AppError`. A method never answers "allowed" when it could not decide,
 * and never returns a list that is shorter than the truth without saying so.
 */
export interface Authorizer {
  /**
   * Replaces the schema. Throws `SCHEMA_INVALID` naming the line and the reason when the schema does not
   * parse or compile, or uses something this authorizer cannot evaluate exactly as Permify would.
   * A failed write leaves the previous schema in force.
   */
  writeSchema(schema: string): Promise<{ readonly schemaVersion: string }>;

  /**
   * The version of the schema in force, and its text when the authorizer keeps it (Permify keeps only the
   * compiled definitions); throws `NOT_FOUND` when none was written.
   */
  readSchema(): Promise<{ readonly schemaVersion: string; readonly schema?: string }>;

  /**
   * Whether `schema` (schema language text) is the schema in force: the same definitions, as this
   * authorizer compiles them. False when none is in force; throws `SCHEMA_INVALID` when `schema` is bad.
   */
  isSchemaInForce(schema: string): Promise<boolean>;

  /**
   * One decision. Resolves `true` only when the permission is granted. Throws on any failure (including
   * `DEPTH_EXCEEDED`); callers must treat a throw as a denial of the whole request.
   */
  check(request: CheckRequest): Promise<boolean>;

  /**
   * Many decisions at once, in the order of `requests`. An item whose evaluation failed is a
   * `CheckFailure` carrying why (a depth limit, a bug, a failed call), which callers must treat as a
   * failure of the request and log, never as an answer; only a failure of the whole call (e.g. the server
   * is unreachable) throws.
   */
  checkMany(requests: readonly CheckRequest[]): Promise<readonly CheckOutcome[]>;

  /**
   * The ids of entities of `entityType` on which `subject` has `permission`, ascending, one page at a time.
   * `nextCursor` is absent exactly when the list is complete; pass it back to get the next page.
   * Throws when a page cannot be produced: a caller never receives a silently shortened list.
   */
  lookupResources(request: LookupResourcesRequest): Promise<LookupPage>;

  /**
   * The ids of subjects of `subjectType` (optionally `#subjectRelation`) that have `permission` on
   * `entity`, ascending and paged like `lookupResources`: for a document owner's "who can read this".
   */
  lookupSubjects(request: LookupSubjectsRequest): Promise<LookupPage>;

  /**
   * Writes relationships and attributes atomically. Throws `DATA_INVALID` naming the first tuple or
   * attribute that does not fit the schema or Permify's identifier rules; then nothing is written.
   * Writing an existing tuple is a no-op; writing an attribute replaces its value.
   */
  writeData(data: {
    readonly tuples?: readonly Tuple[];
    readonly attributes?: readonly Attribute[];
  }): Promise<WriteResult>;

  /** Deletes every relationship and attribute matching the filters, atomically. */
  deleteData(filters: {
    readonly tuples?: TupleFilter;
    readonly attributes?: AttributeFilter;
  }): Promise<WriteResult>;

  /** Reads relationships matching the filter (for ingest's clean-up and for operators). Paged like lookups. */
  readRelationships(request: {
    readonly filter: TupleFilter;
    readonly pageSize?: number;
    readonly cursor?: string;
  }): Promise<{ readonly tuples: readonly Tuple[]; readonly nextCursor?: string }>;

  /**
   * Readiness: resolves when the authorizer can answer now (Permify reachable, credentials accepted within
   * the deadline); throws `UPSTREAM_UNAVAILABLE` otherwise.
   */
  probe(): Promise<void>;

  /** Releases resources (files, connections). Calls after close throw. */
  close(): Promise<void>;
}

export type CheckOutcome = "allowed" | "denied" | CheckFailure;

/** An item the authorizer could not decide, and the error that says why (for the log, never a caller). */
export interface CheckFailure {
  readonly failed: AppError;
}

export function isCheckFailure(outcome: CheckOutcome | undefined): outcome is CheckFailure {
  return typeof outcome === "object" && outcome !== null;
}

/** The outcome's name, for reports and comparisons: `failed` for a `CheckFailure`. */
export function outcomeName(outcome: CheckOutcome): "allowed" | "denied" | "failed" {
  return isCheckFailure(outcome) ? "failed" : outcome;
}

/** `error` as a failed item: an `AppError` as it is, anything else as `INTERNAL` with it as the cause. */
export function checkFailure(error: unknown): CheckFailure {
  return {
    failed: isAppError(error)
      ? error
      : new AppError("INTERNAL", "the check failed unexpectedly", { cause: error }),
  };
}

export interface WriteResult {
  /** Opaque; passing it on later reads guarantees they see this write (Permify's snap token). */
  readonly snapToken: string;
}

export interface LookupResourcesRequest {
  readonly entityType: string;
  readonly permission: string;
  readonly subject: Subject;
  readonly context?: RequestContext;
  readonly pageSize?: number;
  readonly cursor?: string;
}

export interface LookupSubjectsRequest {
  readonly entity: Entity;
  readonly permission: string;
  readonly subjectType: string;
  readonly subjectRelation?: string;
  readonly context?: RequestContext;
  readonly pageSize?: number;
  readonly cursor?: string;
}

export interface LookupPage {
  readonly ids: readonly string[];
  /** Absent exactly when there is nothing after this page. */
  readonly nextCursor?: string;
}
