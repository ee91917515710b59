/** The table of `clearance` subcommands. A new command is one file in src/cli and one entry here. */
import { accessCommand } from "./access-command.ts";
import { auditCommand } from "./audit-command.ts";
import type { CliCommand } from "./command.ts";
import { delegateCommand, undelegateCommand } from "./delegate-command.ts";
import { deleteCommand } from "./delete-command.ts";
import { demoCommand } from "./demo-command.ts";
import { grantCommand } from "./grant-command.ts";
import { ingestCommand } from "./ingest-command.ts";
import { revokeCommand } from "./revoke-command.ts";
import { schemaCommand } from "./schema-command.ts";
import { serveCommand } from "./serve-command.ts";
import { tokenCommand } from "./token-command.ts";
import { validateCommand } from "./validate-command.ts";

export const commands: readonly CliCommand[] = [
  demoCommand,
  serveCommand,
  ingestCommand,
  deleteCommand,
  accessCommand,
  schemaCommand,
  grantCommand,
  revokeCommand,
  auditCommand,
  delegateCommand,
  undelegateCommand,
  tokenCommand,
  validateCommand,
];

export function findCommand(name: string): CliCommand | undefined {
  return commands.find((command) => command.name === name);
}

export function usageText(): string[] {
  const width = Math.max(...commands.map((command) => command.usage.length));
  return [
    "usage: clearance <command> [options]",
    "",
    "commands:",
    ...commands.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`),
    "",
    "clearance <command> --help shows a command's options.",
  ];
}
