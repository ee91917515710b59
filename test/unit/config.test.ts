import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { isAppError } from "../../src/core/errors.ts";

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (isAppError(error, "BAD_REQUEST")) return error.message;
    throw error;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("loadConfig", () => {
  it("runs with no environment at all: embedded defaults and demo identity", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      dataDir: ".clearance",
      host: "127.0.0.1",
      port: 8080,
      auth: { mode: "demo", audience: "clearance" },
      retrieval: { defaultK: 8, maxK: 50, queryMaxChars: 2000 },
    });
    expect(config.openai).toBeUndefined();
  });

  it("uses an issuer with a JWKS URL or a PEM, and OpenAI-compatible models when a key is set", () => {
    const config = loadConfig({
      AUTH_ISSUER: "https://id.example",
      AUTH_JWKS_URL: "https://id.example/.well-known/jwks.json",
      AUTH_ALGORITHMS: "RS256, ES256",
      OPENAI_API_KEY: "sk-test",
      OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
      CHAT_MODEL: "llama3",
    });
    expect(config.auth).toMatchObject({
      mode: "issuer",
      issuer: "https://id.example",
      algorithms: ["RS256", "ES256"],
      keys: { jwksUrl: "https://id.example/.well-known/jwks.json" },
    });
    expect(config.openai).toMatchObject({ baseURL: "http://127.0.0.1:11434/v1", chatModel: "llama3" });
    const pem = loadConfig({
      AUTH_ISSUER: "https://id.example",
      AUTH_PUBLIC_KEY_PEM: "-----BEGIN\\nabc\\n-----END",
    });
    expect(pem.auth.mode === "issuer" && "publicKeyPem" in pem.auth.keys && pem.auth.keys.publicKeyPem).toBe(
      "-----BEGIN\nabc\n-----END",
    );
  });

  it("lists every bad key at once", () => {
    const message = problemsOf({
      PORT: "http",
      LOG_LEVEL: "loud",
      AUTH_ALGORITHMS: "HS256",
      RETRIEVAL_MAX_K: "500",
    });
    for (const key of ["PORT", "LOG_LEVEL", "AUTH_ALGORITHMS", "RETRIEVAL_MAX_K"])
      expect(message).toContain(key);
  });

  it("refuses keys without an issuer, an issuer without exactly one key source, and none as an algorithm", () => {
    expect(problemsOf({ AUTH_JWKS_URL: "https://id.example/jwks" })).toContain("AUTH_ISSUER");
    expect(problemsOf({ AUTH_ISSUER: "https://id.example" })).toContain("AUTH_JWKS_URL");
    expect(
      problemsOf({
        AUTH_ISSUER: "https://id.example",
        AUTH_JWKS_URL: "https://id.example/j",
        AUTH_PUBLIC_KEY_PEM: "x",
      }),
    ).toContain("exactly one");
    expect(problemsOf({ AUTH_ALGORITHMS: "none" })).toContain("AUTH_ALGORITHMS");
    expect(problemsOf({ AUTH_JWKS_URL: "file:///etc/passwd", AUTH_ISSUER: "x" })).toContain("AUTH_JWKS_URL");
    expect(problemsOf({ RETRIEVAL_DEFAULT_K: "20", RETRIEVAL_MAX_K: "10" })).toContain("RETRIEVAL_DEFAULT_K");
  });
});
