import { OpenAIEmbeddings } from "@langchain/openai";
import { AppError } from "../../core/errors.ts";
import type { Embedder } from "../../ports/embedder.ts";
import { badResponse, callUpstream, checkTimeout } from "./upstream-call.ts";

export interface OpenAiEmbedderOptions {
  readonly apiKey: string;
  /** An OpenAI-compatible endpoint, e.g. `http://localhost:11434/v1`; omitted means OpenAI. */
  readonly baseURL?: string;
  readonly model: string;
  /**
   * Length of the vectors. Needed for models not listed below. For `text-embedding-3-*` it is also sent
   * to the API, which shortens the vectors; other models are only checked against it.
   */
  readonly dimensions?: number;
  /** Deadline of one request (one batch), retries included. */
  readonly timeoutMs: number;
  /** Texts per request (default 256). */
  readonly batchSize?: number;
  /** Retries of a failed request inside the deadline (default 1). */
  readonly maxRetries?: number;
}

const KNOWN_DIMENSIONS: Readonly<Record<string, number>> = {
  "text-embedding-3-small": 1_536,
  "text-embedding-3-large": 3_072,
  "text-embedding-ada-002": 1_536,
};
const DEFAULT_BATCH_SIZE = 256;
const DEFAULT_MAX_RETRIES = 1;

/**
 * The Embedder port over an OpenAI-compatible `/embeddings` endpoint. Batches run one after another, each
 * under its own deadline; every vector is checked (count, dimension, finite, not zero) and scaled to
 * unit length, so a misbehaving endpoint fails the call instead of storing vectors that cannot be compared.
 */
export function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  checkTimeout(options.timeoutMs);
  if (!options.apiKey) throw new AppError("BAD_REQUEST", "an API key is required for the OpenAI embedder");
  const dimensions = options.dimensions ?? KNOWN_DIMENSIONS[options.model];
  if (dimensions === undefined || !Number.isSafeInteger(dimensions) || dimensions < 1)
    throw new AppError("BAD_REQUEST", `set the dimensions of the embedding model ${options.model}`);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 2_048)
    throw new AppError("BAD_REQUEST", "batchSize must be an integer from 1 to 2048");
  const sendDimensions = options.dimensions !== undefined && options.model.startsWith("text-embedding-3");
  const service = `the embedding model ${options.model}`;
  const client = new OpenAIEmbeddings({
    apiKey: options.apiKey,
    model: options.model,
    ...(sendDimensions ? { dimensions } : {}),
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
    batchSize,
    // Newlines carry meaning for current models; float keeps compatible servers that lack base64 working.
    stripNewLines: false,
    encodingFormat: "float",
    ...(options.baseURL === undefined ? {} : { configuration: { baseURL: options.baseURL } }),
  });

  async function embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    for (const text of texts)
      if (typeof text !== "string") throw new AppError("BAD_REQUEST", "texts to embed must be strings");
    const vectors = await callUpstream(service, options.timeoutMs, () => client.embedDocuments([...texts]));
    if (!Array.isArray(vectors) || vectors.length !== texts.length)
      throw badResponse(service, `expected ${texts.length} vectors`);
    return vectors.map((vector) => unitVector(vector, dimensions as number, service));
  }

  return {
    model: `openai:${options.model}:${dimensions}`,
    dimensions,
    async embedDocuments(texts) {
      const out: Float32Array[] = [];
      for (let start = 0; start < texts.length; start += batchSize)
        out.push(...(await embedBatch(texts.slice(start, start + batchSize))));
      return out;
    },
    async embedQuery(text) {
      return (await embedBatch([text]))[0] as Float32Array;
    },
  };
}

function unitVector(vector: unknown, dimensions: number, service: string): Float32Array {
  if (!Array.isArray(vector) || vector.length !== dimensions)
    throw badResponse(service, `a vector does not have ${dimensions} dimensions`);
  let sum = 0;
  for (const value of vector) {
    if (typeof value !== "number" || !Number.isFinite(value))
      throw badResponse(service, "a vector has a non-number");
    sum += value * value;
  }
  if (sum === 0) throw badResponse(service, "a vector is all zeros");
  const scale = 1 / Math.sqrt(sum);
  return Float32Array.from(vector as number[], (value) => value * scale);
}
