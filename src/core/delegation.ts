/**
 * Delegations: a user's consent for an agent to act for them, kept in the authorizer as a `delegation`
 * entity (fixtures/schema.perm) with the user as `grantor`, the agent as `delegate` and an optional
 * `expires_at`. An agent acts for a user only while `act` holds for it on that delegation, as of the
 * request (`context.data.now`).
 *
 * Chains: every agent in a token's `act` chain needs a live delegation from the user itself. An agent
 * cannot pass on what it was given: a user who consented to agent A has not consented to whatever agent A
 * hands the work to, so a chain A > B is served only when the user delegated to both A and B.
 */
import { createHash } from "node:crypto";
import type { Attribute, CheckRequest, Tuple } from "./authz-model.ts";
import type { Principal } from "./principal.ts";

export const DELEGATION_ENTITY = "delegation";
export const DELEGATION_PERMISSION = "act";

/**
 * The delegation's id for a (user, agent) pair: a digest, since both ids may hold any of Permify's id
 * characters (a separator could be forged) and together may exceed its 128 characters.
 */
export function delegationId(userId: string, agentId: string): string {
  return `d-${createHash("sha256")
    .update(JSON.stringify([userId, agentId]))
    .digest("hex")}`;
}

/** The checks that must all be allowed for the principal's agents to act for its user, `now` in ms. */
export function consentChecks(principal: Principal, now: number): CheckRequest[] {
  return [...new Set(principal.agentIds)].map((agentId) => ({
    entity: { type: DELEGATION_ENTITY, id: delegationId(principal.userId, agentId) },
    permission: DELEGATION_PERMISSION,
    subject: { type: "agent", id: agentId },
    context: { data: { now: now / 1000 } },
  }));
}

/** The relationships and attribute that record a delegation; `expiresAt` in ms since the epoch. */
export function delegationData(
  userId: string,
  agentId: string,
  expiresAt?: number,
): { readonly tuples: Tuple[]; readonly attributes: Attribute[] } {
  const entity = { type: DELEGATION_ENTITY, id: delegationId(userId, agentId) };
  return {
    tuples: [
      { entity, relation: "grantor", subject: { type: "user", id: userId } },
      { entity, relation: "delegate", subject: { type: "agent", id: agentId } },
    ],
    attributes: [
      { entity, attribute: "expires_at", value: { type: "double", value: (expiresAt ?? 0) / 1000 } },
    ],
  };
}
