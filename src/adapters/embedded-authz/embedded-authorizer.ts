import { type CompiledSchema, compileSchema } from "../../authz-schema/schema-compiler.ts";
import { validateAttribute, validateTuple } from "../../authz-schema/write-validation.ts";
import type {
  Attribute,
  AttributeFilter,
  CheckRequest,
  RequestContext,
  Subject,
  Tuple,
  TupleFilter,
} from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import { formatAttribute, formatTuple, parseAttribute, parseTuple } from "../../core/permify-notation.ts";
import {
  type Authorizer,
  type CheckOutcome,
  checkFailure,
  type LookupPage,
  type LookupResourcesRequest,
  type LookupSubjectsRequest,
  type WriteResult,
} from "../../ports/authorizer.ts";
import { AuthzDataDirectory, type Change, JournalRewritten } from "./data-directory.ts";
import { compareIds, EvaluationSession, reachableEntities } from "./evaluator.ts";
import { contextKey, LookupCache, lookupRequestKey } from "./lookup-cache.ts";
import { RelationshipStore } from "./relationship-store.ts";

export interface EmbeddedAuthorizerOptions {
  /** Where the schema, relationships and attributes persist; omitted means memory only. */
  readonly dataDir?: string;
  /** Nested evaluations allowed per check, as Permify's `metadata.depth` (default 50). */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 50;
const DEFAULT_PAGE_SIZE = 1_000;
/** Workspaces kept at most: one per subject of a principal (a user and up to four agents) fits. */
const MAX_WORKSPACES = 8;

/**
 * What lookups for one subject under one context share: the memoised evaluation session (so that listing
 * sections reuses every `document.view` decided while listing documents) and the walk that finds
 * candidates. Both are functions of the data, the schema, the context and the subject only, so they are
 * valid for the generation they were made at. They are kept only until the current turn of the event loop
 * ends: lookups issued together (a request's documents and sections, for each subject) share them, and the
 * memo, as large as the subject's view of the graph, is not held longer; later pages and repeated lookups
 * come from the lookup cache instead.
 */
interface LookupWorkspace {
  readonly session: EvaluationSession;
  reachable: Map<string, Set<string>> | undefined;
}

/**
 * The Authorizer port evaluated in process over a Permify schema. Decisions are synchronous and
 * deterministic; persistence is an fsynced journal, so a write that resolved survives a crash.
 */
export async function createEmbeddedAuthorizer(options: EmbeddedAuthorizerOptions = {}): Promise<Authorizer> {
  return EmbeddedAuthorizer.open(options);
}

class EmbeddedAuthorizer implements Authorizer {
  private schema: CompiledSchema | undefined;
  private store = new RelationshipStore();
  private revision = 0;
  /**
   * Changes whenever the schema or the data in force may have changed (a write, a journal change picked
   * up from another process, a reload): a lookup list computed at one generation holds for all of it.
   */
  private generation = 0;
  /** The schema file as last read, to notice a schema written by another process. */
  private schemaStamp: string | undefined;
  private readonly lookups = new LookupCache();
  private readonly workspaces = new Map<string, LookupWorkspace>();
  private workspacesGeneration = -1;
  private workspacesReleaseScheduled = false;
  private closed = false;

  private constructor(
    private readonly directory: AuthzDataDirectory | undefined,
    private readonly maxDepth: number,
  ) {}

  static open(options: EmbeddedAuthorizerOptions): EmbeddedAuthorizer {
    const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    if (!Number.isInteger(maxDepth) || maxDepth < 1)
      throw new AppError("BAD_REQUEST", "maxDepth must be a positive integer");
    const authorizer = new EmbeddedAuthorizer(
      options.dataDir ? new AuthzDataDirectory(options.dataDir) : undefined,
      maxDepth,
    );
    authorizer.loadFromDirectory();
    return authorizer;
  }

  async writeSchema(text: string): Promise<{ schemaVersion: string }> {
    this.assertOpen();
    const compiled = compileSchema(text); // throws SCHEMA_INVALID; the old schema stays in force
    this.directory?.writeSchema(text);
    this.schemaStamp = this.directory?.schemaStamp();
    this.schema = compiled;
    this.generation += 1;
    return { schemaVersion: compiled.version };
  }

  async readSchema(): Promise<{ schemaVersion: string; schema?: string }> {
    const schema = this.requireSchema();
    return { schemaVersion: schema.version, schema: schema.text };
  }

  async check(request: CheckRequest): Promise<boolean> {
    const schema = this.requireFreshSchema();
    return this.session(schema, request.context).check(request.entity, request.permission, request.subject);
  }

  async checkMany(requests: readonly CheckRequest[]): Promise<readonly CheckOutcome[]> {
    const schema = this.requireFreshSchema();
    // Requests without context share one session, so shared parents (collections, teams) are evaluated once.
    const shared = this.session(schema, undefined);
    return requests.map((request) => {
      const session = request.context ? this.session(schema, request.context) : shared;
      try {
        return session.check(request.entity, request.permission, request.subject) ? "allowed" : "denied";
      } catch (error) {
        return checkFailure(error);
      }
    });
  }

