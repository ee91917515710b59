/**
 * The `clearance` CLI entry: dispatches to the subcommands of src/cli. It returns the exit code and never
 * calls process.exit, so that bin/clearance.mjs and tests decide what happens next.
 */
import { type CliDeps, EXIT_OK, EXIT_USAGE, processIo } from "./cli/command.ts";
import { findCommand, usageText } from "./cli/commands.ts";
import { processTerminal } from "./cli/progress-bar.ts";

export async function main(argv: readonly string[], deps: Partial<CliDeps> = {}): Promise<number> {
  // The bar shares the screen with io's lines, so it is the process's terminal only when io is the process's.
  const terminal = deps.terminal ?? (deps.io === undefined ? processTerminal() : undefined);
  const resolved: CliDeps = { ...deps, io: deps.io ?? processIo, ...(terminal ? { terminal } : {}) };
  const { io } = resolved;
  const [name, ...args] = argv;

  if (name === undefined) {
    for (const line of usageText()) io.stderr(line);
    return EXIT_USAGE;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    for (const line of usageText()) io.stdout(line);
    return EXIT_OK;
  }
  const command = findCommand(name);
  if (!command) {
    io.stderr(`clearance: unknown command "${name}"`);
    for (const line of usageText()) io.stderr(line);
    return EXIT_USAGE;
  }
  return command.run(args, resolved);
}
