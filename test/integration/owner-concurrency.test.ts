/**
 * Readers ask continuously while an owner replaces, re-permissions and deletes a document (issue 14).
 *
 * The document has two versions: v1, unredacted, in the executive collection; v2, redacted, in the help
 * center. Every re-ingest moves it from one to the other in one run: exactly the change that used to serve
 * v1's chunks to a customer, because ingest wrote the help-center relationship before replacing the chunks.
 *
 * Every passage a reader gets is checked against what was in force while the query ran:
 * - it belongs to a version that was still in force when the query started (never one already replaced
 *   or deleted by then);
 * - the reader may read that version under some declaration in force during the query: a customer never
 *   gets v1 (which is only ever the executives'), nor anything once the document is deleted or while its
 *   access excludes customers.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ingestManifest } from "../../ingest/ingest.ts";
import { removeDocument } from "../../ingest/remove.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import { changeAccess } from "../../src/app/owners.ts";
import type { Principal } from "../../src/core/principal.ts";
import { createRetrievalEngine, STRATEGIES } from "../../src/core/retrieval.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { type AuthorizerBackend, describeEachAuthorizer } from "../helpers/authorizers.ts";
import { bankContainerModel } from "../helpers/container-models.ts";
import { overridingVectorStore } from "../helpers/stub-adapters.ts";

const SCHEMA = await readFile(new URL("../../fixtures/schema.perm", import.meta.url), "utf8");

const RELATIONSHIPS = `relationships:
  - team:customers#member@user:maria
  - team:executives#member@user:victor
  - collection:help-center#viewer@team:customers#member
  - collection:help-center#viewer@team:executives#member
  - collection:executive#viewer@team:executives#member
`;

const V1 = `# Branch consolidation

The Pier Street branch closes in March. UNREDACTED severance budget is 4.2 million dollars and the
landlord settlement is confidential.

## Safe deposit boxes

Box holders at Pier Street move to the Harbor Square vault. UNREDACTED list of affected box holders follows.
`;

const V2 = `# Branch consolidation

The Pier Street branch closes in March. Customers will be told by letter.

## Safe deposit boxes

Box holders at Pier Street move to the Harbor Square vault; nothing is lost and there is no fee.
`;

const STABLE = `# Branch hours

Branches open at nine. The Pier Street branch and its safe deposit boxes keep their hours until March.
`;

function manifest(version: "v1" | "v2"): string {
  const memo =
    version === "v1"
      ? "    path: documents/memo-v1.md\n    collection: executive\n"
      : "    path: documents/memo-v2.md\n    collection: help-center\n";
  // (Each round writes the version's file anew with its round number, so no two rounds share a chunk.)
  return `schema: schema.perm
relationships: relationships.yaml
documents:
  - id: hours
    path: documents/hours.md
    title: Branch hours
    collection: help-center
    owner: user:nadia
  - id: memo
${memo}    title: Branch consolidation
    owner: user:victor
`;
}

const QUESTIONS = [
  "Is the Pier Street branch closing?",
  "What happens to my safe deposit box?",
  "severance budget landlord settlement",
  "branch hours",
];

/**
 * The store as a remote one is: its writes take a while (Qdrant's take milliseconds), so the readers run
 * while a document is between its relationship change and its content change.
 */
function slowWrites(inner: VectorStore, ms = 30): VectorStore {
  const later = () => new Promise((resolve) => setTimeout(resolve, ms));
  return overridingVectorStore(inner, {
    replaceDocument: async (id, chunks) => {
      await later();
      await inner.replaceDocument(id, chunks);
    },
    deleteDocument: async (id) => {
      await later();
      return inner.deleteDocument(id);
    },
    updateDocumentMetadata: async (id, metadata) => {
      await later();
      return inner.updateDocumentMetadata(id, metadata);
    },
  });
}

const MARIA: Principal = { userId: "maria", agentIds: [] };
const VICTOR: Principal = { userId: "victor", agentIds: [] };

/** What the memo is at some moment: a version's chunk ids, or deleted. */
interface Epoch {
  /** performance.now() when the write that made this state began. */
  readonly from: number;
  /** When the write that replaced this state returned (Infinity while this one is current). */
  until: number;
  readonly version: "v1" | "v2" | "deleted";
  readonly chunkIds: ReadonlySet<string>;
}

