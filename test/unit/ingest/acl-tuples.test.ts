import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  documentTuples,
  relationshipProblems,
  schemaProblemsForManifest,
  tupleProblem,
} from "../../../ingest/acl-tuples.ts";
import type { ManifestDocument } from "../../../ingest/manifest.ts";
import { compileSchema } from "../../../src/authz-schema/schema-compiler.ts";
import { formatTuple, parseSubject, parseTuple } from "../../../src/core/permify-notation.ts";

function manifestDocument(overrides: Partial<ManifestDocument> = {}): ManifestDocument {
  return {
    id: "aml-program",
    path: "aml.md",
    absolutePath: "/tmp/aml.md",
    format: "markdown",
    title: "AML program",
    collection: "compliance",
    owner: parseSubject("user:cora"),
    viewers: [],
    sections: [],
    index: 0,
    ...overrides,
  };
}

const fullDocument = manifestDocument({
  customer: "cust-1001",
  viewers: [parseSubject("team:fraud#member"), parseSubject("agent:support-assistant")],
  sections: [
    { id: "aml-legal-hold", heading: "Legal hold", audience: [parseSubject("team:legal#member")] },
    {
      id: "aml-sar",
      heading: "SAR filing",
      audience: [parseSubject("user:cora"), parseSubject("team:compliance#member")],
    },
  ],
});

const bankSchema = async () =>
  compileSchema(await readFile(new URL("../../../fixtures/schema.perm", import.meta.url), "utf8"));

describe("documentTuples", () => {
  it("follows the documented convention, field by field", () => {
    expect(documentTuples(fullDocument).map(formatTuple)).toEqual([
      "document:aml-program#owner@user:cora",
      "document:aml-program#collection@collection:compliance",
      "document:aml-program#customer@customer:cust-1001",
      "document:aml-program#viewer@team:fraud#member",
      "document:aml-program#viewer@agent:support-assistant",
      "section:aml-legal-hold#document@document:aml-program",
      "section:aml-legal-hold#audience@team:legal#member",
      "section:aml-sar#document@document:aml-program",
      "section:aml-sar#audience@user:cora",
      "section:aml-sar#audience@team:compliance#member",
    ]);
  });

  it("derives only owner and collection from a minimal entry", () => {
    expect(documentTuples(manifestDocument()).map(formatTuple)).toEqual([
      "document:aml-program#owner@user:cora",
      "document:aml-program#collection@collection:compliance",
    ]);
  });
});

describe("schemaProblemsForManifest", () => {
  it("accepts the bank's schema for every field of the convention", async () => {
    expect(schemaProblemsForManifest(await bankSchema(), [fullDocument])).toEqual([]);
  });

  it("names every missing relation and entity with the manifest field that needs it", () => {
    const schema = compileSchema(`
      entity user {}
      entity team { relation member @user }
      entity agent {}
      entity collection {}
      entity document {
        relation owner @user
        relation collection @collection
      }
    `);
    expect(schemaProblemsForManifest(schema, [fullDocument])).toEqual([
      'schema has no relation "customer" on entity "document" (needed by manifest field customer)',
      'schema has no relation "viewer" on entity "document" (needed by manifest field viewers)',
      'schema has no entity "section" (needed by manifest field sections)',
    ]);
  });

  it("names a subject type a relation does not allow, with the first document that uses it", () => {
    const schema = compileSchema(`
      entity user {}
      entity team { relation member @user }
      entity collection {}
      entity document {
        relation owner @user
        relation collection @collection
      }
    `);
    const teamOwned = manifestDocument({ id: "second", index: 1, owner: parseSubject("team:legal#member") });
    expect(
      schemaProblemsForManifest(schema, [manifestDocument(), teamOwned, { ...teamOwned, index: 2 }]),
    ).toEqual([
      `schema's relation "owner" on entity "document" does not allow subjects of type "team#member" (needed by documents[1] (id second).owner; allowed: @user)`,
    ]);
  });

  it("needs section relations only when a document has sections", () => {
    const schema = compileSchema(`
      entity user {}
      entity collection {}
      entity document {
        relation owner @user
        relation collection @collection
      }
    `);
    expect(schemaProblemsForManifest(schema, [manifestDocument()])).toEqual([]);
  });
});

describe("tupleProblem and relationshipProblems", () => {
  it("accepts tuples that fit and names the ones that do not", async () => {
    const schema = await bankSchema();
    expect(tupleProblem(schema, parseTuple("team:fraud#member@team:risk#member"))).toBeUndefined();
    expect(tupleProblem(schema, parseTuple("vault:1#owner@user:x"))).toBe('schema has no entity "vault"');
    expect(
      relationshipProblems(schema, [
        parseTuple("team:fraud#member@user:ravi"),
        parseTuple("team:fraud#boss@user:ravi"),
        parseTuple("collection:x#owner@team:fraud#member"),
      ]),
    ).toEqual([
      'relationships[1] team:fraud#boss@user:ravi: schema has no relation "boss" on entity "team"',
      'relationships[2] collection:x#owner@team:fraud#member: relation "owner" on entity "collection" does not allow subjects of type "team#member" (allowed: @user)',
    ]);
  });
});
