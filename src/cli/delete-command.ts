/**
 * `clearance delete <document-id>... [--dry-run]`: removes each document's chunks and its relationships
 * (the document's and its sections') from the configured stores, in the order that leaves nothing
 * readable midway (ingest/remove.ts), one audit record each. The operator's direct mode. A document
 * neither store holds is reported and the exit code is 1; the others are still deleted.
 */
import { parseArgs } from "node:util";
import { isAppError } from "../core/errors.ts";
import { type CliCommand, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, errorMessage } from "./command.ts";
import { type OwnerOperations, openOwnerOperations } from "./owner-runtime.ts";
import { createProgress } from "./progress-bar.ts";

const usage = "delete <document-id>... [--dry-run] [--server <url> [--token-file <file>]]";

export const deleteCommand: CliCommand = {
  name: "delete",
  summary: "remove documents' chunks and relationships from both stores",
  usage,
  async run(args, deps) {
    const { io } = deps;
    let parsed: {
      values: { "dry-run"?: boolean; help?: boolean; server?: string; "token-file"?: string };
      positionals: string[];
    };
    try {
      parsed = parseArgs({
        args: [...args],
        options: {
          "dry-run": { type: "boolean" },
          server: { type: "string" },
          "token-file": { type: "string" },
          help: { type: "boolean", short: "h" },
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      io.stderr(`clearance delete: ${errorMessage(error)}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    if (parsed.values.help) {
      io.stdout(`usage: clearance ${usage}`);
      io.stdout("  --dry-run            print what would be removed; remove nothing");
      io.stdout(
        "  --server <url>       client mode: go through that server's DELETE /v1/documents/{id}, as the",
      );
      io.stdout("                       owner whose token is in CLEARANCE_TOKEN or --token-file <file>");
      return EXIT_OK;
    }
    if (parsed.positionals.length === 0) {
      io.stderr("clearance delete: name at least one document id");
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    const dryRun = parsed.values["dry-run"] === true;
    let runtime: OwnerOperations | undefined;
    let failed = 0;
    let progress: ReturnType<typeof createProgress> | undefined;
    try {
      runtime = await openOwnerOperations(deps, "delete", {
        ...(parsed.values.server === undefined ? {} : { server: parsed.values.server }),
        ...(parsed.values["token-file"] === undefined ? {} : { tokenFile: parsed.values["token-file"] }),
      });
      const total = parsed.positionals.length;
      const started = performance.now();
      progress = createProgress(io, deps.terminal, total, started);
      const lines = progress.io;
      for (const [index, id] of parsed.positionals.entries()) {
        const step = `[${index + 1}/${total}]`;
        try {
          const report = await runtime.deleteDocument(id, { dryRun });
          lines.stdout(
            `${step} ${dryRun ? "would delete" : "deleted"} ${id} (${report.chunks} chunks, ` +
              `${report.relationships.length} relationships) ${seconds(started)}`,
          );
          if (dryRun) for (const tuple of report.relationships) lines.stdout(`  - ${tuple}`);
        } catch (error) {
          failed++;
          const what = isAppError(error, "NOT_FOUND") ? "not found" : "failed";
          lines.stderr(`${step} ${what} ${id}: ${errorMessage(error)}`);
          if (
            !isAppError(error, "NOT_FOUND") &&
            !isAppError(error, "BAD_REQUEST") &&
            !isAppError(error, "FORBIDDEN")
          )
            throw error;
        }
        progress.advance(index + 1);
      }
      progress.finish();
      io.stdout(`${total - failed} of ${total} documents ${dryRun ? "would be deleted" : "deleted"}`);
      return failed === 0 ? EXIT_OK : EXIT_FAILURE;
    } catch (error) {
      progress?.finish();
      io.stderr(`clearance delete: ${errorMessage(error)}; run the same command again to finish`);
      return EXIT_FAILURE;
    } finally {
      await runtime?.close();
    }
  },
};

function seconds(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)}s`;
}
