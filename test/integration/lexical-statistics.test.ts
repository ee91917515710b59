/**
 * No leak through corpus statistics: with hybrid ranking (BM25 on fixed public statistics, blended with the
 * cosine), adding or removing documents a principal may not read leaves that principal's passages, their
 * order and their scores bit-identical, for every fixture principal, question and strategy. A legal-only
 * document full of rare words from the questions is the case a whole-corpus IDF would fail: its words
 * would lose weight for everyone. The same run is the leak table for hybrid ranking on the embedded store:
 * every passage's resource is one the principal may view.
 */
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ingestManifest } from "../../ingest/ingest.ts";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import type { EmbeddedChunk } from "../../src/core/chunk.ts";
import { DEFAULT_DENSE_WEIGHT, type Ranking } from "../../src/core/lexical.ts";
import { PUBLIC_BACKGROUND } from "../../src/core/lexical-background.ts";
import { parseTuple } from "../../src/core/permify-notation.ts";
import {
  createRetrievalEngine,
  type RetrievalEngine,
  readableResources,
  STRATEGIES,
  type StrategySetting,
} from "../../src/core/retrieval.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { bankContainerModel } from "../helpers/container-models.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const K = 10;
const RANKING: Ranking = { kind: "hybrid", denseWeight: DEFAULT_DENSE_WEIGHT, statistics: PUBLIC_BACKGROUND };
const SETTINGS: readonly StrategySetting[] = ["adaptive", ...STRATEGIES];

interface Principal {
  readonly user: string;
  readonly agents?: readonly string[];
  readonly documents: readonly string[];
  readonly sections: readonly string[];
}

const visibility = parse(await readFile(new URL("expected-visibility.yaml", FIXTURES), "utf8")) as {
  principals: Principal[];
};
const { questions } = parse(await readFile(new URL("questions.yaml", FIXTURES), "utf8")) as {
  questions: string[];
};
const relevance = parse(await readFile(new URL("relevance.yaml", FIXTURES), "utf8")) as {
  questions: { text: string }[];
};
const allQuestions = [...new Set([...questions, ...relevance.questions.map((q) => q.text)])];

const nameOf = (p: Principal) => (p.agents?.length ? `${p.agents.join(">")} for ${p.user}` : p.user);
const principalOf = (p: Principal) => ({ userId: p.user, agentIds: p.agents ?? [] });

/** Every principal's answers (chunk id and exact score) to every question, per strategy setting. */
async function answers(authorizer: Authorizer, vectorStore: VectorStore): Promise<Map<string, string>> {
  const embedder = createHashingEmbedder();
  const engines: [string, RetrievalEngine][] = SETTINGS.map((strategy) => [
    strategy,
    createRetrievalEngine({
      authorizer,
      vectorStore,
      embedder,
      strategy,
      containerModel: bankContainerModel(),
      ranking: RANKING,
    }),
  ]);
  const out = new Map<string, string>();
  for (const principal of visibility.principals) {
    for (const query of allQuestions) {
      for (const [strategy, engine] of engines) {
        const { passages } = await engine.retrieve({ principal: principalOf(principal), query, k: K });
        // Scores as their exact bits: "bit-identical" means exactly that.
        out.set(
          `${nameOf(principal)} :: ${strategy} :: ${query}`,
          JSON.stringify(passages.map((p) => [p.id, p.resource, p.score.toString(16)])),
        );
      }
    }
  }
  return out;
}

/** A legal-only document whose text is the questions' rarest words, many times over. */
async function legalOnlyChunks(): Promise<EmbeddedChunk[]> {
  const embedder = createHashingEmbedder();
  const texts = [
    "Pier Street branch closing: safe deposit box renters, drilling, vault combination, duress code, kiting.",
    "Chargeback representment, Regulation E provisional credit, wire transfer recall, escrow shortage, SAR.",
    "Subpoena, legal hold custodians, counsel settlement, privileged breach notice, Eastport Title, Millbrook.",
  ];
  const vectors = await embedder.embedDocuments(texts);
  return texts.map((text, ordinal) => ({
    id: `legal-rare-terms-${ordinal}`,
    resource: "document:legal-rare-terms",
    documentId: "legal-rare-terms",
    title: "Privileged: counsel's working notes",
    text,
    ordinal,
    metadata: { collection: "legal-only", owner: "user:lena" },
    vector: vectors[ordinal] as Float32Array,
  }));
}

describe("no leak through corpus statistics (hybrid ranking, embedded store)", () => {
  let authorizer: Authorizer;
  let vectorStore: VectorStore;
  let before: Map<string, string>;

  beforeAll(async () => {
    const embedder = createHashingEmbedder();
    authorizer = await createEmbeddedAuthorizer();
    vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
    const report = await ingestManifest({
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: new URL("manifest.yaml", FIXTURES).pathname,
      authorizer,
      vectorStore,
      embedder,
    });
    expect(report.failed).toBe(0);
    before = await answers(authorizer, vectorStore);
  }, 300_000);

  it("returns only what each principal may view, and the same passages with every strategy", () => {
    for (const principal of visibility.principals) {
      const allowed = new Set([
        ...principal.documents.map((id) => `document:${id}`),
        ...principal.sections.map((id) => `section:${id}`),
      ]);
      for (const query of allQuestions) {
        const adaptive = before.get(`${nameOf(principal)} :: adaptive :: ${query}`) as string;
        for (const [, resource] of JSON.parse(adaptive) as [string, string][]) {
          expect(allowed.has(resource), `${nameOf(principal)} got ${resource} for ${query}`).toBe(true);
        }
        for (const strategy of STRATEGIES) {
          expect(before.get(`${nameOf(principal)} :: ${strategy} :: ${query}`), `${strategy}: ${query}`).toBe(
            adaptive,
          );
        }
      }
    }
  });

  it("adding and removing documents a principal may not read changes nothing for them", async () => {
    const chunks = await legalOnlyChunks();
    await authorizer.writeData({ tuples: [parseTuple("document:legal-rare-terms#owner@user:lena")] });
    await vectorStore.replaceDocument("legal-rare-terms", chunks);
    // Removed: the executive memo (executives and legal read it) and James's checking statement.
    const removed = ["exec-branch-consolidation", "acct-1002-checking-statement"];
    for (const id of removed) await vectorStore.deleteDocument(id);
    const after = await answers(authorizer, vectorStore);
    let compared = 0;
    let changedForReaders = 0;
    for (const principal of visibility.principals) {
      const readable = await readableResources(authorizer, principalOf(principal));
      const touched =
        readable.has("document:legal-rare-terms") || removed.some((id) => readable.has(`document:${id}`));
      for (const [key, value] of after) {
        if (!key.startsWith(`${nameOf(principal)} :: `)) continue;
        if (touched) {
          if (value !== before.get(key)) changedForReaders++;
          continue;
        }
        expect(value, key).toBe(before.get(key));
        compared++;
      }
    }
    // Most principals read none of it; the readers see the change (so the test is not vacuous).
    expect(compared).toBeGreaterThanOrEqual(allQuestions.length * SETTINGS.length * 10);
    expect(changedForReaders).toBeGreaterThan(0);
  }, 300_000);
});
