/**
 * How failures of calls to Permify become clearance errors. Anything that is not a clear verdict about the
 * request itself (bad input, missing schema, depth) is `UPSTREAM_UNAVAILABLE`: the caller denies.
 */
import { ClientError, Status } from "nice-grpc";
import { AppError, type ErrorCode } from "../../core/errors.ts";

/** What the call was doing: it decides what an INVALID_ARGUMENT from Permify means. */
export type PermifyOperation = "schema-write" | "schema-read" | "write" | "read";

const INVALID_INPUT_CODE: Record<PermifyOperation, ErrorCode> = {
  "schema-write": "SCHEMA_INVALID",
  "schema-read": "BAD_REQUEST",
  write: "DATA_INVALID",
  read: "BAD_REQUEST",
};

/** Permify's error names that say the schema in force does not know what was asked. */
const SCHEMA_LOOKUP_ERRORS =
  /ERROR_CODE_(SCHEMA_NOT_FOUND|ENTITY_TYPE_NOT_FOUND|RELATION_DEFINITION_NOT_FOUND|PERMISSION_NOT_FOUND|ATTRIBUTE_DEFINITION_NOT_FOUND|RULE_DEFINITION_NOT_FOUND|UNDEFINED_CHILD_KIND|SUBJECT_TYPE_NOT_FOUND)/;

export function toAppError(error: unknown, operation: PermifyOperation, what: string): AppError {
  if (error instanceof AppError) return error;
  if (isAbort(error)) {
    return new AppError("UPSTREAM_UNAVAILABLE", `Permify did not answer ${what} in time`, { cause: error });
  }
  if (!(error instanceof ClientError)) {
    return new AppError("UPSTREAM_UNAVAILABLE", `calling Permify for ${what} failed`, { cause: error });
  }
  const details = error.details;
  if (details.includes("ERROR_CODE_DEPTH_NOT_ENOUGH")) {
    return new AppError("DEPTH_EXCEEDED", `${what}: the check needs more nested evaluations than allowed`, {
      cause: error,
    });
  }
  // Permify reports a schema that does not compile as INTERNAL, with the position first ("3:12: ...").
  if (operation === "schema-write" && /^\d+:\d+:/.test(details)) {
    return new AppError("SCHEMA_INVALID", details, { cause: error });
  }
  switch (error.code) {
    case Status.INVALID_ARGUMENT:
    case Status.FAILED_PRECONDITION:
    case Status.OUT_OF_RANGE:
      return new AppError(INVALID_INPUT_CODE[operation], `Permify rejected ${what}: ${details}`, {
        cause: error,
      });
    case Status.NOT_FOUND:
      if (operation === "schema-read") {
        return new AppError("NOT_FOUND", `Permify has no schema for ${what}`, { cause: error });
      }
      if (operation === "write") {
        return new AppError("DATA_INVALID", `Permify rejected ${what}: ${details}`, { cause: error });
      }
      // A read that names what the schema in force lacks: Permify is not set up as clearance expects.
      return new AppError(
        "UPSTREAM_UNAVAILABLE",
        `Permify cannot answer ${what} with the schema in force (${details}); run \`clearance schema push\``,
        { cause: error },
      );
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return new AppError(
        "UPSTREAM_UNAVAILABLE",
        `Permify refused clearance's credentials for ${what} (check PERMIFY_TOKEN)`,
        { cause: error },
      );
    default:
      if (operation === "write" && SCHEMA_LOOKUP_ERRORS.test(details)) {
        return new AppError("DATA_INVALID", `Permify rejected ${what}: ${details}`, { cause: error });
      }
      return new AppError(
        "UPSTREAM_UNAVAILABLE",
        `Permify failed ${what} (${Status[error.code] ?? error.code}: ${details})`,
        { cause: error },
      );
  }
}

function isAbort(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === "AbortError" ||
      error.name === "TimeoutError" ||
      (error as { code?: unknown }).code === 20)
  );
}
