/**
 * Faults in the middle of retrieval, for every strategy setting: an authorizer that fails on its third
 * call, lookups that cannot be followed to their end, and a store that times out. Each request answers
 * 503 with no passage, and /v1/answer never calls the model. The fault injectors are stubs wrapping the
 * real embedded adapters.
 *
 * The bank is built so that every strategy needs several rounds: 300 documents ranked along a circle, the
 * user may read only the last-ranked one, and the agent acting for them may read everything.
 */
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { composeApp } from "../../../src/composition.ts";
import { delegationData } from "../../../src/core/delegation.ts";
import { AppError } from "../../../src/core/errors.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { STRATEGIES, type StrategySetting } from "../../../src/core/retrieval.ts";
import { type Authorizer, checkFailure, type LookupPage } from "../../../src/ports/authorizer.ts";
import type { ChatModel } from "../../../src/ports/chat-model.ts";
import type { Embedder } from "../../../src/ports/embedder.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";
import { bankContainerModel } from "../../helpers/container-models.ts";
import { BANK_SCHEMA } from "../../helpers/random-bank.ts";
import { postJson } from "../../helpers/small-bank.ts";
import { overridingAuthorizer, overridingVectorStore } from "../../helpers/stub-adapters.ts";
import { signTestToken, testTokenVerifier } from "../../helpers/test-identity.ts";

const DOCUMENTS = 300;
const SETTINGS: readonly StrategySetting[] = ["adaptive", ...STRATEGIES];

/** Query "q" is the direction (1, 0); document i lies at angle i·π/300, so d0 ranks first and d299 last. */
const embedder: Embedder = {
  model: "circle",
  dimensions: 2,
  embedQuery: async () => Float32Array.from([1, 0]),
  embedDocuments: async () => [],
};

let authorizer: Authorizer;
let vectorStore: VectorStore;
let token: string;

beforeAll(async () => {
  authorizer = await createEmbeddedAuthorizer();
  await authorizer.writeSchema(BANK_SCHEMA);
  const tuples = [
    "collection:all#viewer@agent:helper",
    `document:d${DOCUMENTS - 1}#viewer@user:ursula`,
    ...Array.from({ length: DOCUMENTS }, (_, i) => `document:d${i}#collection@collection:all`),
  ];
  await authorizer.writeData({ tuples: tuples.map(parseTuple) });
  // Ursula consented to the helper acting for her (issue 16).
  await authorizer.writeData(delegationData("ursula", "helper"));
  vectorStore = await createEmbeddedVectorStore({ dimensions: 2 });
  for (let i = 0; i < DOCUMENTS; i++) {
    const angle = (i * Math.PI) / DOCUMENTS;
    await vectorStore.replaceDocument(`d${i}`, [
      {
        id: `d${i}:0`,
        resource: `document:d${i}`,
        documentId: `d${i}`,
        title: `Document ${i}`,
        text: `Paragraph ${i} about card disputes.`,
        ordinal: 0,
        metadata: { collection: "all", owner: "user:owner" },
        vector: Float32Array.from([Math.cos(angle), Math.sin(angle)]),
      },
    ]);
  }
  token = await signTestToken({ sub: "ursula", agents: ["helper"] });
});

function appWith(strategy: StrategySetting, faults: { authorizer?: Authorizer; vectorStore?: VectorStore }) {
  let modelCalls = 0;
  const answerer = createExtractiveAnswerer();
  const chatModel: ChatModel = {
    model: answerer.model,
    answer: (request) => {
      modelCalls++;
      return answerer.answer(request);
    },
    probe: () => answerer.probe(),
  };
  const { app } = composeApp({
    authorizer: faults.authorizer ?? authorizer,
    vectorStore: faults.vectorStore ?? vectorStore,
    embedder,
    chatModel,
    auditLog: createMemoryAuditLog(),
    tokenVerifier: testTokenVerifier(),
    logger: pino({ level: "silent" }),
    limits: { defaultK: 1, maxK: 10, queryMaxChars: 100 },
    // Two rounds: post-filter then finishes with pre-filter, so every strategy lists as well as checks.
    retrieval: { strategy, budget: { maxRounds: 2 }, containerModel: bankContainerModel() },
  });
  return { app, modelCalls: () => modelCalls };
}

