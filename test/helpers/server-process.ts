/**
 * What the real servers that tests start (Permify, Qdrant) have in common: finding the binary, spawning it
 * so that it cannot outlive the test process (./process-cleanup.ts), keeping the tail of its output for
 * error messages, waiting until it is ready, and stopping or pausing it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { armWatchdog, killOnExit } from "./process-cleanup.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// Enough for a Go panic with its goroutine trace, the usual last words of a server that died.
const OUTPUT_TAIL_CHARS = 16_000;
const STOP_GRACE_MS = 5_000;
/** How a server says that one of its ports is taken (Go and Rust alike). */
export const PORT_TAKEN = /address already in use/i;

/** A server that could not bind its ports: the caller may retry on other ports. */
export class PortTakenError extends Error {}

/** `fromEnv` when set, else the first executable of `candidates`, else `name` on PATH. */
export function findBinary(name: string, fromEnv: string | undefined, candidates: readonly string[]) {
  if (fromEnv) return fromEnv;
  for (const candidate of candidates) if (isExecutable(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The last few thousand characters of stdout and stderr together. */
  output(): string;
  /** How the process ended (`code 1`, `signal SIGKILL`), or undefined while it runs. */
  exitedWith(): string | undefined;
  /** Resolves with how the process ended, once it has (and its output is drained). */
  readonly exited: Promise<string>;
  /** SIGTERM (SIGCONT first, in case it is paused), SIGKILL after 5 s; resolves once it has exited. */
  terminate(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGSTOP, returning once every thread has stopped; `resume` sends SIGCONT. */
  pause(): void;
  resume(): void;
}

/**
 * Spawns `binary` with `args`, killed when this process ends however it ends: by an exit handler, and by a
 * watchdog (for SIGKILL) that also removes `workDir`, the server's scratch directory.
 */
export function spawnServer(
  binary: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; workDir: string },
): ServerProcess {
  const child = spawn(binary, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const forget = killOnExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const disarm =
    child.pid === undefined
      ? () => {}
      : armWatchdog('kill -KILL "$1" 2>/dev/null; rm -rf "$2"', [String(child.pid), options.workDir]);

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

  return {
    child,
    output: () => output,
    exitedWith: () => exitedWith,
    exited,
    async terminate() {
      if (exitedWith !== undefined) return;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (exitedWith !== undefined) return;
      child.kill("SIGKILL");
      await exited;
    },
    pause() {
      child.kill("SIGSTOP");
      waitUntilStopped(child.pid);
    },
    resume() {
      child.kill("SIGCONT");
    },
  };
}

/**
 * Polls `isReady` until it resolves true. Fails with the server's output when the process exits first, when
 * it reports a taken port (`PortTakenError`, after stopping it: a port-stealer could answer the probe), or
 * after `timeoutMs`.
 */
export async function waitUntilReady(
  server: ServerProcess,
  what: string,
  isReady: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const exited = server.exitedWith();
    if (exited !== undefined) {
      const message = `${what} exited (${exited}) before it was ready. Output tail:\n${server.output()}`;
      throw PORT_TAKEN.test(server.output()) ? new PortTakenError(message) : new Error(message);
    }
    if (PORT_TAKEN.test(server.output())) {
      await server.terminate();
      throw new PortTakenError(`${what} could not bind its ports. Output tail:\n${server.output()}`);
    }
    if (await isReady()) return;
    if (Date.now() > deadline) {
      await server.terminate();
      throw new Error(`${what} not ready after ${timeoutMs / 1000} s. Output tail:\n${server.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits (synchronously, at most 2 s) until every thread of `pid` is stopped: a SIGSTOP reaches a busy
 * multi-threaded process's threads over milliseconds, and meanwhile it still answers. Linux only.
 */
export function waitUntilStopped(pid: number | undefined): void {
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

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
