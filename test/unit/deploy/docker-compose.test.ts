/**
 * docker-compose.yml and the Dockerfile, read as data (no Docker engine runs here): every image tag is
 * pinned, Permify's matches the version the tests build, every long-running service has a health check,
 * and the environment given to clearance is one its configuration accepts in Permify and Qdrant mode.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../../src/config.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const read = (name: string) => readFileSync(path.join(repoRoot, name), "utf8");

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: unknown };
  volumes?: string[];
  depends_on?: Record<string, { condition: string; required?: boolean }>;
}
const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` against `env`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, kind?: string, rest?: string) => {
      const given = env[name];
      if (given !== undefined && given !== "") return given;
      if (kind === "?") throw new Error(`${name} is required: ${rest}`);
      return kind === "-" ? (rest ?? "") : "";
    },
  );
}

/** A .env like .env.example's: the required secrets and the identity provider, nothing else. */
const secrets = {
  POSTGRES_PASSWORD: "pg-secret",
  PERMIFY_TOKEN: "permify-secret",
  QDRANT_API_KEY: "qdrant-secret",
  AUTH_ISSUER: "https://login.bank.example",
  AUTH_JWKS_URL: "https://login.bank.example/.well-known/jwks.json",
  AUDIT_QUERY_KEY: "audit-query-key-of-at-least-32-characters",
};

/** The Dockerfile's `ENV` settings of its last stage, as the container starts with them. */
function imageEnvironment(dockerfile: string): Record<string, string> {
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const match of lastStage.matchAll(/^ENV ((?:[^\n]*\\\n)*[^\n]*)/gm)) {
    for (const pair of (match[1] as string).replace(/\\\n/g, " ").matchAll(/([A-Z0-9_]+)=(\S+)/g)) {
      env[pair[1] as string] = pair[2] as string;
    }
  }
  return env;
}

/** The environment a compose service's clearance starts with: the image's, then the service's, interpolated. */
function serviceEnvironment(name: string, dotEnv: Record<string, string>): Record<string, string> {
  const raw = services[name]?.environment ?? {};
  return {
    ...imageEnvironment(read("Dockerfile")),
    ...Object.fromEntries(
      Object.entries(raw).map(([key, value]) => [key, interpolate(String(value), dotEnv)]),
    ),
  };
}

