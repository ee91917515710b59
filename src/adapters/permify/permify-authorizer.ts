/**
 * The Authorizer port over a Permify server (gRPC, @permify/permify-node's generated client). Every call
 * has a deadline; every failure becomes an AppError (a denial for the request), never an "allowed".
 */
import { randomBytes } from "node:crypto";
import { type Channel, ChannelCredentials, type ClientMiddleware, createChannel } from "nice-grpc";
import type {
  Attribute,
  AttributeFilter,
  CheckRequest,
  RequestContext,
  Tuple,
  TupleFilter,
} from "../../core/authz-model.ts";
import { wildcardProblem } from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import { formatTuple } from "../../core/permify-notation.ts";
import {
  type Authorizer,
  type CheckOutcome,
  checkFailure,
  type LookupPage,
  type LookupResourcesRequest,
  type LookupSubjectsRequest,
  type WriteResult,
} from "../../ports/authorizer.ts";
import { type PermifyOperation, toAppError } from "./permify-errors.ts";
import {
  fromWireTuple,
  matchesSubjectRelation,
  toWireAttribute,
  toWireAttributeFilter,
  toWireContext,
  toWireEntity,
  toWireSubject,
  toWireTuple,
  toWireTupleFilter,
} from "./permify-messages.ts";
import {
  baseCodec,
  CHECK_RESULT,
  createPermifyClients,
  type PermifyClients,
  type WireContext,
  type WireSchemaDefinition,
} from "./permify-sdk.ts";
import { NewestSnapToken } from "./snap-tokens.ts";

export interface PermifyAuthorizerOptions {
  /** `host:port` of Permify's gRPC listener. */
  readonly endpoint: string;
  readonly tenant: string;
  /** A preshared key; sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  /** TLS to Permify: absent means plaintext (loopback or a private network only). */
  readonly tls?: { readonly caPem?: Buffer };
  readonly timeouts?: {
    /** One check, one lookup page, one read page; and the whole of a checkMany. Default 2,000 ms. */
    readonly readMs?: number;
    /** One write, delete or schema write. Default 10,000 ms. */
    readonly writeMs?: number;
  };
  /** Permify's `metadata.depth`: nested evaluations allowed per check (at least 3). Default 50. */
  readonly depth?: number;
  /** BulkCheck calls in flight at once for one checkMany. Default 4. */
  readonly bulkConcurrency?: number;
  /**
   * Which snapshot reads are evaluated at.
   * - `"head"` (default): the tenant's newest transaction, which includes every write that has returned,
   *   made by clearance or anyone else. The server uses this.
   * - `"own-writes"`: exactly the snapshot of this process's newest write (head before its first write),
   *   for a short-lived writer that must read what it wrote. Permify evaluates a read *at* the token it is
   *   given, never later, so a long-lived process pinned to its own token would not see a revocation made
   *   after it by anyone else.
   */
  readonly readConsistency?: "head" | "own-writes";
  /** Extra gRPC client middleware, outermost first (tests use it to inject faults). */
  readonly middleware?: readonly ClientMiddleware[];
}

/** The Permify adapter: the Authorizer port plus what operators of a Permify deployment need. */
export interface PermifyAuthorizer extends Authorizer {
  readonly tenant: string;
  /** The newest snap token returned by this process's writes, if it made any. */
  newestSnapToken(): string | undefined;
}

const DEFAULT_READ_MS = 2_000;
const DEFAULT_WRITE_MS = 10_000;
const DEFAULT_DEPTH = 50;
const DEFAULT_BULK_CONCURRENCY = 4;
/** Permify's hard limit on items per BulkCheck call. */
const BULK_CHECK_MAX_ITEMS = 100;
const DEFAULT_PAGE_SIZE = 1_000;

/**
 * Reconnect quickly after Permify comes back, instead of gRPC's default backoff of up to two minutes. No
 * client keepalive pings: Permify's Go server keeps gRPC's default enforcement (at most one ping every five
 * minutes) and answers more frequent pings by closing the connection under the calls in flight. Every call
 * has a deadline instead.
 */
const CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 2_000,
};

/**
 * An authorizer in a tenant of its own, created for it and deleted (with everything written to it) when it
 * is closed: for running a validation file against a production Permify without touching its tenants.
 */
