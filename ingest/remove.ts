/**
 * Removing documents from both stores without orphans (issue 14): `clearance delete`, `ingest --prune`,
 * and the owners' `DELETE /v1/documents/{id}`.
 *
 * Order, so that a reader never gets a passage of a document being deleted once it may no longer, and a
 * crash at any step is finished by running the same removal again:
 * 1. delete the document's own relationships (owner, collection, customer, viewers) in one write: from
 *    here nobody may view the document, nor any of its sections (`section.view` needs `document.view`);
 * 2. delete its chunks;
 * 3. delete its sections' relationships (`document`, `audience`) in one write.
 * A crash after 1 leaves chunks nobody may read, found again by the next run through the vector store; a
 * crash after 2 leaves section relationships that point at a document without chunks or relationships,
 * found again through their `document` relation. Either way the next run completes the removal.
 */
import type { Tuple } from "../src/core/authz-model.ts";
import { formatTuple } from "../src/core/permify-notation.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import { DOCUMENT_ENTITY, SECTION_ENTITY } from "./acl-tuples.ts";
import { readAllRelationships } from "./ingest.ts";

export interface RemovalReport {
  readonly id: string;
  /** `deleted`, or `not-found` when neither store holds anything of the document. */
  readonly status: "deleted" | "not-found";
  /** Chunks removed (or, in a dry run, that would be). */
  readonly chunks: number;
  /** Relationships removed (or that would be), in Permify notation. */
  readonly relationships: readonly string[];
}

export interface RemoveOptions {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  /** Report what would be removed; remove nothing. */
  readonly dryRun?: boolean;
  /** Whether the schema has a `section` entity (default: yes). */
  readonly schemaHasSections?: boolean;
}

/** What one document holds in both stores: its chunks' count, its relationships, its sections'. */
export async function documentFootprint(
  documentId: string,
  options: RemoveOptions,
): Promise<{ chunks: number; own: Tuple[]; sections: Tuple[]; sectionIds: string[] }> {
  const { authorizer, vectorStore } = options;
  const [chunks, own] = await Promise.all([
    vectorStore.documentChunks(documentId),
    readAllRelationships(authorizer, { entity: { type: DOCUMENT_ENTITY, ids: [documentId] } }),
  ]);
  const sectionIds = new Set(chunks.flatMap((chunk) => (chunk.sectionId ? [chunk.sectionId] : [])));
  let sections: Tuple[] = [];
  if (options.schemaHasSections !== false) {
    const attached = await readAllRelationships(authorizer, {
      entity: { type: SECTION_ENTITY },
      relation: "document",
      subject: { type: DOCUMENT_ENTITY, ids: [documentId], relation: "" },
    });
    for (const tuple of attached) sectionIds.add(tuple.entity.id);
    if (sectionIds.size > 0) {
      const tuples = await readAllRelationships(authorizer, {
        entity: { type: SECTION_ENTITY, ids: [...sectionIds] },
      });
      // A section whose `document` names another document is that document's, whatever our chunks say.
      const foreign = new Set(
        tuples
          .filter((tuple) => tuple.relation === "document" && tuple.subject.id !== documentId)
          .map((tuple) => tuple.entity.id),
      );
      sections = tuples.filter((tuple) => !foreign.has(tuple.entity.id));
    }
  }
  return { chunks: chunks.length, own, sections, sectionIds: [...sectionIds] };
}

/** Removes one document from both stores in the order of the module comment. */
export async function removeDocument(documentId: string, options: RemoveOptions): Promise<RemovalReport> {
  const { authorizer, vectorStore } = options;
  const footprint = await documentFootprint(documentId, options);
  const relationships = [...footprint.own, ...footprint.sections].map(formatTuple);
  if (footprint.chunks === 0 && relationships.length === 0) {
    return { id: documentId, status: "not-found", chunks: 0, relationships: [] };
  }
  const report: RemovalReport = {
    id: documentId,
    status: "deleted",
    chunks: footprint.chunks,
    relationships,
  };
  if (options.dryRun) return report;
  if (footprint.own.length > 0) {
    await authorizer.deleteData({ tuples: { entity: { type: DOCUMENT_ENTITY, ids: [documentId] } } });
  }
  await vectorStore.deleteDocument(documentId);
  const sectionIds = [...new Set(footprint.sections.map((tuple) => tuple.entity.id))];
  if (sectionIds.length > 0) {
    await authorizer.deleteData({ tuples: { entity: { type: SECTION_ENTITY, ids: sectionIds } } });
  }
  return report;
}

/**
 * The documents either store holds in `collections`: by their `collection` relationship, or by their
 * chunks' metadata (which outlives the relationship when a removal stopped after its first step).
 */
export async function documentsInCollections(
  collections: readonly string[],
  options: Pick<RemoveOptions, "authorizer" | "vectorStore">,
): Promise<string[]> {
  if (collections.length === 0) return [];
  const wanted = new Set(collections);
  const held = new Set<string>();
  const tuples = await readAllRelationships(options.authorizer, {
    entity: { type: DOCUMENT_ENTITY },
    relation: "collection",
    subject: { type: "collection", ids: [...wanted], relation: "" },
  });
  for (const tuple of tuples) held.add(tuple.entity.id);
  for (const id of await options.vectorStore.listDocuments()) {
    if (held.has(id)) continue;
    const [first] = await options.vectorStore.documentChunks(id);
    if (first !== undefined && wanted.has(first.metadata.collection)) held.add(id);
  }
  return [...held].sort();
}
