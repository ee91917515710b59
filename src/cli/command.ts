/** What every subcommand of the `clearance` CLI receives and returns. */
import type { Authorizer } from "../ports/authorizer.ts";

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
