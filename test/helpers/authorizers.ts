/**
 * Runs a suite once per Authorizer: the embedded evaluator always, and a real Permify (the run's shared
 * memory-engine server, a tenant per authorizer) where one is available. The suites assert the same
 * outcomes for both, which is how "identical results" is checked.
 */
import { describe } from "vitest";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createPermifyAuthorizer } from "../../src/adapters/permify/permify-authorizer.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import { describeWithPermify, uniqueTenant } from "./permify.ts";

export interface AuthorizerBackend {
  readonly name: "embedded" | "permify";
  /** A new, empty authorizer (a fresh tenant on Permify), named after `label` where that shows. */
  open(label: string): Promise<Authorizer>;
}

const embedded: AuthorizerBackend = {
  name: "embedded",
  open: () => createEmbeddedAuthorizer(),
};

/** `describe(name (embedded))` and `describe(name (Permify))`, the latter skipped or failed as Permify suites are. */
export function describeEachAuthorizer(name: string, fn: (backend: AuthorizerBackend) => void): void {
  describe(`${name} (embedded)`, () => fn(embedded));
  describeWithPermify(`${name} (Permify)`, (endpoint) =>
    fn({
      name: "permify",
      open: async (label) => createPermifyAuthorizer({ endpoint, tenant: uniqueTenant(label) }),
    }),
  );
}
