/**
 * clearance's configuration: the only reader of process.env. Every setting has a documented default;
 * a bad value fails start-up with one message listing every bad key.
 */
import { z } from "zod";
import { AppError } from "./core/errors.ts";
import { DEFAULT_DENSE_WEIGHT } from "./core/lexical.ts";
import { DEFAULT_SCAN_BUDGET, type ScanBudget, STRATEGIES, type StrategySetting } from "./core/retrieval.ts";
import { DEFAULT_SCOPES, parseScopeList, SCOPES, type Scope } from "./core/scopes.ts";

const SIGNATURE_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

/** The metrics listener's port unless METRICS_PORT says otherwise (the Prometheus exporters' range). */
export const DEFAULT_METRICS_PORT = 9464;

/** A day: the longest `clearance token --ttl`; an identity provider's access tokens are usually far shorter. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** Permify's rule for tenant ids (and entity ids). */
const PERMIFY_ID = /^[a-zA-Z0-9_\-@.:+]{1,128}$/;

const integer = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

// --- The audit trail (README "Audit trail") ------------------------------------------------------------
const auditEnvironment = {
  AUDIT: z.enum(["file", "postgres"]).default("file"),
  AUDIT_DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
  ),
  /** The HMAC key of query digests: at least 32 characters. */
  AUDIT_QUERY_KEY: optionalText.pipe(z.string().min(32, "must be at least 32 characters").optional()),
  AUDIT_CHECKPOINT_KEY_FILE: optionalText,
  AUDIT_CHECKPOINT_INTERVAL_MS: integer(10_000, 100, 3_600_000),
  AUDIT_ROTATE_BYTES: integer(64 * 1024 * 1024, 4_096, 2 ** 40),
  AUDIT_ROTATE_HOURS: integer(24, 1, 24 * 366),
  AUDIT_RETENTION_DAYS: integer(0, 0, 36_500),
  AUDIT_TIMEOUT_MS: integer(5_000, 100, 600_000),
  AUDIT_RESOURCE: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_]{1,64}:[A-Za-z0-9_\-@.:+]{1,128}$/, "must be an entity, e.g. bank:main")
    .default("bank:main"),
  CLEARANCE_OPERATOR: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_\-@.:+]{1,128}$/, "must match Permify's id pattern")
      .optional(),
  ),
};

/** Where the audit trail lives and how it is kept (README "Audit trail"). */
export interface AuditConfig {
  readonly store: { readonly kind: "file" } | { readonly kind: "postgres"; readonly url: string };
  /** Absent in demo mode: a key is generated and kept in the data directory. */
  readonly queryKey?: string;
  readonly checkpointKeyFile?: string;
  readonly checkpointIntervalMs: number;
  readonly rotateBytes: number;
  readonly rotateAgeMs: number;
  /** Absent: keep every segment. */
  readonly retentionMs?: number;
  readonly timeoutMs: number;
  /** The entity whose `audit` permission lets a principal read the trail. */
  readonly resource: { readonly type: string; readonly id: string };
  /** Who the CLI acts as in the trail (absent: the OS user). */
  readonly operator?: string;
}