export async function createScratchPermifyAuthorizer(
  options: Omit<PermifyAuthorizerOptions, "tenant">,
): Promise<PermifyAuthorizer> {
  const tenant = `clearance-scratch-${randomBytes(8).toString("hex")}`;
  const authorizer = createPermifyAuthorizer({ ...options, tenant }) as PermifyClientAuthorizer;
  try {
    await authorizer.createOwnTenant("a scratch tenant of clearance");
  } catch (error) {
    await authorizer.close();
    throw error;
  }
  authorizer.deleteTenantOnClose = true;
  return authorizer;
}

export function createPermifyAuthorizer(options: PermifyAuthorizerOptions): PermifyAuthorizer {
  const depth = options.depth ?? DEFAULT_DEPTH;
  if (!Number.isSafeInteger(depth) || depth < 3) {
    throw new AppError("BAD_REQUEST", `Permify depth must be an integer of at least 3, got ${depth}`);
  }
  const credentials = options.tls
    ? ChannelCredentials.createSsl(options.tls.caPem ?? null)
    : ChannelCredentials.createInsecure();
  const channel = createChannel(options.endpoint, credentials, CHANNEL_OPTIONS);
  const clients = createPermifyClients(channel, {
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.middleware === undefined ? {} : { middleware: options.middleware }),
  });
  return new PermifyClientAuthorizer(channel, clients, {
    tenant: options.tenant,
    depth,
    readMs: options.timeouts?.readMs ?? DEFAULT_READ_MS,
    writeMs: options.timeouts?.writeMs ?? DEFAULT_WRITE_MS,
    bulkConcurrency: options.bulkConcurrency ?? DEFAULT_BULK_CONCURRENCY,
    pinReads: options.readConsistency === "own-writes",
  });
}

interface Settings {
  readonly tenant: string;
  readonly depth: number;
  readonly readMs: number;
  readonly writeMs: number;
  readonly bulkConcurrency: number;
  readonly pinReads: boolean;
}

class PermifyClientAuthorizer implements PermifyAuthorizer {
  readonly tenant: string;
  private readonly newest = new NewestSnapToken();
  private closed = false;

  constructor(
    private readonly channel: Channel,
    private readonly clients: PermifyClients,
    private readonly settings: Settings,
  ) {
    this.tenant = settings.tenant;
  }

  newestSnapToken(): string | undefined {
    return this.newest.value;
  }

  async writeSchema(schema: string): Promise<{ readonly schemaVersion: string }> {
    const response = await this.call("schema-write", "the schema write", this.settings.writeMs, (signal) =>
      this.clients.schema.write({ tenantId: this.tenant, schema }, { signal }),
    );
    return { schemaVersion: response.schemaVersion };
  }

  async readSchema(): Promise<{ readonly schemaVersion: string; readonly schema?: string }> {
    const version = await this.headSchemaVersion();
    // Permify keeps the compiled definitions only; the text it was written from cannot be read back.
    return { schemaVersion: version };
  }

  /**
   * Compiles `schema` with Permify itself, in a throwaway tenant, and compares the definitions with those
   * in force: the answer does not depend on clearance's own reading of the language.
   */
  async isSchemaInForce(schema: string): Promise<boolean> {
    let head: WireSchemaDefinition | undefined;
    try {
      head = await this.readDefinition(this.tenant);
    } catch (error) {
      if (error instanceof AppError && error.code === "NOT_FOUND") return false;
      throw error;
    }
    const probe = `clearance-schema-probe-${randomBytes(8).toString("hex")}`;
    await this.call(
      "schema-read",
      "creating a tenant to compile the schema",
      this.settings.writeMs,
      (signal) => this.clients.tenancy.create({ id: probe, name: "clearance schema comparison" }, { signal }),
    );
    try {
      await this.call("schema-write", "the schema to compare", this.settings.writeMs, (signal) =>
        this.clients.schema.write({ tenantId: probe, schema }, { signal }),
      );
      const wanted = await this.readDefinition(probe);
      return canonicalDefinition(wanted) === canonicalDefinition(head);
    } finally {
      await this.call("schema-read", "deleting the comparison tenant", this.settings.writeMs, (signal) =>
        this.clients.tenancy.delete({ id: probe }, { signal }),
      ).catch(() => undefined);
    }
  }

