import { describe, expect, it } from "vitest";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { exactTupleFilter } from "../../../src/core/authz-model.ts";
import { AppError } from "../../../src/core/errors.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import type { AuditLog, AuditRecord } from "../../../src/ports/audit-log.ts";
import type { Authorizer, CheckOutcome } from "../../../src/ports/authorizer.ts";
import type { AnswerPart, AnswerRequest, ChatModel } from "../../../src/ports/chat-model.ts";
import { parseSseChunk, type SseEvent } from "../../../src/web/shared/sse.ts";
import { createSmallBank, postJson } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const QUESTION = "card transaction dispute";
const MARIA_HOLDS = parseTuple("customer:cust-maria#holder@user:maria");

async function askStreaming(
  app: Awaited<ReturnType<typeof createSmallBank>>["app"],
  token: string,
  body: unknown = { query: QUESTION, k: 5 },
): Promise<{ response: Response; text: string; events: SseEvent[] }> {
  const response = await app.request("/v1/answer", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { response, text, events: parseSseChunk(text).events };
}

const data = (event: SseEvent | undefined) => JSON.parse(event?.data ?? "null");

/** A model that streams its first words, then waits until the test lets it finish. */
function gatedModel(): { model: ChatModel; started: Promise<void>; release(): void } {
  const answerer = createExtractiveAnswerer();
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const startedPromise = new Promise<void>((resolve) => {
    started = resolve;
  });
  return {
    started: startedPromise,
    release,
    model: {
      model: "gated",
      async answer(request: AnswerRequest) {
        started();
        await gate;
        return answerer.answer(request);
      },
      async *streamAnswer(request: AnswerRequest): AsyncGenerator<AnswerPart> {
        const parts = answerer.streamAnswer?.(request) as AsyncIterable<AnswerPart>;
        let first = true;
        for await (const part of parts) {
          yield part;
          if (first) {
            first = false;
            started();
            await gate;
          }
        }
      },
      probe: () => answerer.probe(),
    },
  };
}

describe("POST /v1/answer with Accept: text/event-stream", () => {
  it("streams the passages, the answer as it is written, then the citations; the same answer as JSON", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({ sub: "maria" });
    const { response, events } = await askStreaming(bank.app, token);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const names = events.map((event) => event.event);
    expect(names[0]).toBe("passages");
    expect(names.at(-1)).toBe("done");
    expect(names.filter((name) => name === "text").length).toBeGreaterThan(1);
    expect(names.slice(1, -1).every((name) => name === "text")).toBe(true);

    const json = (await (
      await postJson(bank.app, "/v1/answer", { query: QUESTION, k: 5 }, token)
    ).json()) as {
      answer: string;
      citations: unknown[];
      passages: { chunkId: string }[];
    };
    const streamed = events
      .filter((event) => event.event === "text")
      .map((event) => data(event).text)
      .join("");
    const done = data(events.at(-1));
    expect(streamed).toBe(json.answer);
    expect(done.answer).toBe(json.answer);
    expect(done.citations).toEqual(json.citations);
    expect(data(events[0]).passages).toEqual(json.passages);
    expect(bank.auditLog.records.map((record) => record.phase).slice(0, 2)).toEqual([
      "answer-started",
      "answer-finished",
    ]);
  });

  it("streams nothing the principal may not read, and calls no model when nothing is readable", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({ sub: "victor", agents: ["support-assistant"] });
    const { events } = await askStreaming(bank.app, token);
    expect(events.map((event) => event.event)).toEqual(["passages", "text", "done"]);
    expect(data(events[0]).passages).toEqual([]);
    expect(data(events[2]).citations).toEqual([]);
    expect(bank.modelCalls()).toBe(0);
  });

  it("is a clean 503 when the audit record cannot be stored before the first byte", async () => {
    const failing: AuditLog = {
      record: async () => {
        throw new Error("disk full");
      },
      probe: async () => {},
      close: async () => {},
    };
    const bank = await createSmallBank({ failingAuditLog: failing });
    const { response } = await askStreaming(bank.app, await signTestToken({ sub: "maria" }));
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(bank.modelCalls()).toBe(0);
  });

  it("is a clean 503 when the authorizer fails before streaming", async () => {
    const base = await createSmallBank();
    const down = overridingAuthorizer(base.authorizer, {
      checkMany: async () => {
        throw new AppError("UPSTREAM_UNAVAILABLE", "down");
      },
      lookupResources: async () => {
        throw new AppError("UPSTREAM_UNAVAILABLE", "down");
      },
    });
    const bank = await createSmallBank({ backing: base.authorizer, authorizer: down });
    const { response, text } = await askStreaming(bank.app, await signTestToken({ sub: "maria" }));
    expect(response.status).toBe(503);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe("UPSTREAM_UNAVAILABLE");
  });

  it("ends with an error event, marked incomplete, when the model fails after streaming began", async () => {
    const failingModel: ChatModel = {
      model: "breaks",
      answer: async () => ({ text: "", citations: [] }),
      async *streamAnswer() {
        yield { kind: "text", text: "The first words" };
        throw new Error("connection reset while quoting a passage");
      },
      probe: async () => {},
    };
    const bank = await createSmallBank({ chatModel: failingModel });
    const { response, events } = await askStreaming(bank.app, await signTestToken({ sub: "maria" }));
    expect(response.status).toBe(200);
    expect(events.map((event) => event.event)).toEqual(["passages", "text", "error"]);
    const error = data(events[2]);
    expect(error.incomplete).toBe(true);
    expect(error.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(error.error.message).not.toContain("passage");
    expect(bank.auditLog.records.map((record) => record.phase)).toEqual([
      "answer-started",
      "answer-incomplete",
    ]);
  });
});

