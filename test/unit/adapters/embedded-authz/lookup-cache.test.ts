import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { LookupCache } from "../../../../src/adapters/embedded-authz/lookup-cache.ts";
import { isAppError } from "../../../../src/core/errors.ts";
import { lookupAllResources, lookupAllSubjects } from "../../../../src/core/lookup-all.ts";
import { parseEntity, parseSubject, parseTuple } from "../../../../src/core/permify-notation.ts";

const SCHEMA = `
entity user {}
entity team { relation member @user @team#member }
entity collection {
  relation viewer @user @team#member
  relation parent @collection
  permission view = viewer or parent.view
}
entity document {
  relation collection @collection
  relation viewer @user
  permission view = viewer or collection.view
}
entity section {
  relation document @document
  relation audience @user @team#member
  permission view = document.view and audience
}
`;

async function authz(dataDir?: string) {
  const a = await createEmbeddedAuthorizer(dataDir ? { dataDir } : {});
  await a.writeSchema(SCHEMA);
  await a.writeData({
    tuples: [
      "team:t#member@user:ann",
      "collection:root#viewer@team:t#member",
      "collection:c1#parent@collection:root",
      ...["d1", "d3", "d5", "d7", "d9"].map((d) => `document:${d}#collection@collection:c1`),
      "section:s1#document@document:d1",
      "section:s1#audience@user:ann",
    ].map(parseTuple),
  });
  return a;
}
const ann = parseSubject("user:ann");
const docs = { entityType: "document", permission: "view", subject: ann } as const;
const code = async (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (isAppError(e) ? e.code : String(e)),
  );

