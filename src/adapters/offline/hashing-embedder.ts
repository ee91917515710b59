import { AppError } from "../../core/errors.ts";
import type { Embedder } from "../../ports/embedder.ts";
import { contentWords } from "./tokenize.ts";

export interface HashingEmbedderOptions {
  /** Length of the vectors (default 384, the size of common small sentence models). */
  readonly dimensions?: number;
}

const DEFAULT_DIMENSIONS = 384;
const BIGRAM_WEIGHT = 0.5;

/**
 * An embedder with no weights and no network: feature hashing of word unigrams and ½-weighted bigrams
 * (stopwords dropped), each feature hashed with FNV-1a 32-bit to a dimension and signed by a second,
 * mixed hash so that collisions cancel out on average; term frequency is sublinear (1 + ln tf) and the
 * vector is scaled to unit length. It is lexical, not semantic: texts that share words are close.
 *
 * Deviation from the Embedder port: a text with no content word (empty, punctuation, stopwords only) has
 * no feature, and its vector is all zeros rather than unit length. Any unit vector would claim a
 * similarity that does not exist; a zero vector scores 0 against every chunk.
 */
export function createHashingEmbedder(options: HashingEmbedderOptions = {}): Embedder {
  const dimensions = options.dimensions ?? DEFAULT_DIMENSIONS;
  if (!Number.isSafeInteger(dimensions) || dimensions < 1 || dimensions > 65_536)
    throw new AppError("BAD_REQUEST", "dimensions must be an integer from 1 to 65536");
  return {
    model: `hashing-v1-${dimensions}`,
    dimensions,
    async embedDocuments(texts) {
      return texts.map((text) => hashText(text, dimensions));
    },
    async embedQuery(text) {
      return hashText(text, dimensions);
    },
  };
}

/** The vector of one text; exported for tests and benchmarks. */
export function hashText(text: string, dimensions: number): Float32Array {
  if (typeof text !== "string") throw new AppError("BAD_REQUEST", "texts to embed must be strings");
  const counts = new Map<string, number>();
  const tokens = contentWords(text);
  for (let i = 0; i < tokens.length; i++) {
    const unigram = `w ${tokens[i]}`;
    counts.set(unigram, (counts.get(unigram) ?? 0) + 1);
    if (i > 0) {
      const bigram = `b ${tokens[i - 1]} ${tokens[i]}`;
      counts.set(bigram, (counts.get(bigram) ?? 0) + 1);
    }
  }
  const sums = new Float64Array(dimensions);
  for (const [feature, tf] of counts) {
    const weight = (feature.charCodeAt(0) === 0x62 ? BIGRAM_WEIGHT : 1) * (1 + Math.log(tf));
    const hash = fnv1a(feature);
    const sign = mix(hash) & 1 ? -1 : 1;
    const slot = hash % dimensions;
    sums[slot] = (sums[slot] as number) + sign * weight;
  }
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += (sums[i] as number) ** 2;
  const vector = new Float32Array(dimensions);
  if (norm === 0) return vector;
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) vector[i] = (sums[i] as number) * scale;
  return vector;
}

/** FNV-1a 32-bit over the UTF-8 bytes of `text`, unsigned (encoded on the fly, nothing allocated). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, 0x01000193);
      continue;
    }
    if (code >= 0xd800 && code < 0xe000) {
      const low = code < 0xdc00 && i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        code = 0xfffd; // a lone surrogate encodes as U+FFFD, as TextEncoder and Buffer do
      }
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), 0x01000193);
    } else if (code < 0x10000) {
      hash = Math.imul(hash ^ (0xe0 | (code >> 12)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    } else {
      hash = Math.imul(hash ^ (0xf0 | (code >> 18)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), 0x01000193);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    }
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finalizer: every output bit depends on every input bit, so the sign is independent of the slot. */
function mix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
