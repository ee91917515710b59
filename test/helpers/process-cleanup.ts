/**
 * Servers that tests start must not outlive the test process, however it ends. Two layers:
 *
 * - `killOnExit`: in-process cleanup on "exit" (also after an uncaught error) and on SIGINT, SIGTERM and
 *   SIGHUP. vitest ends a fork with SIGTERM (SIGKILL 500 ms later) and a signal alone does not fire
 *   "exit", hence the signal handlers. Cleanups must be synchronous and quick.
 * - `armWatchdog`: for what no handler sees, SIGKILL (vitest's second step, an OOM kill, a CI timeout).
 *   A small `sh`, in a session of its own, blocks reading a pipe whose only writer is this process; when
 *   this process dies, the kernel closes the pipe and the script runs.
 */
import { spawn } from "node:child_process";
import type { Socket } from "node:net";

const exitCleanups = new Set<() => void>();
let exitHandlersInstalled = false;

/** Runs `cleanup` once when this process ends. Returns a function that unregisters it. */
export function killOnExit(cleanup: () => void): () => void {
  installExitHandlers();
  exitCleanups.add(cleanup);
  return () => {
    exitCleanups.delete(cleanup);
  };
}

/**
 * Starts `sh -c script` with positional arguments `args` ($1, $2...), to run when this process dies.
 * Returns `disarm`, which kills the watchdog without running the script; call it once the guarded
 * process is gone, so that the script never signals a recycled pid.
 */
export function armWatchdog(script: string, args: readonly string[]): () => void {
  const watchdog = spawn("sh", ["-c", `read -r _; ${script}`, "watchdog", ...args], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  // Neither the watchdog nor its pipe may keep this process alive.
  watchdog.unref();
  const pipe = watchdog.stdin as unknown as Socket | null;
  pipe?.on("error", () => {});
  pipe?.unref();
  let armed = true;
  const disarm = () => {
    if (!armed) return;
    armed = false;
    forget();
    watchdog.kill("SIGKILL");
    pipe?.destroy();
  };
  // On an orderly exit the in-process cleanup runs first; the watchdog must not act after it.
  const forget = killOnExit(() => {
    armed = false;
    watchdog.kill("SIGKILL");
  });
  return disarm;
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on("exit", runExitCleanups);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      runExitCleanups();
      process.off(signal, onSignal);
      // Nobody else handles this signal here (a vitest fork): die of it as we would have without us.
      // Where someone does (vitest's main process exits on SIGINT/SIGTERM), leave it to them.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    // First in line, so that the other handlers are still registered when we count them.
    process.prependListener(signal, onSignal);
  }
}

function runExitCleanups(): void {
  // Newest first: watchdogs registered after their server are disarmed before it is killed.
  for (const cleanup of [...exitCleanups].reverse()) {
    exitCleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // best effort: the process is going away
    }
  }
}