/** A stub around the real authorizer: its calls to `checkMany` and `lookupResources` are counted. */
function counting(
  inner: Authorizer,
  fault: (call: number, method: "checkMany" | "lookupResources") => Promise<never> | undefined,
): Authorizer & { calls: () => number } {
  let calls = 0;
  return {
    ...overridingAuthorizer(inner, {
      checkMany: (requests) => fault(++calls, "checkMany") ?? inner.checkMany(requests),
      lookupResources: (request) => fault(++calls, "lookupResources") ?? inner.lookupResources(request),
    }),
    calls: () => calls,
  };
}

/** Each route on a fresh app (and so a fresh fault): 503, no passage, no model call. */
async function expectFailsClosed(freshApp: () => ReturnType<typeof appWith>): Promise<void> {
  for (const path of ["/v1/search", "/v1/answer"]) {
    const app = freshApp();
    const response = await postJson(app.app, path, { query: "q", k: 1 }, token);
    expect(response.status, path).toBe(503);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty("passages");
    expect((body.error as { code: string }).code).toBe("UPSTREAM_UNAVAILABLE");
    expect(app.modelCalls(), path).toBe(0);
  }
}

describe("retrieval faults (stubs around the embedded adapters)", () => {
  for (const strategy of SETTINGS) {
    describe(strategy, () => {
      it("answers d299 when nothing fails, after more than two authorizer calls", async () => {
        const counted = counting(authorizer, () => undefined);
        const { app } = appWith(strategy, { authorizer: counted });
        const response = await postJson(app, "/v1/search", { query: "q", k: 1 }, token);
        expect(response.status).toBe(200);
        const { passages } = (await response.json()) as { passages: { chunkId: string }[] };
        expect(passages.map((p) => p.chunkId)).toEqual([`d${DOCUMENTS - 1}:0`]);
        // So that failing the third call below fails a call the request really makes.
        expect(counted.calls()).toBeGreaterThanOrEqual(3);
      });

      it("fails with 503 and no passage when the authorizer fails on its third call", async () => {
        await expectFailsClosed(() => {
          const failing = counting(authorizer, (call) =>
            call === 3 ? Promise.reject(new AppError("UPSTREAM_UNAVAILABLE", "injected")) : undefined,
          );
          return appWith(strategy, { authorizer: failing });
        });
      });

      it("fails with 503 when a bulk check answers one item failed", async () => {
        const partial = overridingAuthorizer(authorizer, {
          checkMany: async (requests) => {
            const outcomes = await authorizer.checkMany(requests);
            // The last check of a resource (consent checks of delegations ride along; they are not it).
            const last = requests.findLastIndex((request) => request.entity.type !== "delegation");
            return outcomes.map((outcome, index) =>
              index === last
                ? checkFailure(new AppError("DEPTH_EXCEEDED", "stub: the check ran out of depth"))
                : outcome,
            );
          },
        });
        // Denying the item instead would silently return fewer passages than the principal may read. Pre-filter
        // too: it checks its passages again after reading them (confirmPassages).
        await expectFailsClosed(() => appWith(strategy, { authorizer: partial }));
      });

      for (const [name, page] of [
        ["repeats a cursor", (): LookupPage => ({ ids: [], nextCursor: "same" })],
        ["returns ids out of order", (): LookupPage => ({ ids: ["b", "a"] })],
      ] as const) {
        it(`fails with 503 when a lookup ${name}`, async () => {
          const broken = overridingAuthorizer(authorizer, { lookupResources: async () => page() });
          await expectFailsClosed(() => appWith(strategy, { authorizer: broken }));
        });
      }

      it("fails with 503 when a lookup's second page fails", async () => {
        await expectFailsClosed(() => {
          let pages = 0;
          const broken = overridingAuthorizer(authorizer, {
            lookupResources: async (request) => {
              if (++pages === 2) throw new AppError("UPSTREAM_UNAVAILABLE", "injected");
              const page = await authorizer.lookupResources({ ...request, pageSize: 1 });
              return { ids: page.ids, nextCursor: page.nextCursor ?? "more" };
            },
          });
          return appWith(strategy, { authorizer: broken });
        });
      });

      it("fails with 503 and no passage when the store times out", async () => {
        const slow = overridingVectorStore(vectorStore, {
          search: async () => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            throw new AppError("UPSTREAM_UNAVAILABLE", "the vector store did not answer within 20 ms");
          },
        });
        await expectFailsClosed(() => appWith(strategy, { vectorStore: slow }));
      });
    });
  }
});
