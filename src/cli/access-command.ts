/**
 * `clearance access <document-id> [--add-viewer S]... [--remove-viewer S]... [--section <sid> --audience S...]...
 * [--dry-run]`: changes a document's viewers and its sections' audiences, relationships only (nothing is
 * re-embedded): removals first, additions after, one audit record. With no change it prints who may view
 * the document and each of its sections. The operator's direct mode.
 */
import type { AccessChange } from "../app/owners.ts";
import { type CliCommand, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, errorMessage } from "./command.ts";
import { type ClientOptions, type OwnerOperations, openOwnerOperations } from "./owner-runtime.ts";

const usage =
  "access <document-id> [--add-viewer S]... [--remove-viewer S]... [--section <sid> --audience S...]... [--dry-run] [--server <url> [--token-file <file>]]";

interface AccessArgs {
  readonly id: string;
  readonly change: AccessChange;
  readonly dryRun: boolean;
  readonly client: ClientOptions;
}

/** Parsed by hand: `--audience` belongs to the `--section` before it. */
function parseAccessArgs(args: readonly string[]): AccessArgs | { problem: string } | { help: true } {
  let id: string | undefined;
  const add: string[] = [];
  const remove: string[] = [];
  const sections: { section: string; audience: string[] }[] = [];
  let dryRun = false;
  const client: { server?: string; tokenFile?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = () => {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) throw new Error(`${arg} needs a value`);
      i++;
      return next;
    };
    try {
      if (arg === "--help" || arg === "-h") return { help: true };
      else if (arg === "--dry-run") dryRun = true;
      else if (arg === "--server") client.server = value();
      else if (arg === "--token-file") client.tokenFile = value();
      else if (arg === "--add-viewer") add.push(value());
      else if (arg === "--remove-viewer") remove.push(value());
      else if (arg === "--section") sections.push({ section: value(), audience: [] });
      else if (arg === "--audience") {
        const current = sections.at(-1);
        if (current === undefined) return { problem: "--audience belongs to a --section given before it" };
        current.audience.push(value());
      } else if (arg.startsWith("-")) return { problem: `unknown option ${arg}` };
      else if (id === undefined) id = arg;
      else return { problem: `unexpected argument ${arg}` };
    } catch (error) {
      return { problem: errorMessage(error) };
    }
  }
  if (id === undefined) return { problem: "name the document id" };
  const empty = sections.find((section) => section.audience.length === 0);
  if (empty) return { problem: `--section ${empty.section} needs at least one --audience` };
  return {
    id,
    dryRun,
    client,
    change: {
      ...(add.length > 0 ? { addViewers: add } : {}),
      ...(remove.length > 0 ? { removeViewers: remove } : {}),
      ...(sections.length > 0 ? { sectionAudiences: sections } : {}),
    },
  };
}

export const accessCommand: CliCommand = {
  name: "access",
  summary: "change a document's viewers and its sections' audiences (no re-embedding), or show them",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseAccessArgs(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      io.stdout("  with no change, prints who may view the document and each of its sections");
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance access: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    let runtime: OwnerOperations | undefined;
    try {
      runtime = await openOwnerOperations(deps, "access", parsed.client);
      if (Object.keys(parsed.change).length === 0) {
        const view = await runtime.documentAccess(parsed.id);
        io.stdout(`document:${view.document.id}: ${view.document.viewers.join(" ") || "(nobody)"}`);
        for (const section of view.sections) {
          io.stdout(`section:${section.id}: ${section.viewers.join(" ") || "(nobody)"}`);
        }
        return EXIT_OK;
      }
      const report = await runtime.changeAccess(parsed.id, parsed.change, { dryRun: parsed.dryRun });
      const verb = parsed.dryRun ? "would " : "";
      for (const tuple of report.relationshipsRemoved) io.stdout(`${verb}remove ${tuple}`);
      for (const tuple of report.relationshipsAdded) io.stdout(`${verb}add ${tuple}`);
      if (report.relationshipsAdded.length + report.relationshipsRemoved.length === 0) {
        io.stdout(`${parsed.id}: nothing to change`);
      }
      return EXIT_OK;
    } catch (error) {
      io.stderr(`clearance access: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    } finally {
      await runtime?.close();
    }
  },
};
