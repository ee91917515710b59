/** Use case: the stored documents the caller, and every agent acting for them, may read. */
import { upstream } from "../core/retrieval-meter.ts";
import { readableResources } from "../core/retrieval-strategies.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { AuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";

export interface DocumentsDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
}

export interface ReadableDocument {
  readonly id: string;
  readonly title: string;
  readonly collection: string;
}

export async function listReadableDocuments(
  deps: DocumentsDeps,
  caller: Caller,
  audit: AuditDetail,
): Promise<{ readonly documents: readonly ReadableDocument[]; readonly logFields: Record<string, unknown> }> {
  const [readable, stored] = await Promise.all([
    readableResources(deps.authorizer, caller.principal),
    upstream("vector-store", "the vector store failed", () => deps.vectorStore.listDocuments()),
  ]);
  const ids = stored.filter((id) => readable.has(`document:${id}`));
  audit.documents = ids.map((id) => `document:${id}`);
  const documents = await Promise.all(
    ids.map(async (id) => {
      const [first] = await upstream("vector-store", "the vector store failed", () =>
        deps.vectorStore.documentChunks(id),
      );
      return { id, title: first?.title ?? id, collection: first?.metadata.collection ?? "" };
    }),
  );
  return { documents, logFields: { readableResources: readable.size, returned: documents.length } };
}