describeEachAuthorizer("owners change a document while readers ask", (backend: AuthorizerBackend) => {
  let dir: string;
  let authorizer: Authorizer;
  let vectorStore: VectorStore;
  const embedder = createHashingEmbedder();

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "clearance-owners-"));
    await writeFile(path.join(dir, "schema.perm"), SCHEMA);
    await writeFile(path.join(dir, "relationships.yaml"), RELATIONSHIPS);
    const docs = path.join(dir, "documents");
    await mkdir(docs);
    await writeFile(path.join(docs, "memo-v1.md"), V1);
    await writeFile(path.join(docs, "memo-v2.md"), V2);
    await writeFile(path.join(docs, "hours.md"), STABLE);
    authorizer = await backend.open("owner-concurrency");
    vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  });

  afterEach(async () => {
    await Promise.all([authorizer.close(), vectorStore.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  async function ingestVersion(version: "v1" | "v2", round: number): Promise<void> {
    const text = (version === "v1" ? V1 : V2).replace(
      "# Branch consolidation",
      `# Branch consolidation, edition ${round}`,
    );
    await writeFile(path.join(dir, "documents", `memo-${version}.md`), text);
    await writeFile(path.join(dir, "manifest.yaml"), manifest(version));
    const report = await ingestManifest({
      manifestPath: path.join(dir, "manifest.yaml"),
      authorizer,
      vectorStore: slowWrites(vectorStore),
      embedder,
      schemaChange: { allow: true },
      relationshipScope: "any",
    });
    expect(report.failed).toBe(0);
  }

  it("every passage is of a version in force when the query started, and readable by its reader", async () => {
    await ingestVersion("v1", 0);
    const epochs: Epoch[] = [
      {
        from: performance.now(),
        until: Number.POSITIVE_INFINITY,
        version: "v1",
        chunkIds: new Set((await vectorStore.documentChunks("memo")).map((c) => c.id)),
      },
    ];
    /** Chunks of every executive (v1) edition: no customer may ever get one. */
    const v1Ids = new Set(epochs[0]?.chunkIds);
    const engines = STRATEGIES.map((strategy) =>
      createRetrievalEngine({
        authorizer,
        vectorStore,
        embedder,
        strategy,
        containerModel: bankContainerModel(),
      }),
    );

    let writing = true;
    const problems: string[] = [];
    let queries = 0;
    let memoPassages = 0;
    const seen: { who: string; chunkId: string; started: number; setting: string }[] = [];
    const reader = async (principal: Principal) => {
      let turn = 0;
      while (writing) {
        const engine = engines[turn % engines.length] as (typeof engines)[number];
        const query = QUESTIONS[turn % QUESTIONS.length] as string;
        turn++;
        const started = performance.now();
        // The embedded adapters answer in microtasks: yield, or the owner's file reads would never run.
        await new Promise((resolve) => setImmediate(resolve));
        const result = await engine.retrieve({ principal, query, k: 6 });
        queries++;
        for (const passage of result.passages) {
          if (passage.documentId !== "memo") continue;
          memoPassages++;
          seen.push({ who: principal.userId, chunkId: passage.id, started, setting: engine.setting });
          if (principal.userId === "maria" && v1Ids.has(passage.id)) {
            problems.push(`maria got ${passage.id} of the unredacted executive version (${engine.setting})`);
          }
        }
      }
    };

    const readers = [reader(MARIA), reader(MARIA), reader(VICTOR)];
    try {
      for (let round = 0; round < 8; round++) {
        const version = round % 2 === 0 ? "v2" : "v1";
        const current = epochs.at(-1) as Epoch;
        const from = performance.now();
        await ingestVersion(version, round + 1);
        current.until = performance.now();
        epochs.push({
          from,
          until: Number.POSITIVE_INFINITY,
          version,
          chunkIds: new Set((await vectorStore.documentChunks("memo")).map((c) => c.id)),
        });
        if (version === "v1") for (const id of (epochs.at(-1) as Epoch).chunkIds) v1Ids.add(id);
        // Re-permission without a content change: an executive becomes a direct viewer, then is removed.
        const owners = {
          authorizer,
          vectorStore: slowWrites(vectorStore),
          embedder,
        };
        const operator = { principal: { userId: "operator", agentIds: [] }, requestId: "t", surface: "test" };
        await changeAccess(owners, operator, "memo", { addViewers: ["user:victor"] }, { asOperator: true });
        await changeAccess(
          owners,
          operator,
          "memo",
          { removeViewers: ["user:victor"] },
          { asOperator: true },
        );
        // Let the readers run a while on each version.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Deleted: once `removeDocument` returned, no query that starts may return any of it.
      const last = epochs.at(-1) as Epoch;
      const from = performance.now();
      await removeDocument("memo", { authorizer, vectorStore: slowWrites(vectorStore) });
      last.until = performance.now();
      epochs.push({ from, until: Number.POSITIVE_INFINITY, version: "deleted", chunkIds: new Set() });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      writing = false;
      await Promise.all(readers);
    }
    // A passage belongs to a state whose write had begun before the query ended and that was not yet
    // replaced (its replacing write had not returned) when the query started.
    for (const passage of seen) {
      const live = epochs.some(
        (epoch) => epoch.chunkIds.has(passage.chunkId) && epoch.until >= passage.started,
      );
      if (!live) {
        problems.push(
          `${passage.who} got ${passage.chunkId} of a version replaced before the query started (${passage.setting})`,
        );
      }
    }
    expect(problems).toEqual([]);
    expect(queries).toBeGreaterThan(20);
    expect(memoPassages).toBeGreaterThan(0);
  }, 120_000);
});