describe("lookup cache", () => {
  it("pages from one snapshot even when a write lands between pages", async () => {
    const a = await authz();
    const first = await a.lookupResources({ ...docs, pageSize: 2 });
    expect(first.ids).toEqual(["d1", "d3"]);
    await a.writeData({
      tuples: [parseTuple("document:d4#viewer@user:ann"), parseTuple("document:d0#viewer@user:ann")],
    });
    await a.deleteData({ tuples: { entity: { type: "document", ids: ["d7"] } } });
    const second = await a.lookupResources({ ...docs, pageSize: 2, cursor: first.nextCursor });
    expect(second.ids).toEqual(["d5", "d7"]);
    const third = await a.lookupResources({ ...docs, pageSize: 2, cursor: second.nextCursor });
    expect(third).toEqual({ ids: ["d9"] });
    // A new lookup sees the writes.
    expect(await lookupAllResources(a, docs)).toEqual(["d0", "d1", "d3", "d4", "d5", "d9"]);
  });

  it("a repeated lookup reflects every kind of change", async () => {
    const a = await authz();
    expect(await lookupAllResources(a, docs)).toEqual(["d1", "d3", "d5", "d7", "d9"]);
    await a.deleteData({ tuples: { entity: { type: "team", ids: ["t"] } } });
    expect(await lookupAllResources(a, docs)).toEqual([]);
    await a.writeData({ tuples: [parseTuple("team:t#member@user:ann")] });
    expect(await lookupAllResources(a, docs)).toEqual(["d1", "d3", "d5", "d7", "d9"]);
    await a.writeSchema(
      SCHEMA.replace("permission view = viewer or collection.view", "permission view = viewer"),
    );
    expect(await lookupAllResources(a, docs)).toEqual([]);
  });

  it("shares work between lookups of one subject without mixing subjects or generations", async () => {
    const a = await authz();
    const [d, s, bob] = await Promise.all([
      lookupAllResources(a, docs),
      lookupAllResources(a, { ...docs, entityType: "section" }),
      lookupAllResources(a, { ...docs, subject: parseSubject("user:bob") }),
    ]);
    expect(d).toHaveLength(5);
    expect(s).toEqual(["s1"]);
    expect(bob).toEqual([]);
    await a.writeData({
      tuples: [parseTuple("section:s1#audience@user:bob"), parseTuple("document:d1#viewer@user:bob")],
    });
    const [s2, bobSections] = await Promise.all([
      lookupAllResources(a, { ...docs, entityType: "section" }),
      lookupAllResources(a, { ...docs, entityType: "section", subject: parseSubject("user:bob") }),
    ]);
    expect(s2).toEqual(["s1"]);
    expect(bobSections).toEqual(["s1"]);
  });

  it("refuses cursors that are malformed, from another lookup or from another instance", async () => {
    const a = await authz();
    const b = await authz();
    const first = await a.lookupResources({ ...docs, pageSize: 1 });
    expect(await code(a.lookupResources({ ...docs, pageSize: 1, cursor: "d3" }))).toBe("BAD_REQUEST");
    expect(await code(a.lookupResources({ ...docs, entityType: "section", cursor: first.nextCursor }))).toBe(
      "BAD_REQUEST",
    );
    expect(
      await code(a.lookupResources({ ...docs, subject: parseSubject("user:bob"), cursor: first.nextCursor })),
    ).toBe("BAD_REQUEST");
    expect(await code(b.lookupResources({ ...docs, pageSize: 1, cursor: first.nextCursor }))).toBe(
      "CONFLICT",
    );
    // A different page size with the same cursor is fine: the cursor is a position in the same list.
    expect((await a.lookupResources({ ...docs, pageSize: 10, cursor: first.nextCursor })).ids).toEqual([
      "d3",
      "d5",
      "d7",
      "d9",
    ]);
  });

  it("contexts are part of the key", async () => {
    const a = await authz();
    const withContext = await lookupAllResources(a, {
      ...docs,
      subject: parseSubject("user:bob"),
      context: { tuples: [parseTuple("team:t#member@user:bob")] },
    });
    expect(withContext).toHaveLength(5);
    expect(await lookupAllResources(a, { ...docs, subject: parseSubject("user:bob") })).toEqual([]);
  });

  it("lookupSubjects pages from one snapshot too", async () => {
    const a = await authz();
    const req = { entity: parseEntity("document:d1"), permission: "view", subjectType: "user" };
    await a.writeData({ tuples: ["b", "c", "d"].map((u) => parseTuple(`team:t#member@user:${u}`)) });
    const first = await a.lookupSubjects({ ...req, pageSize: 2 });
    expect(first.ids).toEqual(["ann", "b"]);
    await a.writeData({ tuples: [parseTuple("team:t#member@user:a0")] });
    const rest = await a.lookupSubjects({ ...req, pageSize: 2, cursor: first.nextCursor });
    expect(rest).toEqual({ ids: ["c", "d"] });
    expect(await lookupAllSubjects(a, req)).toEqual(["a0", "ann", "b", "c", "d"]);
  });

  it("an evicted snapshot is refused after a change and recomputed without one", () => {
    const cache = new LookupCache({ maxEntries: 1 });
    let data = ["a", "b", "c"];
    let computed = 0;
    const compute = () => {
      computed++;
      return [...data];
    };
    const p1 = cache.page("k", 1, 1, undefined, compute);
    cache.page("other", 1, 1, undefined, () => ["x"]); // evicts k
    expect(cache.page("k", 1, 1, p1.nextCursor, compute).ids).toEqual(["b"]);
    expect(computed).toBe(2);
    const p2 = cache.page("k", 1, 1, undefined, compute);
    cache.page("other", 2, 1, undefined, () => ["x"]); // evicts k
    data = ["a", "z"];
    expect(() => cache.page("k", 2, 1, p2.nextCursor, compute)).toThrow(/changed/);
    // While the snapshot is held, later pages come from it.
    const p3 = cache.page("k", 2, 2, undefined, compute);
    expect(p3).toEqual({ ids: ["a", "z"] });
  });

  it("keeps the newest list even when it alone exceeds the id budget", () => {
    const cache = new LookupCache({ maxIds: 2 });
    let computed = 0;
    const compute = () => {
      computed++;
      return ["a", "b", "c", "d"];
    };
    const p1 = cache.page("k", 1, 1, undefined, compute);
    const p2 = cache.page("k", 1, 1, p1.nextCursor, compute);
    expect(p2.ids).toEqual(["b"]);
    expect(computed).toBe(1);
  });

  it("sees changes another process journals", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-"));
    try {
      const server = await authz(dir);
      const cli = await createEmbeddedAuthorizer({ dataDir: dir });
      expect(await lookupAllResources(server, docs)).toHaveLength(5);
      await cli.deleteData({ tuples: { entity: { type: "team", ids: ["t"] } } });
      expect(await lookupAllResources(server, docs)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lookupAll refuses ids out of order", async () => {
    const fake = {
      lookupResources: async (r: { cursor?: string }) =>
        r.cursor ? { ids: ["a"] } : { ids: ["b"], nextCursor: "x" },
    };
    expect(await code(lookupAllResources(fake as never, docs))).toBe("UPSTREAM_UNAVAILABLE");
    const dup = { lookupResources: async () => ({ ids: ["a", "a"] }) };
    expect(await code(lookupAllResources(dup as never, docs))).toBe("UPSTREAM_UNAVAILABLE");
  });
});