  async check(request: CheckRequest): Promise<boolean> {
    const response = await this.call(
      "read",
      `the check ${describeCheck(request)}`,
      this.settings.readMs,
      (signal) =>
        this.clients.permission.check(
          {
            tenantId: this.tenant,
            metadata: this.readMetadata(),
            entity: toWireEntity(request.entity),
            permission: request.permission,
            subject: toWireSubject(request.subject),
            context: toWireContext(request.context),
          },
          { signal },
        ),
    );
    return response.can === CHECK_RESULT.allowed;
  }

  /**
   * De-duplicates, groups requests that share a context (Permify's BulkCheck takes one context for all its
   * items), and sends groups of at most 100 items, `bulkConcurrency` calls at a time, all under one
   * deadline. A call that fails marks its items failed with its error; Permify itself answers DENIED for an item it
   * could not evaluate. When every call fails the whole checkMany throws, so that an unreachable Permify is
   * a 503 rather than "nothing found".
   */
  async checkMany(requests: readonly CheckRequest[]): Promise<readonly CheckOutcome[]> {
    this.assertOpen();
    if (requests.length === 0) return [];
    const batches = bulkBatches(requests);
    const outcomes = new Map<string, CheckOutcome>();
    const deadline = AbortSignal.timeout(this.settings.readMs);
    const failures: AppError[] = [];
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < batches.length; index = next++) {
        const batch = batches[index] as BulkBatch;
        try {
          const response = await this.call("read", `a bulk check of ${batch.items.length}`, 0, (signal) =>
            this.clients.permission.bulkCheck(
              {
                tenantId: this.tenant,
                metadata: this.readMetadata(),
                context: batch.context,
                items: batch.items.map((item) => ({
                  entity: toWireEntity(item.entity),
                  permission: item.permission,
                  subject: toWireSubject(item.subject),
                })),
              },
              { signal: AbortSignal.any([signal, deadline]) },
            ),
          );
          if (response.results.length !== batch.items.length) {
            throw new AppError(
              "UPSTREAM_UNAVAILABLE",
              `Permify answered ${response.results.length} results for ${batch.items.length} bulk check items`,
            );
          }
          batch.keys.forEach((key, position) => {
            const can = response.results[position]?.can;
            outcomes.set(
              key,
              can === CHECK_RESULT.allowed
                ? "allowed"
                : can === CHECK_RESULT.denied
                  ? "denied"
                  : checkFailure(
                      new AppError(
                        "UPSTREAM_UNAVAILABLE",
                        `Permify answered a bulk check item with ${String(can)}`,
                      ),
                    ),
            );
          });
        } catch (error) {
          const failure = toAppError(error, "read", "a bulk check");
          failures.push(failure);
          for (const key of batch.keys) outcomes.set(key, checkFailure(failure));
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.settings.bulkConcurrency, batches.length) }, () => worker()),
    );
    if (failures.length === batches.length) throw failures[0];
    return requests.map(
      (request) =>
        outcomes.get(checkKey(request)) ??
        checkFailure(new AppError("INTERNAL", "a bulk check item got no outcome")),
    );
  }

  async lookupResources(request: LookupResourcesRequest): Promise<LookupPage> {
    const response = await this.call(
      "read",
      `the lookup of ${request.entityType} ${request.permission}`,
      this.settings.readMs,
      (signal) =>
        this.clients.permission.lookupEntity(
          {
            tenantId: this.tenant,
            metadata: this.readMetadata(),
            entityType: request.entityType,
            permission: request.permission,
            subject: toWireSubject(request.subject),
            context: toWireContext(request.context),
            pageSize: request.pageSize ?? DEFAULT_PAGE_SIZE,
            continuousToken: request.cursor ?? "",
          },
          { signal },
        ),
    );
    return page(response.entityIds, response.continuousToken);
  }

  async lookupSubjects(request: LookupSubjectsRequest): Promise<LookupPage> {
    const response = await this.call(
      "read",
      `the lookup of ${request.subjectType} with ${request.permission}`,
      this.settings.readMs,
      (signal) =>
        this.clients.permission.lookupSubject(
          {
            tenantId: this.tenant,
            metadata: this.readMetadata(),
            entity: toWireEntity(request.entity),
            permission: request.permission,
            subjectReference: { type: request.subjectType, relation: request.subjectRelation ?? "" },
            context: toWireContext(request.context),
            pageSize: request.pageSize ?? DEFAULT_PAGE_SIZE,
            continuousToken: request.cursor ?? "",
          },
          { signal },
        ),
    );
    return page(response.subjectIds, response.continuousToken);
  }

  async writeData(data: {
    readonly tuples?: readonly Tuple[];
    readonly attributes?: readonly Attribute[];
  }): Promise<WriteResult> {
    const tuples = data.tuples ?? [];
    const attributes = data.attributes ?? [];
    if (tuples.length === 0 && attributes.length === 0) {
      return { snapToken: this.newest.value ?? "" };
    }
    // Refused here, before the write: Permify v1.7 stores `user:*` as an id, and a later reading of it as
    // "every user" would turn the grant into one for the whole bank.
    for (const tuple of tuples) {
      const wildcard = wildcardProblem(tuple);
      if (wildcard) throw new AppError("DATA_INVALID", `relationship ${formatTuple(tuple)}: ${wildcard}`);
    }
    const response = await this.call(
      "write",
      `a write of ${tuples.length} relationships and ${attributes.length} attributes`,
      this.settings.writeMs,
      (signal) =>
        this.clients.data.write(
          {
            tenantId: this.tenant,
            metadata: { schemaVersion: "" },
            tuples: tuples.map(toWireTuple),
            attributes: attributes.map(toWireAttribute),
          },
          { signal },
        ),
    );
    this.newest.observe(response.snapToken);
    return { snapToken: response.snapToken };
  }

  /**
   * Permify's filters read a subject relation of `""` as "any relation", where clearance means "none". So
   * such a delete first reads what the broader filter matches; if that includes subjects with a relation
   * (`team:x#member` beside `team:x`), those are written back after the delete. That case is two
   * transactions: in between, access is narrower than before, never wider.
   */
  async deleteData(filters: {
    readonly tuples?: TupleFilter;
    readonly attributes?: AttributeFilter;
  }): Promise<WriteResult> {
    if (filters.tuples === undefined && filters.attributes === undefined) {
      return { snapToken: this.newest.value ?? "" };
    }
    const collateral =
      filters.tuples?.subject?.relation === ""
        ? (await this.readAll(filters.tuples)).filter((tuple) => tuple.subject.relation !== undefined)
        : [];
    const response = await this.call("write", "a delete", this.settings.writeMs, (signal) =>
      this.clients.data.delete(
        {
          tenantId: this.tenant,
          tupleFilter: filters.tuples ? toWireTupleFilter(filters.tuples) : {},
          attributeFilter: filters.attributes ? toWireAttributeFilter(filters.attributes) : {},
        },
        { signal },
      ),
    );
    this.newest.observe(response.snapToken);
    if (collateral.length > 0) return this.writeData({ tuples: collateral });
    return { snapToken: response.snapToken };
  }

  async readRelationships(request: {
    readonly filter: TupleFilter;
    readonly pageSize?: number;
    readonly cursor?: string;
  }): Promise<{ readonly tuples: readonly Tuple[]; readonly nextCursor?: string }> {
    const response = await this.call("read", "reading relationships", this.settings.readMs, (signal) =>
      this.clients.data.readRelationships(
        {
          tenantId: this.tenant,
          metadata: { snapToken: this.readSnapToken() },
          filter: toWireTupleFilter(request.filter),
          pageSize: request.pageSize ?? DEFAULT_PAGE_SIZE,
          continuousToken: request.cursor ?? "",
        },
        { signal },
      ),
    );
    const tuples = response.tuples
      .map(fromWireTuple)
      .filter((tuple) => matchesSubjectRelation(tuple, request.filter));
    return response.continuousToken === "" ? { tuples } : { tuples, nextCursor: response.continuousToken };
  }

  /** Readiness: Permify answers a cheap authenticated call within the read deadline. */
  async probe(): Promise<void> {
    await this.call("read", "the readiness probe", this.settings.readMs, (signal) =>
      this.clients.schema.list({ tenantId: this.tenant, pageSize: 1, continuousToken: "" }, { signal }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.deleteTenantOnClose) {
      await this.call("write", `deleting tenant ${this.tenant}`, this.settings.writeMs, (signal) =>
        this.clients.tenancy.delete({ id: this.tenant }, { signal }),
      ).catch(() => undefined);
    }
    this.closed = true;
    this.channel.close();
  }

  /** Set by createScratchPermifyAuthorizer: the tenant is this authorizer's alone. */
  deleteTenantOnClose = false;

  async createOwnTenant(name: string): Promise<void> {
    await this.call("write", `creating tenant ${this.tenant}`, this.settings.writeMs, (signal) =>
      this.clients.tenancy.create({ id: this.tenant, name }, { signal }),
    );
  }

  private async headSchemaVersion(): Promise<string> {
    const response = await this.call("schema-read", "the schema", this.settings.readMs, (signal) =>
      this.clients.schema.list({ tenantId: this.tenant, pageSize: 1, continuousToken: "" }, { signal }),
    );
    if (response.head === "") throw new AppError("NOT_FOUND", `Permify tenant ${this.tenant} has no schema`);
    return response.head;
  }

  private async readDefinition(tenant: string): Promise<WireSchemaDefinition> {
    const response = await this.call("schema-read", "the schema", this.settings.readMs, (signal) =>
      this.clients.schema.read({ tenantId: tenant, metadata: { schemaVersion: "" } }, { signal }),
    );
    if (!response.schema) throw new AppError("NOT_FOUND", `Permify tenant ${tenant} has no schema`);
    return response.schema;
  }

  private async readAll(filter: TupleFilter): Promise<Tuple[]> {
    const broad: TupleFilter = { ...filter, subject: { ...filter.subject, relation: undefined } };
    const tuples: Tuple[] = [];
    let cursor: string | undefined;
    do {
      const result = await this.readRelationships({
        filter: broad,
        ...(cursor === undefined ? {} : { cursor }),
      });
      tuples.push(...result.tuples);
      if (result.nextCursor !== undefined && result.nextCursor === cursor) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "Permify returned the same relationship cursor twice");
      }
      cursor = result.nextCursor;
    } while (cursor !== undefined);
    return tuples;
  }

  private readMetadata() {
    return { schemaVersion: "", snapToken: this.readSnapToken(), depth: this.settings.depth };
  }

  private readSnapToken(): string {
    return this.settings.pinReads ? (this.newest.value ?? "") : "";
  }

  /** One call to Permify with its own deadline (`timeoutMs` 0: the caller brings one). */
  private async call<T>(
    operation: PermifyOperation,
    what: string,
    timeoutMs: number,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    this.assertOpen();
    const signal = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : new AbortController().signal;
    try {
      return await run(signal);
    } catch (error) {
      throw toAppError(error, operation, what);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("INTERNAL", "the Permify authorizer is closed");
  }
}

