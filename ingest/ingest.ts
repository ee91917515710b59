/**
 * `ingestManifest`: loads every document a manifest lists into the vector store and its relationships into
 * the authorizer, so that both stores agree on every document afterwards.
 *
 * Order and guarantees:
 * 1. Validate everything first: the manifest, the schema in force against the manifest's fields, the
 *    relationships file against the schema, and each loaded document's sections against its headings and
 *    pages. Any problem throws one `BAD_REQUEST` listing them all, and nothing is written.
 * 2. Write the manifest's schema (when it names one that is not already in force) and the relationships
 *    file's tuples on other entities (teams, customers, collections; one atomic write). Its tuples on the
 *    manifest's own documents and sections go with each document's sync.
 * 3. Per document: chunk, embed (all before touching either store), then change the stores in the order
 *    that never widens access to content (`applyOrderedChange`): delete stale relationships, replace the
 *    chunks, write the missing relationships. A document that fails is reported and skipped; the others
 *    still land. A failure never leaves a reader able to see more than the old or the new declaration
 *    allows: at worst the document is readable by fewer principals until the next run completes it.
 *
 * The manifest is the source of truth for the documents it lists: the relationships of `document:<id>` and
 * of its sections are made exactly those the manifest (entry and relationships file) declares, so a grant
 * made elsewhere on a listed document is removed by the next ingest. Documents not in the manifest are left
 * alone.
 *
 * A manifest is input from a document owner, so what it may do is bounded (issue 13):
 * - every file it names lies inside its folder (manifest.ts, confined-files.ts);
 * - the schema in force changes only with `schemaChange.allow` (the CLI's `--write-schema`), after
 *   `schemaChange.confirm` has been shown the difference of permissions and said yes;
 * - its relationships file writes only on the manifest's own documents and sections, unless
 *   `relationshipScope: "any"` (the CLI's `--allow-any-relationships`, for operators);
 * - it cannot take a section that belongs to another document, nor give a document another owner unless
 *   `allowOwnerChange` (the CLI's `--allow-owner-change`);
 * - each file is at most `limits.maxFileBytes` and each document at most `limits.maxChunksPerDocument`
 *   chunks; a document over a limit fails by name, the others land.
 *
 * Running twice changes nothing: a document whose chunks (compared by id, which covers their content and
 * resource) and relationships are already exactly so is reported `unchanged` without embedding anything.
 */

import { type CompiledSchema, compileSchema } from "../src/authz-schema/schema-compiler.ts";
import { exactTupleFilter, type Tuple, type TupleFilter } from "../src/core/authz-model.ts";
import type { Chunk, ChunkMetadata, EmbeddedChunk } from "../src/core/chunk.ts";
import { AppError, isAppError } from "../src/core/errors.ts";
import { formatSubject, formatTuple } from "../src/core/permify-notation.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { Embedder } from "../src/ports/embedder.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import {
  DOCUMENT_ENTITY,
  documentTuples,
  relationshipProblems,
  SECTION_ENTITY,
  schemaProblemsForManifest,
} from "./acl-tuples.ts";
import { type ChunkingOptions, chunkDocument, resolveChunkingOptions } from "./chunker.ts";
import { readConfinedFile } from "./confined-files.ts";
import { parseDocument } from "./loaders/load-document.ts";
import {
  documentLabel,
  invalidManifest,
  loadManifest,
  type Manifest,
  type ManifestDocument,
} from "./manifest.ts";
import { documentsInCollections, type RemovalReport, removeDocument } from "./remove.ts";
import { schemaDiff } from "./schema-diff.ts";
import { placeSections, type SectionedBlock } from "./sections.ts";

export const DEFAULT_EMBED_BATCH_SIZE = 64;

/** How much one document may be, unless the caller (INGEST_MAX_* in the configuration) says otherwise. */
export interface IngestLimits {
  /** The largest file read, in bytes: documents, and the manifest's schema and relationships files. */
  readonly maxFileBytes: number;
  /** The most chunks one document may become. */
  readonly maxChunksPerDocument: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  maxFileBytes: 10 * 1024 * 1024,
  maxChunksPerDocument: 2_000,
};

/**
 * Whether ingest may put the manifest's schema in force when it differs from the one in force. Absent or
 * `allow: false`: such a manifest is refused (`FORBIDDEN`) and nothing is written.
 */
export interface SchemaChangePolicy {
  readonly allow: boolean;
  /**
   * Shown the difference of permissions (`schemaDiff` lines) before anything is written; resolves true to
   * go ahead. Absent: go ahead (the caller confirmed otherwise, e.g. `--yes`).
   */
  readonly confirm?: (difference: SchemaChange) => Promise<boolean>;
}

