/**
 * clearance's configuration: the only reader of process.env. Every setting has a documented default;
 * a bad value fails start-up with one message listing every bad key.
 */
import { z } from "zod";
import { AppError } from "./core/errors.ts";
import { DEFAULT_SCAN_BUDGET, type ScanBudget, STRATEGIES, type StrategySetting } from "./core/retrieval.ts";

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

export interface Config {
  readonly dataDir: string;
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
  };
  readonly authz: AuthzConfig;
  readonly vectors: VectorsConfig;
  /** Limits on what one ingest may read and store: a file's bytes, a document's chunks. */
  readonly ingest: { readonly maxFileBytes: number; readonly maxChunksPerDocument: number };
  /** The CLI's client mode: the owner's token (CLEARANCE_TOKEN), when set. */
  readonly clientToken?: string;
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
    };

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
  const auth = authConfig(e, problems);
  const authz = authzConfig(e, problems);
  const vectors = vectorsConfig(e, problems);
  if (problems.length > 0) {
    throw new AppError("BAD_REQUEST", `invalid configuration: ${problems.join("; ")}`);
  }
  return {
    dataDir: e.CLEARANCE_DATA_DIR,
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
    },
    authz: authz as AuthzConfig,
    vectors: vectors as VectorsConfig,
    ingest: { maxFileBytes: e.INGEST_MAX_FILE_BYTES, maxChunksPerDocument: e.INGEST_MAX_CHUNKS_PER_DOCUMENT },
    ...(e.CLEARANCE_TOKEN === undefined ? {} : { clientToken: e.CLEARANCE_TOKEN }),
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
  if (e.QDRANT_URL === undefined) {
    problems.push("QDRANT_URL: required when VECTORS=qdrant");
    return undefined;
  }
  return {
    kind: "qdrant",
    url: e.QDRANT_URL,
    ...(e.QDRANT_API_KEY === undefined ? {} : { apiKey: e.QDRANT_API_KEY }),
    collection: e.QDRANT_COLLECTION,
    timeoutMs: e.QDRANT_TIMEOUT_MS,
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
      audience: e.AUTH_AUDIENCE,
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
    audience: e.AUTH_AUDIENCE,
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
