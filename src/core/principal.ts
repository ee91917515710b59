import type { TokenDescriptor } from "../ports/audit-log.ts";
import type { Subject } from "./authz-model.ts";

/**
 * Who is asking: the user the token was issued for, and the agents acting for them (RFC 8693 `act`, the
 * current actor first, then earlier actors). A resource is readable only if the user and every agent may
 * read it.
 */
export interface Principal {
  readonly userId: string;
  readonly agentIds: readonly string[];
  /**
   * What the verified token said about itself (issuer, `jti`, client id), for the audit trail; never the
   * token. Absent for the CLI's operator.
   */
  readonly credential?: TokenDescriptor;
  /**
   * What the token may do (its `scope` or `scp` claim, or the configured default for a token without
   * one; see core/scopes.ts). The token verifier always sets it. Absent only for principals that no token
   * named (the operator's CLI, tests of the retrieval engine), which scopes do not limit.
   */
  readonly scopes?: readonly string[];
}

/** The Permify subjects that must all be allowed, the user first. */
export function principalSubjects(principal: Principal): Subject[] {
  return [
    { type: "user", id: principal.userId },
    ...principal.agentIds.map((id): Subject => ({ type: "agent", id })),
  ];
}

export function describePrincipal(principal: Principal): string {
  return principal.agentIds.length === 0
    ? `user:${principal.userId}`
    : `agent:${principal.agentIds.join(">agent:")} for user:${principal.userId}`;
}