export interface SchemaChange {
  /** The schema file, as the manifest names it. */
  readonly path: string;
  /** `schemaDiff` lines, entity by entity. */
  readonly lines: readonly string[];
  /** Why the difference is against nothing: no schema in force, or an authorizer that does not give its text. */
  readonly note?: string;
}

/** Page size for reading a document's current relationships; any size works, pages are followed to the end. */
const READ_PAGE_SIZE = 500;

export interface IngestManifestOptions {
  readonly manifestPath: string;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chunking?: Partial<ChunkingOptions>;
  /** Texts per `embedDocuments` call (default 64). */
  readonly embedBatchSize?: number;
  /** Called once per document, in manifest order, as soon as its outcome is known. */
  readonly onProgress?: (
    document: DocumentReport,
    position: { readonly index: number; readonly total: number },
  ) => void;
  /** With `prune`, called once per document removed. */
  readonly onPrune?: (removal: RemovalReport) => void;
  /** Whether the manifest may change the schema in force (default: no). */
  readonly schemaChange?: SchemaChangePolicy;
  /**
   * `"manifest"` (default): the relationships file may write only on the manifest's documents and
   * sections. `"any"`: on any entity (an operator loading teams, customers and collections).
   */
  readonly relationshipScope?: "manifest" | "any";
  /** Whether a document already owned by someone else may be given the manifest's owner (default: no). */
  readonly allowOwnerChange?: boolean;
  /** Size limits (default `DEFAULT_INGEST_LIMITS`). */
  readonly limits?: Partial<IngestLimits>;
  /**
   * Computes and reports what the run would change (each document's `change`, `status` as if it ran) and
   * writes nothing: no schema, no relationships, no chunks, no embedding.
   */
  readonly dryRun?: boolean;
  /**
   * Also remove the documents either store holds in the manifest's collections that the manifest does not
   * list (`clearance ingest --prune`), each as `removeDocument` does, after the listed ones are in place.
   */
  readonly prune?: boolean;
}

export type DocumentStatus = "ingested" | "unchanged" | "failed";

export interface DocumentReport {
  readonly id: string;
  /** The document's path as the manifest writes it. */
  readonly path: string;
  /** How many chunks the document has in the vector store now (0 when it failed). */
  readonly chunks: number;
  readonly status: DocumentStatus;
  /** Why it failed, without the path (which `path` gives). */
  readonly error?: string;
  /** What the run changed (or, in a dry run, would change); absent when the document failed before. */
  readonly change?: DocumentChange;
}

export interface IngestReport {
  /** In manifest order. */
  readonly documents: readonly DocumentReport[];
  /**
   * How many distinct relationships the run declared and saw in force: the relationships file's, plus
   * those derived from every document that was ingested or unchanged.
   */
  readonly relationships: number;
  /** How many documents failed. */
  readonly failed: number;
  /** With `prune`: the documents removed (or, in a dry run, that would be). */
  readonly pruned: readonly RemovalReport[];
}

/**
 * Runs the ingest described in the module comment. Throws (writing nothing) on invalid options, an invalid
 * manifest, or a schema that cannot hold the manifest; a failure of the stores before the per-document
 * phase (reading or writing the schema, writing the relationships file) also throws. Per-document failures
 * are in the report, never thrown.
 */
