/**
 * Consent: an agent acts for a user only while the user's delegation to it is live in the authorizer
 * (see core/delegation.ts for the model and for chains). Checked on every request that names agents, as
 * of that request, so a revocation is in force for the very next one; never cached, so several replicas
 * cannot disagree and nothing can go stale.
 *
 * On the retrieval path the checks ride along the first authorization step (a precondition of the
 * retrieval engine): no extra round trip, and no passage leaves the engine before they passed. Elsewhere
 * they run beside the use case's first authorizer call and are awaited before its result is used.
 */
import { consentChecks } from "../core/delegation.ts";
import { AppError } from "../core/errors.ts";
import type { Principal } from "../core/principal.ts";
import type { Precondition, Retrieve } from "../core/retrieval.ts";
import { type Authorizer, type CheckOutcome, isCheckFailure } from "../ports/authorizer.ts";

/** The precondition that every agent of `principal` holds a live delegation from its user; none without agents. */
export function consentPrecondition(principal: Principal, now: number): Precondition | undefined {
  if (principal.agentIds.length === 0) return undefined;
  const checks = consentChecks(principal, now);
  return {
    checks,
    settle(outcomes: readonly CheckOutcome[]) {
      const refused: string[] = [];
      outcomes.forEach((outcome, index) => {
        if (isCheckFailure(outcome)) throw outcome.failed;
        if (outcome !== "allowed") refused.push((checks[index] as (typeof checks)[number]).subject.id);
      });
      if (refused.length > 0) {
        throw new AppError(
          "CONSENT_REQUIRED",
          `user ${principal.userId} has not delegated to ${refused.map((id) => `agent ${id}`).join(", ")}` +
            " (or the delegation expired)",
        );
      }
    },
  };
}

/** `retrieve` that serves agents only with the user's consent, checked in its first authorization step. */
export function consentingRetrieve(retrieve: Retrieve, clock: () => number): Retrieve {
  return (request) => {
    const precondition = consentPrecondition(request.principal, clock());
    return retrieve(precondition === undefined ? request : { ...request, precondition });
  };
}

/**
 * Runs `work` (which asks the authorizer) beside the consent check, and hands on its result only once
 * consent passed: a refusal wins over whatever `work` did or failed with.
 */
export async function withConsent<T>(
  authorizer: Authorizer,
  principal: Principal,
  now: number,
  work: () => Promise<T>,
): Promise<T> {
  const precondition = consentPrecondition(principal, now);
  if (precondition === undefined) return work();
  const checking = authorizer.checkMany(precondition.checks).then((outcomes) => {
    if (outcomes.length !== precondition.checks.length) {
      throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered a different number of checks", {
        upstream: "authorizer",
      });
    }
    precondition.settle(outcomes);
  });
  const working = work();
  working.catch(() => undefined);
  try {
    await checking;
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer could not check the delegations", {
      cause: error,
      upstream: "authorizer",
    });
  }
  return working;
}
