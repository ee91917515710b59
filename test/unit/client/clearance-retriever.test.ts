/**
 * The LangChain retriever against a real clearance (the small bank), in process through the client's
 * `fetch`: for every principal it returns exactly the passages that principal may read, with their
 * metadata, and clearance's refusals reach the chain's caller as `ClearanceError`s.
 */
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import { RunnableLambda, RunnableSequence } from "@langchain/core/runnables";
import { beforeAll, describe, expect, it } from "vitest";
import { createClearanceClient } from "../../../src/client/index.ts";
import { ClearanceRetriever, isClearanceError } from "../../../src/client/langchain.ts";
import { AppError } from "../../../src/core/errors.ts";
import { createSmallBank, type SmallBank } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const QUESTION = "card transaction dispute";

function retrieverFor(bank: SmallBank, token: string, k = 20): ClearanceRetriever {
  return new ClearanceRetriever({
    baseUrl: "http://clearance.test",
    token,
    k,
    fetch: async (request) => bank.app.fetch(request),
  });
}

/** The small bank's principals and the chunks each may read (as test/unit/http/retrieval-routes.test.ts). */
const readable: { user: string; agents?: string[]; chunks: string[] }[] = [
  { user: "maria", chunks: ["help-disputes:0", "maria-statement:0"] },
  { user: "maria", agents: ["support-assistant"], chunks: ["help-disputes:0"] },
  { user: "tom", chunks: ["help-disputes:0"] },
  { user: "lena", chunks: ["aml-legal-hold:0", "aml-policy:0"] },
  { user: "victor", chunks: ["aml-policy:0", "exec-memo:0"] },
  { user: "victor", agents: ["support-assistant"], chunks: [] },
  { user: "nobody", chunks: [] },
];
const ALL_CHUNKS = [...new Set(readable.flatMap((entry) => entry.chunks))];

describe("ClearanceRetriever returns exactly what the token may read", () => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank();
  });

  for (const { user, agents, chunks } of readable) {
    const who = agents ? `${agents.join(">")} for ${user}` : user;
    it(`${who}: ${chunks.join(", ") || "nothing"}, and none of the others`, async () => {
      const retriever = retrieverFor(bank, await signTestToken({ sub: user, agents: agents ?? [] }));
      const documents = await retriever.invoke(QUESTION);
      const returned = documents.map((document) => document.metadata.chunkId).sort();
      expect(returned).toEqual([...chunks].sort());
      for (const withheld of ALL_CHUNKS.filter((chunk) => !chunks.includes(chunk))) {
        expect(returned).not.toContain(withheld);
      }
    });
  }

  it("two callers, two retrievers: Victor's memo reaches his chain and never Maria's", async () => {
    const maria = retrieverFor(bank, await signTestToken({ sub: "maria" }));
    const victor = retrieverFor(bank, await signTestToken({ sub: "victor" }));
    const [forMaria, forVictor] = await Promise.all([maria.invoke(QUESTION), victor.invoke(QUESTION)]);
    expect(forVictor.map((d) => d.metadata.documentId)).toContain("exec-memo");
    expect(forMaria.map((d) => d.metadata.documentId)).not.toContain("exec-memo");
    expect(forMaria.map((d) => d.metadata.documentId)).toContain("maria-statement");
    expect(forVictor.map((d) => d.metadata.documentId)).not.toContain("maria-statement");
  });

  it("each Document holds the passage text and its chunk id, document id, section id, title and score", async () => {
    const token = await signTestToken({ sub: "lena" });
    const [documents, { passages }] = await Promise.all([
      retrieverFor(bank, token).invoke(QUESTION),
      createClearanceClient({
        baseUrl: "http://clearance.test",
        token,
        fetch: async (request) => bank.app.fetch(request),
      }).search({ query: QUESTION, k: 20 }),
    ]);
    expect(documents).toHaveLength(passages.length);
    documents.forEach((document, index) => {
      const passage = passages[index];
      expect(document.pageContent).toBe(passage?.text);
      expect(document.id).toBe(passage?.chunkId);
      expect(document.metadata).toEqual({
        chunkId: passage?.chunkId,
        documentId: passage?.documentId,
        sectionId: passage?.sectionId,
        title: passage?.title,
        score: passage?.score,
      });
    });
    const hold = documents.find((document) => document.metadata.chunkId === "aml-legal-hold:0");
    expect(hold?.metadata.sectionId).toBe("aml-legal-hold");
    expect(hold?.metadata.documentId).toBe("aml-policy");
  });

  it("k limits the passages; a client of the caller's own can be passed in", async () => {
    const client = createClearanceClient({
      baseUrl: "http://clearance.test",
      token: await signTestToken({ sub: "maria" }),
      fetch: async (request) => bank.app.fetch(request),
    });
    expect(await new ClearanceRetriever({ client, k: 1 }).invoke(QUESTION)).toHaveLength(1);
  });

  it("never hands the token to callbacks (tracers see the retriever's serialized form on every run)", async () => {
    const token = await signTestToken({ sub: "maria" });
    const seen: Serialized[] = [];
    const handler = BaseCallbackHandler.fromMethods({
      handleRetrieverStart: (retriever: Serialized) => {
        seen.push(retriever);
      },
    });
    await retrieverFor(bank, token).invoke(QUESTION, { callbacks: [handler] });
    expect(seen).toHaveLength(1);
    expect(JSON.stringify(seen)).not.toContain(token);
    expect(JSON.stringify(retrieverFor(bank, token).toJSON())).not.toContain(token);
  });
});

describe("ClearanceRetriever passes clearance's refusals on as ClearanceErrors", () => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank();
  });

  it("401 UNAUTHENTICATED for a token clearance does not trust", async () => {
    const retriever = retrieverFor(bank, await signTestToken({ signWith: "stranger" }));
    const error = await retriever.invoke(QUESTION).catch((caught: unknown) => caught);
    expect(isClearanceError(error, "UNAUTHENTICATED")).toBe(true);
  });

  it("403 CONSENT_REQUIRED for an agent the user never delegated to", async () => {
    const retriever = retrieverFor(
      bank,
      await signTestToken({ sub: "nadia", agents: ["support-assistant"] }),
    );
    const error = await retriever.invoke(QUESTION).catch((caught: unknown) => caught);
    expect(isClearanceError(error, "CONSENT_REQUIRED")).toBe(true);
  });

  it("503 UPSTREAM_UNAVAILABLE, through a chain, when the authorizer is down: never an empty context", async () => {
    const down = async () => {
      throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
    };
    const failing = await createSmallBank({
      authorizer: overridingAuthorizer(bank.authorizer, {
        check: down,
        checkMany: down,
        lookupResources: down,
      }),
    });
    let modelAsked = false;
    const chain = RunnableSequence.from([
      retrieverFor(failing, await signTestToken({ sub: "maria" })),
      RunnableLambda.from(() => {
        modelAsked = true;
        return "an answer";
      }),
    ]);
    const error = await chain.invoke(QUESTION).catch((caught: unknown) => caught);
    expect(isClearanceError(error, "UPSTREAM_UNAVAILABLE")).toBe(true);
    expect((error as { status?: number }).status).toBe(503);
    expect(modelAsked).toBe(false);
  });
});