describe("docker-compose.yml", () => {
  it("pins every image tag (no latest, no bare name), and Permify's to the version the tests build", () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, `${name} has an image`).toBeDefined();
      expect(service.image, `${name}: ${service.image}`).toMatch(/^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.-]+)?$/);
    }
    const installed = /PERMIFY_VERSION:-(v[\d.]+)/.exec(read("scripts/permify-install.sh"))?.[1];
    expect(installed).toBeDefined();
    expect(services.permify?.image).toBe(`ghcr.io/permify/permify:${installed}`);
  });

  it("gives clearance an environment its configuration accepts: Permify with its key, Qdrant with its key", () => {
    for (const name of ["clearance", "setup"]) {
      const raw = services[name]?.environment ?? {};
      const env = Object.fromEntries(
        Object.entries(raw).map(([key, value]) => [key, interpolate(String(value), secrets)]),
      );
      const config = loadConfig(env);
      expect(config.auth).toMatchObject({ mode: "issuer", issuer: "https://login.bank.example" });
      expect(config.authz).toMatchObject({
        kind: "permify",
        endpoint: "permify:3478",
        token: "permify-secret",
      });
      expect(config.vectors).toMatchObject({
        kind: "qdrant",
        url: "http://qdrant:6333",
        apiKey: "qdrant-secret",
      });
      expect(config.host).toBe("0.0.0.0");
    }
  });

  it("cannot start clearance in demo identity by accident (issue 13, finding 3)", () => {
    for (const name of ["clearance", "setup"]) {
      // The stack fixes the mode: no .env value can turn it into demo identity.
      expect(services[name]?.environment?.AUTH_MODE, name).toBe("issuer");
      // Without an issuer in .env, compose refuses to interpolate instead of starting with an empty one.
      const withoutIssuer: Record<string, string> = { ...secrets };
      delete withoutIssuer.AUTH_ISSUER;
      expect(() => serviceEnvironment(name, withoutIssuer), name).toThrow("AUTH_ISSUER");
      // And an empty issuer given anyway (or a .env that blanks it) stops the configuration.
      const env = { ...serviceEnvironment(name, secrets), AUTH_ISSUER: "" };
      expect(() => loadConfig(env), name).toThrow(/AUTH_ISSUER/);
      // Even with AUTH_MODE=demo forced in, production and 0.0.0.0 refuse demo identity.
      expect(() =>
        loadConfig({
          ...serviceEnvironment(name, secrets),
          AUTH_MODE: "demo",
          AUTH_ISSUER: "",
          AUTH_JWKS_URL: "",
        }),
      ).toThrow(/AUTH_MODE/);
      expect(String(services[name]?.environment?.AUTH_ISSUER)).toMatch(/^\$\{AUTH_ISSUER:\?/);
      expect(services[name]?.environment?.AUTH_DEMO_ALLOW_UNSAFE, name).toBeUndefined();
    }
  });

  it("publishes the API only: the metrics listener is on its own port, not published (finding 2)", () => {
    const env = serviceEnvironment("clearance", secrets);
    const config = loadConfig(env);
    expect(config.metrics?.port).toBe(9464);
    expect(config.metrics?.port).not.toBe(config.port);
    const published = (services.clearance as { ports?: string[] }).ports ?? [];
    expect(published.map((port) => interpolate(port, secrets))).toEqual(["8080:8080"]);
    expect(published.join(" ")).not.toContain("9464");
  });

  it("refuses to start without the secrets, instead of running with empty ones", () => {
    for (const missing of Object.keys(secrets)) {
      const partial: Record<string, string> = { ...secrets };
      delete partial[missing];
      const uses = Object.values(services).flatMap((service) =>
        Object.values(service.environment ?? {}).map(String),
      );
      expect(() => {
        for (const value of uses) interpolate(value, partial);
      }, missing).toThrow(missing);
    }
  });

  it("wires Permify to PostgreSQL with the preshared key clearance sends, and Qdrant to the API key", () => {
    const permify = services.permify?.environment ?? {};
    expect(permify.PERMIFY_DATABASE_ENGINE).toBe("postgres");
    expect(interpolate(String(permify.PERMIFY_DATABASE_URI), secrets)).toBe(
      "postgres://permify:pg-secret@postgres:5432/permify?sslmode=disable",
    );
    expect(interpolate(String(permify.PERMIFY_AUTHN_PRESHARED_KEYS), secrets)).toBe("permify-secret");
    expect(permify.PERMIFY_AUTHN_METHOD).toBe("preshared");
    expect(interpolate(String(services.qdrant?.environment?.QDRANT__SERVICE__API_KEY), secrets)).toBe(
      "qdrant-secret",
    );
  });

  it("health-checks every long-running service and waits for healthy upstreams", () => {
    for (const name of ["postgres", "permify", "qdrant"]) {
      expect(services[name]?.healthcheck?.test, name).toBeDefined();
    }
    expect(read("Dockerfile")).toMatch(/^HEALTHCHECK /m); // clearance's own, in its image
    expect(services.permify?.depends_on?.postgres?.condition).toBe("service_healthy");
    expect(services.clearance?.depends_on?.permify?.condition).toBe("service_healthy");
    expect(services.clearance?.depends_on?.qdrant?.condition).toBe("service_healthy");
    expect(services.clearance?.depends_on?.setup).toEqual({
      condition: "service_completed_successfully",
      required: false,
    });
    expect(services.setup?.profiles).toEqual(["demo"]);
  });

  it("keeps data in named volumes", () => {
    const named = Object.keys(compose.volumes);
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        expect(named, `${name}: ${volume}`).toContain(volume.split(":")[0]);
      }
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  it("is multi-stage on a pinned base, installs production dependencies only, and runs as a non-root user", () => {
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:\d+\.\d+\.\d+-[\w-]+$/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).not.toMatch(/^USER root$/m);
  });

  it("cannot start in demo identity by accident: the image asks for an issuer (issue 13, finding 3)", () => {
    const env = imageEnvironment(dockerfile);
    expect(env).toMatchObject({ AUTH_MODE: "issuer", NODE_ENV: "production", HOST: "0.0.0.0" });
    expect(env.AUTH_DEMO_ALLOW_UNSAFE).toBeUndefined();
    // `docker run clearance serve` with nothing else set: the configuration names the missing issuer.
    expect(() => loadConfig(env)).toThrow(/AUTH_ISSUER/);
    // With AUTH_MODE=demo passed in, production and 0.0.0.0 still refuse it.
    expect(() => loadConfig({ ...env, AUTH_MODE: "demo" })).toThrow(/NODE_ENV=production/);
    expect(() => loadConfig({ ...env, AUTH_MODE: "demo", NODE_ENV: "" })).toThrow(/HOST=0\.0\.0\.0/);
  });
});
