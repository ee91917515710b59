import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEMO_ISSUER } from "../../../src/adapters/demo-identity/demo-identity.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { main } from "../../../src/main.ts";
import { captureIo } from "../../helpers/cli-io.ts";

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts `clearance serve` in process and waits for the URL it announces. */
async function startServe(env: Record<string, string>) {
  const io = captureIo();
  const stop = new AbortController();
  const serving = main(["serve"], { io, env, stop: stop.signal });
  const url = await waitFor(() =>
    io.out
      .find((line) => line.includes("serving on"))
      ?.split(" ")
      .at(-1),
  );
  return { url, stop, serving, io };
}

function searchAs(url: string, token: string): Promise<Response> {
  return fetch(`${url}/v1/search`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ query: "mortgage prepayment" }),
  });
}

describe("clearance token and clearance serve (demo identity)", () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "clearance-serve-"));
    // Demo identity only when asked for (issue 13, finding 3); metrics on a port of their own.
    env = {
      CLEARANCE_DATA_DIR: dataDir,
      PORT: "0",
      METRICS_PORT: "0",
      LOG_LEVEL: "silent",
      AUTH_MODE: "demo",
    };
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("serves /healthz, the demo JWKS, and accepts its own tokens, until stopped", async () => {
    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    await authorizer.writeSchema(await readFile("fixtures/schema.perm", "utf8"));
    await authorizer.close();
    const { url, stop, serving, io } = await startServe(env);

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Metrics are on a listener of their own, on loopback; the public one has none (issue 13, finding 2).
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    const metricsUrl = await waitFor(() =>
      io.out
        .find((line) => line.startsWith("metrics for Prometheus on "))
        ?.split(" ")
        .at(-1),
    );
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(metricsUrl).not.toContain(new URL(url).port);
    const scraped = await fetch(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain("clearance_retrieval_withheld_total");
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]?.d).toBeUndefined();

    const tokenIo = captureIo();
    expect(
      await main(["token", "--sub", "maria", "--act", "support-assistant", "--ttl", "5m"], {
        io: tokenIo,
        env,
      }),
    ).toBe(0);
    const token = tokenIo.out.at(-1) as string;
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), {
      issuer: DEMO_ISSUER,
      audience: "clearance",
    });
    expect(payload).toMatchObject({ sub: "maria", act: { sub: "support-assistant" } });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);

    // The agent acts for maria only with her delegation, which this empty data directory does not hold.
    const search = await searchAs(url, token);
    expect(search.status).toBe(403);
    expect(((await search.json()) as { error: { code: string } }).error.code).toBe("CONSENT_REQUIRED");
    const userIo = captureIo();
    expect(await main(["token", "--sub", "maria"], { io: userIo, env })).toBe(0);
    const own = await searchAs(url, userIo.out.at(-1) as string);
    expect(own.status).toBe(200);
    expect(await own.json()).toEqual({ passages: [] });
    const forged = await searchAs(url, `${token.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(401);

    stop.abort();
    expect(await serving).toBe(0);
  });

  it("serve: with no schema in the data directory, nothing is readable: no passage, and listing fails with 503", async () => {
    const { url, stop, serving } = await startServe(env);
    const tokenIo = captureIo();
    await main(["token", "--sub", "maria"], { io: tokenIo, env });
    const token = tokenIo.out.at(-1) as string;
    // The store is empty too: the search finds no candidate to check, so it answers none.
    const search = await searchAs(url, token);
    expect(search.status).toBe(200);
    expect(await search.json()).toEqual({ passages: [] });
    const documents = await fetch(`${url}/v1/documents`, { headers: { authorization: `Bearer ${token}` } });
    expect(documents.status).toBe(503);
    stop.abort();
    expect(await serving).toBe(0);
  });

  it("token: refuses bad usage with exit 2 and demo tokens when an issuer is configured with exit 1", async () => {
    const io = captureIo();
    expect(await main(["token"], { io, env })).toBe(2);
    expect(await main(["token", "--sub", "maria", "--ttl", "3d"], { io, env })).toBe(2);
    expect(await main(["token", "--sub", "bad id!"], { io, env })).toBe(2);
    expect(await main(["token", "--sub", "maria", "--bogus"], { io, env })).toBe(2);
    const issuerEnv = {
      ...env,
      AUTH_MODE: "issuer",
      AUTH_ISSUER: "https://id.example",
      AUTH_JWKS_URL: "https://id.example/jwks.json",
      AUDIT_QUERY_KEY: "a-query-digest-key-of-32-characters-or-more",
    };
    expect(await main(["token", "--sub", "maria"], { io, env: issuerEnv })).toBe(1);
    expect(io.out).toEqual([]);
  });

  it("serve: exits 1 naming every bad configuration key", async () => {
    const io = captureIo();
    const code = await main(["serve"], {
      io,
      env: { ...env, PORT: "eighty", AUTH_AUDIENCE: "", RETRIEVAL_MAX_K: "0" },
    });
    expect(code).toBe(1);
    expect(io.err.join("\n")).toMatch(/PORT.*AUTH_AUDIENCE.*RETRIEVAL_MAX_K|PORT/);
    for (const key of ["PORT", "AUTH_AUDIENCE", "RETRIEVAL_MAX_K"]) expect(io.err.join("\n")).toContain(key);
  });
});

describe("demo identity is asked for, and only on this machine (issue 13, finding 3)", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "clearance-demo-mode-"));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  const base = () => ({ CLEARANCE_DATA_DIR: dataDir, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "silent" });

  /** `clearance <command>` stopped at once: 0 when it got as far as serving, 1 when it refused. */
  async function runStopped(command: string, env: Record<string, string>) {
    const io = captureIo();
    const code = await main([command], { io, env, stop: AbortSignal.abort() });
    return { code, out: io.out, err: io.err.join("\n") };
  }

  it("the attack: HOST=0.0.0.0 NODE_ENV=production without AUTH_ISSUER no longer serves demo identity", async () => {
    const attacked = await runStopped("serve", { ...base(), HOST: "0.0.0.0", NODE_ENV: "production" });
    expect(attacked.code).toBe(1);
    expect(attacked.err).toContain("AUTH_ISSUER");
    expect(attacked.out.filter((line) => line.includes("serving on"))).toEqual([]);
  });

  it("no identity asked for: serve and demo refuse to start, even on loopback", async () => {
    for (const command of ["serve", "demo"]) {
      const result = await runStopped(command, base());
      expect(result.code, command).toBe(1);
      expect(result.err, command).toContain("AUTH_MODE=demo");
    }
  });

  it("AUTH_MODE=demo is refused off loopback and under NODE_ENV=production, unless overridden", async () => {
    const offLoopback = await runStopped("serve", { ...base(), AUTH_MODE: "demo", HOST: "0.0.0.0" });
    expect(offLoopback.code).toBe(1);
    expect(offLoopback.err).toContain("AUTH_MODE");
    const production = await runStopped("serve", { ...base(), AUTH_MODE: "demo", NODE_ENV: "production" });
    expect(production.code).toBe(1);
    expect(production.err).toContain("NODE_ENV=production");
    const overridden = await runStopped("serve", {
      ...base(),
      AUTH_MODE: "demo",
      HOST: "0.0.0.0",
      AUTH_DEMO_ALLOW_UNSAFE: "true",
    });
    expect(overridden.err).toBe("");
    expect(overridden.code).toBe(0);
  });

  it("clearance token mints nothing unless demo identity was asked for on this machine", async () => {
    const io = captureIo();
    expect(await main(["token", "--sub", "victor"], { io, env: base() })).toBe(1);
    expect(
      await main(["token", "--sub", "victor"], {
        io,
        env: { ...base(), AUTH_MODE: "demo", NODE_ENV: "production" },
      }),
    ).toBe(1);
    expect(
      await main(["token", "--sub", "victor"], {
        io,
        env: { ...base(), AUTH_MODE: "demo", HOST: "0.0.0.0" },
      }),
    ).toBe(1);
    expect(io.out).toEqual([]);
    // A token longer-lived than the configured maximum would be refused by the server: not minted.
    expect(
      await main(["token", "--sub", "victor", "--ttl", "2h"], {
        io,
        env: { ...base(), AUTH_MODE: "demo", AUTH_MAX_TOKEN_LIFETIME_SECONDS: "3600" },
      }),
    ).toBe(2);
    expect(io.out).toEqual([]);
    expect(await main(["token", "--sub", "victor"], { io, env: { ...base(), AUTH_MODE: "demo" } })).toBe(0);
    expect(io.out).toHaveLength(1);
  });
});
