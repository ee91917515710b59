/**
 * Real Permify servers for integration tests, each on three free ports of its own.
 *
 * Permify opens three listeners (gRPC, HTTP gateway, and an "invoker" gRPC server that is on even with
 * distributed mode off), on 3478/3476/5000 unless told otherwise, so all three ports are always passed.
 * gRPC and the invoker bind every interface (Permify has no host option for them); a taken gRPC or invoker
 * port makes the process exit, which `startPermify` detects and retries on new ports.
 *
 * The process is isolated from its surroundings: PERMIFY_* variables are dropped, it runs in an empty
 * directory (Permify reads ./config/config.yaml when present), and every exporter (logs, traces, metrics)
 * and the profiler are switched off explicitly.
 *
 * Every process started here is killed when the test process ends, however it ends (./process-cleanup.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isExecutable } from "./executable.ts";
import { freePorts } from "./free-port.ts";
import { armWatchdog, killOnExit } from "./process-cleanup.ts";

export interface PermifyPorts {
  grpc: number;
  http: number;
  distributed: number;
}

export type PermifyEngineOptions = { engine: "memory" } | { engine: "postgres"; databaseUri: string };

export interface PermifyExtraOptions {
  /** Turns on preshared-key authentication with this key (clients send `authorization: Bearer <key>`). */
  presharedKey?: string;
  /** Serves gRPC over TLS with this certificate and key (PEM files). */
  grpcTls?: { certPath: string; keyPath: string };
  /** Fixed ports instead of free ones (no retry on a port race then). */
  ports?: PermifyPorts;
}

