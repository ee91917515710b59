import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { expectThrownAppError } from "../helpers/errors.ts";

function problemsOf(env: Record<string, string>): string {
  return expectThrownAppError(() => loadConfig(env), "BAD_REQUEST").message;
}

describe("loadConfig", () => {
  it("runs with no environment at all: embedded defaults, no identity (serving refuses), metrics on loopback", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      dataDir: ".clearance",
      host: "127.0.0.1",
      port: 8080,
      metrics: { host: "127.0.0.1", port: 9464 },
      auth: { mode: "unset" },
      retrieval: { defaultK: 8, maxK: 50, queryMaxChars: 2000 },
    });
    expect(config.openai).toBeUndefined();
  });

  it("demo identity only with AUTH_MODE=demo, on loopback, outside production (issue 13, finding 3)", () => {
    expect(loadConfig({ AUTH_MODE: "demo" }).auth).toMatchObject({
      mode: "demo",
      audience: "clearance",
      maxTokenLifetimeSeconds: 86_400,
    });
    for (const host of ["localhost", "127.0.0.2", "::1", "[::1]"]) {
      expect(loadConfig({ AUTH_MODE: "demo", HOST: host }).auth.mode, host).toBe("demo");
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.5", "clearance.bank.example"]) {
      expect(problemsOf({ AUTH_MODE: "demo", HOST: host }), host).toContain("AUTH_MODE");
    }
    expect(problemsOf({ AUTH_MODE: "demo", NODE_ENV: "production" })).toContain("NODE_ENV=production");
    expect(
      loadConfig({
        AUTH_MODE: "demo",
        NODE_ENV: "production",
        HOST: "0.0.0.0",
        AUTH_DEMO_ALLOW_UNSAFE: "true",
      }).auth.mode,
    ).toBe("demo");
    expect(problemsOf({ AUTH_MODE: "demo", AUTH_ISSUER: "https://id.example" })).toContain("AUTH_MODE");
    expect(problemsOf({ AUTH_MODE: "issuer" })).toContain("AUTH_ISSUER");
    expect(problemsOf({ AUTH_MODE: "demo-please" })).toContain("AUTH_MODE");
  });

  it("metrics: their own port (or off), never the public one (issue 13, finding 2)", () => {
    expect(loadConfig({ METRICS_PORT: "off" }).metrics).toBeUndefined();
    expect(loadConfig({ METRICS_HOST: "0.0.0.0", METRICS_PORT: "9100" }).metrics).toEqual({
      host: "0.0.0.0",
      port: 9100,
    });
    expect(problemsOf({ PORT: "9000", METRICS_PORT: "9000" })).toContain("METRICS_PORT");
    expect(problemsOf({ METRICS_PORT: "nine" })).toContain("METRICS_PORT");
    expect(problemsOf({ METRICS_PORT: "70000" })).toContain("METRICS_PORT");
  });

  it("token lifetime: a maximum by default, configurable, 0 for none (issue 13, finding 6)", () => {
    const base = {
      AUTH_ISSUER: "https://id.example",
      AUTH_JWKS_URL: "https://id.example/jwks",
      AUDIT_QUERY_KEY: "a-query-digest-key-of-32-characters-or-more",
    };
    expect(loadConfig(base).auth).toMatchObject({ maxTokenLifetimeSeconds: 86_400 });
    expect(loadConfig({ ...base, AUTH_MAX_TOKEN_LIFETIME_SECONDS: "900" }).auth).toMatchObject({
      maxTokenLifetimeSeconds: 900,
    });
    expect(loadConfig({ ...base, AUTH_MAX_TOKEN_LIFETIME_SECONDS: "0" }).auth).toMatchObject({
      maxTokenLifetimeSeconds: 0,
    });
    expect(problemsOf({ ...base, AUTH_MAX_TOKEN_LIFETIME_SECONDS: "-1" })).toContain(
      "AUTH_MAX_TOKEN_LIFETIME_SECONDS",
    );
  });

  it("uses an issuer with a JWKS URL or a PEM, and OpenAI-compatible models when a key is set", () => {
    const config = loadConfig({
      AUTH_ISSUER: "https://id.example",
      AUTH_JWKS_URL: "https://id.example/.well-known/jwks.json",
      AUTH_ALGORITHMS: "RS256, ES256",
      AUDIT_QUERY_KEY: "a-query-digest-key-of-32-characters-or-more",
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
      AUDIT_QUERY_KEY: "a-query-digest-key-of-32-characters-or-more",
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

  it("keeps the audit trail in the data directory by default, in PostgreSQL with a URL, and needs a query key with an issuer", () => {
    const embedded = loadConfig({});
    expect(embedded.audit).toMatchObject({ store: { kind: "file" }, resource: { type: "bank", id: "main" } });
    expect(embedded.audit.queryKey).toBeUndefined();
    expect(embedded.audit.retentionMs).toBeUndefined();
    const postgres = loadConfig({
      AUDIT: "postgres",
      AUDIT_DATABASE_URL: "postgres://clearance@db:5432/audit",
      AUDIT_RETENTION_DAYS: "3650",
      AUDIT_RESOURCE: "bank:harbor",
    });
    expect(postgres.audit).toMatchObject({
      store: { kind: "postgres", url: "postgres://clearance@db:5432/audit" },
      retentionMs: 3650 * 86_400_000,
      resource: { type: "bank", id: "harbor" },
    });
    expect(problemsOf({ AUDIT: "postgres" })).toContain("AUDIT_DATABASE_URL");
    expect(problemsOf({ AUDIT_DATABASE_URL: "postgres://db/audit" })).toContain("AUDIT:");
    expect(problemsOf({ AUDIT_QUERY_KEY: "short" })).toContain("AUDIT_QUERY_KEY");
    expect(
      problemsOf({ AUTH_ISSUER: "https://id.example", AUTH_JWKS_URL: "https://id.example/jwks" }),
    ).toContain("AUDIT_QUERY_KEY: required when AUTH_ISSUER is set");
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

  it("uses the embedded authorizer by default, expecting the fixture schema", () => {
    expect(loadConfig({}).authz).toEqual({ kind: "embedded", schemaFile: "fixtures/schema.perm" });
    expect(loadConfig({ AUTHZ: "embedded", AUTHZ_SCHEMA_FILE: "bank.perm" }).authz).toEqual({
      kind: "embedded",
      schemaFile: "bank.perm",
    });
  });

  it("configures Permify with defaults: tenant t1, plaintext, 2 s reads, 10 s writes, depth 50", () => {
    expect(loadConfig({ AUTHZ: "permify", PERMIFY_ENDPOINT: "permify:3478" }).authz).toEqual({
      kind: "permify",
      schemaFile: "fixtures/schema.perm",
      endpoint: "permify:3478",
      tenant: "t1",
      timeouts: { readMs: 2000, writeMs: 10000 },
      depth: 50,
    });
  });

  it("configures Permify fully: token, tenant, TLS with a CA file or system roots, timeouts, depth", () => {
    const config = loadConfig({
      AUTHZ: "permify",
      PERMIFY_ENDPOINT: "[::1]:3478",
      PERMIFY_TOKEN: "preshared-secret",
      PERMIFY_TENANT: "bank-eu_1@prod:x+y.z",
      PERMIFY_TLS_CA: "/etc/permify/ca.pem",
      PERMIFY_TIMEOUT_MS: "500",
      PERMIFY_WRITE_TIMEOUT_MS: "20000",
      PERMIFY_DEPTH: "3",
      AUTHZ_SCHEMA_FILE: "/etc/clearance/bank.perm",
    });
    expect(config.authz).toEqual({
      kind: "permify",
      schemaFile: "/etc/clearance/bank.perm",
      endpoint: "[::1]:3478",
      tenant: "bank-eu_1@prod:x+y.z",
      token: "preshared-secret",
      tls: { caFile: "/etc/permify/ca.pem" },
      timeouts: { readMs: 500, writeMs: 20000 },
      depth: 3,
    });
    const systemRoots = loadConfig({
      AUTHZ: "permify",
      PERMIFY_ENDPOINT: "p.example:443",
      PERMIFY_TLS: "true",
    });
    expect(systemRoots.authz.kind === "permify" && systemRoots.authz.tls).toEqual({});
    const plain = loadConfig({ AUTHZ: "permify", PERMIFY_ENDPOINT: "10.0.0.7:3478", PERMIFY_TLS: "false" });
    expect(plain.authz.kind === "permify" && plain.authz.tls).toBeUndefined();
  });

  it("refuses bad Permify settings, listing every bad key and never the token", () => {
    const message = problemsOf({
      AUTHZ: "permify",
      PERMIFY_ENDPOINT: "http://permify:3478",
      PERMIFY_TOKEN: "preshared-secret",
      PERMIFY_TENANT: "bank eu",
      PERMIFY_TLS: "yes",
      PERMIFY_TIMEOUT_MS: "0",
      PERMIFY_WRITE_TIMEOUT_MS: "soon",
      PERMIFY_DEPTH: "2",
    });
    for (const key of [
      "PERMIFY_ENDPOINT",
      "PERMIFY_TENANT",
      "PERMIFY_TLS",
      "PERMIFY_TIMEOUT_MS",
      "PERMIFY_WRITE_TIMEOUT_MS",
      "PERMIFY_DEPTH",
    ])
      expect(message).toContain(key);
    expect(message).not.toContain("preshared-secret");
    expect(problemsOf({ AUTHZ: "spicedb" })).toContain("AUTHZ");
    for (const endpoint of ["permify", "permify:", "permify:99999", ":3478", "permify:3478/x", "::1:3478"]) {
      expect(problemsOf({ AUTHZ: "permify", PERMIFY_ENDPOINT: endpoint })).toContain("PERMIFY_ENDPOINT");
    }
    expect(
      problemsOf({ AUTHZ: "permify", PERMIFY_ENDPOINT: "p:1", PERMIFY_TENANT: "x".repeat(129) }),
    ).toContain("PERMIFY_TENANT");
  });

  it("refuses Permify combinations that would not do what was meant, with every other bad key", () => {
    const message = problemsOf({
      AUTHZ: "permify",
      PERMIFY_TOKEN: "preshared-secret",
      RETRIEVAL_DEFAULT_K: "20",
      RETRIEVAL_MAX_K: "10",
    });
    expect(message).toContain("PERMIFY_ENDPOINT: required when AUTHZ=permify");
    expect(message).toContain("RETRIEVAL_DEFAULT_K");
    expect(message).not.toContain("preshared-secret");
    expect(
      problemsOf({
        AUTHZ: "permify",
        PERMIFY_ENDPOINT: "permify:3478",
        PERMIFY_TLS: "false",
        PERMIFY_TLS_CA: "ca.pem",
      }),
    ).toContain("PERMIFY_TLS");
    // An endpoint with the embedded authorizer would authorize from the local data directory unnoticed.
    expect(problemsOf({ PERMIFY_ENDPOINT: "permify:3478" })).toContain("AUTHZ");
  });

  it("keeps chunks in the data directory by default, and in Qdrant with VECTORS=qdrant", () => {
    expect(loadConfig({}).vectors).toEqual({ kind: "embedded" });
    expect(loadConfig({ VECTORS: "qdrant", QDRANT_URL: "http://qdrant:6333" }).vectors).toEqual({
      kind: "qdrant",
      url: "http://qdrant:6333",
      collection: "clearance",
      timeoutMs: 5_000,
      cluster: { shards: 1, replicationFactor: 1, writeConsistencyFactor: 1, readConsistency: 1 },
    });
    expect(
      loadConfig({
        VECTORS: "qdrant",
        QDRANT_URL: "https://qdrant.bank.internal:6333",
        QDRANT_API_KEY: "qdrant-secret",
        QDRANT_COLLECTION: "bank-chunks",
        QDRANT_TIMEOUT_MS: "1500",
        QDRANT_SHARDS: "6",
        QDRANT_REPLICATION_FACTOR: "2",
        QDRANT_WRITE_CONSISTENCY_FACTOR: "2",
        QDRANT_READ_CONSISTENCY: "majority",
      }).vectors,
    ).toEqual({
      kind: "qdrant",
      url: "https://qdrant.bank.internal:6333",
      apiKey: "qdrant-secret",
      collection: "bank-chunks",
      timeoutMs: 1_500,
      cluster: { shards: 6, replicationFactor: 2, writeConsistencyFactor: 2, readConsistency: "majority" },
    });
    const qdrant = { VECTORS: "qdrant", QDRANT_URL: "http://qdrant:6333", QDRANT_REPLICATION_FACTOR: "3" };
    expect(loadConfig({ ...qdrant, QDRANT_READ_CONSISTENCY: "2" }).vectors).toMatchObject({
      cluster: { replicationFactor: 3, readConsistency: 2 },
    });
  });

  it("refuses cluster settings Qdrant would quietly weaken or cannot read", () => {
    const qdrant = { VECTORS: "qdrant", QDRANT_URL: "http://qdrant:6333" };
    // Qdrant caps both at the replicas a shard has: the durability asked for would not be given.
    expect(problemsOf({ ...qdrant, QDRANT_WRITE_CONSISTENCY_FACTOR: "2" })).toContain(
      "QDRANT_WRITE_CONSISTENCY_FACTOR",
    );
    expect(problemsOf({ ...qdrant, QDRANT_READ_CONSISTENCY: "2" })).toContain("QDRANT_READ_CONSISTENCY");
    for (const bad of ["0", "one", "-1", "1.5", "any"]) {
      expect(problemsOf({ ...qdrant, QDRANT_READ_CONSISTENCY: bad }), bad).toContain(
        "QDRANT_READ_CONSISTENCY",
      );
    }
    expect(problemsOf({ ...qdrant, QDRANT_SHARDS: "0" })).toContain("QDRANT_SHARDS");
    expect(problemsOf({ ...qdrant, QDRANT_REPLICATION_FACTOR: "0" })).toContain("QDRANT_REPLICATION_FACTOR");
  });

  it("refuses Qdrant settings that would not do what was meant, never echoing the API key", () => {
    const missing = problemsOf({ VECTORS: "qdrant", QDRANT_API_KEY: "qdrant-secret" });
    expect(missing).toContain("QDRANT_URL: required when VECTORS=qdrant");
    expect(missing).not.toContain("qdrant-secret");
    const malformed = problemsOf({
      VECTORS: "qdrant",
      QDRANT_API_KEY: "qdrant-secret",
      QDRANT_COLLECTION: "a/b",
    });
    expect(malformed).toContain("QDRANT_COLLECTION");
    expect(malformed).not.toContain("qdrant-secret");
    expect(problemsOf({ VECTORS: "qdrant", QDRANT_URL: "qdrant:6333" })).toContain("QDRANT_URL");
    expect(problemsOf({ VECTORS: "pinecone" })).toContain("VECTORS");
    // A Qdrant URL with the embedded store would keep chunks in the local data directory unnoticed.
    expect(problemsOf({ QDRANT_URL: "http://qdrant:6333" })).toContain("VECTORS");
  });

  it("retrieves adaptively with the default scan budget, or as RETRIEVAL_STRATEGY forces", () => {
    expect(loadConfig({}).retrieval).toMatchObject({
      strategy: "adaptive",
      scanBudget: { maxRounds: 4, maxCandidates: 5_000, maxMs: 1_000 },
    });
    const forced = loadConfig({
      RETRIEVAL_STRATEGY: "container-pre-filter",
      RETRIEVAL_SCAN_MAX_ROUNDS: "2",
      RETRIEVAL_SCAN_MAX_CANDIDATES: "300",
      RETRIEVAL_SCAN_MAX_MS: "250",
    });
    expect(forced.retrieval).toMatchObject({
      strategy: "container-pre-filter",
      scanBudget: { maxRounds: 2, maxCandidates: 300, maxMs: 250 },
    });
    const bad = problemsOf({
      RETRIEVAL_STRATEGY: "fastest",
      RETRIEVAL_SCAN_MAX_ROUNDS: "0",
      RETRIEVAL_SCAN_MAX_MS: "soon",
    });
    for (const key of ["RETRIEVAL_STRATEGY", "RETRIEVAL_SCAN_MAX_ROUNDS", "RETRIEVAL_SCAN_MAX_MS"]) {
      expect(bad).toContain(key);
    }
  });

  it("ranks hybrid on the embedded store and dense on Qdrant by default, and refuses hybrid on Qdrant", () => {
    expect(loadConfig({}).retrieval.ranking).toEqual({ kind: "hybrid", denseWeight: 0.3 });
    expect(loadConfig({ RETRIEVAL_DENSE_WEIGHT: "0.5" }).retrieval.ranking).toEqual({
      kind: "hybrid",
      denseWeight: 0.5,
    });
    expect(loadConfig({ RETRIEVAL_RANKING: "dense" }).retrieval.ranking).toEqual({ kind: "dense" });
    const qdrant = { VECTORS: "qdrant", QDRANT_URL: "http://qdrant:6333" };
    expect(loadConfig(qdrant).retrieval.ranking).toEqual({ kind: "dense" });
    expect(problemsOf({ ...qdrant, RETRIEVAL_RANKING: "hybrid" })).toContain("RETRIEVAL_RANKING");
    expect(problemsOf({ RETRIEVAL_RANKING: "semantic", RETRIEVAL_DENSE_WEIGHT: "2" })).toEqual(
      expect.stringContaining("RETRIEVAL_DENSE_WEIGHT"),
    );
  });
});
