/**
 * Use cases: a user's delegations to agents (their consent to be acted for), listed, given and revoked.
 * A user manages only their own: the caller's token must name the user alone. A token an agent holds for
 * the user (an `act` chain) may not give itself, or another agent, the user's consent, nor look at or
 * revoke it; that is the user's decision. The operator's CLI (`clearance delegate`, `undelegate`) uses the
 * same functions for any user.
 */
import type { TupleFilter } from "../core/authz-model.ts";
import { consentChecks, DELEGATION_ENTITY, delegationData, delegationId } from "../core/delegation.ts";
import { AppError } from "../core/errors.ts";
import { upstream } from "../core/retrieval-meter.ts";
import { type Authorizer, isCheckFailure } from "../ports/authorizer.ts";
import type { Caller } from "./caller.ts";

export interface DelegationsDeps {
  readonly authorizer: Authorizer;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
}

export interface Delegation {
  readonly agentId: string;
  /** Whether the agent may act for the user now (false once its expiry has passed). */
  readonly inForce: boolean;
}

const ID = /^[A-Za-z0-9_\-@.:+]{1,128}$/;

/** Refuses a caller that is not the user alone: consent is given and taken by the user, never an agent. */
export function requireUserItself(caller: Caller): void {
  if (caller.principal.agentIds.length > 0) {
    throw new AppError(
      "FORBIDDEN",
      "delegations are managed by the user alone, not by an agent acting for them",
    );
  }
}

/** The agents `userId` delegated to, ascending, each with whether it is in force now. */
export async function listDelegations(deps: DelegationsDeps, userId: string): Promise<Delegation[]> {
  const granted = await readAll(deps.authorizer, {
    entity: { type: DELEGATION_ENTITY },
    relation: "grantor",
    subject: { type: "user", ids: [userId], relation: "" },
  });
  if (granted.length === 0) return [];
  const grantedIds = new Set(granted.map((tuple) => tuple.entity));
  const delegates = await readAll(deps.authorizer, {
    entity: { type: DELEGATION_ENTITY, ids: [...grantedIds] },
    relation: "delegate",
  });
  // Only pairs whose id is this user's with that agent: the id binds the pair.
  const agents = [...new Set(delegates.map((tuple) => tuple.subject))]
    .filter((agentId) => grantedIds.has(delegationId(userId, agentId)))
    .sort();
  const checks = consentChecks({ userId, agentIds: agents }, deps.clock());
  const outcomes = await upstream("authorizer", "the authorizer could not check the delegations", () =>
    deps.authorizer.checkMany(checks),
  );
  return agents.map((agentId, index) => {
    const outcome = outcomes[index];
    if (outcome === undefined || isCheckFailure(outcome)) {
      throw outcome?.failed ?? new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered too few checks");
    }
    return { agentId, inForce: outcome === "allowed" };
  });
}

/** Records `userId`'s consent for `agentId`, replacing any expiry it had; `expiresAt` in ms, in the future. */
export async function delegate(
  deps: DelegationsDeps,
  userId: string,
  agentId: string,
  expiresAt?: number,
): Promise<void> {
  validateId("agent", agentId);
  validateId("user", userId);
  if (expiresAt !== undefined && !(expiresAt > deps.clock())) {
    throw new AppError("BAD_REQUEST", "expiresAt: must lie in the future");
  }
  const data = delegationData(userId, agentId, expiresAt);
  await upstream("authorizer", "the authorizer could not record the delegation", () =>
    deps.authorizer.writeData(data),
  );
}

/** Revokes `userId`'s consent for `agentId`, in force for the next request; false when there was none. */
export async function undelegate(deps: DelegationsDeps, userId: string, agentId: string): Promise<boolean> {
  validateId("agent", agentId);
  validateId("user", userId);
  const id = delegationId(userId, agentId);
  const existing = await readAll(deps.authorizer, { entity: { type: DELEGATION_ENTITY, ids: [id] } });
  if (existing.length === 0) return false;
  await upstream("authorizer", "the authorizer could not revoke the delegation", () =>
    deps.authorizer.deleteData({
      tuples: { entity: { type: DELEGATION_ENTITY, ids: [id] } },
      attributes: { entity: { type: DELEGATION_ENTITY, ids: [id] } },
    }),
  );
  return true;
}

function validateId(kind: string, id: string): void {
  if (!ID.test(id)) {
    throw new AppError("BAD_REQUEST", `${kind} id: letters, digits and _-@.:+, at most 128 characters`);
  }
}

async function readAll(
  authorizer: Authorizer,
  filter: TupleFilter,
): Promise<{ readonly entity: string; readonly subject: string }[]> {
  const found: { entity: string; subject: string }[] = [];
  let cursor: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await upstream("authorizer", "the authorizer could not read the delegations", () =>
      authorizer.readRelationships({ filter, pageSize: 100, ...(cursor === undefined ? {} : { cursor }) }),
    );
    for (const tuple of page.tuples) found.push({ entity: tuple.entity.id, subject: tuple.subject.id });
    cursor = page.nextCursor;
    if (cursor !== undefined) {
      if (seen.has(cursor)) throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer repeated a cursor");
      seen.add(cursor);
    }
  } while (cursor !== undefined);
  return found;
}