export async function ingestManifest(options: IngestManifestOptions): Promise<IngestReport> {
  const { authorizer, vectorStore, embedder } = options;
  const chunking = resolveChunkingOptions(options.chunking);
  const batchSize = options.embedBatchSize ?? DEFAULT_EMBED_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new AppError("BAD_REQUEST", `embed batch size must be a positive integer, got ${batchSize}`);
  }

  const limits = { ...DEFAULT_INGEST_LIMITS, ...options.limits };
  const manifest = await loadManifest(options.manifestPath, { maxFileBytes: limits.maxFileBytes });
  const { schema, schemaToWrite: proposed } = await schemaInForce(manifest, authorizer);
  // The schema in force is read only when the manifest's differs: to compare the definitions (another
  // layout of the same schema needs no permission) and to show the difference.
  const current = proposed === undefined ? undefined : await readCurrentSchema(authorizer);
  const schemaToWrite = proposed !== undefined && !sameDefinitions(current, schema) ? proposed : undefined;
  const problems = [
    ...schemaProblemsForManifest(schema, manifest.documents),
    ...relationshipProblems(schema, manifest.relationships),
    ...(options.relationshipScope === "any" ? [] : relationshipScopeProblems(manifest)),
    // With no schema in force there are no relationships to take over (and nothing to read them with).
    ...(schemaToWrite !== undefined && current === "none"
      ? []
      : await takeoverProblems(manifest, authorizer, schema, options.allowOwnerChange === true)),
  ];
  const prepared = await prepareDocuments(manifest, limits, problems);
  if (problems.length > 0) throw invalidManifest(manifest.path, problems);

  if (schemaToWrite !== undefined && options.dryRun !== true) {
    await confirmSchemaChange(manifest, schema, current, options.schemaChange);
    await authorizer.writeSchema(schemaToWrite);
  }
  // The file's tuples on the manifest's own documents and sections are written by each document's ordered
  // sync (after its content changes, when they widen); written here they would open old chunks early.
  const ownTuples = isManifestEntity(manifest);
  const upfront = manifest.relationships.filter((tuple) => !ownTuples(tuple));
  if (upfront.length > 0 && options.dryRun !== true) await authorizer.writeData({ tuples: upfront });

  const context: DocumentContext = {
    authorizer,
    vectorStore,
    embedder,
    chunking,
    batchSize,
    maxChunks: limits.maxChunksPerDocument,
    dryRun: options.dryRun === true,
    schemaHasSections: schema.entities.has(SECTION_ENTITY),
    fileTuples: manifest.relationships,
    sectionOwners: new Map(
      manifest.documents.flatMap((document) => document.sections.map((section) => [section.id, document.id])),
    ),
  };
  const reports: DocumentReport[] = [];
  const declared = new Set(manifest.relationships.map(formatTuple));
  for (const document of manifest.documents) {
    const loaded = prepared.get(document.id) as PreparedDocument;
    const report =
      "error" in loaded
        ? failed(document, loaded.error)
        : await syncDocument(document, loaded.blocks, context).catch((error: unknown) =>
            failed(document, error),
          );
    if (report.status !== "failed") {
      for (const tuple of documentTuples(document)) declared.add(formatTuple(tuple));
    }
    reports.push(report);
    options.onProgress?.(report, { index: reports.length - 1, total: manifest.documents.length });
  }
  const pruned: RemovalReport[] = [];
  if (options.prune) {
    const listed = new Set(manifest.documents.map((document) => document.id));
    const collections = [...new Set(manifest.documents.map((document) => document.collection))];
    for (const id of await documentsInCollections(collections, context)) {
      if (listed.has(id)) continue;
      const removal = await removeDocument(id, {
        authorizer,
        vectorStore,
        dryRun: options.dryRun === true,
        schemaHasSections: context.schemaHasSections,
      });
      pruned.push(removal);
      options.onPrune?.(removal);
    }
  }
  return {
    documents: reports,
    relationships: declared.size,
    failed: reports.filter((report) => report.status === "failed").length,
    pruned,
  };
}

export interface IngestDocumentOptions {
  /** The entry, as `parseManifestEntry` checked it. */
  readonly document: ManifestDocument;
  /** The file's content. */
  readonly bytes: Buffer;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly limits?: Partial<IngestLimits>;
  readonly chunking?: Partial<ChunkingOptions>;
  readonly dryRun?: boolean;
  /** Whether a document already owned by someone else may be given the entry's owner (default: no). */
  readonly allowOwnerChange?: boolean;
}

/**
 * One document from bytes and its manifest entry (the owners' upload), with the same checks and the same
 * ordered change as a manifest's document, against the schema in force. Throws, writing nothing, on a file
 * that does not parse (`UNPROCESSABLE`), a section that does not fit it or a takeover (`BAD_REQUEST`);
 * a failure of the stores midway leaves what `applyOrderedChange` says.
 */
export async function ingestDocument(options: IngestDocumentOptions): Promise<DocumentReport> {
  const { document, authorizer } = options;
  const limits = { ...DEFAULT_INGEST_LIMITS, ...options.limits };
  if (options.bytes.length > limits.maxFileBytes) {
    throw new AppError("PAYLOAD_TOO_LARGE", `${document.path}: more than ${limits.maxFileBytes} bytes`);
  }
  const current = await authorizer.readSchema().catch((error: unknown) => {
    if (isAppError(error, "NOT_FOUND"))
      throw new AppError("CONFLICT", "the authorizer has no schema in force");
    throw error;
  });
  const schema = current.schema === undefined ? undefined : compileSchema(current.schema);
  const problems = schema === undefined ? [] : schemaProblemsForManifest(schema, [document]);
  const manifest = { path: "entry", folder: "", relationships: [], documents: [document] } as Manifest;
  problems.push(...(await takeoverProblems(manifest, authorizer, schema, options.allowOwnerChange === true)));
  let structured: Awaited<ReturnType<typeof parseDocument>>;
  try {
    structured = await parseDocument(options.bytes, document.path, document.path, {
      maxBytes: limits.maxFileBytes,
    });
  } catch (error) {
    // A DOCX that inflates beyond the limit is too large, not malformed: 413, as a file over the limit.
    if (isAppError(error, "PAYLOAD_TOO_LARGE")) throw error;
    throw new AppError("UNPROCESSABLE", messageOf(error), { cause: error });
  }
  const placement = placeSections(document, structured);
  if (!placement.ok) problems.push(...placement.problems);
  if (problems.length > 0) throw new AppError("BAD_REQUEST", problems.join("; "));
  return syncDocument(document, placement.ok ? placement.blocks : [], {
    authorizer,
    vectorStore: options.vectorStore,
    embedder: options.embedder,
    chunking: resolveChunkingOptions(options.chunking),
    batchSize: DEFAULT_EMBED_BATCH_SIZE,
    maxChunks: limits.maxChunksPerDocument,
    dryRun: options.dryRun === true,
    schemaHasSections: schema === undefined || schema.entities.has(SECTION_ENTITY),
    fileTuples: [],
    sectionOwners: new Map(document.sections.map((section) => [section.id, document.id])),
  });
}

