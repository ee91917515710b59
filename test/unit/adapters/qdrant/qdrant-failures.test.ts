/**
 * The Qdrant adapter against a stub of Qdrant's REST API, for what a real server cannot be made to do on
 * demand: answer a 5xx, a malformed body, a chunk outside the requested scope, and show the requests the
 * adapter sends. A real Qdrant that hangs, dies and comes back is test/integration/qdrant-serving.test.ts;
 * the adapter's contract runs against a real Qdrant in test/contract/qdrant.test.ts. The stub answers the
 * collection calls the adapter makes at start correctly and fails searches as `fault` says.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHashingEmbedder } from "../../../../src/adapters/offline/hashing-embedder.ts";
import { createQdrantVectorStore, pointId } from "../../../../src/adapters/qdrant/qdrant-vector-store.ts";
import { containerKeys } from "../../../../src/core/chunk.ts";
import type { VectorStore } from "../../../../src/ports/vector-store.ts";
import { expectAppError } from "../../../helpers/errors.ts";
import { createSmallBank, postJson } from "../../../helpers/small-bank.ts";
import { signTestToken } from "../../../helpers/test-identity.ts";

const DIMENSIONS = createHashingEmbedder().dimensions;
const COLLECTION = "stub-collection";

type SearchFault = "5xx" | "malformed" | "outside-resources";

interface QdrantStub {
  readonly url: string;
  searches: number;
  /** The filter of every search the adapter sent, in order. */
  readonly filters: unknown[];
  /** The payload index of every field the adapter asked for, and every point it upserted. */
  readonly indexes: unknown[];
  readonly upserted: { id: string; payload: Record<string, unknown> }[];
  close(): Promise<void>;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

/** A stub of the few Qdrant REST routes the adapter calls, with searches failing as `fault` says. */
async function startQdrantStub(
  fault: SearchFault,
  options: { vectorSize?: number } = {},
): Promise<QdrantStub> {
  const stub = {
    searches: 0,
    filters: [] as unknown[],
    indexes: [] as unknown[],
    upserted: [] as QdrantStub["upserted"],
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const body: Buffer[] = [];
    request.on("data", (piece: Buffer) => body.push(piece));
    request.on("end", () => answer(request, response, Buffer.concat(body).toString("utf8")));
  });
  const answer = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const ok = (result: unknown) => reply(response, 200, { result, status: "ok", time: 0 });
    if (request.method === "GET" && path === `/collections/${COLLECTION}/exists`) return ok({ exists: true });
    if (request.method === "GET" && path === `/collections/${COLLECTION}`) {
      return ok({
        status: "green",
        config: { params: { vectors: { size: options.vectorSize ?? DIMENSIONS, distance: "Cosine" } } },
      });
    }
    if (request.method === "PUT" && path === `/collections/${COLLECTION}/index`) {
      stub.indexes.push(JSON.parse(body));
      return ok({ operation_id: 1, status: "completed" });
    }
    if (request.method === "PUT" && path === `/collections/${COLLECTION}/points`) {
      stub.upserted.push(...(JSON.parse(body) as { points: QdrantStub["upserted"] }).points);
      return ok({ operation_id: 2, status: "completed" });
    }
    if (request.method === "POST" && path === `/collections/${COLLECTION}/points/delete`)
      return ok({ operation_id: 3, status: "completed" });
    if (request.method === "POST" && path === `/collections/${COLLECTION}/points/count`)
      return ok({ count: 5 });
    if (request.method === "POST" && path === `/collections/${COLLECTION}/points/query`) {
      stub.searches += 1;
      stub.filters.push((JSON.parse(body) as { filter?: unknown }).filter);
      switch (fault) {
        case "5xx":
          return reply(response, 503, { status: { error: "Service Unavailable: overloaded" }, time: 0 });
        case "malformed":
          return ok({ points: [{ id: 1, score: "high", payload: { text: "no ids here" } }] });
        case "outside-resources":
          return ok({
            points: [
              {
                id: pointId("exec-memo:0"),
                score: 0.9,
                payload: {
                  chunk_id: "exec-memo:0",
                  resource: "document:exec-memo",
                  document_id: "exec-memo",
                  title: "Executive memo",
                  text: "The branch closes.",
                  ordinal: 0,
                  tenant_id: "default",
                  collection: "executive",
                  owner: "user:victor",
                },
              },
            ],
          });
      }
    }
    reply(response, 404, { status: { error: `stub: no route ${request.method} ${path}` }, time: 0 });
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((item) => item.close()));
});