describe("re-check before citing", () => {
  async function revokeWhileWriting(stream: boolean) {
    const gated = gatedModel();
    const bank = await createSmallBank({ chatModel: gated.model });
    let bulkRounds = 0;
    const counting: Authorizer = overridingAuthorizer(bank.authorizer, {
      checkMany: async (requests) => {
        bulkRounds += 1;
        return bank.authorizer.checkMany(requests);
      },
    });
    const served = await createSmallBank({
      backing: bank.authorizer,
      authorizer: counting,
      chatModel: gated.model,
      retrieval: { strategy: "pre-filter" },
    });
    const token = await signTestToken({ sub: "maria" });
    const pending = stream
      ? askStreaming(served.app, token, { query: "Harbor Grocers card transaction statement", k: 5 })
      : postJson(
          served.app,
          "/v1/answer",
          { query: "Harbor Grocers card transaction statement", k: 5 },
          token,
        );
    await gated.started;
    const roundsBefore = bulkRounds;
    await bank.authorizer.deleteData({ tuples: exactTupleFilter(MARIA_HOLDS) });
    gated.release();
    const outcome = await pending;
    return { outcome, rechecks: bulkRounds - roundsBefore, audit: served.auditLog.records };
  }

  it("withholds a JSON answer (409) when access to a cited passage is revoked while the model writes", async () => {
    const { outcome, rechecks, audit } = await revokeWhileWriting(false);
    const response = outcome as Response;
    expect(response.status).toBe(409);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("CONFLICT");
    expect(JSON.stringify(body)).not.toContain("Harbor Grocers");
    expect(rechecks).toBe(1);
    expect(audit.at(-1)?.phase).toBe("answer-withheld");
  });

  it("ends a stream with `withheld` instead of `done` when access is revoked while the model writes", async () => {
    const { outcome, rechecks, audit } = await revokeWhileWriting(true);
    const { events } = outcome as { events: SseEvent[] };
    expect(events.at(-1)?.event).toBe("withheld");
    expect(events.some((event) => event.event === "done")).toBe(false);
    expect(data(events.at(-1)).error.code).toBe("CONFLICT");
    expect(rechecks).toBe(1);
    expect(audit.map((record: AuditRecord) => record.phase)).toEqual(["answer-started", "answer-withheld"]);
  });

  it("re-checks every cited resource for the user and every agent in one bulk round", async () => {
    const bank = await createSmallBank();
    const seen: number[] = [];
    const counting = overridingAuthorizer(bank.authorizer, {
      checkMany: async (requests): Promise<readonly CheckOutcome[]> => {
        seen.push(requests.length);
        return bank.authorizer.checkMany(requests);
      },
    });
    const served = await createSmallBank({
      backing: bank.authorizer,
      authorizer: counting,
      retrieval: { strategy: "pre-filter" },
    });
    const token = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
    const response = await postJson(served.app, "/v1/answer", { query: QUESTION, k: 5 }, token);
    const body = (await response.json()) as { citations: unknown[] };
    expect(response.status).toBe(200);
    // pre-filter lists, with the agent's consent checked beside its first lookup (one item), then confirms
    // the passages it read (one round); the one bulk round after the model is the re-check: 2 subjects per
    // cited resource.
    expect(seen).toHaveLength(3);
    expect(seen[0]).toBe(1);
    expect(seen[2]).toBe(2 * body.citations.length);
  });

  it("fails (503), never answers, when the re-check cannot decide", async () => {
    const bank = await createSmallBank();
    // Each request makes two bulk checks: retrieval confirms its passages, then the re-check after the
    // model. The second of each pair cannot decide.
    let calls = 0;
    const undecided = overridingAuthorizer(bank.authorizer, {
      checkMany: async (requests) => {
        calls += 1;
        if (calls % 2 === 1) return bank.authorizer.checkMany(requests);
        return requests.map(() => ({ failed: new AppError("DEPTH_EXCEEDED", "too deep") }));
      },
    });
    const served = await createSmallBank({
      backing: bank.authorizer,
      authorizer: undecided,
      retrieval: { strategy: "pre-filter" },
    });
    const token = await signTestToken({ sub: "maria" });
    const response = await postJson(served.app, "/v1/answer", { query: QUESTION, k: 5 }, token);
    expect(response.status).toBe(503);
    const { events } = await askStreaming(served.app, token);
    expect(events.at(-1)?.event).toBe("error");
    expect(events.some((event) => event.event === "done")).toBe(false);
  });
});
