/**
 * A property over random users, agents, delegations, documents, notes, sources and revocations: `recall`
 * and `search` never return a note or passage that the principal (the user and every agent) may not view,
 * counting a note's sources, and never serve an agent without the user's live delegation. The judge is the
 * authorizer itself, asked one check at a time after the fact.
 */
import fc from "fast-check";
import { pino } from "pino";
import { expect, it } from "vitest";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { composeApp } from "../../../src/composition.ts";
import { consentChecks, delegationData } from "../../../src/core/delegation.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import { runParameters } from "../../helpers/fast-check.ts";
import { BANK_SCHEMA } from "../../helpers/random-bank.ts";
import { postJson } from "../../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../../helpers/test-identity.ts";

const USERS = ["u0", "u1", "u2"];
const AGENTS = ["a0", "a1"];
const DOCUMENTS = ["d0", "d1", "d2", "d3"];
const SUBJECTS = [...USERS.map((u) => `user:${u}`), ...AGENTS.map((a) => `agent:${a}`)];
const WORDS = ["card", "dispute", "loan", "wire", "fraud", "branch"];
const ALL_SCOPES = "documents:search documents:answer memory";

const principalArb = fc.record({
  user: fc.constantFrom(...USERS),
  agents: fc.subarray(AGENTS, { maxLength: 2 }),
});

const worldArb = fc.record({
  viewers: fc.array(fc.subarray(SUBJECTS), { minLength: DOCUMENTS.length, maxLength: DOCUMENTS.length }),
  delegations: fc.subarray(USERS.flatMap((u) => AGENTS.map((a) => [u, a] as const))),
  notes: fc.array(
    fc.record({
      writer: principalArb,
      sources: fc.subarray(DOCUMENTS, { maxLength: 3 }),
      word: fc.constantFrom(...WORDS),
      shareWith: fc.option(fc.constantFrom(...SUBJECTS), { nil: undefined }),
    }),
    { maxLength: 6 },
  ),
  /** Document viewer tuples removed after the notes were written: revoked sources. */
  revocations: fc.array(fc.tuple(fc.nat(DOCUMENTS.length - 1), fc.constantFrom(...SUBJECTS)), {
    maxLength: 4,
  }),
  undelegations: fc.subarray(
    USERS.flatMap((u) => AGENTS.map((a) => [u, a] as const)),
    { maxLength: 2 },
  ),
  askers: fc.array(principalArb, { minLength: 1, maxLength: 4 }),
});

async function mayView(authorizer: Authorizer, subjects: string[], resource: string): Promise<boolean> {
  const [type, id] = resource.split(":") as [string, string];
  for (const subject of subjects) {
    const [subjectType, subjectId] = subject.split(":") as [string, string];
    const allowed = await authorizer.check({
      entity: { type, id },
      permission: "view",
      subject: { type: subjectType, id: subjectId },
    });
    if (!allowed) return false;
  }
  return true;
}

let notesReturned = 0;
let notesStored = 0;

