/**
 * Demo identity: with no issuer configured, clearance signs and verifies its own tokens with an ES256 key
 * kept in the data directory. It exists so that the service runs with no identity provider; it is not
 * for production, and `serve` says so in its log.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { AppError } from "../../core/errors.ts";
import { createExclusively, makePrivateDirectory } from "../durable-files.ts";

export const DEMO_ISSUER = "urn:clearance:demo";
export const DEMO_ALGORITHM = "ES256";

export interface DemoIdentity {
  readonly keyId: string;
  readonly publicKey: CryptoKey;
  /** The public key as a JWK Set, served at /.well-known/jwks.json. */
  readonly jwks: { readonly keys: readonly JWK[] };
  sign(claims: DemoTokenClaims): Promise<string>;
}

export interface DemoTokenClaims {
  readonly sub: string;
  /** The agents acting for `sub`, current actor first (nested RFC 8693 `act`). */
  readonly agentIds?: readonly string[];
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly now?: Date;
  /** The `scope` claim (space-separated); absent: none, so the server's default scopes apply. */
  readonly scope?: string;
}

/** Loads the demo key from `<dataDir>/demo-identity/key.json`, creating it (mode 0600) on first use. */
export async function loadDemoIdentity(dataDir: string): Promise<DemoIdentity> {
  const dir = join(dataDir, "demo-identity");
  const path = join(dir, "key.json");
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await readFile(path, "utf8")) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new AppError("INTERNAL", `the demo key ${path} cannot be read`, { cause: error });
    }
    privateJwk = await createKey(dir, path);
  }
  const keyId = privateJwk.kid;
  if (typeof keyId !== "string" || privateJwk.d === undefined) {
    throw new AppError("INTERNAL", `the demo key ${path} is not a private JWK with a kid`);
  }
  const { d: _private, ...publicJwk } = privateJwk;
  const privateKey = (await importJWK(privateJwk, DEMO_ALGORITHM)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, DEMO_ALGORITHM)) as CryptoKey;
  return {
    keyId,
    publicKey,
    jwks: { keys: [{ ...publicJwk, alg: DEMO_ALGORITHM, use: "sig" }] },
    async sign(claims) {
      const now = Math.floor((claims.now ?? new Date()).getTime() / 1000);
      const act = [...(claims.agentIds ?? [])]
        .reverse()
        .reduce<Record<string, unknown> | undefined>(
          (inner, sub) => (inner ? { sub, act: inner } : { sub }),
          undefined,
        );
      return new SignJWT({
        ...(act ? { act } : {}),
        ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      })
        .setProtectedHeader({ alg: DEMO_ALGORITHM, kid: keyId, typ: "JWT" })
        .setIssuer(DEMO_ISSUER)
        .setAudience(claims.audience)
        .setSubject(claims.sub)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + claims.ttlSeconds)
        .setJti(randomUUID())
        .sign(privateKey);
    },
  };
}

async function createKey(dir: string, path: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(DEMO_ALGORITHM, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: DEMO_ALGORITHM };
  makePrivateDirectory(dir);
  // Two processes starting at once may both create a key: the exclusive create publishes a complete file
  // (0600) or finds one there, so exactly one key wins and both processes use it.
  createExclusively(path, JSON.stringify(jwk));
  return JSON.parse(await readFile(path, "utf8")) as JWK;
}
