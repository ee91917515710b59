import type {
  Attribute,
  AttributeFilter,
  CheckRequest,
  RequestContext,
  Tuple,
  TupleFilter,
} from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import { formatAttribute, formatTuple, parseAttribute, parseTuple } from "../../core/permify-notation.ts";
import type {
  Authorizer,
  CheckOutcome,
  LookupPage,
  LookupResourcesRequest,
  LookupSubjectsRequest,
  WriteResult,
} from "../../ports/authorizer.ts";
import { AuthzDataDirectory, type Change, JournalRewritten } from "./data-directory.ts";
import { compareIds, EvaluationSession, lookupCandidates } from "./evaluator.ts";
import { RelationshipStore } from "./relationship-store.ts";
import { type CompiledSchema, compileSchema } from "./schema-compiler.ts";
import { validateAttribute, validateTuple } from "./write-validation.ts";

export interface EmbeddedAuthorizerOptions {
  /** Where the schema, relationships and attributes persist; omitted means memory only. */
  readonly dataDir?: string;
  /** Nested evaluations allowed per check, as Permify's `metadata.depth` (default 50). */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 50;
const DEFAULT_PAGE_SIZE = 1_000;

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
    this.schema = compiled;
    return { schemaVersion: compiled.version };
  }

  async readSchema(): Promise<{ schemaVersion: string; schema: string }> {
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
      } catch {
        return "failed";
      }
    });
  }

  async lookupResources(request: LookupResourcesRequest): Promise<LookupPage> {
    const schema = this.requireFreshSchema();
    if (!schema.entities.has(request.entityType)) {
      throw new AppError("BAD_REQUEST", `entity type "${request.entityType}" is not defined in the schema`);
    }
    const session = this.session(schema, request.context);
    const candidates = lookupCandidates(schema, session.relationships, request.subject, request.entityType);
    return pageOf(candidates, request.pageSize, request.cursor, (id) =>
      session.check({ type: request.entityType, id }, request.permission, request.subject),
    );
  }

  async lookupSubjects(request: LookupSubjectsRequest): Promise<LookupPage> {
    const schema = this.requireFreshSchema();
    if (!schema.entities.has(request.subjectType)) {
      throw new AppError("BAD_REQUEST", `entity type "${request.subjectType}" is not defined in the schema`);
    }
    const session = this.session(schema, request.context);
    const candidates = [...session.relationships.idsOfType(request.subjectType)].sort(compareIds);
    const relation = request.subjectRelation || undefined;
    return pageOf(candidates, request.pageSize, request.cursor, (id) =>
      session.check(request.entity, request.permission, {
        type: request.subjectType,
        id,
        ...(relation ? { relation } : {}),
      }),
    );
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

  async close(): Promise<void> {
    this.closed = true;
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
  }

  private loadFromDirectory(): void {
    if (!this.directory) return;
    const schemaText = this.directory.readSchema();
    this.schema = schemaText === undefined ? undefined : compileSchema(schemaText);
    this.store = new RelationshipStore();
    const { snapshot, changes } = this.directory.load();
    for (const text of snapshot.tuples) this.store.addTuple(parseTuple(text));
    for (const text of snapshot.attributes) this.store.setAttribute(parseAttribute(text));
    this.revision = snapshot.revision;
    for (const change of changes) this.apply(change);
  }

  /** Picks up changes another process appended to the journal (e.g. `clearance grant` beside a server). */
  private refresh(): void {
    if (!this.directory) return;
    try {
      for (const change of this.directory.readNewChanges()) this.apply(change);
    } catch (error) {
      if (!(error instanceof JournalRewritten)) throw error;
      this.loadFromDirectory();
    }
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

/** Allowed ids from `cursor` on; the cursor of the next page is the first allowed id past this one. */
function pageOf(
  candidates: readonly string[],
  pageSize: number | undefined,
  cursor: string | undefined,
  isAllowed: (id: string) => boolean,
): LookupPage {
  const size = positivePageSize(pageSize);
  const ids: string[] = [];
  for (const id of candidates) {
    if (cursor !== undefined && id < cursor) continue;
    if (!isAllowed(id)) continue;
    if (ids.length === size) return { ids, nextCursor: id };
    ids.push(id);
  }
  return { ids };
}

function uniqueStrings(values: readonly string[]): string[] {
  return [...new Set(values)];
}
