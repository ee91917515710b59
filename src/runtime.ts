/**
 * Chooses the adapters for a configuration: the only place besides the CLI that knows which exist.
 * Embedded defaults need no server; an OpenAI-compatible endpoint replaces the embedder and the answerer
 * when OPENAI_API_KEY is set.
 */
import { createEmbeddedAuthorizer } from "./adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "./adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "./adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "./adapters/offline/hashing-embedder.ts";
import { createOpenAiChatModel } from "./adapters/openai/openai-chat-model.ts";
import { createOpenAiEmbedder } from "./adapters/openai/openai-embedder.ts";
import type { Config } from "./config.ts";
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

export async function openRuntime(config: Config): Promise<Runtime> {
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
  const authorizer = await createEmbeddedAuthorizer({ dataDir: config.dataDir });
  let vectorStore: VectorStore;
  try {
    vectorStore = await createEmbeddedVectorStore({
      dataDir: config.dataDir,
      dimensions: embedder.dimensions,
    });
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
