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
  return { url, stop, serving };
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
    env = { CLEARANCE_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "silent" };
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("serves /healthz, the demo JWKS, and accepts its own tokens, until stopped", async () => {
    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    await authorizer.writeSchema(await readFile("fixtures/schema.perm", "utf8"));
    await authorizer.close();
    const { url, stop, serving } = await startServe(env);

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
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

    const search = await searchAs(url, token);
    expect(search.status).toBe(200);
    expect(await search.json()).toEqual({ passages: [] });
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
      AUTH_ISSUER: "https://id.example",
      AUTH_JWKS_URL: "https://id.example/jwks.json",
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
