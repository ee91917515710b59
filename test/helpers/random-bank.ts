/**
 * Random banks for retrieval properties: documents (some with a narrower section) in collections that nest,
 * some belonging to a customer, with owners, direct viewers, nested teams and agents, all under the bank's
 * schema (fixtures/schema.perm). As ingest guarantees, every chunk's metadata names its document's
 * collection, customer and owner exactly as the relationships do. Vectors are small and drawn from a few
 * values so that equal scores are common: ties must break by chunk id in every strategy.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import type { EmbeddedChunk } from "../../src/core/chunk.ts";
import type { Principal } from "../../src/core/principal.ts";

export const BANK_SCHEMA = readFileSync(new URL("../../fixtures/schema.perm", import.meta.url), "utf8");
export const BANK_DIMENSIONS = 4;

export interface RandomBank {
  readonly chunks: readonly EmbeddedChunk[];
  /** Relationships in Permify's tuple notation. */
  readonly tuples: readonly string[];
  readonly principals: readonly Principal[];
  readonly queries: readonly Float32Array[];
}

const USERS = ["u0", "u1", "u2", "u3", "u4"];
const AGENTS = ["a0", "a1"];
const TEAMS = ["t0", "t1", "t2"];
const COLLECTIONS = ["c0", "c1", "c2", "c3"];
const CUSTOMERS = ["k0", "k1"];

const vectorArb = fc
  .array(fc.constantFrom(-1, 0, 0.5, 1), { minLength: BANK_DIMENSIONS, maxLength: BANK_DIMENSIONS })
  .map((values) => Float32Array.from(values));

const documentArb = fc.record({
  collection: fc.constantFrom(...COLLECTIONS),
  customer: fc.option(fc.constantFrom(...CUSTOMERS), { nil: undefined }),
  owner: fc.constantFrom(...USERS),
  viewers: fc.subarray([
    ...USERS.map((u) => `user:${u}`),
    ...TEAMS.map((t) => `team:${t}#member`),
    ...AGENTS.map((a) => `agent:${a}`),
  ]),
  chunks: fc.array(vectorArb, { minLength: 1, maxLength: 4 }),
  /** Audience of a section holding the document's last chunk, when present. */
  section: fc.option(
    fc.subarray([...USERS.map((u) => `user:${u}`), ...TEAMS.map((t) => `team:${t}#member`), "agent:a0"], {
      minLength: 1,
    }),
    { nil: undefined },
  ),
});

const relationArb = fc.record({
  members: fc.array(fc.tuple(fc.constantFrom(...TEAMS), fc.constantFrom(...USERS)), { maxLength: 6 }),
  nested: fc.array(fc.tuple(fc.constantFrom(...TEAMS), fc.constantFrom(...TEAMS)), { maxLength: 2 }),
  parents: fc.array(fc.tuple(fc.constantFrom(...COLLECTIONS), fc.constantFrom(...COLLECTIONS)), {
    maxLength: 2,
  }),
  collectionViewers: fc.array(
    fc.tuple(
      fc.constantFrom(...COLLECTIONS),
      fc.constantFrom(
        ...USERS.map((u) => `user:${u}`),
        ...TEAMS.map((t) => `team:${t}#member`),
        ...AGENTS.map((a) => `agent:${a}`),
        ...CUSTOMERS.map((c) => `customer:${c}#holder`),
      ),
    ),
    { maxLength: 6 },
  ),
  holders: fc.array(fc.tuple(fc.constantFrom(...CUSTOMERS), fc.constantFrom(...USERS)), { maxLength: 3 }),
  bankers: fc.array(fc.tuple(fc.constantFrom(...CUSTOMERS), fc.constantFrom(...USERS)), { maxLength: 2 }),
});

export const randomBankArb: fc.Arbitrary<RandomBank> = fc
  .record({
    documents: fc.array(documentArb, { minLength: 1, maxLength: 12 }),
    relations: relationArb,
    principals: fc.array(
      fc.record({
        userId: fc.constantFrom(...USERS),
        agentIds: fc.subarray(AGENTS, { maxLength: 2 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    queries: fc.array(vectorArb, { minLength: 1, maxLength: 3 }),
  })
  .map(({ documents, relations, principals, queries }) => {
    const tuples = new Set<string>();
    const chunks: EmbeddedChunk[] = [];
    documents.forEach((document, d) => {
      const id = `d${d}`;
      tuples.add(`document:${id}#collection@collection:${document.collection}`);
      tuples.add(`document:${id}#owner@user:${document.owner}`);
      if (document.customer !== undefined)
        tuples.add(`document:${id}#customer@customer:${document.customer}`);
      for (const viewer of document.viewers) tuples.add(`document:${id}#viewer@${viewer}`);
      const sectionId = document.section === undefined ? undefined : `s${d}`;
      if (sectionId !== undefined) {
        tuples.add(`section:${sectionId}#document@document:${id}`);
        for (const member of document.section ?? []) tuples.add(`section:${sectionId}#audience@${member}`);
      }
      document.chunks.forEach((vector, ordinal) => {
        const inSection = sectionId !== undefined && ordinal === document.chunks.length - 1;
        chunks.push({
          id: `${id}:${ordinal}`,
          resource: inSection ? `section:${sectionId}` : `document:${id}`,
          documentId: id,
          ...(inSection ? { sectionId } : {}),
          title: id,
          text: `chunk ${ordinal} of ${id}`,
          ordinal,
          metadata: {
            collection: document.collection,
            owner: `user:${document.owner}`,
            ...(document.customer === undefined ? {} : { customer: document.customer }),
          },
          vector,
        });
      });
    });
    for (const [team, user] of relations.members) tuples.add(`team:${team}#member@user:${user}`);
    // Nesting only points to a later team or collection: a cycle is an error in Permify and here alike.
    for (const [team, inner] of relations.nested) {
      if (team < inner) tuples.add(`team:${team}#member@team:${inner}#member`);
    }
    for (const [child, parent] of relations.parents) {
      if (child < parent) tuples.add(`collection:${child}#parent@collection:${parent}`);
    }
    for (const [collection, viewer] of relations.collectionViewers) {
      tuples.add(`collection:${collection}#viewer@${viewer}`);
    }
    for (const [customer, user] of relations.holders) tuples.add(`customer:${customer}#holder@user:${user}`);
    for (const [customer, user] of relations.bankers) tuples.add(`customer:${customer}#banker@user:${user}`);
    return { chunks, tuples: [...tuples], principals, queries };
  });