it("recall and search never return what the whole principal may not view, sources included", async () => {
  await fc.assert(
    fc.asyncProperty(worldArb, async (world) => {
      const embedder = createHashingEmbedder();
      const authorizer = await createEmbeddedAuthorizer();
      await authorizer.writeSchema(BANK_SCHEMA);
      const tuples = DOCUMENTS.flatMap((d, i) =>
        (world.viewers[i] ?? []).map((s) => `document:${d}#viewer@${s}`),
      );
      if (tuples.length > 0) await authorizer.writeData({ tuples: tuples.map(parseTuple) });
      for (const [user, agent] of world.delegations) await authorizer.writeData(delegationData(user, agent));
      const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
      for (const [i, d] of DOCUMENTS.entries()) {
        const text = `${WORDS[i]} ${WORDS[i + 1]} policy for ${d}`;
        const [vector] = await embedder.embedDocuments([text]);
        await vectorStore.replaceDocument(d, [
          {
            id: `${d}:0`,
            resource: `document:${d}`,
            documentId: d,
            title: d,
            text,
            ordinal: 0,
            metadata: { collection: "c", owner: "user:nobody" },
            vector: vector as Float32Array,
          },
        ]);
      }
      const { app } = composeApp({
        authorizer,
        vectorStore,
        memoryStore: await createEmbeddedVectorStore({ dimensions: embedder.dimensions }),
        embedder,
        chatModel: createExtractiveAnswerer(),
        auditLog: createMemoryAuditLog(),
        tokenVerifier: testTokenVerifier(),
        logger: pino({ level: "silent" }),
        limits: { defaultK: 5, maxK: 50, queryMaxChars: 500 },
      });
      const token = (p: { user: string; agents: readonly string[] }) =>
        signTestToken({ sub: p.user, agents: [...p.agents], extraClaims: { scope: ALL_SCOPES } });
      for (const note of world.notes) {
        const response = await postJson(
          app,
          "/v1/memory/notes",
          { text: `${note.word} note`, sources: note.sources.map((d) => `document:${d}`) },
          await token(note.writer),
        );
        if (response.status !== 201) continue; // no consent, or a source the writer may not read
        const { id } = (await response.json()) as { id: string };
        notesStored++;
        if (note.shareWith) {
          await app.request(`/v1/memory/notes/${id}/viewers`, {
            method: "PUT",
            headers: {
              authorization: `Bearer ${await token(note.writer)}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({ subject: note.shareWith }),
          });
        }
      }
      for (const [index, subject] of world.revocations) {
        const [type, id] = subject.split(":") as [string, string];
        await authorizer.deleteData({
          tuples: {
            entity: { type: "document", ids: [DOCUMENTS[index] as string] },
            relation: "viewer",
            subject: { type, ids: [id], relation: "" },
          },
        });
      }
      for (const [user, agent] of world.undelegations) {
        await authorizer.deleteData({
          tuples: {
            entity: { type: "delegation", ids: [delegationData(user, agent).tuples[0]?.entity.id as string] },
          },
        });
      }
      for (const asker of world.askers) {
        const subjects = [`user:${asker.user}`, ...asker.agents.map((a) => `agent:${a}`)];
        const consented = (
          await authorizer.checkMany(
            consentChecks({ userId: asker.user, agentIds: asker.agents }, Date.now()),
          )
        ).every((outcome) => outcome === "allowed");
        for (const word of WORDS.slice(0, 3)) {
          const recall = await postJson(
            app,
            "/v1/memory/recall",
            { query: `${word} note`, k: 50 },
            await token(asker),
          );
          const search = await postJson(
            app,
            "/v1/search",
            { query: `${word} policy`, k: 50 },
            await token(asker),
          );
          if (!consented) {
            expect(recall.status).toBe(403);
            expect(search.status).toBe(403);
            continue;
          }
          expect(recall.status).toBe(200);
          expect(search.status).toBe(200);
          const { notes } = (await recall.json()) as { notes: { id: string; sources: string[] }[] };
          notesReturned += notes.length;
          for (const note of notes) {
            expect(await mayView(authorizer, subjects, `note:${note.id}`)).toBe(true);
            for (const source of note.sources) expect(await mayView(authorizer, subjects, source)).toBe(true);
          }
          const { passages } = (await search.json()) as { passages: { documentId: string }[] };
          for (const passage of passages) {
            expect(await mayView(authorizer, subjects, `document:${passage.documentId}`)).toBe(true);
          }
        }
      }
      await authorizer.close();
    }),
    runParameters(30),
  );
  // Not vacuous: notes were written and recalled.
  console.log(`memory property: ${notesStored} notes stored, ${notesReturned} recalled and verified`);
  expect(notesStored).toBeGreaterThan(0);
  expect(notesReturned).toBeGreaterThan(0);
}, 240_000);
