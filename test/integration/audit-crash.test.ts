/**
 * A real `clearance serve` on the embedded trail, killed with SIGKILL under load: every request that was
 * answered has its record, and the trail verifies (the records after the last checkpoint are recent).
 */
import { spawn } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileAuditTrail } from "../../src/adapters/audit/file-audit-trail.ts";
import { verifyTrail } from "../../src/core/audit-chain.ts";
import { main } from "../../src/main.ts";
import { freePort } from "../helpers/free-port.ts";
import { killOnExit } from "../helpers/process-cleanup.ts";
import { repoRoot } from "../helpers/server-process.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/ingest/", import.meta.url));

let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "clearance-audit-crash-"));
  await cp(FIXTURES, path.join(dir, "corpus"), { recursive: true });
  env = {
    CLEARANCE_DATA_DIR: path.join(dir, "data"),
    LOG_LEVEL: "silent",
    PORT: String(await freePort()),
    METRICS_PORT: "off",
    AUTH_MODE: "demo",
  };
  const quiet = { stdout: () => {}, stderr: () => {} };
  expect(
    // The operator's ingest: the fixture manifest brings its schema and relationships.
    await main(
      [
        "ingest",
        "--manifest",
        path.join(dir, "corpus", "manifest.yaml"),
        "--write-schema",
        "--yes",
        "--allow-any-relationships",
      ],
      { io: quiet, env },
    ),
  ).toBe(0);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("SIGKILL under load", () => {
  it("loses no record of a request that was answered", async () => {
    const lines: string[] = [];
    await main(["token", "--sub", "omar"], {
      io: { stdout: (line) => lines.push(line), stderr: () => {} },
      env,
    });
    const token = lines.at(-1) as string;
    const child = spawn(process.execPath, [path.join(repoRoot, "bin", "clearance.mjs"), "serve"], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const forget = killOnExit(() => child.kill("SIGKILL"));
    const url = await new Promise<string>((resolve, reject) => {
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /serving on (\S+)/.exec(output);
        if (match) resolve(match[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
    });
    const answered: string[] = [];
    let stop = false;
    const clients = Array.from({ length: 20 }, async (_, n) => {
      for (let i = 0; !stop; i++) {
        try {
          const response = await fetch(`${url}/v1/search`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ query: `legal hold ${n} ${i}`, k: 3 }),
          });
          if (response.status === 200) answered.push(response.headers.get("x-request-id") as string);
          await response.arrayBuffer();
        } catch {
          return; // the server is gone
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    stop = true;
    await Promise.all(clients);
    forget();
    expect(answered.length).toBeGreaterThan(20);

    const trail = await createFileAuditTrail({
      dir: path.join(env.CLEARANCE_DATA_DIR as string, "audit", "trail"),
      readOnly: true,
    });
    const recorded = new Set<string>();
    for await (const item of trail.scan()) if (item.kind === "record") recorded.add(item.record.requestId);
    const lost = answered.filter((id) => !recorded.has(id));
    expect(lost).toEqual([]);
    expect((await verifyTrail(trail)).ok).toBe(true);
    // The CLI verifies it too, with the demo checkpoint key.
    const out: string[] = [];
    const code = await main(["audit", "verify"], {
      io: { stdout: (l) => out.push(l), stderr: (l) => out.push(l) },
      env,
    });
    expect(out.join("\n")).toContain("verified:");
    expect(code).toBe(0);
  }, 60_000);
});