/**
 * The schema ingest must check against: the manifest's when it names one (compiled here, so a bad schema
 * is a manifest problem), else the authorizer's. `schemaToWrite` is set only when the manifest's schema is
 * not already in force, so a second run writes no new schema version.
 */
async function schemaInForce(
  manifest: Manifest,
  authorizer: Authorizer,
): Promise<{ schema: CompiledSchema; schemaToWrite?: string }> {
  if (!manifest.schema) {
    const current = await authorizer.readSchema().catch((error: unknown) => {
      if (isAppError(error, "NOT_FOUND")) return undefined;
      throw error;
    });
    if (!current) {
      throw invalidManifest(manifest.path, [
        "schema: the authorizer has no schema yet; name a schema file in the manifest's schema field",
      ]);
    }
    if (current.schema === undefined) {
      throw invalidManifest(manifest.path, [
        "schema: this authorizer does not give back its schema's text (Permify keeps only the compiled " +
          "definitions); name the schema file in the manifest's schema field",
      ]);
    }
    return { schema: compileSchema(current.schema) };
  }
  let schema: CompiledSchema;
  try {
    schema = compileSchema(manifest.schema.text);
  } catch (error) {
    // The position only: the parser's reason quotes the file, which may not be a schema at all.
    const at = /line \d+, column \d+/.exec(messageOf(error))?.[0];
    throw invalidManifest(
      manifest.path,
      [`schema (${manifest.schema.path}): not a valid Permify schema${at ? ` at ${at}` : ""}`],
      error,
    );
  }
  const unchanged = await authorizer.isSchemaInForce(manifest.schema.text);
  if (unchanged) return { schema };
  return { schema, schemaToWrite: manifest.schema.text };
}

/**
 * The gate before a manifest changes the schema in force: refused unless allowed in so many words, and
 * then only after the confirmation has seen the difference of permissions. A schema rewrites what every
 * relationship in the bank means (removing `and audience` from `section.view` opens every restricted
 * section to all who may read its document), so it is never a side effect of loading documents.
 */
/** The text of the schema in force; `{}` when the authorizer does not give it back; "none" without one. */
async function readCurrentSchema(authorizer: Authorizer): Promise<{ text?: string } | "none"> {
  try {
    const read = await authorizer.readSchema();
    return read.schema === undefined ? {} : { text: read.schema };
  } catch (error) {
    if (isAppError(error, "NOT_FOUND")) return "none";
    throw error;
  }
}

/**
 * Whether the schema in force has exactly the definitions of `schema` (comments and layout aside). Rules
 * are compared by name only, so a schema with rules never counts as the same.
 */
function sameDefinitions(current: { text?: string } | "none" | undefined, schema: CompiledSchema): boolean {
  if (current === undefined || current === "none" || current.text === undefined) return false;
  const inForce = compileSchema(current.text);
  return sameRules(inForce, schema) && schemaDiff(inForce, schema).length === 0;
}

/** The same rules: names, typed parameters and bodies (whitespace aside); a rule's meaning is its body. */
function sameRules(a: CompiledSchema, b: CompiledSchema): boolean {
  if (a.rules.size !== b.rules.size) return false;
  for (const [name, rule] of a.rules) {
    const other = b.rules.get(name);
    if (other === undefined || other.body !== rule.body) return false;
    if (JSON.stringify([...rule.params]) !== JSON.stringify([...other.params])) return false;
  }
  return true;
}

