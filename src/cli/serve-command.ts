/** `clearance serve`: serves whatever is in the data directory until SIGINT or SIGTERM. */
import { loadConfig, processEnvironment } from "../config.ts";
import { openRuntime, type Runtime } from "../runtime.ts";
import { createLogger, startServer } from "../server.ts";
import { type CliCommand, type CliDeps, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, errorMessage } from "./command.ts";

export const serveCommand: CliCommand = {
  name: "serve",
  summary: "serve the HTTP API over the data directory (configuration from the environment)",
  usage: "serve",
  async run(args, deps) {
    const { io } = deps;
    if (args.includes("--help") || args.includes("-h")) {
      io.stdout("usage: clearance serve");
      io.stdout("  Configuration comes from the environment; see the README's configuration table.");
      return EXIT_OK;
    }
    if (args.length > 0) {
      io.stderr(`clearance serve: unexpected arguments: ${args.join(" ")}`);
      return EXIT_USAGE;
    }
    return serveUntilStopped(
      deps,
      "serve",
      async () => {},
      (url) => io.stdout(`clearance is serving on ${url}`),
    );
  },
};

/**
 * Opens the runtime, runs `prepare` (the demo ingests there), serves, and closes everything once stopped.
 * Exit 1 with a one-line reason when configuration, the data directory or the port is unusable.
 */
export async function serveUntilStopped(
  deps: CliDeps,
  name: string,
  prepare: (runtime: Runtime) => Promise<void>,
  announce: (url: string) => void = () => {},
): Promise<number> {
  const { io } = deps;
  let runtime: Runtime | undefined;
  try {
    const config = loadConfig(deps.env ?? processEnvironment());
    runtime = await (deps.openRuntime ?? (() => openRuntime(config)))();
    await prepare(runtime);
    const server = await startServer(runtime, createLogger(runtime.config));
    announce(server.url);
    await untilStopped(deps.stop);
    await server.close();
    return EXIT_OK;
  } catch (error) {
    io.stderr(`clearance ${name}: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  } finally {
    await runtime?.close();
  }
}

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  if (signal) {
    return signal.aborted
      ? Promise.resolve()
      : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
