/**
 * Real keys and real signed tokens for HTTP tests, at a fixed clock. The verifier under test is the
 * production one; only the clock is pinned so that expiry and not-before are exact.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { createTokenVerifier, type TokenVerifier } from "../../src/http/token-verifier.ts";

export const TEST_ISSUER = "https://id.harbor-federal.example";
export const TEST_AUDIENCE = "clearance";
export const FIXED_NOW = new Date("2026-06-01T12:00:00Z");
export const FIXED_NOW_SECONDS = Math.floor(FIXED_NOW.getTime() / 1000);

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
/** A second key pair the server does not trust, for bad-signature cases. */
const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" });

/** The longest token lifetime the test verifier accepts (`exp - iat`), as AUTH_MAX_TOKEN_LIFETIME_SECONDS. */
export const TEST_MAX_LIFETIME_SECONDS = 3600;

export const trustedPublicKey: KeyObject = publicKey;
export const trustedPublicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();

export function testTokenVerifier(): TokenVerifier {
  return createTokenVerifier({
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    algorithms: ["ES256", "RS256"],
    key: createPublicKey(trustedPublicKeyPem),
    clockToleranceSeconds: 0,
    maxLifetimeSeconds: TEST_MAX_LIFETIME_SECONDS,
    now: () => FIXED_NOW,
  });
}

export interface TokenOptions {
  /** `null` leaves the claim out. */
  readonly sub?: string | null;
  /** Agents acting for `sub`, current actor first. */
  readonly agents?: readonly string[];
  readonly issuer?: string;
  readonly audience?: string;
  /** `null` leaves `iat` out. */
  readonly issuedAt?: number | null;
  readonly notBefore?: number;
  readonly expiresAt?: number;
  readonly signWith?: "trusted" | "stranger";
  readonly extraClaims?: Record<string, unknown>;
}

/** An ES256 token as an identity provider would issue it, valid at FIXED_NOW unless told otherwise. */
export async function signTestToken(options: TokenOptions = {}): Promise<string> {
  const act = [...(options.agents ?? [])]
    .reverse()
    .reduce<Record<string, unknown> | undefined>(
      (inner, sub) => (inner ? { sub, act: inner } : { sub }),
      undefined,
    );
  const claims: Record<string, unknown> = { ...(act ? { act } : {}), ...(options.extraClaims ?? {}) };
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setIssuer(options.issuer ?? TEST_ISSUER)
    .setAudience(options.audience ?? TEST_AUDIENCE)
    .setExpirationTime(options.expiresAt ?? FIXED_NOW_SECONDS + 600);
  if (options.issuedAt !== null) jwt = jwt.setIssuedAt(options.issuedAt ?? FIXED_NOW_SECONDS - 60);
  if (options.sub !== null) jwt = jwt.setSubject(options.sub ?? "maria");
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
  return jwt.sign(options.signWith === "stranger" ? stranger.privateKey : privateKey);
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString("base64url");
}

/** Claims that would be accepted, base64url-encoded, for tokens whose header or signature is the attack. */
function validPayload(sub: string): string {
  return base64url(
    JSON.stringify({
      sub,
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      iat: FIXED_NOW_SECONDS,
      exp: FIXED_NOW_SECONDS + 600,
    }),
  );
}

/** `alg: none`: an unsigned token that must never be accepted. */
export function unsignedToken(sub = "maria"): string {
  const header = base64url(JSON.stringify({ alg: "none", typ: "JWT" }));
  const payload = validPayload(sub);
  return `${header}.${payload}.`;
}

/** The classic key-confusion attack: HS256 "signed" with the server's public key as the HMAC secret. */
export async function hs256WithPublicKey(sub = "maria"): Promise<string> {
  const { createHmac } = await import("node:crypto");
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = validPayload(sub);
  const signature = createHmac("sha256", trustedPublicKeyPem)
    .update(`${header}.${payload}`)
    .digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** A validly shaped token whose signature bytes were altered. */
export async function tamperedToken(): Promise<string> {
  const token = await signTestToken();
  const [header, payload] = token.split(".");
  const forged = base64url(
    JSON.stringify({ ...JSON.parse(Buffer.from(payload as string, "base64url").toString()), sub: "victor" }),
  );
  return `${header}.${forged}.${token.split(".")[2]}`;
}
