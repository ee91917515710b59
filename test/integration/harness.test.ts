/**
 * The test harness itself, against real servers: the shared Permify from the global setup, and a
 * PostgreSQL + Permify pair of this file's own (persistence across restart, pause/resume, stop).
 * Talks to Permify's HTTP gateway with plain fetch, so it depends on no adapter under test.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../helpers/free-port.ts";
import { describeWithPermify, type PermifyOnPostgres, startPermifyOnPostgres } from "../helpers/permify.ts";
import { startPermify, superviseRestarts, uniqueTenant } from "../helpers/permify-server.ts";
import { findPostgresBinDir } from "../helpers/postgres-server.ts";
import { startQdrant } from "../helpers/qdrant-server.ts";
import { describeWithQdrantBinary } from "../helpers/vector-stores.ts";

const TENANT_ID = /^[a-zA-Z0-9_\-@.:+]{1,128}$/;
const SCHEMA = "entity user {}\nentity doc {\n relation viewer @user\n permission view = viewer\n}";

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(2_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe("free ports and tenants", () => {
  it("hands out distinct ports", async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
  });

  it("makes a different valid tenant id on every call", () => {
    const a = uniqueTenant("harness");
    const b = uniqueTenant("harness");
    expect(a).not.toBe(b);
    expect(a).toMatch(TENANT_ID);
    expect(uniqueTenant("spaces and / slashes ".repeat(20))).toMatch(TENANT_ID);
  });
});

describeWithPermify("shared Permify (memory engine)", (endpoint, httpUrl) => {
  it("answers /healthz and takes a schema for a fresh tenant", async () => {
    expect(endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    const health = await fetch(`${httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "SERVING" });

    const written = await postJson(`${httpUrl}/v1/tenants/${uniqueTenant("harness")}/schemas/write`, {
      schema: SCHEMA,
    });
    expect(written.status).toBe(200);
    expect(written.body.schema_version).toEqual(expect.any(String));
  });
});

describeWithPermify("Permify servers of a test's own", () => {
  it("requires the preshared key when one is set", async () => {
    const permify = await startPermify({ engine: "memory" }, { presharedKey: "harness-key" });
    try {
      const url = `${permify.httpUrl}/v1/tenants/${uniqueTenant("authn")}/schemas/write`;
      // Permify v1.7.3 answers a missing header with gRPC UNKNOWN (HTTP 500), a wrong key with UNAUTHENTICATED.
      const missing = await postJson(url, { schema: SCHEMA });
      expect([missing.status, missing.body.message]).toEqual([500, "ERROR_CODE_MISSING_BEARER_TOKEN"]);
      const wrong = await postJson(url, { schema: SCHEMA }, { authorization: "Bearer wrong" });
      expect([wrong.status, wrong.body.message]).toEqual([401, "ERROR_CODE_INVALID_KEY"]);
      const right = await postJson(url, { schema: SCHEMA }, { authorization: "Bearer harness-key" });
      expect(right.status).toBe(200);
    } finally {
      await permify.stop();
    }
  });

  it("is restarted on its ports after a crash, with its exit reported", async () => {
    const permify = await startPermify({ engine: "memory" });
    const reports: string[] = [];
    let stopping = false;
    const supervised = superviseRestarts(
      permify,
      () => stopping,
      (message) => reports.push(message),
    );
    try {
      await permify.kill();
      await expect.poll(() => reports.length, { timeout: 30_000 }).toBe(1);
      expect(reports[0]).toMatch(/exited unexpectedly \(signal SIGKILL\)/);
      // The restart resolves once the new process answers its health check, and then it is the current one.
      await expect.poll(() => permify.exitedWith(), { timeout: 30_000 }).toBeUndefined();
      expect((await fetch(`${permify.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      stopping = true;
      await permify.stop();
    }
    // A stop on purpose ends the supervision without a report or a restart.
    await supervised;
    expect(reports).toHaveLength(1);
    expect(permify.exitedWith()).toBeDefined();
  });

  it("fails with Permify's own output when a fixed port is taken", async () => {
    const [grpc, http, distributed] = await freePorts(3);
    if (grpc === undefined || http === undefined || distributed === undefined) throw new Error("no ports");
    // Permify binds gRPC on every interface, so the squatter does too.
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(grpc, resolve));
    try {
      await expect(
        startPermify({ engine: "memory" }, { ports: { grpc, http, distributed } }),
      ).rejects.toThrow(/address already in use/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

const havePostgres = findPostgresBinDir() !== undefined;

describeWithPermify("Permify on PostgreSQL", () => {
  if (!havePostgres && !process.env.CI) {
    console.warn("\n!!! SKIPPING Permify on PostgreSQL: no initdb (apt-get install postgresql)\n");
    it.skip("needs PostgreSQL (initdb)", () => {});
    return;
  }

  let pair: PermifyOnPostgres;
  const tenant = uniqueTenant("harness-pg");
  let version: string;

  beforeAll(async () => {
    pair = await startPermifyOnPostgres();
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it("migrates and takes a schema", async () => {
    expect(pair.databaseUri).toMatch(
      /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/permify_[0-9a-f]+\?sslmode=disable$/,
    );
    const written = await postJson(`${pair.permify.httpUrl}/v1/tenants/${tenant}/schemas/write`, {
      schema: SCHEMA,
    });
    expect(written.status).toBe(200);
    expect(written.body.schema_version).toEqual(expect.any(String));
    version = written.body.schema_version as string;
  });

  it("keeps the schema across a restart on the same ports", async () => {
    const { ports, endpoint } = pair.permify;
    await pair.permify.restart();
    expect(pair.permify.ports).toEqual(ports);
    expect(pair.permify.endpoint).toBe(endpoint);
    // An empty request lists an empty page (page_size 0) but still names the head version.
    const listed = await postJson(`${pair.permify.httpUrl}/v1/tenants/${tenant}/schemas/list`, {
      page_size: 10,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.head).toBe(version);
    expect(listed.body.schemas).toEqual([expect.objectContaining({ version })]);
  });

  it("stops answering as soon as pause returns, and answers again after resume", async () => {
    // Several rounds: a stop reaches Go's threads over milliseconds, and pause must wait for all of them.
    for (let round = 0; round < 5; round++) {
      pair.permify.pause();
      try {
        await expect(
          fetch(`${pair.permify.httpUrl}/healthz`, { signal: AbortSignal.timeout(100) }),
        ).rejects.toThrow();
      } finally {
        pair.permify.resume();
      }
      const health = await fetch(`${pair.permify.httpUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(health.status).toBe(200);
    }
  });

  it("stops idempotently, and then its ports refuse connections", async () => {
    const { ports } = pair.permify;
    expect(await accepts(ports.grpc)).toBe(true);
    await Promise.all([pair.permify.stop(), pair.permify.stop()]);
    await pair.permify.stop();
    for (const port of [ports.grpc, ports.http, ports.distributed]) expect(await accepts(port)).toBe(false);

    const pgPort = pair.postgres.port;
    expect(await accepts(pgPort)).toBe(true);
    await pair.stop();
    await pair.stop();
    await pair.postgres.stop();
    expect(await accepts(pgPort)).toBe(false);
  });
});

describeWithQdrantBinary("Qdrant servers of a test's own", () => {
  /** True while a process with this id runs: a zombie waiting for its new parent to reap it is dead. */
  const alive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat[stat.lastIndexOf(")") + 2] !== "Z";
    } catch {
      return false;
    }
  };

  it("starts on free ports with storage in a directory of its own, keeps it across a kill, and removes it on stop", async () => {
    const qdrant = await startQdrant();
    try {
      const root = await fetch(qdrant.url, { signal: AbortSignal.timeout(5_000) });
      expect(((await root.json()) as { version?: string }).version).toBe("1.18.3");
      const collection = `${qdrant.url}/collections/harness`;
      const put = (url: string, body: unknown) =>
        fetch(url, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
      expect((await put(collection, { vectors: { size: 2, distance: "Cosine" } })).status).toBe(200);
      expect(
        (await put(`${collection}/points?wait=true`, { points: [{ id: 1, vector: [1, 0] }] })).status,
      ).toBe(200);
      await qdrant.kill();
      expect(await accepts(qdrant.ports.http)).toBe(false);
      await qdrant.start();
      const count = await fetch(`${collection}/points/count`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ exact: true }),
        signal: AbortSignal.timeout(5_000),
      });
      expect(((await count.json()) as { result: { count: number } }).result.count).toBe(1);
    } finally {
      await qdrant.stop();
    }
    expect(await accepts(qdrant.ports.http)).toBe(false);
    expect(existsSync(qdrant.workDir)).toBe(false);
  }, 60_000);

  it("dies with the test process, and its directory goes, even when that process is SIGKILLed", async () => {
    const holder = spawn(process.execPath, ["--import", "tsx", "test/fixtures/harness/hold-qdrant.ts"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      holder.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        if (out.includes("\n")) resolve(out.split("\n")[0] as string);
      });
      holder.once("exit", () => reject(new Error(`the holder exited early: ${out}`)));
    });
    const { pid, workDir } = JSON.parse(line) as { pid: number; workDir: string };
    expect(alive(pid)).toBe(true);
    holder.kill("SIGKILL");
    const deadline = Date.now() + 15_000;
    while ((alive(pid) || existsSync(workDir)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(alive(pid), "Qdrant outlived the test process").toBe(false);
    expect(existsSync(workDir), "its directory outlived the test process").toBe(false);
  }, 60_000);
});
