/**
 * `GET /readyz`: each upstream (authorizer, vector store, model) answers a probe in parallel, each under a
 * deadline; 200 when all are up, 503 naming what is down by error code only. The adapters are the real
 * embedded ones; "down" is fault injection: a wrapper whose probe throws, or a real adapter that was closed.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { createOpenAiChatModel } from "../../../src/adapters/openai/openai-chat-model.ts";
import { composeApp } from "../../../src/composition.ts";
import { AppError } from "../../../src/core/errors.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import type { ChatModel } from "../../../src/ports/chat-model.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";
import { overridingAuthorizer, overridingVectorStore } from "../../helpers/stub-adapters.ts";
import { testTokenVerifier } from "../../helpers/test-identity.ts";

/** What an upstream's own message may carry, which must never reach an unauthenticated caller. */
const INTERNAL_DETAIL = "connect ECONNREFUSED 10.20.30.40:3478 key=sk-live-secret";

interface Components {
  authorizer: Authorizer;
  vectorStore: VectorStore;
  chatModel: ChatModel;
}

async function healthyComponents(): Promise<Components> {
  const authorizer = await createEmbeddedAuthorizer();
  await authorizer.writeSchema("entity user {}\nentity document {\n  relation viewer @user\n}\n");
  return {
    authorizer,
    vectorStore: await createEmbeddedVectorStore({ dimensions: 8 }),
    chatModel: createExtractiveAnswerer(),
  };
}

function appWith(components: Components, readinessTimeoutMs?: number) {
  return composeApp({
    ...components,
    embedder: createHashingEmbedder({ dimensions: 8 }),
    auditLog: createMemoryAuditLog(),
    tokenVerifier: testTokenVerifier(),
    logger: pino({ level: "silent" }),
    limits: { defaultK: 5, maxK: 20, queryMaxChars: 500 },
    ...(readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs }),
  }).app;
}

/** Fault injection: the real authorizer, except that its probe does `fault`. */
function faultyAuthorizer(inner: Authorizer, fault: () => Promise<void>): Authorizer {
  return overridingAuthorizer(inner, { probe: fault });
}

/** Fault injection: the real vector store, except that its probe does `fault`. */
function faultyVectorStore(inner: VectorStore, fault: () => Promise<void>): VectorStore {
  return overridingVectorStore(inner, { probe: fault });
}

/** Fault injection: the real model, except that its probe does `fault`. */
function faultyChatModel(inner: ChatModel, fault: () => Promise<void>): ChatModel {
  return { model: inner.model, answer: (request) => inner.answer(request), probe: fault };
}

const unavailable = async () => {
  throw new AppError("UPSTREAM_UNAVAILABLE", INTERNAL_DETAIL);
};

interface Readiness {
  status: string;
  checks: Record<string, { status: string; latencyMs: number; error?: string; message?: string }>;
}

async function readyz(
  app: ReturnType<typeof appWith>,
): Promise<{ status: number; body: Readiness; text: string }> {
  const response = await app.request("/readyz");
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Readiness, text };
}

