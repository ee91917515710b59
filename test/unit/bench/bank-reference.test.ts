/**
 * The benchmarks' reference of who may read what (bench/bank-reference.ts): on a small hand-made bank whose
 * answers are written out here, and on the retrieval benchmark's corpus, always next to the embedded
 * evaluator running fixtures/schema.perm, so that a benchmark's "recall" or "leak" is never the
 * reference's own mistake.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import { bankReference } from "../../../bench/bank-reference.ts";
import { generateRetrievalCorpus, QUICK_RETRIEVAL_CORPUS } from "../../../bench/retrieval-corpus.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { Tuple } from "../../../src/core/authz-model.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import type { Principal } from "../../../src/core/principal.ts";
import { readableResources } from "../../../src/core/retrieval.ts";

const SCHEMA = await readFile(new URL("../../../fixtures/schema.perm", import.meta.url), "utf8");

const BANK = [
  // Audit nested in risk, and a desk inside a department.
  "team:risk#member@user:rita",
  "team:risk#member@team:audit#member",
  "team:audit#member@user:aldo",
  "team:dept#member@team:desk#member",
  "team:desk#member@user:dana",
  // A root collection, a child and a grandchild; grants at each level.
  "collection:root#owner@user:olga",
  "collection:child#parent@collection:root",
  "collection:leaf#parent@collection:child",
  "collection:child#viewer@team:dept#member",
  "collection:leaf#viewer@agent:helper",
  "collection:leaf#viewer@customer:acme#holder",
  // Documents in each collection, one granted directly, one a customer's.
  "document:policy#collection@collection:root",
  "document:guide#collection@collection:child",
  "document:note#collection@collection:leaf",
  "document:note#viewer@team:risk#member",
  "document:statement#customer@customer:acme",
  "customer:acme#holder@user:hank",
  "customer:acme#banker@user:bea",
  "document:memo#owner@user:dana",
  "document:memo#viewer@agent:helper",
  // A section of the guide, for audit only.
  "section:guide-audit#document@document:guide",
  "section:guide-audit#audience@team:audit#member",
  "section:note-audit#document@document:note",
  "section:note-audit#audience@team:audit#member",
].map(parseTuple);

const EXPECTED: readonly { principal: Principal; readable: readonly string[] }[] = [
  // Owner of the root: everything below it, no section (not in audit), nothing else.
  { principal: user("olga"), readable: ["document:guide", "document:note", "document:policy"] },
  // In dept through the desk: the child and the leaf, and the memo she owns.
  { principal: user("dana"), readable: ["document:guide", "document:memo", "document:note"] },
  // Risk reads the note; audit is in risk, so aldo reads it too, and the note's audit section.
  { principal: user("rita"), readable: ["document:note"] },
  { principal: user("aldo"), readable: ["document:note", "section:note-audit"] },
  // The holder reads the customer's statement and, through customer#holder, the leaf; the banker only the statement.
  { principal: user("hank"), readable: ["document:note", "document:statement"] },
  { principal: user("bea"), readable: ["document:statement"] },
  // An agent sees at most what both it and the user may see.
  { principal: { userId: "dana", agentIds: ["helper"] }, readable: ["document:memo", "document:note"] },
  { principal: { userId: "olga", agentIds: ["helper"] }, readable: ["document:note"] },
  { principal: user("nobody"), readable: [] },
];

function user(userId: string): Principal {
  return { userId, agentIds: [] };
}

async function expectEvaluatorAgrees(
  tuples: readonly Tuple[],
  principals: readonly Principal[],
  readable: (principal: Principal) => ReadonlySet<string>,
): Promise<void> {
  const authorizer = await createEmbeddedAuthorizer();
  try {
    await authorizer.writeSchema(SCHEMA);
    await authorizer.writeData({ tuples: [...tuples] });
    for (const principal of principals) {
      const listed = await readableResources(authorizer, principal);
      expect([...readable(principal)].sort(), JSON.stringify(principal)).toEqual([...listed].sort());
    }
  } finally {
    await authorizer.close();
  }
}

describe("the benchmarks' bank reference", () => {
  const reference = bankReference(BANK);

  test("reads the schema's meaning: nested usersets, parents, customers, sections, agents", () => {
    for (const { principal, readable } of EXPECTED) {
      expect([...reference.readable(principal)].sort(), JSON.stringify(principal)).toEqual(readable);
    }
  });

  test("lists a user's documents ascending", () => {
    expect(reference.viewableDocuments("dana")).toEqual(["guide", "memo", "note"]);
    expect(reference.viewableDocuments("nobody")).toEqual([]);
  });

  test("agrees with the embedded evaluator on the hand-made bank", async () => {
    await expectEvaluatorAgrees(
      BANK,
      EXPECTED.map((e) => e.principal),
      (principal) => reference.readable(principal),
    );
  });

  test("agrees with the embedded evaluator on the retrieval benchmark's readers", async () => {
    const corpus = generateRetrievalCorpus({ ...QUICK_RETRIEVAL_CORPUS, documents: 400, customers: 8 });
    for (const reader of corpus.readers) {
      const documents = [...reader.readable].filter((r) => r.startsWith("document:")).length;
      expect(documents, `reader of ${reader.share}`).toBeGreaterThanOrEqual(Math.round(reader.share * 400));
    }
    await expectEvaluatorAgrees(
      corpus.tuples,
      corpus.readers.map((r) => r.principal),
      (principal) => corpus.readers.find((r) => r.principal === principal)?.readable ?? new Set(),
    );
  });
});