export interface PermifyServer {
  /** gRPC address for clients: `127.0.0.1:<grpcPort>`. */
  readonly endpoint: string;
  /** HTTP gateway: `http://127.0.0.1:<httpPort>`. */
  readonly httpUrl: string;
  readonly ports: PermifyPorts;
  /** SIGTERM, then SIGKILL after 5 s. Safe to call more than once. */
  stop(): Promise<void>;
  /**
   * SIGSTOP: the ports stay open but nothing answers (for timeout and deadline tests). Returns once every
   * thread has stopped: a stop reaches a busy Go process's threads over milliseconds (up to ~30 ms were
   * measured on a loaded 2-core machine), and meanwhile it still answers requests.
   */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  /**
   * Stops and starts again on the same ports with the same options. Only the postgres engine keeps its
   * data across a restart; the memory engine comes back empty.
   */
  restart(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const PORT_RACE_ATTEMPTS = 3;
const OUTPUT_TAIL_CHARS = 4_000;
const PORT_TAKEN = /address already in use/i;

/** `PERMIFY_BIN`, else `<repo>/.tools/bin/permify` (from `npm run permify:install`), else `permify` on PATH. */
export function findPermifyBinary(): string | undefined {
  const fromEnv = process.env.PERMIFY_BIN;
  if (fromEnv) return fromEnv;
  const installed = path.join(repoRoot, ".tools/bin/permify");
  if (isExecutable(installed)) return installed;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, "permify");
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** A tenant id no other call returns, valid for Permify (`^[a-zA-Z0-9_\-@.:+]{1,128}$`). */
export function uniqueTenant(label: string): string {
  const safe = label.replace(/[^a-zA-Z0-9_\-@.:+]/g, "-").slice(0, 80);
  return `t-${safe}-${randomBytes(8).toString("hex")}`;
}

export async function startPermify(
  options: PermifyEngineOptions,
  extra: PermifyExtraOptions = {},
): Promise<PermifyServer> {
  const binary = findPermifyBinary();
  if (binary === undefined) {
    throw new Error(
      "Permify binary not found (PERMIFY_BIN, .tools/bin/permify, PATH): run npm run permify:install",
    );
  }
  // Permify reads ./config/config.yaml if there is one; an empty working directory has none.
  const workDir = mkdtempSync(path.join(tmpdir(), "clearance-permify-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  const forgetWorkDir = killOnExit(removeWorkDir);

  let running: RunningPermify;
  let ports: PermifyPorts;
  try {
    ({ running, ports } = await launchWithPortRetry(binary, workDir, options, extra));
  } catch (error) {
    removeWorkDir();
    forgetWorkDir();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  let paused = false;
  const server: PermifyServer = {
    endpoint: `127.0.0.1:${ports.grpc}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    ports,
    stop() {
      stopping ??= (async () => {
        if (paused) running.child.kill("SIGCONT");
        paused = false;
        await running.terminate();
        removeWorkDir();
        forgetWorkDir();
      })();
      return stopping;
    },
    pause() {
      running.child.kill("SIGSTOP");
      paused = true;
      waitUntilStopped(running.child.pid);
    },
    resume() {
      running.child.kill("SIGCONT");
      paused = false;
    },
    async restart() {
      if (stopping) throw new Error("restart after stop");
      if (paused) running.child.kill("SIGCONT");
      paused = false;
      await running.terminate();
      // The old listeners are closed and Go sets SO_REUSEADDR, so the same ports are free again, unless
      // another process grabbed one meanwhile: retry briefly, then give up with Permify's own output.
      for (let attempt = 1; ; attempt++) {
        try {
          running = await launch(binary, workDir, options, extra, ports);
          return;
        } catch (error) {
          if (!(error instanceof PortTakenError) || attempt >= PORT_RACE_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
  };
  return server;
}

async function launchWithPortRetry(
  binary: string,
  workDir: string,
  options: PermifyEngineOptions,
  extra: PermifyExtraOptions,
): Promise<{ running: RunningPermify; ports: PermifyPorts }> {
  for (let attempt = 1; ; attempt++) {
    const ports = extra.ports ?? (await pickPorts());
    try {
      return { running: await launch(binary, workDir, options, extra, ports), ports };
    } catch (error) {
      const retry =
        error instanceof PortTakenError && extra.ports === undefined && attempt < PORT_RACE_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

async function pickPorts(): Promise<PermifyPorts> {
  const [grpc, http, distributed] = await freePorts(3);
  if (grpc === undefined || http === undefined || distributed === undefined) throw new Error("no free ports");
  return { grpc, http, distributed };
}

function permifyArgs(
  options: PermifyEngineOptions,
  extra: PermifyExtraOptions,
  ports: PermifyPorts,
): string[] {
  const args = [
    "serve",
    `--grpc-port=${ports.grpc}`,
    `--http-port=${ports.http}`,
    `--distributed-port=${ports.distributed}`,
    `--database-engine=${options.engine}`,
    "--log-level=error",
    // All off by default in v1.7.3; explicit so that no config file or default change turns them on.
    "--log-enabled=false",
    "--tracer-enabled=false",
    "--meter-enabled=false",
    "--profiler-enabled=false",
    "--distributed-enabled=false",
  ];
  if (options.engine === "postgres") {
    args.push(`--database-uri=${options.databaseUri}`, "--database-auto-migrate=true");
  }
  if (extra.grpcTls !== undefined) {
    args.push(
      "--grpc-tls-enabled=true",
      `--grpc-tls-cert-path=${extra.grpcTls.certPath}`,
      `--grpc-tls-key-path=${extra.grpcTls.keyPath}`,
    );
  }
  if (extra.presharedKey !== undefined) {
    args.push(
      "--authn-enabled=true",
      "--authn-method=preshared",
      `--authn-preshared-keys=${extra.presharedKey}`,
    );
  }
  return args;
}

class PortTakenError extends Error {}

interface RunningPermify {
  child: ChildProcess;
  terminate(): Promise<void>;
}

/** Spawns one Permify process and resolves once its `/healthz` answers SERVING. */
async function launch(
  binary: string,
  workDir: string,
  options: PermifyEngineOptions,
  extra: PermifyExtraOptions,
  ports: PermifyPorts,
): Promise<RunningPermify> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PERMIFY_")));
  const child = spawn(binary, permifyArgs(options, extra, ports), {
    cwd: workDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const forget = killOnExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const disarm =
    child.pid === undefined
      ? () => {}
      : armWatchdog('kill -KILL "$1" 2>/dev/null; rm -rf "$2"', [String(child.pid), workDir]);

  // Permify logs to stdout and panics to stderr: keep the tail of both for error messages.
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  const exited = new Promise<string>((resolve) => {
    // "close" rather than "exit": it comes after the output pipes are drained, so the tail is complete.
    child.once("close", (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`));
    child.once("error", (error) => resolve(`spawn error: ${error.message}`));
  });
  let exitedWith: string | undefined;
  void exited.then((how) => {
    exitedWith = how;
    forget();
    disarm();
  });

  const terminate = async () => {
    if (exitedWith !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const healthz = `http://127.0.0.1:${ports.http}/healthz`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (true) {
    if (exitedWith !== undefined) {
      const message = `Permify exited (${exitedWith}) before it was ready on ports ${JSON.stringify(ports)}. Output tail:\n${output}`;
      throw PORT_TAKEN.test(output) ? new PortTakenError(message) : new Error(message);
    }
    // The HTTP listener failing is only logged, not fatal, and a port-stealer could answer our health
    // check: a bind error in the output means this process does not own its ports.
    if (PORT_TAKEN.test(output)) {
      await terminate();
      throw new PortTakenError(
        `Permify could not bind its ports ${JSON.stringify(ports)}. Output tail:\n${output}`,
      );
    }
    if (await isServing(healthz)) return { child, terminate };
    if (Date.now() > deadline) {
      await terminate();
      throw new Error(
        `Permify not ready after ${READY_TIMEOUT_MS / 1000} s at ${healthz}. Output tail:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
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

/** Waits (synchronously, at most 2 s) until every thread of `pid` is stopped. Linux only; elsewhere no-op. */
function waitUntilStopped(pid: number | undefined): void {
  if (pid === undefined || !existsSync(`/proc/${pid}/task`)) return;
  const deadline = Date.now() + 2_000;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    let allStopped = true;
    try {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
        // The state letter follows the parenthesised command name; T is stopped, t is traced.
        const state = stat[stat.lastIndexOf(")") + 2];
        if (state !== "T" && state !== "t") allStopped = false;
      }
    } catch {
      return; // the process or a thread went away
    }
    if (allStopped) return;
    Atomics.wait(sleeper, 0, 0, 1);
  }
}