function auditConfig(
  e: z.infer<typeof environmentSchema>,
  production: boolean,
  problems: string[],
): AuditConfig | undefined {
  const before = problems.length;
  if (e.AUDIT === "postgres" && e.AUDIT_DATABASE_URL === undefined) {
    problems.push("AUDIT_DATABASE_URL: required when AUDIT=postgres");
  }
  if (e.AUDIT === "file" && e.AUDIT_DATABASE_URL !== undefined) {
    problems.push("AUDIT: set AUDIT=postgres to use AUDIT_DATABASE_URL (or unset AUDIT_DATABASE_URL)");
  }
  // A digest keyed by a generated key is only as safe as the data directory; with a real issuer, the key
  // must come from the operator's secrets.
  if (production && e.AUDIT_QUERY_KEY === undefined) {
    problems.push("AUDIT_QUERY_KEY: required when AUTH_ISSUER is set (a secret of at least 32 characters)");
  }
  if (problems.length > before) return undefined;
  const [type, ...rest] = e.AUDIT_RESOURCE.split(":");
  return {
    store:
      e.AUDIT === "postgres" ? { kind: "postgres", url: e.AUDIT_DATABASE_URL as string } : { kind: "file" },
    ...(e.AUDIT_QUERY_KEY === undefined ? {} : { queryKey: e.AUDIT_QUERY_KEY }),
    ...(e.AUDIT_CHECKPOINT_KEY_FILE === undefined ? {} : { checkpointKeyFile: e.AUDIT_CHECKPOINT_KEY_FILE }),
    checkpointIntervalMs: e.AUDIT_CHECKPOINT_INTERVAL_MS,
    rotateBytes: e.AUDIT_ROTATE_BYTES,
    rotateAgeMs: e.AUDIT_ROTATE_HOURS * 3_600_000,
    ...(e.AUDIT_RETENTION_DAYS === 0 ? {} : { retentionMs: e.AUDIT_RETENTION_DAYS * 86_400_000 }),
    timeoutMs: e.AUDIT_TIMEOUT_MS,
    resource: { type: type as string, id: rest.join(":") },
    ...(e.CLEARANCE_OPERATOR === undefined ? {} : { operator: e.CLEARANCE_OPERATOR }),
  };
}
// --- end of the audit trail's configuration ----------------------------------------------------------

