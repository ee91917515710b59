/**
 * `clearance ingest --manifest <file> [--chunk-size N] [--chunk-overlap N] [--write-schema [--yes]]
 * [--allow-any-relationships] [--allow-owner-change]`: loads the documents a manifest lists into the
 * configured stores (see ingest/ingest.ts for the guarantees). One line per document as it lands, failures
 * on stderr, then a summary; exit 1 when any document failed or the manifest is invalid or refused.
 *
 * The operator's direct mode, made safe against a hostile or mistaken manifest: the schema in force
 * changes only with `--write-schema`, which prints the difference of permissions and asks on the terminal
 * (without a terminal, `--yes` is the answer, and without it nothing is written); a relationships file
 * writes beyond the manifest's own documents and sections only with `--allow-any-relationships`.
 *
 * With `--server <url>` it is a document owner's client instead (ingest-client.ts): the documents are
 * uploaded through that server's owner routes with the owner's token, and the server decides.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CHUNKING } from "../../ingest/chunker.ts";
import {
  type DocumentReport,
  type IngestReport,
  ingestManifest,
  type SchemaChange,
} from "../../ingest/ingest.ts";
import { openRuntime, type Runtime } from "../composition.ts";
import { loadConfig, processEnvironment } from "../config.ts";
import {
  auditedCommand,
  type CliCommand,
  type CliDeps,
  type CliIo,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
  terminalPrompt,
} from "./command.ts";
import { ingestThroughServer } from "./ingest-client.ts";
import { createProgress, type Progress } from "./progress-bar.ts";

const usage =
  "ingest --manifest <file> [--chunk-size N] [--chunk-overlap N] [--write-schema [--yes]] " +
  "[--allow-any-relationships] [--allow-owner-change] [--prune] [--dry-run] [--server <url> [--token-file <file>]]";

const OPTION_HELP = [
  "--manifest <file>   the manifest (YAML) listing the documents, their owners and sections",
  `--chunk-size N      largest chunk in characters (default ${DEFAULT_CHUNKING.chunkSize}, at least 100)`,
  `--chunk-overlap N   characters a chunk repeats of the one before (default ${DEFAULT_CHUNKING.chunkOverlap})`,
  "--write-schema      let the manifest's schema replace the schema in force: prints the difference of",
  "                    permissions and asks for yes on the terminal",
  "--yes               answer yes to that question (needed when stdin is not a terminal)",
  "--allow-any-relationships  let the relationships file write on any entity, not only this manifest's",
  "                    documents and sections (teams, customers, collections: an operator's decision)",
  "--allow-owner-change        let the manifest give an existing document another owner",
  "--prune             also delete the documents held in the manifest's collections that it no longer lists",
  "--dry-run           print what would change (documents, chunks, relationships, pruned documents); write nothing",
  "--server <url>      client mode, for a document owner: upload each document through that server's",
  "                    POST/PUT /v1/documents as the owner whose token is in CLEARANCE_TOKEN or",
  "                    --token-file <file>; the server decides what the owner may manage. Takes --dry-run;",
  "                    refuses the operator's options and a manifest naming a schema or relationships file",
  "Limits: INGEST_MAX_FILE_BYTES and INGEST_MAX_CHUNKS_PER_DOCUMENT.",
  "Stores and models come from the environment; see the README's configuration table.",
];

export const ingestCommand: CliCommand = {
  name: "ingest",
  summary:
    "load the documents of a manifest into the vector store and their relationships into the authorizer",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseIngestArgs(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      for (const line of OPTION_HELP) io.stdout(`  ${line}`);
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance ingest: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    if (parsed.client.server !== undefined) {
      return ingestThroughServer(
        {
          manifest: parsed.manifest,
          server: parsed.client.server,
          dryRun: parsed.dryRun,
          ...(parsed.client.tokenFile === undefined ? {} : { tokenFile: parsed.client.tokenFile }),
        },
        deps,
      );
    }

    let runtime: Runtime | undefined;
    let progress: Progress | undefined;
    try {
      // A one-shot writer reads its own writes (ingest reads back the relationships it replaces).
      const open =
        deps.openRuntime ??
        (() => openRuntime(loadConfig(deps.env ?? processEnvironment()), { readConsistency: "own-writes" }));
      const opened = await open();
      runtime = opened;
      const started = performance.now();
      const report = await auditedCommand(deps, opened.config, "ingest", "ingest", async (audit) => {
        const changes: { op: string; target: string }[] = [];
        audit.changes = changes;
        return ingestManifest({
          manifestPath: parsed.manifest,
          authorizer: opened.authorizer,
          vectorStore: opened.vectorStore,
          embedder: opened.embedder,
          chunking: parsed.chunking,
          onProgress: (document, position) => {
            progress ??= createProgress(io, deps.terminal, position.total, started);
            if (!parsed.dryRun && document.status !== "unchanged") {
              changes.push({
                op: document.status === "failed" ? "ingest-failed" : "ingest",
                target: `document:${document.id}`,
              });
            }
            printProgress(document, position, started, parsed.dryRun, progress.io);
            progress.advance(position.index + 1);
          },
          onPrune: (removal) => {
            if (!parsed.dryRun) changes.push({ op: "prune", target: `document:${removal.id}` });
            (progress?.io ?? io).stdout(
              `${parsed.dryRun ? "would prune" : "pruned"} ${removal.id} (${removal.chunks} chunks, ` +
                `${removal.relationships.length} relationships)`,
            );
          },
          prune: parsed.prune,
          dryRun: parsed.dryRun,
          limits: opened.config.ingest,
          relationshipScope: parsed.allowAnyRelationships ? "any" : "manifest",
          allowOwnerChange: parsed.allowOwnerChange,
          ...(parsed.writeSchema
            ? {
                schemaChange: {
                  allow: true,
                  confirm: async (change) => {
                    const confirmed = await confirmSchemaChange(change, parsed.yes, deps);
                    if (confirmed && !parsed.dryRun) changes.push({ op: "schema.write", target: "schema" });
                    return confirmed;
                  },
                },
              }
            : {}),
        });
      });
      progress?.finish();
      io.stdout(`${parsed.dryRun ? "dry run, nothing written: " : ""}${formatSummary(report)}`);
      return report.failed === 0 ? EXIT_OK : EXIT_FAILURE;
    } catch (error) {
      progress?.finish();
      // A manifest error lists one problem per line.
      for (const line of errorMessage(error).split("\n")) io.stderr(`clearance ingest: ${line}`);
      return EXIT_FAILURE;
    } finally {
      await runtime?.close().catch(() => undefined);
    }
  },
};

/**
 * Prints the difference of permissions, then asks. `--yes` answers for a script; with no terminal and no
 * `--yes` the answer is no, since a piped "yes" proves nobody read the difference.
 */
