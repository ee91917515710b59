/**
 * The fixture bank served from a three-node Qdrant cluster (six shards, two replicas each, writes
 * acknowledged by both: QDRANT_SHARDS=6, QDRANT_REPLICATION_FACTOR=2, QDRANT_WRITE_CONSISTENCY_FACTOR=2),
 * under a steady query load while nodes die and come back. Two apps ask the same questions through the
 * bootstrap node: one reads one replica per shard (QDRANT_READ_CONSISTENCY=1, the setting the README
 * recommends), one reads every replica (`all`). Every answer must be the passages asked before any node
 * died, or a 503: never another list, never a shorter one.
 *
 * The run: load on the whole cluster; node 3 killed (reading one replica keeps answering in full, reading
 * all of them gives 503s; a write fails, since it cannot reach both replicas of every shard it touches);
 * node 3 restarted, its replicas Active again, both apps complete again; the write retried and
 * acknowledged; node 2 killed, and the acknowledged write is still read whole; then nodes 2 and 3 both
 * down, so some shards have no replica left: every search is a 503, never the shards that remain.
 */
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { ingestManifest } from "../../ingest/ingest.ts";
import { createMemoryAuditLog } from "../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createExtractiveAnswerer } from "../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import { composeApp, openVectorStore } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import type { EmbeddedChunk } from "../../src/core/chunk.ts";
import { isAppError } from "../../src/core/errors.ts";
import type { App } from "../../src/http/app-env.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { bankContainerModel } from "../helpers/container-models.ts";
import { type QdrantCluster, startQdrantCluster } from "../helpers/qdrant-cluster.ts";
import type { QdrantServer } from "../helpers/qdrant-server.ts";
import { postJson } from "../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../helpers/test-identity.ts";
import {
  describeWithQdrant,
  describeWithQdrantBinary,
  dropQdrantCollection,
  uniqueCollection,
} from "../helpers/vector-stores.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
/** Questions per principal in the load: every principal, a few questions each. */
const QUESTIONS = 2;
const WORKERS = 2;
/** Deadline of each Qdrant request while serving: a dead node refuses connections, so failures are quick. */
const SERVE_TIMEOUT_MS = 3_000;
/** A chunk nobody may read (no relationship names its document): written to probe the cluster's writes. */
const PROBE_DOCUMENT = "cluster-write-probe";
const PROBE_CHUNKS = 12;

const principalsSchema = z.object({
  principals: z.array(z.object({ user: z.string(), agents: z.array(z.string()).default([]) })),
});
const questionsSchema = z.object({ questions: z.array(z.string()) });

type Setting = "one replica" | "all replicas";
type Phase = "whole" | "node 3 lost" | "rejoined" | "node 2 lost" | "nodes 2 and 3 lost";

interface Ask {
  readonly token: string;
  readonly who: string;
  readonly query: string;
}

interface Tally {
  complete: number;
  unavailable: number;
}