async function openAgainst(stub: QdrantStub, timeoutMs = 500): Promise<VectorStore> {
  const store = await createQdrantVectorStore({
    url: stub.url,
    collection: COLLECTION,
    dimensions: DIMENSIONS,
    timeoutMs,
  });
  opened.push(store);
  return store;
}

const query = () => createHashingEmbedder().embedQuery("is the branch closing");

describe("Qdrant adapter against a stub server that fails as a real one cannot be made to", () => {
  it.each(["5xx", "malformed"] as const)(
    "a search answered with %s is UPSTREAM_UNAVAILABLE",
    async (fault) => {
      const stub = await startQdrantStub(fault);
      opened.push(stub);
      const store = await openAgainst(stub);
      const started = performance.now();
      await expectAppError(
        store.search({ vector: await query(), k: 3, resources: new Set(["document:faq"]) }),
        "UPSTREAM_UNAVAILABLE",
      );
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(stub.searches).toBeGreaterThan(0);
    },
  );

  it("never returns a chunk outside the requested resources, whatever Qdrant answers", async () => {
    const stub = await startQdrantStub("outside-resources");
    opened.push(stub);
    const store = await openAgainst(stub);
    const error = await expectAppError(
      store.search({ vector: await query(), k: 3, resources: new Set(["document:faq"]) }),
    );
    expect(error.code).not.toBe("BAD_REQUEST");
  });

  it("never returns a chunk outside the requested containers, whatever Qdrant answers", async () => {
    const stub = await startQdrantStub("outside-resources");
    opened.push(stub);
    const store = await openAgainst(stub);
    const scopes = [
      { containers: new Set(["collection:public", "customer:c1", "owner:team:legal#member"]) },
      { containers: new Set(["collection:public"]), resources: new Set(["document:faq"]) },
      // The memo's resource, asked for as a container key: a document key, not the resource.
      { containers: new Set(["document:faq"]), resources: new Set(["section:exec-memo-board"]) },
    ];
    for (const scope of scopes) {
      const error = await expectAppError(store.search({ vector: await query(), k: 3, ...scope }));
      expect(error.code).not.toBe("BAD_REQUEST");
    }
    // In scope through any of its container keys or through its resource, it is returned.
    const memoKeys = containerKeys({
      documentId: "exec-memo",
      metadata: { collection: "executive", owner: "user:victor" },
    });
    expect(memoKeys).toContain("collection:executive");
    for (const scope of [
      ...memoKeys.map((key) => ({ containers: new Set([key]) })),
      { containers: new Set<string>(), resources: new Set(["document:exec-memo"]) },
    ]) {
      const hits = await store.search({ vector: await query(), k: 3, ...scope });
      expect(hits.map((hit) => hit.id)).toEqual(["exec-memo:0"]);
    }
  });

  it("writes every point with its acl (tagged resource and container keys), indexed as a keyword", async () => {
    const stub = await startQdrantStub("5xx");
    opened.push(stub);
    const store = await openAgainst(stub);
    expect(stub.indexes).toContainEqual({ field_name: "acl", field_schema: "keyword" });
    const vector = await query();
    const metadata = { collection: "loans", owner: "team:legal#member", customer: "c1" };
    const base = { documentId: "loan", title: "Loan", text: "Terms.", vector, metadata };
    await store.replaceDocument("loan", [
      {
        ...base,
        id: "loan:0",
        resource: "document:loan",
        ordinal: 0,
      },
      {
        ...base,
        id: "loan:1",
        resource: "section:loan-terms",
        sectionId: "loan-terms",
        ordinal: 1,
      },
    ]);
    const keys = containerKeys({ documentId: "loan", metadata });
    expect(keys).toEqual(
      expect.arrayContaining(["collection:loans", "customer:c1", "owner:team:legal#member"]),
    );
    expect(stub.upserted.map((point) => [point.id, point.payload.acl])).toEqual([
      [pointId("loan:0"), ["resource=document:loan", ...keys]],
      [pointId("loan:1"), ["resource=section:loan-terms", ...keys]],
    ]);
  });

  it("scopes a search by resources and containers with one `must` condition on acl, never `should`", async () => {
    const stub = await startQdrantStub("outside-resources");
    opened.push(stub);
    const store = await openAgainst(stub);
    await store.search({
      vector: await query(),
      k: 3,
      resources: new Set(["document:exec-memo"]),
      containers: new Set(["collection:executive", "owner:team:legal#member"]),
    });
    await store.search({ vector: await query(), k: 3, containers: new Set(["owner:user:victor"]) });
    expect(stub.filters).toEqual([
      {
        must: [
          { key: "tenant_id", match: { value: "default" } },
          {
            key: "acl",
            match: {
              any: ["resource=document:exec-memo", "collection:executive", "owner:team:legal#member"],
            },
          },
        ],
      },
      {
        must: [
          { key: "tenant_id", match: { value: "default" } },
          { key: "acl", match: { any: ["owner:user:victor"] } },
        ],
      },
    ]);
  });

  it("rejects containers or resources that are not a Set with BAD_REQUEST, without asking Qdrant", async () => {
    const stub = await startQdrantStub("5xx");
    opened.push(stub);
    const store = await openAgainst(stub);
    for (const scope of [
      { containers: ["collection:public"] as unknown as ReadonlySet<string> },
      { resources: "document:faq" as unknown as ReadonlySet<string> },
    ]) {
      await expectAppError(store.search({ vector: await query(), k: 3, ...scope }), "BAD_REQUEST");
    }
    expect(stub.searches).toBe(0);
  });

  it("does not ask Qdrant at all for an empty scope", async () => {
    const stub = await startQdrantStub("5xx");
    opened.push(stub);
    const store = await openAgainst(stub);
    expect(await store.search({ vector: await query(), k: 3, resources: new Set() })).toEqual([]);
    expect(await store.search({ vector: await query(), k: 3, containers: new Set() })).toEqual([]);
    expect(
      await store.search({ vector: await query(), k: 3, resources: new Set(), containers: new Set() }),
    ).toEqual([]);
    expect(stub.searches).toBe(0);
  });

  it("refuses a collection whose vectors are another size, naming both sizes", async () => {
    const stub = await startQdrantStub("5xx", { vectorSize: 1536 });
    opened.push(stub);
    const error = await expectAppError(openAgainst(stub), "BAD_REQUEST");
    expect(error.message).toContain("1536");
    expect(error.message).toContain(String(DIMENSIONS));
  });

  it.each(["5xx", "malformed"] as const)(
    "through the app, a search answered with %s is a 503 with no passage and no model call",
    async (fault) => {
      const stub = await startQdrantStub(fault);
      opened.push(stub);
      const store = await openAgainst(stub);
      const bank = await createSmallBank({ vectorStore: store });
      const token = await signTestToken();
      for (const route of ["/v1/search", "/v1/answer"]) {
        const calls = bank.modelCalls();
        const response = await postJson(bank.app, route, { query: "card transaction dispute" }, token);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { error?: { code: string }; passages?: unknown };
        expect(body.error?.code).toBe("UPSTREAM_UNAVAILABLE");
        expect(body.passages).toBeUndefined();
        expect(bank.modelCalls()).toBe(calls);
      }
      expect(stub.searches, "the failure came from the search itself").toBeGreaterThanOrEqual(2);
    },
  );
});