async function confirmSchemaChange(
  manifest: Manifest,
  schema: CompiledSchema,
  current: { text?: string } | "none" | undefined,
  policy: SchemaChangePolicy | undefined,
): Promise<void> {
  const file = manifest.schema?.path ?? "schema";
  if (!policy?.allow) {
    throw new AppError(
      "FORBIDDEN",
      `schema (${file}) is not the schema in force, and ingest does not change the schema in force unless ` +
        "told to (--write-schema, which shows the difference of permissions and asks); nothing was written",
    );
  }
  if (!policy.confirm) return;
  let before: CompiledSchema | undefined;
  let note: string | undefined;
  if (current === undefined || current === "none")
    note = "no schema is in force yet: every definition is new";
  else if (current.text === undefined) {
    note = "the authorizer does not give back the text of the schema in force: the new schema is shown whole";
  } else before = compileSchema(current.text);
  const lines = schemaDiff(before, schema);
  if (!(await policy.confirm({ path: file, lines, ...(note ? { note } : {}) }))) {
    throw new AppError("FORBIDDEN", `the change of schema (${file}) was not confirmed; nothing was written`);
  }
}

/** Whether a tuple is on one of the manifest's documents or sections (which each document's sync writes). */
function isManifestEntity(manifest: Manifest): (tuple: Tuple) => boolean {
  const documents = new Set(manifest.documents.map((document) => document.id));
  const sections = new Set(manifest.documents.flatMap((document) => document.sections.map((s) => s.id)));
  return ({ entity }) =>
    (entity.type === DOCUMENT_ENTITY && documents.has(entity.id)) ||
    (entity.type === SECTION_ENTITY && sections.has(entity.id));
}

/**
 * Problems with relationships-file tuples that write outside the manifest: only its documents and their
 * sections are the manifest's to declare. A tuple such as `collection:executive#viewer@team:customers#member`
 * would grant on something the manifest's author does not own.
 */
function relationshipScopeProblems(manifest: Manifest): string[] {
  const documents = new Set(manifest.documents.map((document) => document.id));
  const sections = new Set(manifest.documents.flatMap((document) => document.sections.map((s) => s.id)));
  const problems: string[] = [];
  manifest.relationships.forEach((tuple, index) => {
    const { type, id } = tuple.entity;
    const own =
      (type === DOCUMENT_ENTITY && documents.has(id)) ||
      // A section's document is the manifest entry's to declare, not the file's.
      (type === SECTION_ENTITY && sections.has(id) && tuple.relation !== "document");
    if (!own) {
      problems.push(
        `relationships[${index}]: writes on ${type}:${id}, which is not a document or section of this manifest ` +
          "(an operator may allow it with --allow-any-relationships)",
      );
    }
  });
  return problems;
}

/**
 * Problems with manifest entries that would take over what the authorizer says belongs to another: a
 * section id attached to another document (re-attaching it would show that document's restricted text
 * to whoever may read this one), or a document owned by someone else (unless `allowOwnerChange`).
 */
async function takeoverProblems(
  manifest: Manifest,
  authorizer: Authorizer,
  schema: CompiledSchema | undefined,
  allowOwnerChange: boolean,
): Promise<string[]> {
  const problems: string[] = [];
  for (const document of manifest.documents) {
    const label = documentLabel(document);
    if (!allowOwnerChange) {
      const owners = await readAllRelationships(authorizer, {
        entity: { type: DOCUMENT_ENTITY, ids: [document.id] },
        relation: "owner",
      });
      const declared = formatSubject(document.owner);
      const others = owners
        .map((tuple) => formatSubject(tuple.subject))
        .filter((owner) => owner !== declared);
      if (others.length > 0) {
        problems.push(
          `${label}.owner: document ${document.id} is owned by ${others.join(", ")}; a manifest does not change ` +
            "a document's owner (an operator may allow it with --allow-owner-change)",
        );
      }
    }
    if (document.sections.length === 0 || (schema !== undefined && !schema.entities.has(SECTION_ENTITY)))
      continue;
    const attached = await readAllRelationships(authorizer, {
      entity: { type: SECTION_ENTITY, ids: document.sections.map((section) => section.id) },
      relation: "document",
    });
    for (const tuple of attached) {
      if (tuple.subject.type === DOCUMENT_ENTITY && tuple.subject.id === document.id) continue;
      const index = document.sections.findIndex((section) => section.id === tuple.entity.id);
      problems.push(
        `${label}.sections[${index}].id: section ${tuple.entity.id} belongs to ${tuple.subject.type}:${tuple.subject.id}; ` +
          "a manifest cannot take another document's section (choose another id)",
      );
    }
  }
  return problems;
}

type PreparedDocument = { readonly blocks: readonly SectionedBlock[] } | { readonly error: unknown };

/**
 * Loads every document and places its sections. A document that cannot be loaded is a per-document failure
 * (reported later); a section that does not fit its document is a manifest problem (added to `problems`).
 */