async function confirmSchemaChange(change: SchemaChange, yes: boolean, deps: CliDeps): Promise<boolean> {
  const { io } = deps;
  io.stdout(
    `The manifest's schema ${change.path} is not the schema in force. The difference of permissions:`,
  );
  if (change.note) io.stdout(`  (${change.note})`);
  if (change.lines.length === 0)
    io.stdout("  (none: the definitions differ only in ways that grant nothing new)");
  for (const line of change.lines) io.stdout(line);
  if (yes) return true;
  const prompt = deps.prompt ?? terminalPrompt();
  if (!prompt) {
    io.stderr(
      "clearance ingest: stdin is not a terminal, so nobody can confirm; add --yes to put this schema in force",
    );
    return false;
  }
  const answer = await prompt("Put this schema in force for the whole bank? Type yes to confirm: ");
  return answer?.trim().toLowerCase() === "yes";
}

/**
 * `[3/34] ingested help-x (4 chunks) 1.2s`: one plain line per document, whether or not stdout is a
 * terminal, so logs in CI read the same as a person's screen (a terminal also gets a bar below the lines,
 * progress-bar.ts). A dry run says what would change.
 */
function printProgress(
  document: DocumentReport,
  position: { readonly index: number; readonly total: number },
  started: number,
  dryRun: boolean,
  io: CliIo,
): void {
  const step = `[${position.index + 1}/${position.total}]`;
  const elapsed = `${((performance.now() - started) / 1000).toFixed(1)}s`;
  if (document.status === "failed") {
    io.stderr(`${step} failed ${document.path}: ${document.error ?? "unknown error"}`);
    return;
  }
  const status = dryRun && document.status === "ingested" ? "would ingest" : document.status;
  io.stdout(`${step} ${status} ${document.id} (${plural(document.chunks, "chunk")}) ${elapsed}`);
  const change = document.change;
  if (dryRun && change && document.status === "ingested") {
    io.stdout(
      `  chunks: +${change.chunksWritten} -${change.chunksRemoved}` +
        (change.metadataUpdated > 0 ? `, metadata of ${change.metadataUpdated} updated in place` : ""),
    );
    for (const tuple of change.relationshipsRemoved) io.stdout(`  - ${tuple}`);
    for (const tuple of change.relationshipsAdded) io.stdout(`  + ${tuple}`);
  }
}