  async lookupResources(request: LookupResourcesRequest): Promise<LookupPage> {
    const schema = this.requireFreshSchema();
    if (!schema.entities.has(request.entityType)) {
      throw new AppError("BAD_REQUEST", `entity type "${request.entityType}" is not defined in the schema`);
    }
    const pageSize = positivePageSize(request.pageSize);
    const key = lookupRequestKey(
      "resources",
      request.entityType,
      request.permission,
      request.subject,
      request.context,
    );
    return this.lookups.page(key, this.generation, pageSize, request.cursor, () => {
      // One session for every candidate: what they share (a collection's view, a team's members) is
      // evaluated once for the whole list, and once for this subject's other lookups too.
      const { session, reachable } = this.workspace(schema, request.subject, request.context);
      // The default sort orders strings by UTF-16 code units, as `compareIds` does, without a callback.
      const candidates = [...(reachable.get(request.entityType) ?? [])].sort();
      return candidates.filter((id) =>
        session.check({ type: request.entityType, id }, request.permission, request.subject),
      );
    });
  }

  async lookupSubjects(request: LookupSubjectsRequest): Promise<LookupPage> {
    const schema = this.requireFreshSchema();
    if (!schema.entities.has(request.subjectType)) {
      throw new AppError("BAD_REQUEST", `entity type "${request.subjectType}" is not defined in the schema`);
    }
    const pageSize = positivePageSize(request.pageSize);
    const relation = request.subjectRelation || undefined;
    const key = lookupRequestKey(
      "subjects",
      `${request.entity.type}:${request.entity.id}`,
      request.permission,
      `${request.subjectType}#${relation ?? ""}`,
      request.context,
    );
    return this.lookups.page(key, this.generation, pageSize, request.cursor, () => {
      const session = this.session(schema, request.context);
      const candidates = [...session.relationships.idsOfType(request.subjectType)].sort(compareIds);
      return candidates.filter((id) =>
        session.check(request.entity, request.permission, {
          type: request.subjectType,
          id,
          ...(relation ? { relation } : {}),
        }),
      );
    });
  }

  async writeData(data: {
    tuples?: readonly Tuple[];
    attributes?: readonly Attribute[];
  }): Promise<WriteResult> {
    const schema = this.requireFreshSchema();
    const tuples = data.tuples ?? [];
    const attributes = data.attributes ?? [];
    // Validate the whole batch before touching anything, so a bad item changes nothing.
    for (const tuple of tuples) validateTuple(schema, tuple);
    for (const attribute of attributes) validateAttribute(schema, attribute);
    const newTuples = tuples.filter((tuple) => !this.store.hasTuple(tuple));
    if (newTuples.length === 0 && attributes.length === 0) return this.writeResult();
    return this.commit({
      revision: this.revision + 1,
      writeTuples: uniqueStrings(newTuples.map(formatTuple)),
      writeAttributes: attributes.map(formatAttribute),
    });
  }

  async deleteData(filters: { tuples?: TupleFilter; attributes?: AttributeFilter }): Promise<WriteResult> {
    this.assertOpen();
    this.refresh();
    if (!filters.tuples && !filters.attributes)
      throw new AppError("BAD_REQUEST", "a delete needs a tuple or attribute filter");
    const tuples = filters.tuples ? this.store.matchingTuples(filters.tuples) : [];
    const attributes = filters.attributes ? this.store.matchingAttributes(filters.attributes) : [];
    if (tuples.length === 0 && attributes.length === 0) return this.writeResult();
    return this.commit({
      revision: this.revision + 1,
      deleteTuples: tuples.map(formatTuple),
      deleteAttributes: attributes.map((a) => `${a.entity.type}:${a.entity.id}$${a.attribute}`),
    });
  }

  async readRelationships(request: { filter: TupleFilter; pageSize?: number; cursor?: string }) {
    this.assertOpen();
    this.refresh();
    const tuples = this.store
      .matchingTuples(request.filter)
      .sort((a, b) => compareIds(formatTuple(a), formatTuple(b)));
    const start = request.cursor ? tuples.findIndex((t) => formatTuple(t) >= (request.cursor as string)) : 0;
    const pageSize = positivePageSize(request.pageSize);
    const from = start < 0 ? tuples.length : start;
    const page = tuples.slice(from, from + pageSize);
    const next = tuples[from + pageSize];
    return next ? { tuples: page, nextCursor: formatTuple(next) } : { tuples: page };
  }

  async isSchemaInForce(schema: string): Promise<boolean> {
    const current = this.requireFreshSchemaOrUndefined();
    return current !== undefined && compileSchema(schema).version === current.version;
  }