/** The shards of which the node at `url` holds a replica. */
async function localShards(url: string, collection: string): Promise<number[]> {
  const response = await fetch(`${url}/collections/${collection}/cluster`, {
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await response.json()) as { result: { local_shards: { shard_id: number }[] } };
  return body.result.local_shards.map((shard) => shard.shard_id).sort((a, b) => a - b);
}

describeWithQdrantBinary("a Qdrant cluster losing nodes under load", () => {
  let cluster: QdrantCluster;
  let collection: string;
  let authorizer: Authorizer;
  const stores: VectorStore[] = [];
  const apps = new Map<Setting, App>();
  let writer: VectorStore;
  let asks: Ask[] = [];
  /** The passages of each ask before any node died. */
  const expected = new Map<Ask, string>();
  const started = performance.now();
  const log = (message: string) =>
    console.log(`[qdrant cluster +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`);

  beforeAll(async () => {
    cluster = await startQdrantCluster(3);
    log(
      `3 nodes up: ${cluster.nodes.map((node, i) => `node ${i + 1} http ${node.ports.http} p2p ${node.ports.p2p} pid ${node.pid()}`).join("; ")}`,
    );
    collection = uniqueCollection("cluster");
    const embedder = createHashingEmbedder();
    const settings = (readConsistency: string, timeoutMs: number) =>
      loadConfig({
        VECTORS: "qdrant",
        QDRANT_URL: cluster.nodes[0]?.url,
        QDRANT_COLLECTION: collection,
        QDRANT_TIMEOUT_MS: String(timeoutMs),
        QDRANT_SHARDS: "6",
        QDRANT_REPLICATION_FACTOR: "2",
        QDRANT_WRITE_CONSISTENCY_FACTOR: "2",
        QDRANT_READ_CONSISTENCY: readConsistency,
      });
    writer = await openVectorStore(settings("1", 30_000), { dimensions: embedder.dimensions });
    stores.push(writer);
    await cluster.waitUntilActive(collection);
    authorizer = await createEmbeddedAuthorizer();
    const report = await ingestManifest({
      // The operator loads the fixture bank: its relationships file writes teams and collections too.
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: new URL("manifest.yaml", FIXTURES).pathname,
      authorizer,
      vectorStore: writer,
      embedder,
    });
    expect(report.failed).toBe(0);
    for (const [setting, consistency] of [
      ["one replica", "1"],
      ["all replicas", "all"],
    ] as const) {
      const store = await openVectorStore(settings(consistency, SERVE_TIMEOUT_MS), {
        dimensions: embedder.dimensions,
      });
      stores.push(store);
      apps.set(
        setting,
        composeApp({
          authorizer,
          vectorStore: store,
          embedder,
          chatModel: createExtractiveAnswerer(),
          auditLog: createMemoryAuditLog(),
          tokenVerifier: testTokenVerifier(),
          logger: pino({ level: process.env.SERVING_LOG_LEVEL ?? "silent" }),
          limits: { defaultK: 8, maxK: 50, queryMaxChars: 2_000 },
          retrieval: { containerModel: bankContainerModel() },
        }).app,
      );
    }
    const { principals } = principalsSchema.parse(
      parse(await readFile(new URL("expected-visibility.yaml", FIXTURES), "utf8")),
    );
    const { questions } = questionsSchema.parse(
      parse(await readFile(new URL("questions.yaml", FIXTURES), "utf8")),
    );
    asks = await Promise.all(
      principals.flatMap((principal, p) =>
        Array.from({ length: QUESTIONS }, async (_, q) => ({
          token: await signTestToken({
            sub: principal.user,
            ...(principal.agents.length > 0 ? { act: principal.agents } : {}),
          }),
          who: [principal.user, ...principal.agents].join(">"),
          query: questions[(p * QUESTIONS + q) % questions.length] as string,
        })),
      ),
    );
    // As many at a time as the load runs: the apps' deadline is short, and the machine may be busy.
    for (let start = 0; start < asks.length; start += WORKERS) {
      await Promise.all(
        asks.slice(start, start + WORKERS).map(async (ask) => {
          const answers = await Promise.all([...apps.values()].map((app) => passagesOf(app, ask)));
          expect(answers[0]?.status, answers[0]?.code).toBe(200);
          expect(answers[1]).toEqual(answers[0]);
          expected.set(ask, answers[0]?.passages as string);
        }),
      );
    }
    log(`collection ${collection}: 6 shards x 2 replicas, ${asks.length} questions answered by both apps`);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await authorizer?.close();
    await cluster?.stop();
  });

  async function passagesOf(
    app: App,
    ask: Ask,
  ): Promise<{ status: number; passages?: string; code?: string }> {
    const response = await postJson(app, "/v1/search", { query: ask.query }, ask.token);
    const body = (await response.json()) as {
      passages?: { chunkId: string }[];
      error?: { code: string };
    };
    return {
      status: response.status,
      ...(body.passages === undefined
        ? {}
        : { passages: body.passages.map((passage) => passage.chunkId).join(",") }),
      ...(body.error === undefined ? {} : { code: body.error.code }),
    };
  }

  /** Answers per phase and setting; any answer that is neither the expected passages nor a 503 is kept. */
  const tallies = new Map<string, Tally>();
  const wrong: string[] = [];
  let phase: Phase = "whole";
  let loading = false;

  /** WORKERS loops asking every question through both apps, until `stopLoad`. */
  function startLoad(): Promise<void> {
    loading = true;
    let next = 0;
    const worker = async () => {
      while (loading) {
        const ask = asks[next++ % asks.length] as Ask;
        for (const [setting, app] of apps) {
          const during = phase;
          const answer = await passagesOf(app, ask);
          const key = `${during} / ${setting}`;
          const tally = tallies.get(key) ?? { complete: 0, unavailable: 0 };
          tallies.set(key, tally);
          if (answer.status === 200 && answer.passages === expected.get(ask)) tally.complete++;
          else if (answer.status === 503 && answer.code === "UPSTREAM_UNAVAILABLE") tally.unavailable++;
          else
            wrong.push(
              `${key}: ${ask.who} "${ask.query}": ${answer.status} ${answer.code ?? answer.passages}`,
            );
        }
      }
    };
    return Promise.all(Array.from({ length: WORKERS }, worker)).then(() => undefined);
  }

  const tally = (during: Phase, setting: Setting): Tally =>
    tallies.get(`${during} / ${setting}`) ?? { complete: 0, unavailable: 0 };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Chunks of the probe document, which no principal may read. */
  async function probeChunks(): Promise<EmbeddedChunk[]> {
    const texts = Array.from(
      { length: PROBE_CHUNKS },
      (_, i) => `cluster write probe ${i}: on two nodes before it is acknowledged`,
    );
    const vectors = await createHashingEmbedder().embedDocuments(texts);
    return texts.map((text, i) => ({
      id: `${PROBE_DOCUMENT}:${i}`,
      resource: `document:${PROBE_DOCUMENT}`,
      documentId: PROBE_DOCUMENT,
      title: "Cluster write probe",
      text,
      ordinal: i,
      metadata: { collection: "cluster-probes", owner: "user:nobody" },
      vector: vectors[i] as Float32Array,
    }));
  }

  /** Waits until both apps answer a question completely (the load checks every other answer). */
  async function waitUntilComplete(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const ask = asks[0] as Ask;
    for (;;) {
      const answers = await Promise.all([...apps.values()].map((app) => passagesOf(app, ask)));
      if (answers.every((answer) => answer.status === 200)) {
        for (const answer of answers) expect(answer.passages).toBe(expected.get(ask));
        return;
      }
      if (performance.now() > deadline) throw new Error("the apps did not answer completely again");
      await sleep(200);
    }
  }

  it("answers every question completely or with a 503 while a node dies, rejoins, and another dies", async () => {
    const [node1, node2, node3] = cluster.nodes as [QdrantServer, QdrantServer, QdrantServer];
    const local = await localShards(node1.url, collection);
    log(`node 1 holds replicas of shards ${local.join(", ")}; clearance's QDRANT_URL is node 1`);
    // With 12 replicas over 3 nodes, node 1 holds 4 of the 6 shards: the others live on nodes 2 and 3 only.
    expect(local.length).toBeLessThan(6);
    const load = startLoad();
    try {
      await sleep(1_500);

      phase = "node 3 lost";
      const pid3 = node3.pid();
      await node3.kill();
      log(`killed node 3 (SIGKILL, pid ${pid3}): its storage stays`);
      await sleep(2_000);
      const failedWrite = await writer.replaceDocument(PROBE_DOCUMENT, await probeChunks()).then(
        () => undefined,
        (error: unknown) => error,
      );
      log(
        `a write of ${PROBE_CHUNKS} chunks while node 3 is down: ${failedWrite === undefined ? "acknowledged" : `failed (${isAppError(failedWrite) ? failedWrite.code : String(failedWrite)})`}`,
      );
      expect(isAppError(failedWrite, "UPSTREAM_UNAVAILABLE"), "a write both replicas could not apply").toBe(
        true,
      );
      await sleep(2_000);

      await node3.start();
      log(`node 3 restarted (pid ${node3.pid()}) on its ports and storage`);
      await cluster.waitUntilActive(collection);
      log("every replica Active again on every node");
      phase = "rejoined";
      await waitUntilComplete(60_000);
      log("both apps answer completely again");
      await sleep(3_000);

      // A client retries a failed write: acknowledged now, by both replicas of every shard it touches.
      await writer.replaceDocument(PROBE_DOCUMENT, await probeChunks());
      log(`the write retried: acknowledged (write consistency factor 2)`);

      phase = "node 2 lost";
      const pid2 = node2.pid();
      await node2.kill();
      log(`killed node 2 (SIGKILL, pid ${pid2})`);
      const probe = await stores[1]?.documentChunks(PROBE_DOCUMENT);
      log(`the acknowledged write read back with node 2 down: ${probe?.length} of ${PROBE_CHUNKS} chunks`);
      expect(probe?.length).toBe(PROBE_CHUNKS);
      await sleep(2_000);

      phase = "nodes 2 and 3 lost";
      const pid3again = node3.pid();
      await node3.kill();
      log(
        `killed node 3 as well (pid ${pid3again}): shards whose two replicas were on nodes 2 and 3 have none`,
      );
      await sleep(2_000);
    } finally {
      loading = false;
      await load;
    }

    for (const [key, counts] of tallies) {
      log(`${key}: ${counts.complete} complete, ${counts.unavailable} 503`);
    }
    log(`answers that were neither complete nor a 503: ${wrong.length}`);
    expect(wrong, wrong.slice(0, 5).join("\n")).toEqual([]);

    expect(tally("whole", "one replica").complete).toBeGreaterThan(0);
    // One replica per shard is enough: every shard keeps one on a live node.
    expect(tally("node 3 lost", "one replica").complete).toBeGreaterThan(0);
    // Every replica must answer: none can while one of them is on the dead node.
    expect(tally("node 3 lost", "all replicas").unavailable).toBeGreaterThan(0);
    expect(tally("rejoined", "one replica").complete).toBeGreaterThan(0);
    expect(tally("rejoined", "all replicas").complete).toBeGreaterThan(0);
    expect(tally("node 2 lost", "one replica").complete).toBeGreaterThan(0);
    // No shard may go missing from a search: with no replica left for some, every search fails.
    for (const setting of ["one replica", "all replicas"] as const) {
      expect(tally("nodes 2 and 3 lost", setting).complete).toBe(0);
      expect(tally("nodes 2 and 3 lost", setting).unavailable).toBeGreaterThan(0);
    }
  }, 240_000);
});

describeWithQdrant("cluster settings on an existing Qdrant collection", (url) => {
  it("refuses a collection whose replication or write consistency factor is not the configured one", async () => {
    const collection = uniqueCollection("cluster-settings");
    const dimensions = createHashingEmbedder().dimensions;
    const open = (replication: string, writeConsistency: string) =>
      openVectorStore(
        loadConfig({
          VECTORS: "qdrant",
          QDRANT_URL: url,
          QDRANT_API_KEY: process.env.QDRANT_API_KEY || undefined,
          QDRANT_COLLECTION: collection,
          QDRANT_REPLICATION_FACTOR: replication,
          QDRANT_WRITE_CONSISTENCY_FACTOR: writeConsistency,
        }),
        { dimensions },
      );
    try {
      await (await open("1", "1")).close();
      // Serving with fewer copies than configured would break the durability the settings promise.
      for (const [replication, writeConsistency] of [
        ["2", "1"],
        ["2", "2"],
      ] as const) {
        const refused = await open(replication, writeConsistency).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(isAppError(refused, "BAD_REQUEST"), `${replication}/${writeConsistency}`).toBe(true);
      }
      await (await open("1", "1")).close();
    } finally {
      await dropQdrantCollection(url, collection);
    }
  });
});
