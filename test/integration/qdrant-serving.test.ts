/**
 * The HTTP app serving a small bank from a real Qdrant of this file's own: what requests get while Qdrant
 * hangs (SIGSTOP: its ports accept, nothing answers) or is killed, and that the same app serves again, with
 * the same passages, once Qdrant is back on the same ports and storage: no restart of clearance, no new
 * client. Every failure must be a 503 within the deadline, with no passage and no model call.
 * (test/unit/adapters/qdrant/qdrant-failures.test.ts injects what a real server cannot: malformed answers,
 * chunks outside the scope.)
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import { createQdrantVectorStore } from "../../src/adapters/qdrant/qdrant-vector-store.ts";
import { STRATEGIES, type StrategySetting } from "../../src/core/retrieval.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { type QdrantServer, startQdrant } from "../helpers/qdrant-server.ts";
import { createSmallBank, postJson, type SmallBank } from "../helpers/small-bank.ts";
import { signTestToken } from "../helpers/test-identity.ts";
import { describeWithQdrantBinary } from "../helpers/vector-stores.ts";

/** The deadline of every Qdrant request in the apps under fault: failures must come within a few of it. */
const FAULT_TIMEOUT_MS = 1_000;
/** A request makes a handful of store calls at most before it fails; one deadline ends it. */
const FAILURE_BOUND_MS = 3 * FAULT_TIMEOUT_MS;
const RECOVERY_BOUND_MS = 30_000;
const QUERY = "card transaction dispute";

interface SearchBody {
  passages?: { chunkId: string }[];
  answer?: unknown;
  error?: { code: string };
}

describeWithQdrantBinary("serving from a real Qdrant that hangs, dies and comes back", () => {
  let qdrant: QdrantServer;
  const stores: VectorStore[] = [];
  /** One app per strategy setting, all on one store whose deadline is short. */
  const banks = new Map<StrategySetting, SmallBank>();
  let token: string;
  let expected: string[];

  beforeAll(async () => {
    qdrant = await startQdrant();
    const collection = `clearance-serving-${randomUUID()}`;
    const dimensions = createHashingEmbedder().dimensions;
    // Written through a store with a generous deadline; served through one with a short deadline.
    const writer = await createQdrantVectorStore({ url: qdrant.url, collection, dimensions });
    const served = await createQdrantVectorStore({
      url: qdrant.url,
      collection,
      dimensions,
      timeoutMs: FAULT_TIMEOUT_MS,
    });
    stores.push(writer, served);
    const first = await createSmallBank({ vectorBacking: writer, vectorStore: served });
    banks.set("adaptive", first);
    for (const strategy of STRATEGIES) {
      banks.set(
        strategy,
        await createSmallBank({ vectorBacking: writer, vectorStore: served, retrieval: { strategy } }),
      );
    }
    token = await signTestToken({ sub: "maria" });
    const { status, body } = await ask(first, "/v1/search");
    expect(status).toBe(200);
    expected = body.passages?.map((passage) => passage.chunkId) ?? [];
    expect(expected.length).toBeGreaterThan(0);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await qdrant?.stop();
  });

  async function ask(bank: SmallBank, route: "/v1/search" | "/v1/answer") {
    const response = await postJson(bank.app, route, { query: QUERY }, token);
    return { status: response.status, body: (await response.json()) as SearchBody };
  }

  /** Every strategy setting, both routes: 503 within the bound, no passage, no answer, no model call. */
  async function expectUnavailable(): Promise<void> {
    for (const [setting, bank] of banks) {
      for (const route of ["/v1/search", "/v1/answer"] as const) {
        const calls = bank.modelCalls();
        const started = performance.now();
        const { status, body } = await ask(bank, route);
        expect(performance.now() - started, `${setting} ${route} took too long`).toBeLessThan(
          FAILURE_BOUND_MS,
        );
        expect(status, `${setting} ${route}`).toBe(503);
        expect(body.error?.code).toBe("UPSTREAM_UNAVAILABLE");
        expect(body.passages).toBeUndefined();
        expect(body.answer).toBeUndefined();
        expect(bank.modelCalls()).toBe(calls);
      }
    }
  }

  /** Asks until a search succeeds (503s meanwhile only), then every setting must give the same passages. */
  async function expectServingAgain(): Promise<void> {
    const deadline = performance.now() + RECOVERY_BOUND_MS;
    const first = banks.get("adaptive") as SmallBank;
    for (;;) {
      const { status } = await ask(first, "/v1/search");
      if (status === 200) break;
      expect(status).toBe(503);
      if (performance.now() > deadline)
        throw new Error("requests did not succeed again after Qdrant came back");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const [setting, bank] of banks) {
      const { status, body } = await ask(bank, "/v1/search");
      expect(status, setting).toBe(200);
      expect(
        body.passages?.map((passage) => passage.chunkId),
        setting,
      ).toEqual(expected);
      const answered = await ask(bank, "/v1/answer");
      expect(answered.status, setting).toBe(200);
    }
  }

  it("hung (SIGSTOP): 503 within the deadline for every strategy, then the same passages once it resumes", async () => {
    qdrant.pause();
    try {
      await expectUnavailable();
    } finally {
      qdrant.resume();
    }
    await expectServingAgain();
  }, 60_000);

  it("killed (SIGKILL): 503 at once, then the same passages once it restarts on the same ports and storage", async () => {
    await qdrant.kill();
    await expectUnavailable();
    await qdrant.start();
    await expectServingAgain();
  }, 90_000);
});
