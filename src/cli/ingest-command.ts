/**
 * `clearance ingest --manifest <file> [--chunk-size N] [--chunk-overlap N]`: loads the documents a manifest
 * lists into the configured stores (see ingest/ingest.ts for the guarantees). One line per document as it
 * lands, failures on stderr, then a summary; exit 1 when any document failed or the manifest is invalid.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CHUNKING } from "../../ingest/chunker.ts";
import { type DocumentReport, type IngestReport, ingestManifest } from "../../ingest/ingest.ts";
import { openRuntime, type Runtime } from "../composition.ts";
import { loadConfig, processEnvironment } from "../config.ts";
import {
  auditedCommand,
  type CliCommand,
  type CliDeps,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
} from "./command.ts";

const usage = "ingest --manifest <file> [--chunk-size N] [--chunk-overlap N]";

const OPTION_HELP = [
  "--manifest <file>   the manifest (YAML) listing the documents, their owners and sections",
  `--chunk-size N      largest chunk in characters (default ${DEFAULT_CHUNKING.chunkSize}, at least 100)`,
  `--chunk-overlap N   characters a chunk repeats of the one before (default ${DEFAULT_CHUNKING.chunkOverlap})`,
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

    let runtime: Runtime | undefined;
    try {
      // A one-shot writer reads its own writes (ingest reads back the relationships it replaces).
      const open =
        deps.openRuntime ??
        (() => openRuntime(loadConfig(deps.env ?? processEnvironment()), { readConsistency: "own-writes" }));
      const opened = await open();
      runtime = opened;
      const report = await auditedCommand(deps, opened.config, "ingest", "ingest", async (audit) => {
        const changes: { op: string; target: string }[] = [];
        audit.changes = changes;
        return ingestManifest({
          manifestPath: parsed.manifest,
          authorizer: opened.authorizer,
          vectorStore: opened.vectorStore,
          embedder: opened.embedder,
          chunking: parsed.chunking,
          onProgress: (document) => {
            if (document.status !== "unchanged") {
              changes.push({
                op: document.status === "failed" ? "ingest-failed" : "ingest",
                target: `document:${document.id}`,
              });
            }
            printProgress(document, deps);
          },
        });
      });
      io.stdout(formatSummary(report));
      return report.failed === 0 ? EXIT_OK : EXIT_FAILURE;
    } catch (error) {
      // A manifest error lists one problem per line.
      for (const line of errorMessage(error).split("\n")) io.stderr(`clearance ingest: ${line}`);
      return EXIT_FAILURE;
    } finally {
      await runtime?.close().catch(() => undefined);
    }
  },
};

function printProgress(document: DocumentReport, deps: CliDeps): void {
  if (document.status === "failed") {
    deps.io.stderr(`failed ${document.path}: ${document.error ?? "unknown error"}`);
  } else {
    deps.io.stdout(`${document.status} ${document.id} (${plural(document.chunks, "chunk")})`);
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
  | { manifest: string; chunking: { chunkSize?: number; chunkOverlap?: number } }
  | { problem: string }
  | { help: true };

function parseIngestArgs(args: readonly string[]): IngestArgs {
  let values: {
    manifest?: string | undefined;
    "chunk-size"?: string | undefined;
    "chunk-overlap"?: string | undefined;
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
  return { manifest: values.manifest, chunking };
}
