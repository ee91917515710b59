/**
 * What the benchmarks share: percentiles, the machine line, writing bench/results/, and the production
 * servers to measure: a Permify (on PostgreSQL or its memory engine) and a Qdrant, each started on free
 * ports by the test suite's launchers (which also stop them however the benchmark ends), or one already
 * running. A missing binary ends the benchmark with exit code 2 and says where it was looked for.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CallOptions, ClientMiddleware, ClientMiddlewareCall } from "nice-grpc";
import { createPermifyAuthorizer } from "../src/adapters/permify/permify-authorizer.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import { findPermifyBinary, startPermify } from "../test/helpers/permify-server.ts";
import { findPostgresBinDir, startPostgres, uniqueDatabaseName } from "../test/helpers/postgres-server.ts";
import { findQdrantBinary, startQdrant } from "../test/helpers/qdrant-server.ts";

/** The p-th percentile of ascending samples (nearest rank); NaN for none. */
export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedMs.length) - 1;
  return sortedMs[Math.min(sortedMs.length - 1, Math.max(0, rank))] as number;
}

export function machine(): string {
  const cpus = os.cpus();
  const memory = `${Math.round(os.totalmem() / 2 ** 30)} GiB`;
  return `${os.type()} ${os.release()} (${os.arch()}), ${cpus[0]?.model.trim() ?? "unknown cpu"}, ${cpus.length} cores, ${memory}, Node ${process.version}`;
}

/** Writes `bench/results/<name>` and says where. */
export async function writeResults(name: string, markdown: string): Promise<void> {
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "results");
  const file = join(resultsDir, name);
  await mkdir(resultsDir, { recursive: true });
  await writeFile(file, markdown);
  console.log(`wrote ${file}`);
}

/** Permify's storage engine: PostgreSQL (production) or its memory engine (go-memdb, no indexes by id). */
export type PermifyEngine = "postgres" | "memory";

export interface PermifyConnection {
  readonly authorizer: Authorizer;
  /** For the report: what ran and where. */
  readonly description: string;
  readonly version: string;
  /** Every gRPC call the adapter made to Permify, by method, since the connection or the last `reset`. */
  readonly calls: CallRecorder;
  /** Statements Permify ran on PostgreSQL, when the benchmark started that PostgreSQL itself. */
  readonly statements?: StatementStats;
  stop(): Promise<void>;
}

/**
 * A Permify authorizer in a fresh tenant: on `endpoint` when given (left in place afterwards), else on a
 * Permify the benchmark starts (PostgreSQL engine by default, on a PostgreSQL cluster of its own, or the
 * memory engine) and stops at the end. Exits 2 without a binary.
 */
export async function connectPermify(options: {
  readonly endpoint?: string;
  readonly token?: string;
  readonly engine?: PermifyEngine;
  readonly readMs: number;
  readonly writeMs: number;
}): Promise<PermifyConnection> {
  const tenant = `bench-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  const calls = new CallRecorder();
  const connect = (endpoint: string) =>
    createPermifyAuthorizer({
      endpoint,
      tenant,
      ...(options.token === undefined ? {} : { token: options.token }),
      timeouts: { readMs: options.readMs, writeMs: options.writeMs },
      middleware: [calls.middleware],
    });
  if (options.endpoint !== undefined) {
    const authorizer = connect(options.endpoint);
    return {
      authorizer,
      calls,
      description: `the server at ${options.endpoint} (tenant ${tenant}, left in place)`,
      version: "unknown (external server)",
      stop: () => authorizer.close(),
    };
  }
  // The test suite's launchers: free ports, readiness, and no server left behind if the benchmark dies.
  const binary = findPermifyBinary();
  if (binary === undefined) {
    missing("no Permify binary (PERMIFY_BIN, .tools/bin/permify or PATH): run npm run permify:install");
  }
  const engine = options.engine ?? "postgres";
  if (engine === "memory") {
    const server = await startPermify({ engine: "memory" });
    const authorizer = connect(server.endpoint);
    return {
      authorizer,
      calls,
      description: `memory engine, started by the benchmark on free ports (tenant ${tenant})`,
      version: permifyVersion(binary),
      async stop() {
        await authorizer.close();
        await server.stop();
      },
    };
  }
  if (findPostgresBinDir() === undefined) {
    missing(
      "no PostgreSQL server binaries (initdb on PATH or in /usr/lib/postgresql/*/bin) for Permify's " +
        "PostgreSQL engine: apt-get install postgresql, or pass --permify-engine memory",
    );
  }
  // pg_stat_statements counts and times every statement Permify runs, for the "where the time goes" note.
  const postgres = await startPostgres({ preloadLibraries: ["pg_stat_statements"] });
  try {
    const databaseUri = await postgres.createDatabase(uniqueDatabaseName("permify"));
    const database = databaseUri.slice(databaseUri.lastIndexOf("/") + 1).split("?")[0] as string;
    await postgres.sql(database, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const server = await startPermify({ engine: "postgres", databaseUri });
    const authorizer = connect(server.endpoint);
    const postgresVersion = (await postgres.sql("postgres", "SHOW server_version")).trim();
    return {
      authorizer,
      calls,
      statements: new StatementStats((sql) => postgres.sql(database, sql)),
      description:
        `PostgreSQL engine (PostgreSQL ${postgresVersion.split(" ")[0]}, a cluster of its own with fsync off, ` +
        `Permify's default pool of 20 connections), started by the benchmark on free ports (tenant ${tenant})`,
      version: permifyVersion(binary),
      async stop() {
        await authorizer.close();
        await server.stop();
        await postgres.stop();
      },
    };
  } catch (error) {
    await postgres.stop();
    throw error;
  }
}

