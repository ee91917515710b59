/**
 * How the verifier reads a key source that failed: the issuer's outage (its JWKS unreachable, slow, not
 * 200 OK, not a key set) is 503 `UPSTREAM_UNAVAILABLE`, while a token no published key matches is the
 * caller's 401 `UNAUTHENTICATED`. The real provider's side of this is in test/integration/identity-provider.
 */
import { errors, type JWTVerifyGetKey } from "jose";
import { describe, it } from "vitest";
import type { ErrorCode } from "../../../src/core/errors.ts";
import { createTokenVerifier } from "../../../src/http/token-verifier.ts";
import { expectAppError } from "../../helpers/errors.ts";
import { FIXED_NOW, signTestToken, TEST_AUDIENCE, TEST_ISSUER } from "../../helpers/test-identity.ts";

function verifierWhoseKeysFailWith(error: Error) {
  const key: JWTVerifyGetKey = async () => {
    throw error;
  };
  return createTokenVerifier({
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    algorithms: ["ES256"],
    key,
    clockToleranceSeconds: 0,
    now: () => FIXED_NOW,
  });
}

const CASES: readonly { readonly failure: string; readonly error: Error; readonly code: ErrorCode }[] = [
  { failure: "a refused connection", error: new TypeError("fetch failed"), code: "UPSTREAM_UNAVAILABLE" },
  { failure: "a timeout", error: new errors.JWKSTimeout(), code: "UPSTREAM_UNAVAILABLE" },
  {
    failure: "a response other than 200 OK",
    error: new errors.JOSEError("Expected 200 OK from the JSON Web Key Set HTTP response"),
    code: "UPSTREAM_UNAVAILABLE",
  },
  { failure: "a response that is no key set", error: new errors.JWKSInvalid(), code: "UPSTREAM_UNAVAILABLE" },
  { failure: "no key matching the token", error: new errors.JWKSNoMatchingKey(), code: "UNAUTHENTICATED" },
  {
    failure: "several keys matching the token",
    error: new errors.JWKSMultipleMatchingKeys(),
    code: "UNAUTHENTICATED",
  },
];

describe("a key source that fails", () => {
  for (const { failure, error, code } of CASES) {
    it(`reads ${failure} as ${code}`, async () => {
      await expectAppError(verifierWhoseKeysFailWith(error).verify(await signTestToken()), code);
    });
  }
});
