/**
 * Bearer token verification with jose. A token is accepted only when its signature verifies with a
 * configured key under an allowed asymmetric algorithm, it is within its validity window, and its issuer,
 * audience, subject and delegation chain are all well formed. Everything else is `UNAUTHENTICATED`.
 */
import {
  type CryptoKey,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type KeyObject,
} from "jose";
import { z } from "zod";
import { AppError } from "../core/errors.ts";
import type { Principal } from "../core/principal.ts";
import { DEFAULT_SCOPES, scopesFromClaims } from "../core/scopes.ts";
import type { TokenDescriptor } from "../ports/audit-log.ts";

export interface TokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Asymmetric algorithms only: an HMAC "signed" with a public key must never verify. */
  readonly algorithms: readonly string[];
  readonly key: JWTVerifyGetKey | KeyObject | CryptoKey;
  readonly clockToleranceSeconds: number;
  /**
   * The longest lifetime (`exp - iat`) accepted, in seconds. When set, a token without `iat` is refused
   * too, since its lifetime cannot be known. Absent: no maximum.
   */
  readonly maxLifetimeSeconds?: number;
  /** The clock, injectable so that tests sign tokens at a fixed time. */
  readonly now?: () => Date;
  /**
   * What a token without a `scope` or `scp` claim may do (AUTH_DEFAULT_SCOPES; default: DEFAULT_SCOPES in
   * core/scopes.ts). A token that carries a claim gets exactly its claim, never more.
   */
  readonly defaultScopes?: readonly string[];
}

export interface TokenVerifier {
  /** The principal named by a valid token; throws `UNAUTHENTICATED` (or `UPSTREAM_UNAVAILABLE` when keys cannot be fetched). */
  verify(token: string): Promise<Principal>;
}

/** A delegation chain deeper than this is refused rather than evaluated. */
export const MAX_DELEGATION_DEPTH = 4;

/** Permify's identifier pattern without its `*` wildcard: a token may never name "every user". */
const identifier = z.string().regex(/^[A-Za-z0-9_\-@.:+]{1,128}$/);

type Actor = { sub: string; act?: Actor | undefined };
const actorSchema: z.ZodType<Actor> = z.lazy(() =>
  z.object({ sub: identifier, act: actorSchema.optional() }).loose(),
);

const claimsSchema = z.object({ sub: identifier, act: actorSchema.optional() }).loose();

const SYMMETRIC = /^HS/;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = [...options.algorithms];
  if (algorithms.length === 0 || algorithms.some((alg) => SYMMETRIC.test(alg) || alg === "none")) {
    throw new AppError("BAD_REQUEST", "token algorithms must be a non-empty list of asymmetric algorithms");
  }
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        const verified = await jwtVerify(token, options.key as JWTVerifyGetKey, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance: options.clockToleranceSeconds,
          requiredClaims: ["sub", "exp"],
          ...(options.now ? { currentDate: options.now() } : {}),
        });
        payload = verified.payload;
      } catch (error) {
        throw verificationError(error);
      }
      checkLifetime(payload, options);
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) {
        throw new AppError("UNAUTHENTICATED", "the token's sub or act claim is malformed");
      }
      const agentIds: string[] = [];
      for (let actor = claims.data.act; actor !== undefined; actor = actor.act) {
        if (agentIds.length === MAX_DELEGATION_DEPTH) {
          throw new AppError("UNAUTHENTICATED", "the token's delegation chain is too deep");
        }
        agentIds.push(actor.sub);
      }
      const { scope, scp } = payload as { scope?: unknown; scp?: unknown };
      const scopes = scopesFromClaims({ scope, scp });
      if (scopes === "malformed") {
        throw new AppError("UNAUTHENTICATED", "the token's scope claim is malformed");
      }
      return {
        userId: claims.data.sub,
        agentIds,
        scopes: scopes ?? options.defaultScopes ?? DEFAULT_SCOPES,
        credential: describeToken(payload),
      };
    },
  };
}

/**
 * jose checks `iat` only with `maxTokenAge` (the age since issue, not the lifetime), so the lifetime rules
 * are here. A token issued in the future (beyond the clock tolerance) is refused: it is either forged
 * ahead of time or from an issuer whose clock is wrong, and its real lifetime cannot be trusted. With a
 * maximum lifetime, a token that does not say when it was issued, or that lives longer than the maximum
 * (a token "valid until 2999" is a credential that cannot be revoked by expiry), is refused.
 */
function checkLifetime(payload: JWTPayload, options: TokenVerifierOptions): void {
  const now = Math.floor((options.now?.() ?? new Date()).getTime() / 1000);
  const { iat, exp } = payload;
  if (iat !== undefined && iat > now + options.clockToleranceSeconds) {
    throw new AppError("UNAUTHENTICATED", "the token's iat claim is in the future");
  }
  const max = options.maxLifetimeSeconds;
  if (max === undefined) return;
  if (iat === undefined) {
    throw new AppError("UNAUTHENTICATED", "the token has no iat claim, so its lifetime cannot be checked");
  }
  if (exp === undefined || exp - iat > max) {
    throw new AppError("UNAUTHENTICATED", `the token's lifetime exceeds the maximum of ${max} seconds`);
  }
}

/** Maps jose's failures to one code; the message says which check failed, never the token. */
function verificationError(error: unknown): AppError {
  // jose reports what it rejected as a JOSEError; anything else (a refused connection to the JWKS URL)
  // means the keys could not be had, which is the issuer's outage, not the caller's fault. jose's only
  // generic JOSEError is the JWKS response itself (not 200 OK, not JSON): an issuer answering 503 is an
  // outage too, and must not read as the caller's bad token.
  if (
    !(error instanceof errors.JOSEError) ||
    error.code === errors.JOSEError.code ||
    error.code === errors.JWKSTimeout.code ||
    error.code === errors.JWKSInvalid.code
  ) {
    return new AppError("UPSTREAM_UNAVAILABLE", "the issuer's keys could not be fetched", { cause: error });
  }
  const reason =
    error instanceof errors.JWTExpired
      ? "the token has expired"
      : error instanceof errors.JWTClaimValidationFailed
        ? `the token's ${error.claim} claim is not accepted`
        : error instanceof errors.JOSEAlgNotAllowed
          ? "the token's algorithm is not allowed"
          : error instanceof errors.JWSSignatureVerificationFailed
            ? "the token's signature does not verify"
            : error instanceof errors.JWKSNoMatchingKey
              ? "no key of the issuer matches the token"
              : "the token is malformed or cannot be verified";
  return new AppError("UNAUTHENTICATED", reason, { cause: error });
}

/** The token's own identifiers for the audit trail: issuer, `jti`, and `client_id` (else `azp`). */
function describeToken(payload: JWTPayload): TokenDescriptor {
  const text = (value: unknown) =>
    typeof value === "string" && value.length > 0 && value.length <= 256 ? value : undefined;
  const issuer = text(payload.iss);
  const jti = text(payload.jti);
  const clientId = text(payload.client_id) ?? text(payload.azp);
  return {
    ...(issuer === undefined ? {} : { issuer }),
    ...(jti === undefined ? {} : { jti }),
    ...(clientId === undefined ? {} : { clientId }),
  };
}
