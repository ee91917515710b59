/**
 * Chooses the adapters for a configuration: the only place besides the CLI that knows which exist.
 * Embedded defaults need no server; a Permify server replaces the embedded authorizer when AUTHZ=permify,
 * Qdrant replaces the embedded vector store when VECTORS=qdrant, and an OpenAI-compatible endpoint
 * replaces the embedder and the answerer when OPENAI_API_KEY is set.
 */
import { readFile } from "node:fs/promises";
import { checkContainerModel } from "./adapters/embedded-authz/container-model-check.ts";
import { createEmbeddedAuthorizer } from "./adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "./adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "./adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "./adapters/offline/hashing-embedder.ts";
import { createOpenAiChatModel } from "./adapters/openai/openai-chat-model.ts";
import { createOpenAiEmbedder } from "./adapters/openai/openai-embedder.ts";
import {
  createPermifyAuthorizer,
  createScratchPermifyAuthorizer,
  type PermifyAuthorizerOptions,
} from "./adapters/permify/permify-authorizer.ts";
import { createQdrantVectorStore } from "./adapters/qdrant/qdrant-vector-store.ts";
import type { Config, PermifyConfig } from "./config.ts";
import { BANK_CONTAINER_MODEL, type ContainerModel } from "./core/container-model.ts";
import { AppError, isAppError } from "./core/errors.ts";
import type { Authorizer } from "./ports/authorizer.ts";
import type { ChatModel } from "./ports/chat-model.ts";
import type { Embedder } from "./ports/embedder.ts";
import type { VectorStore } from "./ports/vector-store.ts";

export interface Runtime {
  readonly config: Config;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  readonly chatModel: ChatModel;
  close(): Promise<void>;
}

export interface AuthorizerOptions {
  /**
   * Which snapshot a Permify authorizer reads at (the embedded one always reads its newest state):
   * - `"head"` (default): Permify's newest transaction, so a revocation made by anyone is in force for the
   *   very next read. The server uses it.
   * - `"own-writes"`: the snapshot of this process's newest write, for a one-shot writer (grant, revoke,
   *   ingest) that reads back what it wrote. Never for a long-lived process: Permify evaluates a read *at*
   *   the token it is given, so it would not see later revocations made by others.
   */
  readonly readConsistency?: "head" | "own-writes";
}

/** Opens the configured authorizer alone, for commands that touch no vectors and no model. */
export async function openAuthorizer(config: Config, options: AuthorizerOptions = {}): Promise<Authorizer> {
  if (config.authz.kind === "embedded") return createEmbeddedAuthorizer({ dataDir: config.dataDir });
  return createPermifyAuthorizer({
    ...(await permifyOptions(config.authz)),
    readConsistency: options.readConsistency ?? "head",
  });
}

/**
 * A Permify authorizer in a new tenant of its own on the configured server, deleted when it is closed:
 * `clearance validate --authorizer permify` runs there, never in the tenant clearance serves from.
 */
export async function openScratchPermifyAuthorizer(
  config: Config,
  options: { readonly depth: number },
): Promise<Authorizer> {
  if (config.authz.kind !== "permify") {
    throw new AppError("BAD_REQUEST", "PERMIFY_ENDPOINT: needed to run against Permify");
  }
  const { tenant: _servedTenant, ...rest } = await permifyOptions(config.authz);
  return createScratchPermifyAuthorizer({ ...rest, depth: options.depth });
}

async function permifyOptions(authz: PermifyConfig): Promise<PermifyAuthorizerOptions> {
  let caPem: Buffer | undefined;
  if (authz.tls?.caFile !== undefined) {
    try {
      caPem = await readFile(authz.tls.caFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new AppError(
        "BAD_REQUEST",
        `PERMIFY_TLS_CA: cannot read ${authz.tls.caFile}${code ? ` (${code})` : ""}`,
        { cause: error },
      );
    }
  }
  return {
    endpoint: authz.endpoint,
    tenant: authz.tenant,
    ...(authz.token === undefined ? {} : { token: authz.token }),
    ...(authz.tls === undefined ? {} : { tls: caPem === undefined ? {} : { caPem } }),
    timeouts: authz.timeouts,
    depth: authz.depth,
  };
}

/** Opens the configured vector store for vectors of `dimensions` (the embedder's). */
export async function openVectorStore(
  config: Config,
  options: { readonly dimensions: number },
): Promise<VectorStore> {
  const { vectors } = config;
  if (vectors.kind === "embedded") {
    return createEmbeddedVectorStore({ dataDir: config.dataDir, dimensions: options.dimensions });
  }
  return createQdrantVectorStore({
    url: vectors.url,
    ...(vectors.apiKey === undefined ? {} : { apiKey: vectors.apiKey }),
    collection: vectors.collection,
    dimensions: options.dimensions,
    timeoutMs: vectors.timeoutMs,
  });
}

export async function openRuntime(config: Config, options: AuthorizerOptions = {}): Promise<Runtime> {
  const embedder: Embedder = config.openai
    ? createOpenAiEmbedder({
        apiKey: config.openai.apiKey,
        ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
        model: config.openai.embeddingModel,
        ...(config.openai.embeddingDimensions === undefined
          ? {}
          : { dimensions: config.openai.embeddingDimensions }),
        timeoutMs: config.openai.timeoutMs,
      })
    : createHashingEmbedder();
  const chatModel: ChatModel = config.openai
    ? createOpenAiChatModel({
        apiKey: config.openai.apiKey,
        ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
        model: config.openai.chatModel,
        timeoutMs: config.openai.timeoutMs,
      })
    : createExtractiveAnswerer();
  const authorizer = await openAuthorizer(config, options);
  let vectorStore: VectorStore;
  try {
    vectorStore = await openVectorStore(config, { dimensions: embedder.dimensions });
  } catch (error) {
    await authorizer.close();
    throw error;
  }
  return {
    config,
    authorizer,
    vectorStore,
    embedder,
    chatModel,
    async close() {
      await Promise.allSettled([vectorStore.close(), authorizer.close()]);
    },
  };
}

/**
 * The container model retrieval may use: the bank's, when the schema in force makes the container
 * pre-filter exact (checked as the embedded evaluator compiles it), else none and the reason. The schema
 * in force is the embedded authorizer's own text; Permify keeps no text, and `serve` has checked that
 * AUTHZ_SCHEMA_FILE is what it has in force.
 */
export async function containerModelFor(
  runtime: Pick<Runtime, "authorizer" | "config">,
): Promise<{ readonly model: ContainerModel | null; readonly reason?: string }> {
  let text: string | undefined;
  try {
    text = (await runtime.authorizer.readSchema()).schema;
  } catch (error) {
    if (!isAppError(error, "NOT_FOUND")) throw error;
  }
  if (text === undefined && runtime.config.authz.kind === "permify") {
    text = await readFile(runtime.config.authz.schemaFile, "utf8");
  }
  if (text === undefined) return { model: null, reason: "no schema is in force" };
  const check = checkContainerModel(text, BANK_CONTAINER_MODEL);
  return check.ok ? { model: BANK_CONTAINER_MODEL } : { model: null, reason: check.reason };
}