async function prepareDocuments(
  manifest: Manifest,
  limits: IngestLimits,
  problems: string[],
): Promise<Map<string, PreparedDocument>> {
  const prepared = new Map<string, PreparedDocument>();
  for (const document of manifest.documents) {
    try {
      // Confined again as it is opened: a link swapped in since the manifest was checked is not followed.
      const bytes = await readConfinedFile(
        manifest.folder,
        document.path,
        document.path,
        limits.maxFileBytes,
      );
      const structured = await parseDocument(bytes, document.absolutePath, document.path, {
        maxBytes: limits.maxFileBytes,
      });
      const placement = placeSections(document, structured);
      if (placement.ok) prepared.set(document.id, { blocks: placement.blocks });
      else problems.push(...placement.problems);
    } catch (error) {
      prepared.set(document.id, { error });
    }
  }
  return prepared;
}

interface DocumentContext {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chunking: ChunkingOptions;
  readonly batchSize: number;
  readonly maxChunks: number;
  /** Without a `section` entity there are no section relationships to read. */
  readonly schemaHasSections: boolean;
  readonly fileTuples: readonly Tuple[];
  /** Plan only: compute each document's change and write nothing. */
  readonly dryRun: boolean;
  /** Section id → the manifest document that declares it. */
  readonly sectionOwners: ReadonlyMap<string, string>;
}

async function syncDocument(
  document: ManifestDocument,
  blocks: readonly SectionedBlock[],
  context: DocumentContext,
): Promise<DocumentReport> {
  const chunks = chunkDocument(
    {
      documentId: document.id,
      title: document.title,
      metadata: {
        collection: document.collection,
        owner: formatSubject(document.owner),
        ...(document.customer === undefined ? {} : { customer: document.customer }),
      },
      blocks,
    },
    context.chunking,
  );
  if (chunks.length === 0) {
    throw new AppError("BAD_REQUEST", "no text to index (a scanned PDF needs text recognition first)");
  }
  if (chunks.length > context.maxChunks) {
    throw new AppError(
      "PAYLOAD_TOO_LARGE",
      `${chunks.length} chunks, more than the limit of ${context.maxChunks} per document (INGEST_MAX_CHUNKS_PER_DOCUMENT)`,
    );
  }

  const sync = await planRelationshipSync(document, context);
  const stored = await context.vectorStore.documentChunks(document.id);
  const chunksInPlace = sameChunks(stored, chunks);
  // Same text in the same places: only the metadata that mirrors relationships may differ, and it is
  // updated in place (no embedding).
  const metadataInPlace = stored.every((chunk) => sameMetadata(chunk.metadata, chunks[0]?.metadata));
  const change = describeChange(stored, chunks, sync, chunksInPlace && !metadataInPlace);
  if (chunksInPlace && metadataInPlace && sync.stale.length === 0 && sync.missing.length === 0) {
    return { id: document.id, path: document.path, chunks: chunks.length, status: "unchanged", change };
  }
  if (context.dryRun) {
    return { id: document.id, path: document.path, chunks: chunks.length, status: "ingested", change };
  }

  // Embed before touching either store: an embedding failure then leaves both as they were.
  const embedded = chunksInPlace ? undefined : await embedChunks(chunks, context.embedder, context.batchSize);
  await applyOrderedChange(document.id, sync, context, async () => {
    if (embedded) await context.vectorStore.replaceDocument(document.id, embedded);
    else if (!metadataInPlace && chunks[0] !== undefined) {
      await context.vectorStore.updateDocumentMetadata(document.id, chunks[0].metadata);
    }
  });
  return { id: document.id, path: document.path, chunks: chunks.length, status: "ingested", change };
}

/**
 * Applies one document's change in the only order that never widens access to content it was not
 * declared for (issue 14): a reader must see the old version under the old relationships, or the new
 * version under the new ones, and in between at most the intersection.
 *
 * 1. **Narrow**: delete the stale relationships. For a schema whose permissions only grow with relations
 *    (no `not`, as the bank's), this only takes access away, from the old chunks as from the new.
 * 2. **Content**: `writeContent` replaces the chunks (or their metadata). Readers now get the new chunks,
 *    readable by those whom both the old and the new relationships admit.
 * 3. **Widen**: write the missing relationships. Only now can someone the new version admits, and the old
 *    did not, read it.
 *
 * Before: a document redacted and moved from an executive collection to the help center in one run got its
 * help-center relationship (step 3) before its chunks were replaced (step 2), and served the old,
 * unredacted chunks to customers for that moment.
 *
 * Failures: a failed step 1 is undone (the deleted relationships are written back) and nothing else is
 * done. A failed step 2 restores the deleted relationships only when the store still holds exactly the old
 * chunks; otherwise (a store that cannot say, or a partial write) the document stays narrowed, which hides
 * it from some readers but shows nobody anything new, and the next run completes it. A failed step 3
 * leaves the new content under the narrowed relationships, for the next run to widen. Restoring the old
 * relationships over the new content would be a widening, and is never done.
 */
