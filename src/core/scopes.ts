/**
 * What a token may do: OAuth scopes (its `scope` claim, space-separated, or `scp`, a list or a string).
 * Scopes only ever narrow: a scope lets a token attempt an operation, and the authorizer still decides
 * what the user and every agent may read. A token without any scope claim gets the configured default
 * (`AUTH_DEFAULT_SCOPES`; by default the read-only document scopes, what every token could do before
 * scopes existed).
 */
import { AppError } from "./errors.ts";
import type { Principal } from "./principal.ts";

export const SCOPES = [
  /** Search passages and list readable documents (`POST /v1/search`, `GET /v1/documents`, MCP `search_documents`, `list_documents`). */
  "documents:search",
  /** Answers written from readable passages (`POST /v1/answer`, MCP `answer_question`). */
  "documents:answer",
  /** Load, change and delete documents as their owner (the document-owner routes). */
  "documents:write",
  /** Read the audit trail. */
  "audit:read",
  /** Agent memory: write, recall, share and delete notes (`/v1/memory/*`, MCP `remember`, `recall`). */
  "memory",
  /** A user's own delegations to agents (`/v1/delegations`). */
  "delegations",
] as const;

export type Scope = (typeof SCOPES)[number];

/** What a token without a scope claim may do unless configured otherwise. */
export const DEFAULT_SCOPES: readonly Scope[] = ["documents:search", "documents:answer"];

/**
 * The scopes a token's claims grant: `scope` (RFC 8693/9068, space-separated) or `scp` (a list, or a
 * space-separated string, as some providers issue it); `undefined` when the token has neither claim.
 * Unknown scopes are kept (they grant nothing here); a claim of the wrong type is refused by the caller.
 */
export function scopesFromClaims(claims: {
  readonly scope?: unknown;
  readonly scp?: unknown;
}): readonly string[] | undefined | "malformed" {
  const { scope, scp } = claims;
  if (scope === undefined && scp === undefined) return undefined;
  const parts: string[] = [];
  for (const value of [scope, scp]) {
    if (value === undefined) continue;
    if (typeof value === "string") parts.push(...value.split(" ").filter((part) => part !== ""));
    else if (Array.isArray(value) && value.every((part) => typeof part === "string")) parts.push(...value);
    else return "malformed";
  }
  return [...new Set(parts)];
}

/** Parses a configured list (`AUTH_DEFAULT_SCOPES`): space- or comma-separated known scopes. */
export function parseScopeList(text: string): { readonly scopes: Scope[]; readonly unknown: string[] } {
  const names = text.split(/[\s,]+/).filter((name) => name !== "");
  const known = new Set<string>(SCOPES);
  return {
    scopes: names.filter((name): name is Scope => known.has(name)),
    unknown: names.filter((name) => !known.has(name)),
  };
}

/** Whether the principal's token may do what `scope` covers. A principal no token named is not limited. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes === undefined || principal.scopes.includes(scope);
}

/** Throws `INSUFFICIENT_SCOPE` (403, naming `scope` for RFC 6750's challenge) unless the token holds it. */
export function requireScope(principal: Principal, scope: Scope): void {
  if (!hasScope(principal, scope)) {
    throw new AppError("INSUFFICIENT_SCOPE", `the token's scopes do not include ${scope}`, { scope });
  }
}
