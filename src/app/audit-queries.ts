/**
 * Use case: reading the audit trail back. Allowed only to a principal who has the `audit` permission on
 * the audit resource (`bank:main` by default, AUDIT_RESOURCE): the user and every agent acting for them,
 * as for any resource. Everyone else is refused with FORBIDDEN, and the read is itself audited.
 */
import type { Entity } from "../core/authz-model.ts";
import { AppError, isAppError } from "../core/errors.ts";
import { principalSubjects } from "../core/principal.ts";
import type { AuditFilter, AuditPage, AuditReader } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { AuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";

export interface AuditQueryDeps {
  readonly authorizer: Authorizer;
  readonly auditReader: AuditReader;
  /** The entity whose `audit` permission lets a principal read the trail. */
  readonly auditResource: Entity;
}

export interface AuditQuery {
  readonly filter: AuditFilter;
  readonly after?: number;
  readonly limit: number;
}

/** The permission on the audit resource that reading the trail needs. */
export const AUDIT_PERMISSION = "audit";

export async function readAudit(
  deps: AuditQueryDeps,
  caller: Caller,
  query: AuditQuery,
  audit: AuditDetail,
): Promise<AuditPage> {
  audit.filter = {
    ...Object.fromEntries(Object.entries(query.filter).filter(([, value]) => value !== undefined)),
    ...(query.after === undefined ? {} : { after: query.after }),
    limit: query.limit,
  };
  const decisions = await Promise.all(
    principalSubjects(caller.principal).map(async (subject) => {
      try {
        return await deps.authorizer.check({
          entity: deps.auditResource,
          permission: AUDIT_PERMISSION,
          subject,
        });
      } catch (error) {
        // A schema without the audit entity or permission grants no one: a refusal, not an outage.
        if (isAppError(error, "DATA_INVALID") || isAppError(error, "SCHEMA_INVALID")) return false;
        throw error;
      }
    }),
  );
  if (!decisions.every(Boolean)) {
    throw new AppError(
      "FORBIDDEN",
      `reading the audit trail needs the ${AUDIT_PERMISSION} permission on ${deps.auditResource.type}:${deps.auditResource.id}`,
    );
  }
  try {
    return await deps.auditReader.search(query.filter, {
      limit: query.limit,
      ...(query.after === undefined ? {} : { after: query.after }),
    });
  } catch (error) {
    if (isAppError(error)) throw error;
    throw new AppError("UPSTREAM_UNAVAILABLE", "the audit trail could not be read", {
      cause: error,
      upstream: "audit-log",
    });
  }
}
