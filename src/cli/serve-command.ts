/**
 * `clearance serve`: serves the configured stores until SIGINT or SIGTERM. Against Permify it first checks
 * that the tenant has AUTHZ_SCHEMA_FILE's schema in force, and refuses to start otherwise: a server whose
 * checks name relations Permify does not have would deny everything, or worse, mean something else.
 */
import { readFile } from "node:fs/promises";
import { openRuntime, type Runtime } from "../composition.ts";
import { type Config, loadConfig, processEnvironment } from "../config.ts";
import { AppError, isAppError } from "../core/errors.ts";
import { createLogger, startServer } from "../server.ts";
import {
  type CliCommand,
  type CliDeps,
  describeAuthorizer,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
} from "./command.ts";

export const serveCommand: CliCommand = {
  name: "serve",
  summary: "serve the HTTP API over the data directory (configuration from the environment)",
  usage: "serve",
  async run(args, deps) {
    const { io } = deps;
    if (args.includes("--help") || args.includes("-h")) {
      io.stdout("usage: clearance serve");
      io.stdout("  Configuration comes from the environment; see the README's configuration table.");
      io.stdout("  With AUTHZ=permify, refuses to start unless AUTHZ_SCHEMA_FILE's schema is in force.");
      return EXIT_OK;
    }
    if (args.length > 0) {
      io.stderr(`clearance serve: unexpected arguments: ${args.join(" ")}`);
      return EXIT_USAGE;
    }
    return serveUntilStopped(deps, "serve", requireSchemaInForce, (url, metricsUrl) => {
      io.stdout(`clearance is serving on ${url}`);
      io.stdout(metricsUrl ? `metrics for Prometheus on ${metricsUrl}/metrics` : "metrics are off");
    });
  },
};

/**
 * With Permify: resolves when the tenant has exactly AUTHZ_SCHEMA_FILE's schema in force (as Permify
 * compiles it); throws a one-line reason with the fix otherwise, or when Permify cannot be reached. The
 * embedded authorizer keeps its schema in the data directory, where ingest writes it: nothing to check.
 */
export async function requireSchemaInForce(runtime: Runtime): Promise<void> {
  const { config } = runtime;
  if (config.authz.kind !== "permify") return;
  const file = config.authz.schemaFile;
  const where = describeAuthorizer(config);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AppError("BAD_REQUEST", `AUTHZ_SCHEMA_FILE: cannot read ${file}${code ? ` (${code})` : ""}`, {
      cause: error,
    });
  }
  let inForce: boolean;
  try {
    inForce = await runtime.authorizer.isSchemaInForce(text);
  } catch (error) {
    if (isAppError(error, "SCHEMA_INVALID")) {
      throw new AppError("SCHEMA_INVALID", `AUTHZ_SCHEMA_FILE ${file}: ${error.message}`, { cause: error });
    }
    const reason = `cannot check the schema of ${where}: ${errorMessage(error)}`;
    throw new AppError("UPSTREAM_UNAVAILABLE", reason, { cause: error });
  }
  if (!inForce) {
    throw new AppError(
      "CONFLICT",
      `${where} does not have the schema in ${file} in force; run \`clearance schema push\` ` +
        "(or set AUTHZ_SCHEMA_FILE to the schema you use)",
    );
  }
}

/**
 * Opens the runtime, runs `prepare` (the demo ingests there), serves, and closes everything once stopped.
 * Exit 1 with a one-line reason when configuration, the data directory or the port is unusable.
 */
export async function serveUntilStopped(
  deps: CliDeps,
  name: string,
  prepare: (runtime: Runtime) => Promise<void>,
  announce: (url: string, metricsUrl?: string) => void = () => {},
): Promise<number> {
  const { io } = deps;
  let runtime: Runtime | undefined;
  try {
    const config = loadConfig(deps.env ?? processEnvironment());
    requireIdentity(config);
    runtime = await (deps.openRuntime ?? (() => openRuntime(config)))();
    await prepare(runtime);
    const server = await startServer(runtime, createLogger(runtime.config));
    announce(server.url, server.metricsUrl);
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

/**
 * Serving needs an identity that was asked for: the bank's issuer, or demo identity by AUTH_MODE=demo.
 * Checked before anything is opened or ingested, so a forgotten AUTH_ISSUER stops the start at once.
 */
function requireIdentity(config: Config): void {
  if (config.auth.mode === "unset") {
    throw new AppError(
      "BAD_REQUEST",
      "AUTH_ISSUER: required to serve (with AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM); for a demo on this " +
        "machine only, set AUTH_MODE=demo",
    );
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