export async function applyOrderedChange(
  documentId: string,
  sync: RelationshipSync,
  context: Pick<DocumentContext, "authorizer" | "vectorStore">,
  writeContent: () => Promise<void>,
): Promise<void> {
  const { authorizer, vectorStore } = context;
  const before = await vectorStore.documentChunks(documentId);
  await removeRelationships(sync.stale, authorizer);
  try {
    await writeContent();
  } catch (error) {
    const unchanged = await vectorStore
      .documentChunks(documentId)
      .then((now) => sameChunks(now, before))
      .catch(() => false);
    if (unchanged && sync.stale.length > 0) {
      try {
        await authorizer.writeData({ tuples: sync.stale });
      } catch (restoreError) {
        throw new AppError(
          "UPSTREAM_UNAVAILABLE",
          `writing the chunks failed (${messageOf(error)}), and restoring the previous relationships failed too ` +
            `(${messageOf(restoreError)}): the document is readable by fewer principals than declared; run ingest again`,
          {
            cause: new AggregateError(
              [error, restoreError],
              "the chunk write and the relationship restore failed",
            ),
          },
        );
      }
    }
    throw error;
  }
  if (sync.missing.length > 0) {
    try {
      await authorizer.writeData({ tuples: sync.missing });
    } catch (error) {
      throw new AppError(
        isAppError(error) ? error.code : "UPSTREAM_UNAVAILABLE",
        `${messageOf(error)} (the new chunks are in place, readable by fewer principals than declared until ` +
          "the next run writes the missing relationships)",
        { cause: error },
      );
    }
  }
}

/** What a document's sync changes, for dry runs, reports and the audit trail. */
export interface DocumentChange {
  readonly chunksWritten: number;
  readonly chunksRemoved: number;
  /** Chunks whose ACL metadata (collection, owner, customer) was updated in place, without embedding. */
  readonly metadataUpdated: number;
  /** Relationships deleted, in Permify notation. */
  readonly relationshipsRemoved: readonly string[];
  /** Relationships written, in Permify notation. */
  readonly relationshipsAdded: readonly string[];
}

function describeChange(
  stored: readonly Chunk[],
  chunks: readonly Chunk[],
  sync: RelationshipSync,
  metadataUpdated: boolean,
): DocumentChange {
  const storedIds = new Set(stored.map((chunk) => chunk.id));
  const newIds = new Set(chunks.map((chunk) => chunk.id));
  return {
    chunksWritten: chunks.filter((chunk) => !storedIds.has(chunk.id)).length,
    chunksRemoved: stored.filter((chunk) => !newIds.has(chunk.id)).length,
    metadataUpdated: metadataUpdated ? stored.length : 0,
    relationshipsRemoved: sync.stale.map(formatTuple),
    relationshipsAdded: sync.missing.map(formatTuple),
  };
}

function failed(document: ManifestDocument, error: unknown): DocumentReport {
  return {
    id: document.id,
    path: document.path,
    chunks: 0,
    status: "failed",
    error: reasonOf(error, document.path),
  };
}

/** Loader errors name the path first (`<path>: <reason>`); the report carries the path separately. */
function reasonOf(error: unknown, documentPath: string): string {
  const message = messageOf(error);
  return message.startsWith(`${documentPath}: `) ? message.slice(documentPath.length + 2) : message;
}

/** The stored chunks are the new ones exactly: same ids (which hash content and resource) in the same order. */
function sameChunks(stored: readonly Chunk[], chunks: readonly Chunk[]): boolean {
  if (stored.length !== chunks.length) return false;
  const storedIds = [...stored].sort((a, b) => a.ordinal - b.ordinal).map((chunk) => chunk.id);
  return storedIds.every((id, index) => id === chunks[index]?.id);
}

function sameMetadata(a: ChunkMetadata, b: ChunkMetadata | undefined): boolean {
  return (
    b !== undefined &&
    a.collection === b.collection &&
    a.owner === b.owner &&
    (a.customer ?? null) === (b.customer ?? null)
  );
}

