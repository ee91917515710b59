/**
 * A local Permify for the benchmarks: the memory engine on three free ports of its own, stopped when the
 * benchmark ends, however it ends.
 *
 * Permify opens three listeners (gRPC, the HTTP gateway, and an "invoker" gRPC server that is on even with
 * distributed mode off), on 3478/3476/5000 unless told otherwise, so all three ports are always passed. A
 * port taken between choosing it and Permify binding it makes the process exit or log a bind error; the
 * launch is then retried on new ports. The process runs in an empty directory (Permify reads
 * ./config/config.yaml when there is one) without PERMIFY_* variables, so nothing around it changes what
 * is measured.
 *
 * Kept apart from test/helpers on purpose: benchmarks do not depend on test code.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface LocalPermify {
  /** gRPC address for clients: `127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** What `permify version` printed, e.g. "v1.7.3". */
  readonly version: string;
  readonly binary: string;
  /** SIGTERM, then SIGKILL after a grace period. Safe to call more than once. */
  stop(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const LAUNCH_ATTEMPTS = 3;
const OUTPUT_TAIL_CHARS = 4_000;
const PORT_TAKEN = /address already in use/i;

/** `PERMIFY_BIN`, else `<repo>/.tools/bin/permify` (from `npm run permify:install`), else `permify` on PATH. */
export function findPermifyBinary(): string | undefined {
  const fromEnv = process.env.PERMIFY_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(
        `PERMIFY_BIN is ${fromEnv}, which is not an executable file: fix or unset it, or run \`npm run permify:install\``,
      );
    }
    return fromEnv;
  }
  const installed = path.join(repoRoot, ".tools/bin/permify");
  if (isExecutable(installed)) return installed;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, "permify");
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The version a Permify binary reports (`permify version`), or "unknown". */
export function permifyVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ["version"], { encoding: "utf8", timeout: 10_000, cwd: tmpdir() });
    return /v\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Starts Permify on the memory engine; resolves once `/healthz` answers SERVING. */
export async function startLocalPermify(): Promise<LocalPermify> {
  const binary = findPermifyBinary();
  if (binary === undefined) {
    throw new Error(
      "Permify binary not found (looked at PERMIFY_BIN, .tools/bin/permify and PATH): run `npm run permify:install`",
    );
  }
  const version = permifyVersion(binary);
  const workDir = mkdtempSync(path.join(tmpdir(), "clearance-bench-permify-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  const forgetWorkDir = onExit(removeWorkDir);
  for (let attempt = 1; ; attempt++) {
    const [grpc, http, distributed] = await freePorts(3);
    try {
      const stopProcess = await launch(
        binary,
        workDir,
        grpc as number,
        http as number,
        distributed as number,
      );
      let stopping: Promise<void> | undefined;
      return {
        endpoint: `127.0.0.1:${grpc}`,
        version,
        binary,
        stop() {
          stopping ??= stopProcess().finally(() => {
            removeWorkDir();
            forgetWorkDir();
          });
          return stopping;
        },
      };
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= LAUNCH_ATTEMPTS) {
        removeWorkDir();
        forgetWorkDir();
        throw error;
      }
    }
  }
}

class PortTakenError extends Error {}

async function launch(
  binary: string,
  workDir: string,
  grpc: number,
  http: number,
  distributed: number,
): Promise<() => Promise<void>> {
  const args = [
    "serve",
    `--grpc-port=${grpc}`,
    `--http-port=${http}`,
    `--distributed-port=${distributed}`,
    "--database-engine=memory",
    "--log-level=error",
    // Off by default in v1.7.3; explicit so that no default change adds exporters to what is measured.
    "--log-enabled=false",
    "--tracer-enabled=false",
    "--meter-enabled=false",
    "--profiler-enabled=false",
    "--distributed-enabled=false",
  ];
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PERMIFY_")));
  const child: ChildProcess = spawn(binary, args, { cwd: workDir, env, stdio: ["ignore", "pipe", "pipe"] });
  const forgetKill = onExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exitedWith: string | undefined;
  const exited = new Promise<void>((resolve) => {
    const done = (how: string) => {
      exitedWith ??= how;
      forgetKill();
      resolve();
    };
    child.once("exit", (code, signal) => done(signal ? `signal ${signal}` : `code ${code}`));
    child.once("error", (error) => done(`spawn error: ${error.message}`));
  });
  const stop = async () => {
    if (exitedWith !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const healthz = `http://127.0.0.1:${http}/healthz`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const ports = `gRPC ${grpc}, HTTP ${http}, invoker ${distributed}`;
  while (true) {
    if (exitedWith !== undefined) {
      const message = `Permify exited (${exitedWith}) before it was ready on ${ports}. Output tail:\n${output}`;
      throw PORT_TAKEN.test(output) ? new PortTakenError(message) : new Error(message);
    }
    // A failing HTTP listener is only logged, and another process could answer on that port: a bind error
    // in the output means this Permify does not own all of its ports.
    if (PORT_TAKEN.test(output)) {
      await stop();
      throw new PortTakenError(`Permify could not bind ${ports}. Output tail:\n${output}`);
    }
    if (await isServing(healthz)) return stop;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `Permify not ready after ${READY_TIMEOUT_MS / 1000} s at ${healthz}. Output tail:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function isServing(healthz: string): Promise<boolean> {
  try {
    const response = await fetch(healthz, { signal: AbortSignal.timeout(1_000) });
    const body = await response.text();
    return response.ok && body.includes("SERVING") && !body.includes("NOT_SERVING");
  } catch {
    return false;
  }
}

/** `count` distinct free ports on 127.0.0.1 (held together while chosen, so none repeats). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      servers.push(
        await new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.unref();
          server.once("error", reject);
          server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => resolve(server));
        }),
      );
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("expected a TCP address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const cleanups = new Set<() => void>();
let handlersInstalled = false;

/**
 * Runs `cleanup` when this process ends: on exit (also after an uncaught error) and on SIGINT, SIGTERM and
 * SIGHUP, which alone do not fire "exit". Returns a function that unregisters it.
 */
function onExit(cleanup: () => void): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on("exit", runCleanups);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const onSignal = () => {
        runCleanups();
        process.off(signal, onSignal);
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      };
      process.prependListener(signal, onSignal);
    }
  }
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // best effort: the process is going away
    }
  }
}
