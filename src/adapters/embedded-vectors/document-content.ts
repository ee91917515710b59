/**
 * Validation of a `replaceDocument` call, done in full before anything changes so that a bad chunk
 * leaves the store exactly as it was. The output is what the index and the journal keep: immutable
 * copies of the chunks in ordinal order and their vectors scaled to unit length in one Float32Array.
 */
import { isValidId } from "../../core/authz-model.ts";
import type { ChunkMetadata, EmbeddedChunk } from "../../core/chunk.ts";
import { AppError } from "../../core/errors.ts";
import type { DocumentContent, StoredChunk } from "./vector-index.ts";

export function prepareDocument(
  documentId: string,
  chunks: readonly EmbeddedChunk[],
  dimensions: number,
): DocumentContent {
  if (!isResourceId(documentId))
    throw invalid(`document id ${describe(documentId)} is not a valid identifier`);
  if (!Array.isArray(chunks)) throw invalid("chunks must be an array");
  const ids = new Set<string>();
  const ordinals = new Set<number>();
  const prepared: { chunk: StoredChunk; vector: Float32Array }[] = [];
  for (const chunk of chunks) {
    const stored = copyChunk(chunk, documentId);
    if (ids.has(stored.id)) throw invalid(`chunk id ${describe(stored.id)} appears twice`);
    if (ordinals.has(stored.ordinal))
      throw invalid(`ordinal ${stored.ordinal} appears twice in document ${documentId}`);
    const first = prepared[0]?.chunk;
    if (first !== undefined && !sameMetadata(first.metadata, stored.metadata))
      throw invalid(
        `chunk ${describe(stored.id)} has other metadata than chunk ${describe(first.id)}: ` +
          `every chunk of document ${documentId} carries the document's metadata`,
      );
    ids.add(stored.id);
    ordinals.add(stored.ordinal);
    prepared.push({
      chunk: stored,
      vector: unitVector(chunk.vector, dimensions, `the vector of chunk ${describe(stored.id)}`),
    });
  }
  prepared.sort((a, b) => a.chunk.ordinal - b.chunk.ordinal);
  const vectors = new Float32Array(prepared.length * dimensions);
  prepared.forEach(({ vector }, i) => {
    vectors.set(vector, i * dimensions);
  });
  return { chunks: prepared.map(({ chunk }) => chunk), vectors };
}

/**
 * The query scaled to unit length, so that a dot product with stored (unit) vectors is the cosine. A zero
 * query stays zero and scores every chunk 0.
 */
export function prepareQuery(vector: Float32Array, dimensions: number): Float32Array {
  return unitVector(vector, dimensions, "the query");
}

/**
 * Every chunk's resource decides who may read it, so it must name this document or a section: a chunk
 * filed under another document's resource would be readable by that document's audience.
 */
function copyChunk(chunk: EmbeddedChunk, documentId: string): StoredChunk {
  if (typeof chunk !== "object" || chunk === null) throw invalid("every chunk must be an object");
  const { id, resource, sectionId, title, text, ordinal, metadata } = chunk;
  if (typeof id !== "string" || id.length === 0) throw invalid("every chunk needs a non-empty string id");
  const where = `chunk ${describe(id)}`;
  if (chunk.documentId !== documentId)
    throw invalid(`${where} belongs to document ${describe(chunk.documentId)}, not ${documentId}`);
  if (sectionId !== undefined && !isResourceId(sectionId))
    throw invalid(`${where} has an invalid section id ${describe(sectionId)}`);
  if (typeof resource !== "string") throw invalid(`${where} has no resource`);
  if (resource.startsWith("section:")) {
    const section = resource.slice("section:".length);
    if (!isResourceId(section)) throw invalid(`${where} has an invalid resource ${describe(resource)}`);
    if (sectionId !== undefined && sectionId !== section)
      throw invalid(`${where} has resource ${resource} but section id ${sectionId}`);
  } else if (resource !== `document:${documentId}`) {
    throw invalid(
      `${where} has resource ${describe(resource)}; expected document:${documentId} or section:<id>`,
    );
  }
  if (typeof title !== "string" || typeof text !== "string")
    throw invalid(`${where} needs a string title and text`);
  if (!Number.isSafeInteger(ordinal) || ordinal < 0) throw invalid(`${where} has an invalid ordinal`);
  return Object.freeze({
    id,
    resource,
    documentId,
    ...(sectionId === undefined ? {} : { sectionId }),
    title,
    text,
    ordinal,
    metadata: copyMetadata(metadata, where),
  });
}

function copyMetadata(metadata: ChunkMetadata, where: string): ChunkMetadata {
  if (typeof metadata !== "object" || metadata === null) throw invalid(`${where} has no metadata`);
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined) continue;
    if (typeof value !== "string") throw invalid(`${where} has a non-string metadata field ${key}`);
    copy[key] = value;
  }
  if (copy.collection === undefined || copy.owner === undefined)
    throw invalid(`${where} needs metadata.collection and metadata.owner`);
  return Object.freeze(copy) as unknown as ChunkMetadata;
}

/**
 * ACL metadata is the document's (the manifest declares it per document), so chunks that disagree are a
 * caller's bug; refusing them keeps a document's resources wholly inside or outside each container, the
 * case the container pre-filter resolves per resource without looking at chunks. Compares the copies
 * `copyMetadata` made: string fields, no undefined.
 */
function sameMetadata(a: ChunkMetadata, b: ChunkMetadata): boolean {
  const left = Object.entries(a);
  const right = b as unknown as Record<string, string>;
  return left.length === Object.keys(b).length && left.every(([key, value]) => right[key] === value);
}

function unitVector(vector: Float32Array, dimensions: number, label: string): Float32Array {
  if (!(vector instanceof Float32Array)) throw invalid(`${label} must be a Float32Array`);
  if (vector.length !== dimensions)
    throw invalid(`${label} has ${vector.length} dimensions; the store holds ${dimensions}`);
  let sum = 0;
  for (let i = 0; i < dimensions; i++) {
    const value = vector[i] as number;
    if (!Number.isFinite(value)) throw invalid(`${label} has a value that is not a finite number`);
    sum += value * value;
  }
  const out = new Float32Array(dimensions);
  if (sum === 0) return out;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < dimensions; i++) out[i] = (vector[i] as number) * scale;
  return out;
}

function isResourceId(id: unknown): id is string {
  return typeof id === "string" && id !== "*" && isValidId(id);
}

function describe(value: unknown): string {
  if (typeof value !== "string") return String(value);
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function invalid(message: string): AppError {
  return new AppError("BAD_REQUEST", message);
}