interface BulkBatch {
  readonly context: WireContext | undefined;
  readonly items: CheckRequest[];
  readonly keys: string[];
}

/** Unique requests, grouped by context, in batches Permify accepts. */
function bulkBatches(requests: readonly CheckRequest[]): BulkBatch[] {
  const byContext = new Map<
    string,
    { context: RequestContext | undefined; unique: Map<string, CheckRequest> }
  >();
  for (const request of requests) {
    const contextKey = request.context === undefined ? "" : JSON.stringify(request.context);
    let group = byContext.get(contextKey);
    if (!group) {
      group = { context: request.context, unique: new Map() };
      byContext.set(contextKey, group);
    }
    group.unique.set(checkKey(request), request);
  }
  const batches: BulkBatch[] = [];
  for (const { context, unique } of byContext.values()) {
    const entries = [...unique];
    for (let start = 0; start < entries.length; start += BULK_CHECK_MAX_ITEMS) {
      const slice = entries.slice(start, start + BULK_CHECK_MAX_ITEMS);
      batches.push({
        context: toWireContext(context),
        items: slice.map(([, request]) => request),
        keys: slice.map(([key]) => key),
      });
    }
  }
  return batches;
}

function checkKey(request: CheckRequest): string {
  const subject = request.subject;
  return [
    request.context === undefined ? "" : JSON.stringify(request.context),
    request.entity.type,
    request.entity.id,
    request.permission,
    subject.type,
    subject.id,
    subject.relation ?? "",
  ].join("\u0000");
}

function page(ids: readonly string[], continuousToken: string): LookupPage {
  return continuousToken === "" ? { ids: [...ids] } : { ids: [...ids], nextCursor: continuousToken };
}

function describeCheck(request: CheckRequest): string {
  return `${request.entity.type}#${request.permission}`;
}

/**
 * The definitions Permify compiled, as one string with map keys sorted. Source positions of rule
 * expressions are left out: they move with whitespace and say nothing about what the schema permits.
 */
function canonicalDefinition(definition: WireSchemaDefinition): string {
  return JSON.stringify(baseCodec("SchemaDefinition").toJSON(definition), (key, value: unknown) => {
    if (key === "sourceInfo") return undefined;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
}