export interface QdrantConnection {
  readonly url: string;
  readonly apiKey?: string;
  readonly description: string;
  readonly version: string;
  stop(): Promise<void>;
}

/**
 * A Qdrant to measure: the one at `url` when given (left in place), else one the benchmark starts on free
 * ports with its storage in a temporary directory (removed by `stop`). Exits 2 without a binary.
 */
export async function connectQdrant(options: { readonly url?: string; readonly apiKey?: string }) {
  if (options.url !== undefined) {
    const { url, apiKey } = options;
    return {
      url,
      ...(apiKey === undefined ? {} : { apiKey }),
      description: `the server at ${url} (left in place)`,
      version: await qdrantVersion(url, apiKey),
      stop: async () => {},
    } satisfies QdrantConnection;
  }
  if (findQdrantBinary() === undefined) {
    missing("no Qdrant binary (QDRANT_BIN, ../shared/bin/qdrant or PATH), or pass --qdrant-url");
  }
  const server = await startQdrant();
  return {
    url: server.url,
    description: "one node, started by the benchmark on free ports, storage in a temporary directory",
    version: await qdrantVersion(server.url, undefined),
    stop: () => server.stop(),
  } satisfies QdrantConnection;
}

async function qdrantVersion(url: string, apiKey: string | undefined): Promise<string> {
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(5_000),
      ...(apiKey === undefined ? {} : { headers: { "api-key": apiKey } }),
    });
    const body = (await response.json()) as { version?: unknown };
    return typeof body.version === "string" ? `v${body.version}` : "unknown";
  } catch {
    return "unknown";
  }
}

function missing(message: string): never {
  console.error(message);
  process.exit(2);
}

/** Calls, time and items of one gRPC method. */
export interface MethodStats {
  calls: number;
  totalMs: number;
  /** Items asked (BulkCheck) or ids answered (LookupEntity), summed. */
  items: number;
  readonly samples: number[];
}

/**
 * Counts and times every gRPC call an adapter makes, as a client middleware: what the adapter asked of the
 * server, call by call (a checkMany of 300 items is three BulkCheck calls), and how long each took from
 * the client's side, queueing on the channel included.
 */
export class CallRecorder {
  private methods = new Map<string, MethodStats>();

  readonly middleware: ClientMiddleware = this.record.bind(this) as ClientMiddleware;

  private async *record<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ) {
    const started = performance.now();
    const name = call.method.path.slice(call.method.path.lastIndexOf("/") + 1);
    let items = 0;
    const request = call.request as { items?: unknown[] } | undefined;
    if (Array.isArray(request?.items)) items = request.items.length;
    try {
      const response = yield* call.next(call.request, options);
      const ids = (response as { entityIds?: unknown[] } | undefined)?.entityIds;
      if (Array.isArray(ids)) items += ids.length;
      return response;
    } finally {
      const ms = performance.now() - started;
      const stats = this.methods.get(name) ?? { calls: 0, totalMs: 0, items: 0, samples: [] };
      stats.calls++;
      stats.totalMs += ms;
      stats.items += items;
      stats.samples.push(ms);
      this.methods.set(name, stats);
    }
  }

  /** What was recorded since the last reset, by method name (`BulkCheck`, `LookupEntity`, ...). */
  snapshot(): ReadonlyMap<string, MethodStats> {
    return new Map(this.methods);
  }

  reset(): void {
    this.methods = new Map();
  }
}

/** One normalized statement of pg_stat_statements. */
export interface StatementRow {
  readonly query: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly rows: number;
}

/** Reads and resets pg_stat_statements in the benchmark's own PostgreSQL. */
export class StatementStats {
  constructor(private readonly sql: (statement: string) => Promise<string>) {}

  async reset(): Promise<void> {
    await this.sql("SELECT pg_stat_statements_reset()");
  }

  /** Statements since the last reset, most total time first (the statistics' own queries left out). */
  async top(limit = 8): Promise<StatementRow[]> {
    const out = await this.sql(
      "SELECT calls, round(total_exec_time::numeric, 3), rows, regexp_replace(query, '\\s+', ' ', 'g') " +
        "FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' " +
        `ORDER BY total_exec_time DESC LIMIT ${limit}`,
    );
    return out
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const [calls, totalMs, rows, ...query] = line.split("|");
        return { calls: Number(calls), totalMs: Number(totalMs), rows: Number(rows), query: query.join("|") };
      });
  }
}
/** The version a Permify binary reports (`permify version`), or "unknown". */
function permifyVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ["version"], { encoding: "utf8", timeout: 10_000, cwd: os.tmpdir() });
    return /v\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? "unknown";
  } catch {
    return "unknown";
  }
}
