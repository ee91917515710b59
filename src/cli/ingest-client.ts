/**
 * `clearance ingest --manifest <file> --server <url>`: a document owner's ingest. Each document the manifest
 * lists is read here (confined to the manifest's folder, at most INGEST_MAX_FILE_BYTES, as the operator's
 * ingest reads it) and uploaded with the owner's token: `POST /v1/documents`, or `PUT /v1/documents/{id}`
 * when the server answers that the id exists. The server decides, per document, whether the owner (and
 * every agent acting for them) may manage it, and audits each write; this side writes nothing.
 *
 * A schema or relationships file is refused: they write beyond the owner's documents (the schema in force
 * for the whole bank, teams, collections), which only an operator does, in direct mode.
 */
import path from "node:path";
import { readConfinedFile } from "../../ingest/confined-files.ts";
import { documentLabel, loadManifest, type ManifestDocument } from "../../ingest/manifest.ts";
import { AppError, type ErrorCode, isAppError } from "../core/errors.ts";
import { formatSubject } from "../core/permify-notation.ts";
import { type CliDeps, commandConfig, EXIT_FAILURE, EXIT_OK, errorMessage } from "./command.ts";
import { type DocumentWrite, type OwnerClient, openOwnerClient } from "./owner-runtime.ts";
import { createProgress } from "./progress-bar.ts";

export interface ClientIngestOptions {
  readonly manifest: string;
  readonly server: string;
  readonly tokenFile?: string;
  readonly dryRun: boolean;
}

/**
 * Errors that end the run rather than one document: the server is gone or broken, or the token is not
 * accepted, so every document after would fail the same way. Re-running the command finishes the job
 * (a document already uploaded comes back `unchanged`).
 */
const ENDS_THE_RUN: ReadonlySet<ErrorCode> = new Set(["UNAUTHENTICATED", "UPSTREAM_UNAVAILABLE", "INTERNAL"]);

export async function ingestThroughServer(options: ClientIngestOptions, deps: CliDeps): Promise<number> {
  const { io } = deps;
  let client: OwnerClient | undefined;
  try {
    const limits = commandConfig(deps).ingest;
    const manifest = await loadManifest(options.manifest, { maxFileBytes: limits.maxFileBytes });
    const operatorFiles = [
      ...(manifest.schema ? [`a schema (${manifest.schema.path})`] : []),
      ...(manifest.relationshipsPath ? [`a relationships file (${manifest.relationshipsPath})`] : []),
    ];
    if (operatorFiles.length > 0) {
      throw new AppError(
        "BAD_REQUEST",
        `the manifest names ${operatorFiles.join(" and ")}: only an operator writes those (ingest ` +
          "without --server); an owner's manifest lists documents only",
      );
    }
    client = await openOwnerClient(deps, options.server, options.tokenFile);
    const total = manifest.documents.length;
    const started = performance.now();
    const progress = createProgress(io, deps.terminal, total, started);
    const counts = { ingested: 0, unchanged: 0, failed: 0, chunks: 0 };
    try {
      for (const [index, document] of manifest.documents.entries()) {
        const step = `[${index + 1}/${total}]`;
        try {
          const bytes = await readConfinedFile(
            manifest.folder,
            document.path,
            documentLabel(document),
            limits.maxFileBytes,
          );
          const written = await upload(client, document, bytes, options.dryRun);
          counts[written.status === "failed" ? "failed" : written.status]++;
          counts.chunks += written.chunks;
          const status = options.dryRun && written.status === "ingested" ? "would ingest" : written.status;
          progress.io.stdout(
            `${step} ${status} ${document.id} (${plural(written.chunks, "chunk")}) ${seconds(started)}`,
          );
        } catch (error) {
          if (isAppError(error) && ENDS_THE_RUN.has(error.code)) throw error;
          counts.failed++;
          const code = isAppError(error) ? `${error.code}: ` : "";
          progress.io.stderr(
            `${step} failed ${document.id} (${code}${errorMessage(error)}) ${seconds(started)}`,
          );
        }
        progress.advance(index + 1);
      }
    } finally {
      progress.finish();
    }
    io.stdout(
      `${options.dryRun ? "dry run, nothing written: " : ""}${plural(total, "document")}: ` +
        `${counts.ingested} ingested, ${counts.unchanged} unchanged, ${counts.failed} failed; ` +
        `${plural(counts.chunks, "chunk")} (through ${new URL(options.server).origin})`,
    );
    return counts.failed === 0 ? EXIT_OK : EXIT_FAILURE;
  } catch (error) {
    const again = client === undefined ? "" : "; run the same command again to finish";
    const lines = errorMessage(error).split("\n");
    for (const [index, line] of lines.entries()) {
      io.stderr(`clearance ingest: ${line}${index === lines.length - 1 ? again : ""}`);
    }
    return EXIT_FAILURE;
  } finally {
    await client?.close();
  }
}

/** Adds the document, or replaces it when the server says the id exists (409 `CONFLICT` on POST). */
async function upload(
  client: OwnerClient,
  document: ManifestDocument,
  bytes: Buffer,
  dryRun: boolean,
): Promise<DocumentWrite> {
  const request = {
    id: document.id,
    entry: manifestEntry(document),
    bytes,
    fileName: path.basename(document.path),
  };
  try {
    return await client.putDocument(request, { replace: false, dryRun });
  } catch (error) {
    if (!isAppError(error, "CONFLICT")) throw error;
    return client.putDocument(request, { replace: true, dryRun });
  }
}

/** The document's manifest entry as the upload's `entry` field carries it (subjects in Permify notation). */
function manifestEntry(document: ManifestDocument): object {
  return {
    id: document.id,
    path: path.basename(document.path),
    title: document.title,
    collection: document.collection,
    owner: formatSubject(document.owner),
    ...(document.customer === undefined ? {} : { customer: document.customer }),
    viewers: document.viewers.map(formatSubject),
    sections: document.sections.map((section) => ({
      id: section.id,
      ...(section.heading === undefined ? {} : { heading: section.heading }),
      ...(section.pages === undefined ? {} : { pages: [section.pages.first, section.pages.last] }),
      audience: section.audience.map(formatSubject),
    })),
  };
}

function seconds(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)}s`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
