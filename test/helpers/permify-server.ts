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
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePorts } from "./free-port.ts";
import { killOnExit } from "./process-cleanup.ts";
import {
  findBinary,
  PortTakenError,
  repoRoot,
  type ServerProcess,
  spawnServer,
  waitUntilReady,
} from "./server-process.ts";

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
  /** How the current process ended (`code 2`, `signal SIGKILL`), or undefined while it runs. */
  exitedWith(): string | undefined;
  /** Resolves with how the current process ended; a `restart` starts a new one with a new promise. */
  exited(): Promise<string>;
  /** The last few thousand characters of the current process's output (a Go panic's trace, say). */
  output(): string;
  /** SIGKILL, as a crash would; resolves once it has exited. `restart` brings it back. */
  kill(): Promise<void>;
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

const READY_TIMEOUT_MS = 30_000;
const PORT_RACE_ATTEMPTS = 3;

/** `PERMIFY_BIN`, else `<repo>/.tools/bin/permify` (from `npm run permify:install`), else `permify` on PATH. */
export function findPermifyBinary(): string | undefined {
  return findBinary("permify", process.env.PERMIFY_BIN, [path.join(repoRoot, ".tools/bin/permify")]);
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

  let running: ServerProcess;
  let ports: PermifyPorts;
  try {
    ({ running, ports } = await launchWithPortRetry(binary, workDir, options, extra));
  } catch (error) {
    removeWorkDir();
    forgetWorkDir();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const server: PermifyServer = {
    endpoint: `127.0.0.1:${ports.grpc}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    ports,
    stop() {
      stopping ??= (async () => {
        await running.terminate();
        removeWorkDir();
        forgetWorkDir();
      })();
      return stopping;
    },
    exitedWith: () => running.exitedWith(),
    exited: () => running.exited,
    output: () => running.output(),
    kill: () => running.kill(),
    pause() {
      running.pause();
    },
    resume() {
      running.resume();
    },
    async restart() {
      if (stopping) throw new Error("restart after stop");
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
): Promise<{ running: ServerProcess; ports: PermifyPorts }> {
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

/** Spawns one Permify process and resolves once its `/healthz` answers SERVING. */
async function launch(
  binary: string,
  workDir: string,
  options: PermifyEngineOptions,
  extra: PermifyExtraOptions,
  ports: PermifyPorts,
): Promise<ServerProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PERMIFY_")));
  const server = spawnServer(binary, permifyArgs(options, extra, ports), { cwd: workDir, env, workDir });
  const healthz = `http://127.0.0.1:${ports.http}/healthz`;
  // The HTTP listener failing to bind is only logged, not fatal: waitUntilReady reads the output for it.
  await waitUntilReady(
    server,
    `Permify on ports ${JSON.stringify(ports)}`,
    () => isServing(healthz),
    READY_TIMEOUT_MS,
  );
  return server;
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

/**
 * Restarts `server` on its ports whenever it exits before `isStopping()` says it should, after passing its
 * exit status and last output to `report` (the only trace of why it died: its log exporters are off).
 * Resolves when the server is stopped on purpose, or once a restart fails (reported too).
 */
export async function superviseRestarts(
  server: PermifyServer,
  isStopping: () => boolean,
  report: (message: string) => void,
): Promise<void> {
  while (true) {
    const how = await server.exited();
    if (isStopping()) return;
    report(
      `Permify (${server.endpoint}) exited unexpectedly (${how}); restarting it on the same ports. Its last output:\n${server.output()}`,
    );
    try {
      await server.restart();
    } catch (error) {
      report(`Permify (${server.endpoint}) could not be restarted: ${String(error)}`);
      return;
    }
  }
}
