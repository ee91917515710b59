/**
 * The container pre-filter on a schema that is not the bank's: containers called folders and accounts,
 * permissions called `open`, `read` and `granted`. The model derived from the schema must make the
 * strategy exact (the passages of a pre-filter) and still narrow the search (fewer candidates than the
 * store holds), in both directions: nothing a reader may not see, nothing they may see left out.
 */
import { describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import type { EmbeddedChunk } from "../../../src/core/chunk.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { createRetrievalEngine } from "../../../src/core/retrieval.ts";
import { containerModelOf, FOLDER_SCHEMA } from "../../helpers/container-models.ts";

const DIMENSIONS = 64;

describe("the container pre-filter on a schema with folders and accounts", () => {
  it("returns exactly what pre-filter returns, from fewer candidates than the store holds", async () => {
    const authorizer = await createEmbeddedAuthorizer();
    const vectorStore = await createEmbeddedVectorStore({ dimensions: DIMENSIONS });
    const embedder = createHashingEmbedder({ dimensions: DIMENSIONS });
    try {
      await authorizer.writeSchema(FOLDER_SCHEMA);
      // d0..d11: folders f0..f3 (f3 inside f2), accounts a0..a2 on every third document.
      const tuples: string[] = [
        "folder:f3#parent@folder:f2",
        "folder:f0#reader@user:ann",
        "folder:f2#reader@user:ann",
      ];
      tuples.push("account:a1#holder@user:bob", "account:a2#banker@user:ann", "document:d5#viewer@user:bob");
      const chunks: EmbeddedChunk[] = [];
      for (let d = 0; d < 12; d++) {
        const folder = `f${d % 4}`;
        const account = d % 3 === 0 ? `a${(d / 3) % 3}` : undefined;
        tuples.push(`document:d${d}#collection@folder:${folder}`, `document:d${d}#owner@user:olga`);
        if (account) tuples.push(`document:d${d}#customer@account:${account}`);
        const text = `Wire transfer limits and fees, document ${d}.`;
        const [vector] = await embedder.embedDocuments([text]);
        chunks.push({
          id: `d${d}:0`,
          resource: `document:d${d}`,
          documentId: `d${d}`,
          title: `Document ${d}`,
          ordinal: 0,
          text,
          metadata: { collection: folder, owner: "user:olga", ...(account ? { customer: account } : {}) },
          vector: vector as Float32Array,
        });
      }
      await authorizer.writeData({ tuples: tuples.map(parseTuple) });
      for (const chunk of chunks) await vectorStore.replaceDocument(chunk.documentId, [chunk]);

      const ports = { authorizer, vectorStore, embedder };
      const containerModel = containerModelOf(FOLDER_SCHEMA);
      const containers = createRetrievalEngine({
        ...ports,
        strategy: "container-pre-filter",
        containerModel,
      });
      const preFilter = createRetrievalEngine({ ...ports, strategy: "pre-filter" });
      const expectedReadable: Record<string, string[]> = {
        // f0, f2 and f3 through f2's parent, and a2's documents as its banker.
        ann: ["d0", "d2", "d3", "d4", "d6", "d7", "d8", "d10", "d11"],
        // a1's document as its holder, and d5 granted on the document itself.
        bob: ["d3", "d5"],
        carl: [],
      };
      for (const [userId, readable] of Object.entries(expectedReadable)) {
        const request = { principal: { userId, agentIds: [] }, query: "wire transfer fees", k: 12 };
        const byContainers = await containers.retrieve(request);
        const expected = await preFilter.retrieve(request);
        expect(byContainers.passages.map((p) => p.id)).toEqual(expected.passages.map((p) => p.id));
        expect(byContainers.passages.map((p) => p.documentId).sort()).toEqual([...readable].sort());
        expect(byContainers.stats.finishedWith).toBe("container-pre-filter");
        expect(byContainers.stats.candidates).toBeLessThan(chunks.length);
      }
    } finally {
      await Promise.all([authorizer.close(), vectorStore.close()]);
    }
  });
});