/** The environment variables clearance reads, with defaults. The README's configuration table mirrors it. */
const environmentSchema = z.object({
  CLEARANCE_DATA_DIR: z.string().trim().min(1).default(".clearance"),
  HOST: z.string().trim().min(1).default("127.0.0.1"),
  PORT: integer(8080, 0, 65_535),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: optionalText,
  METRICS_HOST: z.string().trim().min(1).default("127.0.0.1"),
  METRICS_PORT: z
    .string()
    .trim()
    .default(String(DEFAULT_METRICS_PORT))
    .pipe(z.union([z.literal("off"), z.string().regex(/^\d+$/, 'a port number or "off"')]))
    .transform((value) => (value === "off" ? value : Number(value)))
    .pipe(z.union([z.literal("off"), z.number().int().max(65_535)])),
  AUTH_MODE: optionalText.pipe(z.enum(["issuer", "demo"]).optional()),
  AUTH_DEMO_ALLOW_UNSAFE: optionalText.pipe(z.enum(["true", "false"]).optional()),
  AUTH_ISSUER: optionalText,
  AUTH_AUDIENCE: z.string().trim().min(1).default("clearance"),
  AUTH_ALGORITHMS: z
    .string()
    .default("RS256,ES256,EdDSA")
    .transform((value) => value.split(",").map((name) => name.trim()))
    .pipe(z.array(z.enum(SIGNATURE_ALGORITHMS)).min(1)),
  AUTH_JWKS_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  AUTH_PUBLIC_KEY_PEM: optionalText,
  AUTH_CLOCK_TOLERANCE_SECONDS: integer(30, 0, 300),
  AUTH_MAX_TOKEN_LIFETIME_SECONDS: integer(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, 0, 30 * 24 * 3600),
  AUTH_DEFAULT_SCOPES: z.string().optional(),
  AUTH_RESOURCE: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  AUTH_AUTHORIZATION_SERVERS: optionalText,
  AUTH_JWKS_REFRESH_SECONDS: integer(300, 1, 86_400),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  EMBEDDING_MODEL: z.string().trim().min(1).default("text-embedding-3-small"),
  EMBEDDING_DIMENSIONS: z.coerce.number().int().min(1).max(65_536).optional(),
  CHAT_MODEL: z.string().trim().min(1).default("gpt-4o-mini"),
  MODEL_TIMEOUT_MS: integer(30_000, 100, 600_000),
  RETRIEVAL_DEFAULT_K: integer(8, 1, 100),
  RETRIEVAL_MAX_K: integer(50, 1, 100),
  QUERY_MAX_CHARS: integer(2_000, 1, 100_000),
  RETRIEVAL_STRATEGY: z.enum(["adaptive", ...STRATEGIES]).default("adaptive"),
  RETRIEVAL_SCAN_MAX_ROUNDS: integer(DEFAULT_SCAN_BUDGET.maxRounds, 1, 1_000),
  RETRIEVAL_SCAN_MAX_CANDIDATES: integer(DEFAULT_SCAN_BUDGET.maxCandidates, 1, 10_000_000),
  RETRIEVAL_SCAN_MAX_MS: integer(DEFAULT_SCAN_BUDGET.maxMs, 1, 600_000),
  RETRIEVAL_RANKING: optionalText.pipe(z.enum(["hybrid", "dense"]).optional()),
  RETRIEVAL_DENSE_WEIGHT: z.coerce.number().min(0).max(1).default(DEFAULT_DENSE_WEIGHT),
  AUTHZ: z.enum(["embedded", "permify"]).default("embedded"),
  PERMIFY_ENDPOINT: optionalText.pipe(
    z
      .string()
      .refine(isHostPort, "must be host:port (a host name, an IPv4 address or a [bracketed] IPv6 address)")
      .optional(),
  ),
  PERMIFY_TOKEN: optionalText,
  PERMIFY_TENANT: z
    .string()
    .trim()
    .regex(PERMIFY_ID, "must match Permify's id pattern [a-zA-Z0-9_\\-@.:+]{1,128}")
    .default("t1"),
  PERMIFY_TLS_CA: optionalText,
  PERMIFY_TLS: optionalText.pipe(z.enum(["true", "false"]).optional()),
  PERMIFY_TIMEOUT_MS: integer(2_000, 50, 600_000),
  PERMIFY_WRITE_TIMEOUT_MS: integer(10_000, 100, 600_000),
  PERMIFY_DEPTH: integer(50, 3, 10_000),
  AUTHZ_SCHEMA_FILE: z.string().trim().min(1).default("fixtures/schema.perm"),
  VECTORS: z.enum(["embedded", "qdrant"]).default("embedded"),
  QDRANT_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  QDRANT_API_KEY: optionalText,
  QDRANT_COLLECTION: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.-]{1,255}$/, "must be letters, digits, _, . or -")
    .default("clearance"),
  QDRANT_TIMEOUT_MS: integer(5_000, 50, 600_000),
  INGEST_MAX_FILE_BYTES: integer(10 * 1024 * 1024, 1_024, 1024 * 1024 * 1024),
  INGEST_MAX_CHUNKS_PER_DOCUMENT: integer(2_000, 1, 1_000_000),
  // The owner's token for the CLI's client mode (`--server`); never logged, never an argument.
  CLEARANCE_TOKEN: optionalText,
  QDRANT_SHARDS: integer(1, 1, 1_000),
  QDRANT_REPLICATION_FACTOR: integer(1, 1, 100),
  QDRANT_WRITE_CONSISTENCY_FACTOR: integer(1, 1, 100),
  QDRANT_READ_CONSISTENCY: z
    .string()
    .trim()
    .default("1")
    .pipe(
      z.union([
        z.enum(["majority", "quorum", "all"]),
        z
          .string()
          .regex(/^[1-9]\d{0,2}$/, "must be a number of replicas (1 to 999), majority, quorum or all")
          .transform(Number),
      ]),
    ),
  ...auditEnvironment,
});