describe("GET /readyz", () => {
  it("is 200 with every upstream up, without a token", async () => {
    const { status, body } = await readyz(appWith(await healthyComponents()));
    expect(status).toBe(200);
    expect(body).toEqual({
      status: "ready",
      checks: {
        authorizer: { status: "up", latencyMs: expect.any(Number) },
        vectorStore: { status: "up", latencyMs: expect.any(Number) },
        model: { status: "up", latencyMs: expect.any(Number) },
      },
    });
  });

  const downCases: Record<keyof Readiness["checks"], (c: Components) => Components> = {
    authorizer: (c) => ({ ...c, authorizer: faultyAuthorizer(c.authorizer, unavailable) }),
    vectorStore: (c) => ({ ...c, vectorStore: faultyVectorStore(c.vectorStore, unavailable) }),
    model: (c) => ({ ...c, chatModel: faultyChatModel(c.chatModel, unavailable) }),
  };
  for (const [name, breakIt] of Object.entries(downCases)) {
    it(`is 503 naming the ${name} as down by its error code, the others up, and no detail`, async () => {
      const { status, body, text } = await readyz(appWith(breakIt(await healthyComponents())));
      expect(status).toBe(503);
      expect(body.status).toBe("unavailable");
      for (const [component, check] of Object.entries(body.checks)) {
        if (component === name) {
          expect(check).toEqual({
            status: "down",
            latencyMs: expect.any(Number),
            error: "UPSTREAM_UNAVAILABLE",
            message: expect.any(String),
          });
        } else {
          expect(check.status, component).toBe("up");
        }
      }
      expect(text).not.toContain("10.20.30.40");
      expect(text).not.toContain("sk-live-secret");
    });
  }

  it("reports a real vector store that was closed as down", async () => {
    const components = await healthyComponents();
    await components.vectorStore.close();
    const { status, body } = await readyz(appWith(components));
    expect(status).toBe(503);
    expect(body.checks.vectorStore).toMatchObject({ status: "down", error: "UPSTREAM_UNAVAILABLE" });
    expect(body.checks.authorizer?.status).toBe("up");
  });

  it("reports a failure that is not an AppError as INTERNAL, without its message or stack", async () => {
    const components = await healthyComponents();
    const broken = faultyAuthorizer(components.authorizer, async () => {
      throw new Error(INTERNAL_DETAIL);
    });
    const { status, body, text } = await readyz(appWith({ ...components, authorizer: broken }));
    expect(status).toBe(503);
    expect(body.checks.authorizer).toMatchObject({ status: "down", error: "INTERNAL" });
    expect(text).not.toContain("ECONNREFUSED");
    expect(text).not.toContain("Error");
  });

  it("counts a probe that does not answer in time as down, and probes in parallel", async () => {
    const components = await healthyComponents();
    const hang = () => new Promise<void>(() => {});
    const app = appWith(
      {
        authorizer: faultyAuthorizer(components.authorizer, hang),
        vectorStore: faultyVectorStore(components.vectorStore, hang),
        chatModel: faultyChatModel(components.chatModel, hang),
      },
      200,
    );
    const started = performance.now();
    const { status, body } = await readyz(app);
    const elapsed = performance.now() - started;
    expect(status).toBe(503);
    for (const check of Object.values(body.checks)) {
      expect(check).toMatchObject({
        status: "down",
        error: "UPSTREAM_UNAVAILABLE",
        message: "no answer within 200 ms",
      });
      expect(check.latencyMs).toBeGreaterThanOrEqual(190);
    }
    // Three probes of 200 ms each, in parallel: well under their sum.
    expect(elapsed).toBeLessThan(550);
  });

  it("leaves /healthz a pure liveness probe, up while every upstream is down", async () => {
    const components = await healthyComponents();
    const app = appWith({
      authorizer: faultyAuthorizer(components.authorizer, unavailable),
      vectorStore: faultyVectorStore(components.vectorStore, unavailable),
      chatModel: faultyChatModel(components.chatModel, unavailable),
    });
    const health = await app.request("/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect((await readyz(app)).status).toBe(503);
  });

  it("is described in /openapi.json with its 200 and 503 answers", async () => {
    const response = await appWith(await healthyComponents()).request("/openapi.json");
    const document = (await response.json()) as { paths: Record<string, { get?: { responses: object } }> };
    expect(Object.keys(document.paths["/readyz"]?.get?.responses ?? {}).sort()).toEqual(["200", "503"]);
  });
});

describe("GET /readyz with the OpenAI-compatible chat model (a real HTTP server on loopback)", () => {
  let server: Server;
  let baseURL: string;
  const seen: { method: string; url: string; authorization: string | undefined }[] = [];
  let answer: { status: number; delayMs?: number } = { status: 200 };
  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push({
        method: request.method ?? "",
        url: request.url ?? "",
        authorization: request.headers.authorization,
      });
      const reply = () => {
        response.writeHead(answer.status, { "content-type": "application/json" });
        response.end(
          JSON.stringify(
            answer.status === 200 ? { object: "list", data: [] } : { error: { message: INTERNAL_DETAIL } },
          ),
        );
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function modelCheck(timeoutMs = 2_000) {
    const components = await healthyComponents();
    const chatModel = createOpenAiChatModel({
      apiKey: "sk-test-key",
      baseURL,
      model: "stub-chat",
      timeoutMs,
    });
    return readyz(appWith({ ...components, chatModel }));
  }

  it("is up when GET /models answers 200 to the configured key", async () => {
    answer = { status: 200 };
    seen.length = 0;
    const { status, body } = await modelCheck();
    expect(status).toBe(200);
    expect(body.checks.model?.status).toBe("up");
    expect(seen).toEqual([{ method: "GET", url: "/v1/models", authorization: "Bearer sk-test-key" }]);
  });

  it("is down when the endpoint refuses the key, without quoting its answer", async () => {
    answer = { status: 401 };
    const { status, body, text } = await modelCheck();
    expect(status).toBe(503);
    expect(body.checks.model).toMatchObject({ status: "down", error: "UPSTREAM_UNAVAILABLE" });
    expect(text).not.toContain("sk-live-secret");
  });

  it("is down when the endpoint does not answer within the model timeout", async () => {
    answer = { status: 200, delayMs: 1_000 };
    const { status, body } = await modelCheck(150);
    expect(status).toBe(503);
    expect(body.checks.model).toMatchObject({ status: "down", error: "UPSTREAM_UNAVAILABLE" });
  });
});
