/** What every subcommand of the `clearance` CLI receives and returns. */

import { type AuditAction, type AuditDetail, createAuditedRunner } from "../app/audit-trail.ts";
import { openAuditTrail, openAuthorizer, operatorCaller, type Runtime } from "../composition.ts";
import { type Config, type Environment, loadConfig, processEnvironment } from "../config.ts";
import type { AuditTrail } from "../ports/audit-log.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { Terminal } from "./progress-bar.ts";

/** Where a command writes. One call is one line; the writer adds the line break. */
export interface CliIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}

/**
 * The adapters a command may need, injected so that tests choose them. Absent entries fall back to the
 * production default each command documents.
 */
export interface CliDeps {
  readonly io: CliIo;
  /** For `validate`: an empty authorizer to run one file against (default: the embedded evaluator). */
  readonly createAuthorizer?: (options: { readonly maxDepth: number }) => Promise<Authorizer>;
  /** The environment configuration is read from (default: the process's). */
  readonly env?: Environment;
  /** For commands that use the stores (default: `openRuntime(loadConfig(env))`). */
  readonly openRuntime?: () => Promise<Runtime>;
  /**
   * For `grant`, `revoke` and `schema push` (default: the configured authorizer, opened to read its own
   * writes: `openAuthorizer(loadConfig(env), { readConsistency: "own-writes" })`).
   */
  readonly openAuthorizer?: () => Promise<Authorizer>;
  /** The audit trail a command records in (default: the configured one, `openAuditTrail(config)`). */
  readonly openAuditTrail?: () => Promise<AuditTrail>;
  /**
   * Where long commands (ingest, delete) draw a progress bar; none when absent or not a TTY. Default: the
   * process's stdout when it is a terminal and `io` is the process's too.
   */
  readonly terminal?: Terminal;
  /** The client mode's HTTP client (default: global fetch); tests pass the app's `request`. */
  readonly fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Stops a long-running command (`serve`, `demo`); default: SIGINT or SIGTERM. */
  readonly stop?: AbortSignal;
  /**
   * Asks a person a question and resolves their answer, or undefined when there is nobody to ask (stdin is
   * not a terminal). Default: the terminal, when stdin is one.
   */
  readonly prompt?: (question: string) => Promise<string | undefined>;
}

export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis, e.g. `validate <file.yaml> [--depth N]`. */
  readonly usage: string;
  /** Resolves the exit code: 0 success, 1 failure, 2 bad usage. Never calls process.exit. */
  run(args: readonly string[], deps: CliDeps): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const processIo: CliIo = {
  stdout: (line) => {
    process.stdout.write(`${line}\n`);
  },
  stderr: (line) => {
    process.stderr.write(`${line}\n`);
  },
};

/** A failure's message for a CLI line: AppErrors and Errors by message, anything else as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The configuration from the deps' environment (the process's by default); throws naming every bad key. */
export function commandConfig(deps: CliDeps): Config {
  return loadConfig(deps.env ?? processEnvironment());
}

/**
 * The authorizer a one-shot writer uses: the injected one, or the configured one reading at the snapshot
 * of its own writes (so a revoke reads back what the grant before it wrote, in the same process).
 */
export function openCommandAuthorizer(deps: CliDeps, config: Config): Promise<Authorizer> {
  return deps.openAuthorizer
    ? deps.openAuthorizer()
    : openAuthorizer(config, { readConsistency: "own-writes" });
}

/** Where relationships and schemas go, for messages: `Permify tenant t1 at host:port`. Never a secret. */
export function describeAuthorizer(config: Config): string {
  return config.authz.kind === "permify"
    ? `Permify tenant ${config.authz.tenant} at ${config.authz.endpoint}`
    : `the embedded authorizer in ${config.dataDir}`;
}

/**
 * The terminal as a prompt, or undefined when stdin is not a terminal: a confirmation piped in from a file
 * or a script is no confirmation (such callers pass `--yes`).
 */
export function terminalPrompt(): ((question: string) => Promise<string | undefined>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async (question) => {
    const { createInterface } = await import("node:readline/promises");
    const reader = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await reader.question(question);
    } finally {
      reader.close();
    }
  };
}

const silent = { error() {}, warn() {}, info() {} };
const uncounted = { observeRetrieval() {}, countUpstreamError() {} };

/**
 * Runs a command's work as the operator (CLEARANCE_OPERATOR, else the OS user) and records it in the
 * audit trail with surface `cli:<command>`, like any use case: allowed only once the record is durable,
 * denied or failed with its code otherwise. A trail that cannot be opened fails the command before it
 * does anything.
 */
export async function auditedCommand<T>(
  deps: CliDeps,
  config: Config,
  command: string,
  action: AuditAction,
  work: (audit: AuditDetail, trail: AuditTrail) => Promise<T>,
): Promise<T> {
  const trail = deps.openAuditTrail ? await deps.openAuditTrail() : await openAuditTrail(config);
  try {
    const run = createAuditedRunner({ auditLog: trail, metrics: uncounted, logger: silent });
    return await run(operatorCaller(config, command), action, (audit) => work(audit, trail));
  } finally {
    await trail.close().catch(() => undefined);
  }
}
