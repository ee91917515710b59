import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import type { AnswerRequest, ChatModel } from "../../../src/ports/chat-model.ts";
import { createSmallBank, postJson, type SmallBank } from "../../helpers/small-bank.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

interface Passage {
  chunkId: string;
  documentId: string;
  sectionId: string | null;
  title: string;
  text: string;
  score: number;
}

const QUESTION = "card transaction dispute";

/** What each principal of the small bank may read, as resources. */
const visibility: { user: string; agents?: string[]; resources: string[] }[] = [
  { user: "maria", resources: ["document:help-disputes", "document:maria-statement"] },
  { user: "maria", agents: ["support-assistant"], resources: ["document:help-disputes"] },
  { user: "tom", resources: ["document:help-disputes"] },
  { user: "lena", resources: ["document:aml-policy", "section:aml-legal-hold"] },
  { user: "victor", resources: ["document:aml-policy", "document:exec-memo"] },
  { user: "victor", agents: ["support-assistant"], resources: [] },
  { user: "nobody", resources: [] },
];

describe("/v1/search and /v1/answer return exactly what the principal may read", () => {
  let bank: SmallBank;
  const seenByModel: AnswerRequest[] = [];
  beforeAll(async () => {
    const answerer = createExtractiveAnswerer();
    const recording: ChatModel = {
      model: answerer.model,
      answer(request) {
        seenByModel.push(request);
        return answerer.answer(request);
      },
      probe: () => answerer.probe(),
    };
    bank = await createSmallBank({ chatModel: recording });
  });

  for (const { user, agents, resources } of visibility) {
    const who = agents ? `${agents.join(">")} for ${user}` : user;
    it(`search: ${who} gets passages from exactly ${resources.join(", ") || "nothing"}`, async () => {
      const token = await signTestToken({ sub: user, agents: agents ?? [] });
      const response = await postJson(bank.app, "/v1/search", { query: QUESTION, k: 20 }, token);
      expect(response.status).toBe(200);
      const { passages } = (await response.json()) as { passages: Passage[] };
      const returned = passages.map((p) =>
        p.sectionId ? `section:${p.sectionId}` : `document:${p.documentId}`,
      );
      expect([...new Set(returned)].sort()).toEqual([...resources].sort());
    });

    it(`answer: the model sees only what ${who} may read`, async () => {
      const token = await signTestToken({ sub: user, agents: agents ?? [] });
      const before = seenByModel.length;
      const response = await postJson(bank.app, "/v1/answer", { query: QUESTION, k: 20 }, token);
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        answer: string;
        citations: { chunkId: string }[];
        passages: Passage[];
      };
      const passageIds = new Set(body.passages.map((p) => p.chunkId));
      for (const citation of body.citations) expect(passageIds.has(citation.chunkId)).toBe(true);
      if (resources.length === 0) {
        expect(seenByModel.length).toBe(before);
        expect(body.citations).toEqual([]);
      } else {
        const request = seenByModel.at(-1) as AnswerRequest;
        expect(request.passages.map((p) => p.id).sort()).toEqual([...passageIds].sort());
        expect(body.citations.length).toBeGreaterThan(0);
      }
    });
  }

  it("respects k and orders passages best first", async () => {
    const token = await signTestToken({ sub: "lena" });
    const response = await postJson(bank.app, "/v1/search", { query: "legal hold litigation", k: 1 }, token);
    const { passages } = (await response.json()) as { passages: Passage[] };
    expect(passages).toHaveLength(1);
    expect(passages[0]?.sectionId).toBe("aml-legal-hold");
  });

  it("lists the documents a principal may read", async () => {
    const listFor = async (user: string, agents: string[] = []) => {
      const response = await bank.app.request("/v1/documents", {
        headers: { authorization: `Bearer ${await signTestToken({ sub: user, agents })}` },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { documents: { id: string }[] }).documents.map((d) => d.id);
    };
    expect(await listFor("maria")).toEqual(["help-disputes", "maria-statement"]);
    expect(await listFor("maria", ["support-assistant"])).toEqual(["help-disputes"]);
    expect(await listFor("victor")).toEqual(["aml-policy", "exec-memo"]);
  });

  // Withheld: for pre-filter every stored chunk outside the readable set (4 of 5), for a scan the
  // candidates it checked and denied (post-filter: all 4 others; the container scan: only maria's
  // statement, the one chunk of her containers the agent may not read).
  it.each([
    ["pre-filter", 4],
    ["post-filter", 4],
    ["container-pre-filter", 1],
  ] as const)(
    "audits who asked, for whom, what was returned and withheld (%s), without the query text",
    async (strategy, withheld) => {
      const forced = await createSmallBank({ retrieval: { strategy } });
      const token = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
      await postJson(forced.app, "/v1/search", { query: QUESTION, k: 20 }, token);
      const record = forced.auditLog.records.at(-1);
      expect(record).toMatchObject({
        surface: "POST /v1/search",
        action: "search",
        outcome: { status: "allowed" },
        userId: "maria",
        agentIds: ["support-assistant"],
        k: 20,
        strategy,
        finishedWith: strategy,
      });
      expect(record?.returned?.map((r) => r.resource)).toEqual(["document:help-disputes"]);
      expect(record?.withheld).toBe(withheld);
      expect(JSON.stringify(record)).not.toContain(QUESTION);
    },
  );
});

describe("the request log of a retrieval", () => {
  it("says which strategy ran, what it scanned, its authorization calls and rounds, and what it withheld", async () => {
    const lines: string[] = [];
    const bank = await createSmallBank({
      logger: pino({ level: "info" }, { write: (line: string) => void lines.push(line) }),
    });
    const token = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
    for (const path of ["/v1/search", "/v1/answer"]) {
      const response = await postJson(bank.app, path, { query: QUESTION, k: 5 }, token);
      expect(response.status).toBe(200);
    }
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(2);
    for (const [index, entry] of logged.entries()) {
      const audited = bank.auditLog.records[index];
      expect(entry).toMatchObject({
        status: 200,
        principal: "agent:support-assistant for user:maria",
        strategy: audited?.strategy,
        finishedWith: audited?.finishedWith,
        withheld: audited?.withheld,
        returned: 1,
      });
      expect(["adaptive", "configuration"]).toContain(entry.chosenBy);
      for (const count of ["candidates", "authzCalls", "authzRounds", "withheld"]) {
        expect(Number.isInteger(entry[count]), count).toBe(true);
      }
      expect(entry.authzCalls as number).toBeGreaterThan(0);
    }
    // Never the query, a passage or the token.
    const text = lines.join("");
    expect(text).not.toContain(QUESTION);
    expect(text).not.toContain("provisional credit");
    expect(text).not.toContain(token);
  });
});