/** `32 documents: 31 ingested, 0 unchanged, 1 failed; 214 chunks; 96 relationships` */
export function formatSummary(report: IngestReport): string {
  const count = (status: DocumentReport["status"]) =>
    report.documents.filter((d) => d.status === status).length;
  const chunks = report.documents.reduce((sum, document) => sum + document.chunks, 0);
  return (
    `${plural(report.documents.length, "document")}: ${count("ingested")} ingested, ${count("unchanged")} unchanged, ` +
    `${count("failed")} failed; ${plural(chunks, "chunk")}; ${plural(report.relationships, "relationship")}`
  );
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

type IngestArgs =
  | {
      manifest: string;
      chunking: { chunkSize?: number; chunkOverlap?: number };
      writeSchema: boolean;
      yes: boolean;
      allowAnyRelationships: boolean;
      allowOwnerChange: boolean;
      prune: boolean;
      dryRun: boolean;
      client: { server?: string; tokenFile?: string };
    }
  | { problem: string }
  | { help: true };

function parseIngestArgs(args: readonly string[]): IngestArgs {
  let values: {
    manifest?: string | undefined;
    "chunk-size"?: string | undefined;
    "chunk-overlap"?: string | undefined;
    "write-schema"?: boolean | undefined;
    yes?: boolean | undefined;
    "allow-any-relationships"?: boolean | undefined;
    "allow-owner-change"?: boolean | undefined;
    prune?: boolean | undefined;
    "dry-run"?: boolean | undefined;
    server?: string | undefined;
    "token-file"?: string | undefined;
    help?: boolean | undefined;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: {
        manifest: { type: "string" },
        "chunk-size": { type: "string" },
        "chunk-overlap": { type: "string" },
        "write-schema": { type: "boolean" },
        yes: { type: "boolean" },
        "allow-any-relationships": { type: "boolean" },
        "allow-owner-change": { type: "boolean" },
        prune: { type: "boolean" },
        "dry-run": { type: "boolean" },
        server: { type: "string" },
        "token-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  if (positionals.length > 0) return { problem: `unexpected arguments: ${positionals.join(" ")}` };
  if (values.manifest === undefined || values.manifest.trim() === "")
    return { problem: "missing --manifest <file>" };
  if (values["token-file"] !== undefined && values.server === undefined)
    return { problem: "--token-file needs --server" };
  if (values.server !== undefined) {
    // The server chunks with its own settings and decides what the owner may write; these are the operator's.
    const operatorOnly = [
      "chunk-size",
      "chunk-overlap",
      "write-schema",
      "yes",
      "allow-any-relationships",
      "allow-owner-change",
    ] as const;
    const given = operatorOnly.filter((name) => values[name] !== undefined).map((name) => `--${name}`);
    if (given.length > 0)
      return { problem: `${given.join(", ")}: the operator's, not taken with --server (client mode)` };
    if (values.prune) {
      return {
        problem:
          "--prune is the operator's: with --server, remove documents one by one with `clearance delete <id> --server <url>`",
      };
    }
  }
  const chunking: { chunkSize?: number; chunkOverlap?: number } = {};
  const size = values["chunk-size"];
  if (size !== undefined) {
    if (!/^\d+$/.test(size) || Number(size) < 100) {
      return { problem: `--chunk-size must be an integer of at least 100, got "${size}"` };
    }
    chunking.chunkSize = Number(size);
  }
  const overlap = values["chunk-overlap"];
  if (overlap !== undefined) {
    if (!/^\d+$/.test(overlap))
      return { problem: `--chunk-overlap must be a non-negative integer, got "${overlap}"` };
    chunking.chunkOverlap = Number(overlap);
  }
  const effectiveSize = chunking.chunkSize ?? DEFAULT_CHUNKING.chunkSize;
  const effectiveOverlap = chunking.chunkOverlap ?? DEFAULT_CHUNKING.chunkOverlap;
  if (effectiveOverlap >= effectiveSize) {
    return {
      problem: `--chunk-overlap (${effectiveOverlap}) must be less than the chunk size (${effectiveSize})`,
    };
  }
  if (values.yes && !values["write-schema"])
    return { problem: "--yes answers --write-schema's question; give both" };
  return {
    manifest: values.manifest,
    chunking,
    writeSchema: values["write-schema"] === true,
    yes: values.yes === true,
    allowAnyRelationships: values["allow-any-relationships"] === true,
    allowOwnerChange: values["allow-owner-change"] === true,
    prune: values.prune === true,
    dryRun: values["dry-run"] === true,
    client: {
      ...(values.server === undefined ? {} : { server: values.server }),
      ...(values["token-file"] === undefined ? {} : { tokenFile: values["token-file"] }),
    },
  };
}
