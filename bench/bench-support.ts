/**
 * What the benchmarks share: percentiles, the machine line, writing bench/results/, and a Permify to
 * measure (one started on free ports by the test suite's launcher, or one already running).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPermifyAuthorizer } from "../src/adapters/permify/permify-authorizer.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import { findPermifyBinary, startPermify } from "../test/helpers/permify-server.ts";

/** The p-th percentile of ascending samples (nearest rank); NaN for none. */
export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedMs.length) - 1;
  return sortedMs[Math.min(sortedMs.length - 1, Math.max(0, rank))] as number;
}

export function machine(): string {
  const cpus = os.cpus();
  return `${os.type()} ${os.release()} (${os.arch()}), ${cpus[0]?.model.trim() ?? "unknown cpu"}, ${cpus.length} cores, Node ${process.version}`;
}

/** Writes `bench/results/<name>` and says where. */
export async function writeResults(name: string, markdown: string): Promise<void> {
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "results");
  const file = join(resultsDir, name);
  await mkdir(resultsDir, { recursive: true });
  await writeFile(file, markdown);
  console.log(`wrote ${file}`);
}

export interface PermifyConnection {
  readonly authorizer: Authorizer;
  /** For the report: what ran and where. */
  readonly description: string;
  readonly version: string;
  stop(): Promise<void>;
}

/**
 * A Permify authorizer in a fresh tenant: on `endpoint` when given (left in place afterwards), else on a
 * Permify the benchmark starts on the memory engine and stops at the end. Exits 2 without a binary.
 */
export async function connectPermify(options: {
  readonly endpoint?: string;
  readonly token?: string;
  readonly readMs: number;
  readonly writeMs: number;
}): Promise<PermifyConnection> {
  const tenant = `bench-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  const connect = (endpoint: string) =>
    createPermifyAuthorizer({
      endpoint,
      tenant,
      ...(options.token === undefined ? {} : { token: options.token }),
      timeouts: { readMs: options.readMs, writeMs: options.writeMs },
    });
  if (options.endpoint !== undefined) {
    const authorizer = connect(options.endpoint);
    return {
      authorizer,
      description: `the server at ${options.endpoint} (tenant ${tenant}, left in place)`,
      version: "unknown (external server)",
      stop: () => authorizer.close(),
    };
  }
  // The test suite's launcher: free ports, readiness, and no Permify left behind if the benchmark dies.
  const binary = findPermifyBinary();
  if (binary === undefined) {
    console.error("no Permify binary (PERMIFY_BIN, .tools/bin/permify or PATH): run npm run permify:install");
    process.exit(2);
  }
  const server = await startPermify({ engine: "memory" });
  const authorizer = connect(server.endpoint);
  return {
    authorizer,
    description: `started by the benchmark on the memory engine, free ports (tenant ${tenant})`,
    version: permifyVersion(binary),
    async stop() {
      await authorizer.close();
      await server.stop();
    },
  };
}

/** The version a Permify binary reports (`permify version`), or "unknown". */
function permifyVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ["version"], { encoding: "utf8", timeout: 10_000, cwd: os.tmpdir() });
    return /v\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? "unknown";
  } catch {
    return "unknown";
  }
}
