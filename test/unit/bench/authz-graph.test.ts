/**
 * The benchmark's graph generator: counts, determinism and probe shares, on a small graph and without
 * timing anything. The last test replays the probes against the embedded authorizer so that the
 * benchmark's reference and the evaluator are known to agree before anyone reads its numbers.
 */
import { describe, expect, test } from "vitest";
import {
  BANK_SCHEMA,
  type BankGraphOptions,
  generateBankGraph,
  graphTuples,
} from "../../../bench/authz-graph.ts";
import { bankReference } from "../../../bench/bank-reference.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { isValidId } from "../../../src/core/authz-model.ts";
import { lookupAllResources } from "../../../src/core/lookup-all.ts";
import { formatTuple } from "../../../src/core/permify-notation.ts";

const SMALL: BankGraphOptions = {
  seed: 7,
  documents: 2_000,
  collections: 100,
  teams: 12,
  users: 400,
  maxCollectionDepth: 4,
};

describe("bench authz graph", () => {
  const graph = generateBankGraph(SMALL);
  const reference = bankReference(graphTuples(graph));

  test("has the requested counts, unique valid ids and documents spread evenly", () => {
    expect(graph.documents).toHaveLength(2_000);
    expect(graph.collections).toHaveLength(100);
    expect(graph.teams).toHaveLength(12);
    expect(graph.users).toHaveLength(400);
    for (const ids of [
      graph.documents.map((d) => d.id),
      graph.collections.map((c) => c.id),
      graph.teams,
      graph.users,
    ]) {
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.every(isValidId)).toBe(true);
      expect([...ids].sort()).toEqual(ids);
    }
    const perCollection = new Map<string, number>();
    for (const d of graph.documents)
      perCollection.set(d.collection, (perCollection.get(d.collection) ?? 0) + 1);
    expect(new Set(perCollection.values())).toEqual(new Set([20]));
  });

  test("collections form a forest no deeper than asked, with the default one root in twenty", () => {
    const byId = new Map(graph.collections.map((c) => [c.id, c]));
    const depthOf = (id: string, seen: Set<string> = new Set()): number => {
      expect(seen.has(id), `cycle through ${id}`).toBe(false);
      seen.add(id);
      const parent = byId.get(id)?.parent;
      return parent === undefined ? 0 : 1 + depthOf(parent, seen);
    };
    expect(graph.collections.filter((c) => c.parent === undefined)).toHaveLength(5);
    for (const c of graph.collections) {
      if (c.parent !== undefined) expect(byId.has(c.parent)).toBe(true);
      expect(depthOf(c.id)).toBeLessThanOrEqual(4);
    }
  });

  test("is deterministic for a seed and differs for another", () => {
    const again = generateBankGraph(SMALL);
    expect(graphTuples(again).map(formatTuple)).toEqual(graphTuples(graph).map(formatTuple));
    expect(again.probes).toEqual(graph.probes);
    const other = generateBankGraph({ ...SMALL, seed: 8 });
    expect(graphTuples(other).map(formatTuple)).not.toEqual(graphTuples(graph).map(formatTuple));
  });

  test("writes no duplicate tuple and no tuple whose entity equals its subject", () => {
    const tuples = graphTuples(graph).map(formatTuple);
    expect(new Set(tuples).size).toBe(tuples.length);
    for (const t of graphTuples(graph)) {
      expect(t.entity.type === t.subject.type && t.entity.id === t.subject.id).toBe(false);
    }
  });

  test("probe users see about 1%, 10% and all of the documents, through their own team only", () => {
    expect(graph.probes.map((p) => p.label)).toEqual(["1%", "10%", "100%"]);
    for (const probe of graph.probes) {
      const share = reference.viewableDocuments(probe.user).length / graph.documents.length;
      expect(share, probe.label).toBeGreaterThanOrEqual(probe.target);
      expect(share, probe.label).toBeLessThanOrEqual(probe.target * 1.25);
      expect(graph.teamMembers.get(probe.team)).toEqual([probe.user]);
      const elsewhere = [...graph.teamMembers].filter(
        ([team, members]) => team !== probe.team && members.includes(probe.user),
      );
      expect(elsewhere).toEqual([]);
    }
    const [one, ten] = graph.probes;
    expect(one?.grantedCollections.some((c) => ten?.grantedCollections.includes(c))).toBe(false);
  });

  test("the embedded authorizer lists for each probe what the reference says", async () => {
    const authorizer = await createEmbeddedAuthorizer();
    try {
      await authorizer.writeSchema(BANK_SCHEMA);
      await authorizer.writeData({ tuples: graphTuples(graph) });
      for (const probe of [...graph.probes, { label: "ordinary", user: graph.users[10] as string }]) {
        const listed = await lookupAllResources(authorizer, {
          entityType: "document",
          permission: "view",
          subject: { type: "user", id: probe.user },
        });
        expect(listed, probe.label).toEqual(reference.viewableDocuments(probe.user));
      }
    } finally {
      await authorizer.close();
    }
  });
});