/** Embeds in batches and checks what comes back: the embedder is an upstream and is not trusted blindly. */
async function embedChunks(
  chunks: readonly Chunk[],
  embedder: Embedder,
  batchSize: number,
): Promise<EmbeddedChunk[]> {
  const embedded: EmbeddedChunk[] = [];
  for (let start = 0; start < chunks.length; start += batchSize) {
    const batch = chunks.slice(start, start + batchSize);
    const vectors = await embedder.embedDocuments(batch.map((chunk) => chunk.text));
    if (vectors.length !== batch.length) {
      throw new AppError(
        "UPSTREAM_UNAVAILABLE",
        `the embedder (${embedder.model}) returned ${vectors.length} vectors for ${batch.length} texts`,
      );
    }
    batch.forEach((chunk, index) => {
      const vector = vectors[index] as Float32Array;
      const fail = (why: string) =>
        new AppError("UPSTREAM_UNAVAILABLE", `the embedder (${embedder.model}) returned ${why}`);
      if (vector.length !== embedder.dimensions) {
        throw fail(`a vector of ${vector.length} dimensions; expected ${embedder.dimensions}`);
      }
      if (!vector.every(Number.isFinite)) throw fail("a vector with a value that is not a finite number");
      embedded.push({ ...chunk, vector });
    });
  }
  return embedded;
}

// ---------------------------------------------------------------------------------------------------------
// Relationship sync

export interface RelationshipSync {
  /** In force now but not declared: deleted by the sync. */
  readonly stale: readonly Tuple[];
  /** Declared but not in force: written by the sync. */
  readonly missing: readonly Tuple[];
}

/**
 * Compares what the authorizer holds for the document and its sections with what the manifest declares.
 * The sections considered are the manifest's, plus any that point at the document now but are no longer in
 * the manifest (their relationships are stale), minus those another manifest entry now declares (that
 * entry's sync takes care of them).
 */
async function planRelationshipSync(
  document: ManifestDocument,
  context: DocumentContext,
): Promise<RelationshipSync> {
  const { authorizer } = context;
  const current = await readAllRelationships(authorizer, {
    entity: { type: DOCUMENT_ENTITY, ids: [document.id] },
  });
  const sectionIds = new Set(document.sections.map((section) => section.id));
  if (context.schemaHasSections) {
    const attached = await readAllRelationships(authorizer, {
      entity: { type: SECTION_ENTITY },
      relation: "document",
      subject: { type: DOCUMENT_ENTITY, ids: [document.id], relation: "" },
    });
    for (const tuple of attached) {
      const owner = context.sectionOwners.get(tuple.entity.id);
      if (owner === undefined || owner === document.id) sectionIds.add(tuple.entity.id);
    }
    if (sectionIds.size > 0) {
      current.push(
        ...(await readAllRelationships(authorizer, {
          entity: { type: SECTION_ENTITY, ids: [...sectionIds] },
        })),
      );
    }
  }

  const isConsidered = (tuple: Tuple) =>
    (tuple.entity.type === DOCUMENT_ENTITY && tuple.entity.id === document.id) ||
    (tuple.entity.type === SECTION_ENTITY && sectionIds.has(tuple.entity.id));
  const declared = new Map<string, Tuple>();
  for (const tuple of [...documentTuples(document), ...context.fileTuples.filter(isConsidered)]) {
    declared.set(formatTuple(tuple), tuple);
  }
  const inForce = new Map(current.map((tuple) => [formatTuple(tuple), tuple]));
  return {
    stale: [...inForce].filter(([key]) => !declared.has(key)).map(([, tuple]) => tuple),
    missing: [...declared].filter(([key]) => !inForce.has(key)).map(([, tuple]) => tuple),
  };
}

/** Every relationship matching `filter`, following cursors to the end. */
export async function readAllRelationships(authorizer: Authorizer, filter: TupleFilter): Promise<Tuple[]> {
  const tuples: Tuple[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await authorizer.readRelationships({
      filter,
      pageSize: READ_PAGE_SIZE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    tuples.push(...page.tuples);
    cursor = page.nextCursor;
    if (cursor !== undefined) {
      // A cursor that comes back again would loop forever; fail instead of reading a partial list.
      if (seen.has(cursor))
        throw new AppError("INTERNAL", "readRelationships returned the same cursor twice");
      seen.add(cursor);
    }
  } while (cursor !== undefined);
  return tuples;
}

/**
 * Deletes relationships one exact tuple at a time (Permify's filters cannot name several). On a failure,
 * what was deleted is written back and the error re-thrown, so a failed removal leaves them as they were.
 */
export async function removeRelationships(tuples: readonly Tuple[], authorizer: Authorizer): Promise<void> {
  const deleted: Tuple[] = [];
  try {
    for (const tuple of tuples) {
      await authorizer.deleteData({ tuples: exactTupleFilter(tuple) });
      deleted.push(tuple);
    }
  } catch (error) {
    if (deleted.length > 0) {
      await authorizer.writeData({ tuples: deleted }).catch((restoreError: unknown) => {
        throw new AppError(
          "UPSTREAM_UNAVAILABLE",
          `removing relationships failed (${messageOf(error)}), and restoring the deleted ones failed too ` +
            `(${messageOf(restoreError)}): run again`,
          { cause: new AggregateError([error, restoreError], "the removal and the restore failed") },
        );
      });
    }
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