  /** Ready when the data directory can be read: the schema in force is re-checked against the file. */
  async probe(): Promise<void> {
    this.requireFreshSchemaOrUndefined();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.lookups.clear();
    this.workspaces.clear();
  }

  private commit(change: Change): WriteResult {
    this.directory?.append(change);
    this.apply(change);
    if (this.directory?.shouldCompact()) {
      this.directory.compact({
        revision: this.revision,
        tuples: [...this.store.allTuples()].map(formatTuple),
        attributes: this.store.allAttributes().map(formatAttribute),
      });
    }
    return this.writeResult();
  }

  private apply(change: Change): void {
    for (const text of change.deleteTuples ?? []) this.store.removeTuple(parseTuple(text));
    for (const text of change.deleteAttributes ?? []) {
      const dollar = text.indexOf("$");
      const colon = text.indexOf(":");
      this.store.removeAttribute(text.slice(0, colon), text.slice(colon + 1, dollar), text.slice(dollar + 1));
    }
    for (const text of change.writeTuples ?? []) this.store.addTuple(parseTuple(text));
    for (const text of change.writeAttributes ?? []) this.store.setAttribute(parseAttribute(text));
    this.revision = Math.max(this.revision + 1, change.revision);
    this.generation += 1;
  }

  private loadFromDirectory(): void {
    if (!this.directory) return;
    this.schemaStamp = this.directory.schemaStamp();
    const schemaText = this.directory.readSchema();
    this.schema = schemaText === undefined ? undefined : compileSchema(schemaText);
    this.store = new RelationshipStore();
    const { snapshot, changes } = this.directory.load();
    for (const text of snapshot.tuples) this.store.addTuple(parseTuple(text));
    for (const text of snapshot.attributes) this.store.setAttribute(parseAttribute(text));
    this.revision = snapshot.revision;
    this.generation += 1;
    for (const change of changes) this.apply(change);
  }

  /** Picks up changes another process appended to the journal (e.g. `clearance grant` beside a server). */
  private refresh(): void {
    if (!this.directory) return;
    if (this.directory.schemaStamp() !== this.schemaStamp) {
      // Another process wrote a schema: it is in force from now on, here too.
      this.schemaStamp = this.directory.schemaStamp();
      const text = this.directory.readSchema();
      this.schema = text === undefined ? undefined : compileSchema(text);
      this.generation += 1;
    }
    try {
      for (const change of this.directory.readNewChanges()) this.apply(change);
    } catch (error) {
      if (!(error instanceof JournalRewritten)) throw error;
      this.loadFromDirectory();
    }
  }

  private workspace(
    schema: CompiledSchema,
    subject: Subject,
    context: RequestContext | undefined,
  ): { session: EvaluationSession; reachable: Map<string, Set<string>> } {
    if (this.workspacesGeneration !== this.generation) {
      this.workspaces.clear();
      this.workspacesGeneration = this.generation;
    }
    if (!this.workspacesReleaseScheduled) {
      this.workspacesReleaseScheduled = true;
      setImmediate(() => {
        this.workspacesReleaseScheduled = false;
        this.workspaces.clear();
      });
    }
    const key = `${subject.type}:${subject.id}#${subject.relation ?? ""}\u0000${contextKey(context)}`;
    let workspace = this.workspaces.get(key);
    if (workspace) {
      this.workspaces.delete(key);
    } else {
      workspace = { session: this.session(schema, context), reachable: undefined };
      const oldest = this.workspaces.keys().next();
      if (this.workspaces.size >= MAX_WORKSPACES && !oldest.done) this.workspaces.delete(oldest.value);
    }
    this.workspaces.set(key, workspace);
    workspace.reachable ??= reachableEntities(schema, workspace.session.relationships, subject);
    return { session: workspace.session, reachable: workspace.reachable };
  }

  private session(schema: CompiledSchema, context: RequestContext | undefined): EvaluationSession {
    return new EvaluationSession(schema, this.store, context, { maxDepth: this.maxDepth });
  }

  private writeResult(): WriteResult {
    return { snapToken: String(this.revision) };
  }

  private requireFreshSchema(): CompiledSchema {
    this.assertOpen();
    this.refresh();
    return this.requireSchema();
  }

  /** The schema in force after picking up other processes' changes; undefined when none was written. */
  private requireFreshSchemaOrUndefined(): CompiledSchema | undefined {
    this.assertOpen();
    this.refresh();
    return this.schema;
  }

  private requireSchema(): CompiledSchema {
    if (!this.schema) throw new AppError("NOT_FOUND", "no schema has been written to the authorizer");
    return this.schema;
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("INTERNAL", "the authorizer is closed");
  }
}

function positivePageSize(pageSize: number | undefined): number {
  if (pageSize === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new AppError("BAD_REQUEST", "pageSize must be a positive integer");
  return pageSize;
}

function uniqueStrings(values: readonly string[]): string[] {
  return [...new Set(values)];
}