/** `host:port` as gRPC dials it: a name or IPv4 address, or an IPv6 address in brackets, then a port. */
function isHostPort(value: string): boolean {
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65_535;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** The process's environment: the one place clearance reads it. */
export function processEnvironment(): Environment {
  return process.env;
}

export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

/**
 * Where verification keys come from.
 * - `issuer`: the bank's identity provider (AUTH_ISSUER with AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM).
 * - `demo` (only with AUTH_MODE=demo): clearance signs and verifies its own tokens with a key kept in the
 *   data directory, so anyone who can read that directory, or run `clearance token` against it, can be
 *   anyone. Refused off loopback and under NODE_ENV=production unless AUTH_DEMO_ALLOW_UNSAFE=true.
 * - `unset`: neither was asked for. Commands that serve nobody (ingest, grant, ...) run; `serve` and
 *   `demo` refuse to start, so that a forgotten AUTH_ISSUER never falls back to demo identity.
 */
export type AuthConfig =
  | {
      readonly mode: "issuer";
      readonly issuer: string;
      readonly audience: string;
      readonly algorithms: readonly SignatureAlgorithm[];
      readonly keys: { readonly jwksUrl: string } | { readonly publicKeyPem: string };
      readonly clockToleranceSeconds: number;
      /** 0: no maximum. */
      readonly maxTokenLifetimeSeconds: number;
    }
  | {
      readonly mode: "demo";
      readonly audience: string;
      readonly clockToleranceSeconds: number;
      readonly maxTokenLifetimeSeconds: number;
    }
  | { readonly mode: "unset" };

export interface ModelConfig {
  readonly apiKey: string;
  readonly baseURL?: string;
  readonly embeddingModel: string;
  /** Required for models other than OpenAI's own, whose sizes are known. */
  readonly embeddingDimensions?: number;
  readonly chatModel: string;
  readonly timeoutMs: number;
}

/**
 * Which authorizer answers, and the schema it must have in force (`AUTHZ_SCHEMA_FILE`): `clearance serve`
 * refuses to start against a Permify tenant that has another schema, and `clearance schema push` writes it.
 */
export type AuthzConfig = { readonly kind: "embedded"; readonly schemaFile: string } | PermifyConfig;

export interface PermifyConfig {
  readonly kind: "permify";
  readonly schemaFile: string;
  /** `host:port` of Permify's gRPC listener. */
  readonly endpoint: string;
  readonly tenant: string;
  /** Permify's preshared key. A secret: never logged, never in a message. */
  readonly token?: string;
  /** Absent: plaintext. `caFile` absent: TLS with the system's roots. */
  readonly tls?: { readonly caFile?: string };
  readonly timeouts: { readonly readMs: number; readonly writeMs: number };
  readonly depth: number;
}

/**
 * How clearance presents itself as an OAuth protected resource (issue 16): its resource identifier
 * (RFC 8707/9728; when set, the only audience a token may carry), the authorization servers it names in
 * its Protected Resource Metadata, what a token without a scope claim may do, and how often a JWKS is
 * re-read (a new key is accepted, and a removed one refused, within that delay).
 */
export interface AccessConfig {
  readonly resource?: string;
  readonly authorizationServers: readonly string[];
  readonly defaultScopes: readonly Scope[];
  readonly jwksRefreshSeconds: number;
}

export interface Config {
  readonly dataDir: string;
  readonly access: AccessConfig;
  readonly host: string;
  readonly port: number;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /**
   * The metrics listener (`GET /metrics`), apart from the public one: its series count what every caller
   * was refused, which no caller may see. Absent with METRICS_PORT=off.
   */
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly auth: AuthConfig;
  /** Absent: the offline embedder and extractive answerer. */
  readonly openai?: ModelConfig;
  readonly retrieval: {
    readonly defaultK: number;
    readonly maxK: number;
    readonly queryMaxChars: number;
    /** `adaptive`, or a strategy every request must use. */
    readonly strategy: StrategySetting;
    readonly scanBudget: ScanBudget;
    /**
     * How chunks are ranked: `hybrid` (BM25 on fixed public statistics blended with the cosine, with this
     * weight of the cosine; the default on the embedded store) or `dense` (the cosine alone; the default,
     * and for now the only choice, on Qdrant).
     */
    readonly ranking: { readonly kind: "dense" } | { readonly kind: "hybrid"; readonly denseWeight: number };
  };
  readonly authz: AuthzConfig;
  readonly vectors: VectorsConfig;
  /** Limits on what one ingest may read and store: a file's bytes, a document's chunks. */
  readonly ingest: { readonly maxFileBytes: number; readonly maxChunksPerDocument: number };
  /** The CLI's client mode: the owner's token (CLEARANCE_TOKEN), when set. */
  readonly clientToken?: string;
  readonly audit: AuditConfig;
  /** Browser clients: CORS and the staff console's sign-in. */
  readonly web: WebConfig;
}

/** Where chunks live: the data directory (embedded), or a Qdrant collection. */
export type VectorsConfig =
  | { readonly kind: "embedded" }
  | {
      readonly kind: "qdrant";
      readonly url: string;
      /** A secret: never logged, never in a message. */
      readonly apiKey?: string;
      readonly collection: string;
      readonly timeoutMs: number;
      readonly cluster: QdrantClusterConfig;
    };

/**
 * How a Qdrant collection is spread over a cluster, and how many replicas answer each read. Qdrant's
 * semantics (v1.18.3, verified in its source and against a three-node cluster): a write succeeds only
 * when `writeConsistencyFactor` replicas of every shard it touches applied it, and replicas that failed
 * it are deactivated before it is acknowledged; a read with `readConsistency` 1 asks one readable
 * replica per shard and fails when a shard has none; a number above 1, `majority`, `quorum` or `all`
 * asks every replica (`quorum`: half plus one), fails when one does not answer, and keeps only the points
 * every asked replica returned. See the README's production section.
 */
export interface QdrantClusterConfig {
  /** Shards of a collection clearance creates; an existing collection must have as many. */
  readonly shards: number;
  readonly replicationFactor: number;
  readonly writeConsistencyFactor: number;
  readonly readConsistency: QdrantReadConsistency;
}

export type QdrantReadConsistency = number | "majority" | "quorum" | "all";

/** Reads and checks the environment. Throws `BAD_REQUEST` naming every bad key and why. */
export function loadConfig(env: Environment): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new AppError("BAD_REQUEST", `invalid configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.RETRIEVAL_DEFAULT_K > e.RETRIEVAL_MAX_K) {
    problems.push("RETRIEVAL_DEFAULT_K: must not exceed RETRIEVAL_MAX_K");
  }
  if (e.METRICS_PORT !== "off" && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    problems.push("METRICS_PORT: must differ from PORT (metrics have a listener of their own)");
  }
  const access = accessConfig(e, problems);
  const auth = authConfig(e, problems);
  const authz = authzConfig(e, problems);
  const vectors = vectorsConfig(e, problems);
  const audit = auditConfig(e, e.AUTH_ISSUER !== undefined, problems);
  const rankingKind = e.RETRIEVAL_RANKING ?? (e.VECTORS === "embedded" ? "hybrid" : "dense");
  if (rankingKind === "hybrid" && e.VECTORS === "qdrant") {
    problems.push("RETRIEVAL_RANKING: hybrid is not available with VECTORS=qdrant yet (use dense)");
  }
  const web = webConfig(env, problems);
  if (problems.length > 0) {
    throw new AppError("BAD_REQUEST", `invalid configuration: ${problems.join("; ")}`);
  }
  return {
    dataDir: e.CLEARANCE_DATA_DIR,
    access,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    ...(e.METRICS_PORT === "off" ? {} : { metrics: { host: e.METRICS_HOST, port: e.METRICS_PORT } }),
    auth: auth as AuthConfig,
    ...(e.OPENAI_API_KEY === undefined
      ? {}
      : {
          openai: {
            apiKey: e.OPENAI_API_KEY,
            ...(e.OPENAI_BASE_URL === undefined ? {} : { baseURL: e.OPENAI_BASE_URL }),
            embeddingModel: e.EMBEDDING_MODEL,
            ...(e.EMBEDDING_DIMENSIONS === undefined ? {} : { embeddingDimensions: e.EMBEDDING_DIMENSIONS }),
            chatModel: e.CHAT_MODEL,
            timeoutMs: e.MODEL_TIMEOUT_MS,
          },
        }),
    retrieval: {
      defaultK: e.RETRIEVAL_DEFAULT_K,
      maxK: e.RETRIEVAL_MAX_K,
      queryMaxChars: e.QUERY_MAX_CHARS,
      strategy: e.RETRIEVAL_STRATEGY,
      scanBudget: {
        maxRounds: e.RETRIEVAL_SCAN_MAX_ROUNDS,
        maxCandidates: e.RETRIEVAL_SCAN_MAX_CANDIDATES,
        maxMs: e.RETRIEVAL_SCAN_MAX_MS,
      },
      ranking:
        rankingKind === "hybrid"
          ? { kind: "hybrid", denseWeight: e.RETRIEVAL_DENSE_WEIGHT }
          : { kind: "dense" },
    },
    authz: authz as AuthzConfig,
    vectors: vectors as VectorsConfig,
    ingest: { maxFileBytes: e.INGEST_MAX_FILE_BYTES, maxChunksPerDocument: e.INGEST_MAX_CHUNKS_PER_DOCUMENT },
    ...(e.CLEARANCE_TOKEN === undefined ? {} : { clientToken: e.CLEARANCE_TOKEN }),
    audit: audit as AuditConfig,
    web,
  };
}

function accessConfig(e: z.infer<typeof environmentSchema>, problems: string[]): AccessConfig {
  const parsed = parseScopeList(e.AUTH_DEFAULT_SCOPES ?? DEFAULT_SCOPES.join(" "));
  if (parsed.unknown.length > 0) {
    problems.push(
      `AUTH_DEFAULT_SCOPES: unknown scopes ${parsed.unknown.join(", ")} (known: ${SCOPES.join(", ")})`,
    );
  }
  const servers = (e.AUTH_AUTHORIZATION_SERVERS ?? e.AUTH_ISSUER ?? "")
    .split(/[\s,]+/)
    .filter((server) => server !== "");
  for (const server of servers) {
    if (!URL.canParse(server)) problems.push(`AUTH_AUTHORIZATION_SERVERS: ${server} is not a URL`);
  }
  return {
    ...(e.AUTH_RESOURCE === undefined ? {} : { resource: e.AUTH_RESOURCE }),
    authorizationServers: servers,
    defaultScopes: parsed.scopes,
    jwksRefreshSeconds: e.AUTH_JWKS_REFRESH_SECONDS,
  };
}

function vectorsConfig(e: z.infer<typeof environmentSchema>, problems: string[]): VectorsConfig | undefined {
  if (e.VECTORS === "embedded") {
    // As with PERMIFY_ENDPOINT: a Qdrant URL must not be silently ignored in favour of the data directory.
    if (e.QDRANT_URL !== undefined) {
      problems.push("VECTORS: set VECTORS=qdrant to use QDRANT_URL (or unset QDRANT_URL)");
    }
    return { kind: "embedded" };
  }
  const before = problems.length;
  if (e.QDRANT_URL === undefined) problems.push("QDRANT_URL: required when VECTORS=qdrant");
  // Qdrant would quietly use fewer (it caps both at the replicas a shard has): a setting that promises
  // more durability or agreement than the collection can give is refused instead.
  if (e.QDRANT_WRITE_CONSISTENCY_FACTOR > e.QDRANT_REPLICATION_FACTOR) {
    problems.push("QDRANT_WRITE_CONSISTENCY_FACTOR: must not exceed QDRANT_REPLICATION_FACTOR");
  }
  if (
    typeof e.QDRANT_READ_CONSISTENCY === "number" &&
    e.QDRANT_READ_CONSISTENCY > e.QDRANT_REPLICATION_FACTOR
  ) {
    problems.push("QDRANT_READ_CONSISTENCY: a number of replicas must not exceed QDRANT_REPLICATION_FACTOR");
  }
  if (problems.length > before || e.QDRANT_URL === undefined) return undefined;
  return {
    kind: "qdrant",
    url: e.QDRANT_URL,
    ...(e.QDRANT_API_KEY === undefined ? {} : { apiKey: e.QDRANT_API_KEY }),
    collection: e.QDRANT_COLLECTION,
    timeoutMs: e.QDRANT_TIMEOUT_MS,
    cluster: {
      shards: e.QDRANT_SHARDS,
      replicationFactor: e.QDRANT_REPLICATION_FACTOR,
      writeConsistencyFactor: e.QDRANT_WRITE_CONSISTENCY_FACTOR,
      readConsistency: e.QDRANT_READ_CONSISTENCY,
    },
  };
}

function authzConfig(e: z.infer<typeof environmentSchema>, problems: string[]): AuthzConfig | undefined {
  if (e.AUTHZ === "embedded") {
    // A Permify endpoint with the embedded authorizer would silently authorize from the local data
    // directory in what was meant to be a Permify deployment.
    if (e.PERMIFY_ENDPOINT !== undefined) {
      problems.push("AUTHZ: set AUTHZ=permify to use PERMIFY_ENDPOINT (or unset PERMIFY_ENDPOINT)");
    }
    return { kind: "embedded", schemaFile: e.AUTHZ_SCHEMA_FILE };
  }
  const before = problems.length;
  if (e.PERMIFY_ENDPOINT === undefined) problems.push("PERMIFY_ENDPOINT: required when AUTHZ=permify");
  if (e.PERMIFY_TLS === "false" && e.PERMIFY_TLS_CA !== undefined) {
    problems.push("PERMIFY_TLS: false contradicts PERMIFY_TLS_CA, which turns TLS on");
  }
  if (problems.length > before) return undefined;
  const tls =
    e.PERMIFY_TLS_CA !== undefined ? { caFile: e.PERMIFY_TLS_CA } : e.PERMIFY_TLS === "true" ? {} : undefined;
  return {
    kind: "permify",
    schemaFile: e.AUTHZ_SCHEMA_FILE,
    endpoint: e.PERMIFY_ENDPOINT as string,
    tenant: e.PERMIFY_TENANT,
    ...(e.PERMIFY_TOKEN === undefined ? {} : { token: e.PERMIFY_TOKEN }),
    ...(tls === undefined ? {} : { tls }),
    timeouts: { readMs: e.PERMIFY_TIMEOUT_MS, writeMs: e.PERMIFY_WRITE_TIMEOUT_MS },
    depth: e.PERMIFY_DEPTH,
  };
}

/**
 * Loopback addresses and names: a listener there is reachable from this machine only. Anything else
 * (0.0.0.0, ::, a LAN address, a host name) may be reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return (
    bare === "localhost" ||
    bare === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
  );
}

function authConfig(e: z.infer<typeof environmentSchema>, problems: string[]): AuthConfig | undefined {
  const keySources = [e.AUTH_JWKS_URL, e.AUTH_PUBLIC_KEY_PEM].filter((value) => value !== undefined);
  const mode = e.AUTH_MODE ?? (e.AUTH_ISSUER === undefined ? undefined : "issuer");
  if (mode === undefined) {
    // Keys without an issuer would mean a production identity was meant and half configured.
    if (keySources.length > 0) {
      problems.push("AUTH_ISSUER: required when AUTH_JWKS_URL or AUTH_PUBLIC_KEY_PEM is set");
    }
    return { mode: "unset" };
  }
  if (mode === "demo") {
    if (e.AUTH_ISSUER !== undefined || keySources.length > 0) {
      problems.push(
        "AUTH_MODE: demo contradicts AUTH_ISSUER, AUTH_JWKS_URL and AUTH_PUBLIC_KEY_PEM (unset them, or AUTH_MODE=issuer)",
      );
    }
    // Demo identity lets whoever reaches the data directory mint any user: one machine, one person.
    if (e.AUTH_DEMO_ALLOW_UNSAFE !== "true") {
      if (e.NODE_ENV === "production") {
        problems.push(
          "AUTH_MODE: demo identity is refused with NODE_ENV=production (set AUTH_ISSUER and its keys; " +
            "AUTH_DEMO_ALLOW_UNSAFE=true overrides, never in production)",
        );
      }
      if (!isLoopbackHost(e.HOST)) {
        problems.push(
          `AUTH_MODE: demo identity listens on loopback only, not HOST=${e.HOST} (AUTH_DEMO_ALLOW_UNSAFE=true overrides)`,
        );
      }
    }
    return {
      mode: "demo",
      audience: e.AUTH_RESOURCE ?? e.AUTH_AUDIENCE,
      clockToleranceSeconds: e.AUTH_CLOCK_TOLERANCE_SECONDS,
      maxTokenLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME_SECONDS,
    };
  }
  if (e.AUTH_ISSUER === undefined) {
    problems.push("AUTH_ISSUER: required when AUTH_MODE=issuer");
    return undefined;
  }
  if (keySources.length !== 1) {
    problems.push("AUTH_JWKS_URL: exactly one of AUTH_JWKS_URL and AUTH_PUBLIC_KEY_PEM must be set");
    return undefined;
  }
  return {
    mode: "issuer",
    issuer: e.AUTH_ISSUER,
    // RFC 8707: with a resource identifier, a token is accepted only if it was issued for it.
    audience: e.AUTH_RESOURCE ?? e.AUTH_AUDIENCE,
    algorithms: e.AUTH_ALGORITHMS,
    keys:
      e.AUTH_JWKS_URL !== undefined
        ? { jwksUrl: e.AUTH_JWKS_URL }
        : // Platforms that cannot hold multi-line values pass a PEM with literal \n.
          { publicKeyPem: (e.AUTH_PUBLIC_KEY_PEM as string).replaceAll("\\n", "\n") },
    clockToleranceSeconds: e.AUTH_CLOCK_TOLERANCE_SECONDS,
    maxTokenLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME_SECONDS,
  };
}

// --- Browser clients (the chat widget, the staff console, other origins) ------------------------------

const webEnvironmentSchema = z.object({
  CORS_ALLOWED_ORIGINS: z.string().default(""),
  CONSOLE_OIDC_CLIENT_ID: optionalText,
  CONSOLE_OIDC_SCOPE: z.string().trim().min(1).default("openid"),
});

export interface WebConfig {
  /**
   * Origins whose pages may call the API from a browser (`https://www.bank.example`); none by default.
   * Only Bearer tokens cross origins: credentials (cookies) are never allowed.
   */
  readonly corsAllowedOrigins: readonly string[];
  /** The console's OpenID Connect client at AUTH_ISSUER (authorization code with PKCE); absent: no sign-in. */
  readonly consoleOidc?: { readonly clientId: string; readonly scope: string };
}

function webConfig(env: Environment, problems: string[]): WebConfig {
  const parsed = webEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join(".")}: ${issue.message}`);
    return { corsAllowedOrigins: [] };
  }
  const e = parsed.data;
  const origins: string[] = [];
  for (const entry of e.CORS_ALLOWED_ORIGINS.split(",").map((value) => value.trim())) {
    if (entry === "") continue;
    const origin = exactOrigin(entry);
    if (origin === undefined) {
      problems.push(`CORS_ALLOWED_ORIGINS: "${entry}" is not an origin like https://www.bank.example`);
    } else origins.push(origin);
  }
  return {
    corsAllowedOrigins: origins,
    ...(e.CONSOLE_OIDC_CLIENT_ID === undefined
      ? {}
      : { consoleOidc: { clientId: e.CONSOLE_OIDC_CLIENT_ID, scope: e.CONSOLE_OIDC_SCOPE } }),
  };
}

/** `scheme://host[:port]` exactly, with no path, query or wildcard: what a browser sends as `Origin`. */
function exactOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (url.origin !== value.replace(/\/$/, "")) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}
