import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { CheckRequest } from "../../../../src/core/authz-model.ts";
import { lookupAllResources, lookupAllSubjects } from "../../../../src/core/lookup-all.ts";
import {
  parseAttribute,
  parseEntity,
  parseSubject,
  parseTuple,
} from "../../../../src/core/permify-notation.ts";
import { type Authorizer, isCheckFailure, outcomeName } from "../../../../src/ports/authorizer.ts";
import { expectAppError } from "../../../helpers/errors.ts";

const BANK_SCHEMA = `
entity user {}
entity agent {}
entity team {
  relation member @user @team#member
}
entity collection {
  relation owner @user
  relation viewer @user @team#member @agent
  relation parent @collection
  permission view = owner or viewer or parent.view
}
entity document {
  relation owner @user
  relation collection @collection
  relation viewer @user @team#member @agent
  attribute public boolean
  attribute classification integer
  permission view = owner or viewer or collection.view or public
  permission read_classified = view and cleared(classification)
}
entity section {
  relation document @document
  relation audience @user @team#member
  permission view = document.view and audience
}
rule cleared(classification integer) {
  classification <= context.data.clearance
}
`;

const directories: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "clearance-authz-"));
  directories.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function bank(options: { dataDir?: string } = {}): Promise<Authorizer> {
  const authorizer = await createEmbeddedAuthorizer(options);
  await authorizer.writeSchema(BANK_SCHEMA);
  await authorizer.writeData({
    tuples: [
      "team:legal#member@user:lena",
      "team:risk#member@team:legal#member",
      "collection:policies#viewer@team:risk#member",
      "collection:aml#parent@collection:policies",
      "document:aml-policy#collection@collection:aml",
      "document:memo#owner@user:victor",
      "document:help#collection@collection:public",
      "section:aml-legal#document@document:aml-policy",
      "section:aml-legal#audience@team:legal#member",
      "document:aml-policy#viewer@agent:assistant",
    ].map(parseTuple),
    attributes: ["document:help$public|boolean:true", "document:aml-policy$classification|integer:3"].map(
      parseAttribute,
    ),
  });
  return authorizer;
}

function check(
  entity: string,
  permission: string,
  subject: string,
  context?: CheckRequest["context"],
): CheckRequest {
  return {
    entity: parseEntity(entity),
    permission,
    subject: parseSubject(subject),
    ...(context ? { context } : {}),
  };
}

describe("embedded authorizer: decisions", () => {
  it("follows usersets, nested teams and parent walks", async () => {
    const authz = await bank();
    expect(await authz.check(check("document:aml-policy", "view", "user:lena"))).toBe(true);
    expect(await authz.check(check("document:aml-policy", "view", "user:victor"))).toBe(false);
    expect(await authz.check(check("document:memo", "view", "user:victor"))).toBe(true);
    expect(await authz.check(check("document:memo", "view", "user:lena"))).toBe(false);
  });

  it("narrows sections: document access alone is not enough", async () => {
    const authz = await bank();
    await authz.writeData({ tuples: [parseTuple("document:aml-policy#viewer@user:sam")] });
    expect(await authz.check(check("document:aml-policy", "view", "user:sam"))).toBe(true);
    expect(await authz.check(check("section:aml-legal", "view", "user:sam"))).toBe(false);
    expect(await authz.check(check("section:aml-legal", "view", "user:lena"))).toBe(true);
  });

  it("reads boolean attributes (missing means denied) and runs rules over context.data", async () => {
    const authz = await bank();
    expect(await authz.check(check("document:help", "view", "user:anyone"))).toBe(true);
    expect(await authz.check(check("document:memo", "view", "user:anyone"))).toBe(false);
    const classified = (clearance: number) =>
      authz.check(check("document:aml-policy", "read_classified", "user:lena", { data: { clearance } }));
    expect(await classified(3)).toBe(true);
    expect(await classified(2)).toBe(false);
    // A rule reading a context key that is missing fails, as in Permify: an error, not a denial.
    await expectAppError(
      authz.check(check("document:aml-policy", "read_classified", "user:lena")),
      "DATA_INVALID",
    );
  });

  it("answers relations and userset subjects as Permify does", async () => {
    const authz = await bank();
    expect(await authz.check(check("team:risk", "member", "user:lena"))).toBe(true);
    expect(await authz.check(check("team:risk", "member", "team:legal#member"))).toBe(true);
    expect(await authz.check(check("team:legal", "member", "team:legal#member"))).toBe(true); // self-match
    await expectAppError(authz.check(check("document:memo", "nonsense", "user:victor")), "BAD_REQUEST");
  });

  it("applies contextual tuples and attributes to one request only", async () => {
    const authz = await bank();
    const context = {
      tuples: [parseTuple("document:memo#viewer@user:tess")],
      attributes: [parseAttribute("document:memo$public|boolean:false")],
    };
    expect(await authz.check(check("document:memo", "view", "user:tess", context))).toBe(true);
    expect(await authz.check(check("document:memo", "view", "user:tess"))).toBe(false);
    expect(
      await lookupAllResources(authz, {
        entityType: "document",
        permission: "view",
        subject: parseSubject("user:tess"),
        context,
      }),
    ).toEqual(["help", "memo"]);
  });

  it("reports a cycle and too little depth as DEPTH_EXCEEDED, never as a denial", async () => {
    const authz = await createEmbeddedAuthorizer({ maxDepth: 10 });
    await authz.writeSchema("entity user {}\nentity group {\n  relation member @user @group#member\n}");
    await authz.writeData({
      tuples: [
        "group:a#member@group:b#member",
        "group:b#member@group:a#member",
        "group:b#member@user:bo",
      ].map(parseTuple),
    });
    expect(await authz.check(check("group:a", "member", "user:bo"))).toBe(true); // a path exists: found
    await expectAppError(authz.check(check("group:a", "member", "user:nobody")), "DEPTH_EXCEEDED");
    const chain = Array.from({ length: 15 }, (_, i) =>
      parseTuple(`group:g${"abcdefghijklmnop"[i]}#member@group:g${"abcdefghijklmnop"[i + 1]}#member`),
    );
    await authz.writeData({ tuples: [...chain, parseTuple("group:gp#member@user:deep")] });
    await expectAppError(authz.check(check("group:ga", "member", "user:deep")), "DEPTH_EXCEEDED");
    const outcomes = await authz.checkMany([
      check("group:ga", "member", "user:deep"),
      check("group:b", "member", "user:bo"),
    ]);
    expect(outcomes.map(outcomeName)).toEqual(["failed", "allowed"]);
    // The failed item keeps why it failed.
    expect(isCheckFailure(outcomes[0]) && outcomes[0].failed.code).toBe("DEPTH_EXCEEDED");
  });
});

describe("embedded authorizer: lookups", () => {
  it("lists resources in id order, paged to the end, equal to per-resource checks", async () => {
    const authz = await bank();
    const tuples = Array.from({ length: 25 }, (_, i) =>
      parseTuple(`document:d${String.fromCharCode(97 + i)}#collection@collection:aml`),
    );
    await authz.writeData({ tuples });
    const subject = parseSubject("user:lena");
    const all = await lookupAllResources(authz, {
      entityType: "document",
      permission: "view",
      subject,
      pageSize: 4,
    });
    expect(all).toEqual([...all].sort());
    expect(all).toHaveLength(27); // 25 + aml-policy + help (public)
    const first = await authz.lookupResources({
      entityType: "document",
      permission: "view",
      subject,
      pageSize: 4,
    });
    expect(first.ids).toHaveLength(4);
    expect(first.nextCursor).toBeDefined();
    const last = await authz.lookupResources({
      entityType: "document",
      permission: "view",
      subject,
      pageSize: 100,
    });
    expect(last.nextCursor).toBeUndefined();
    for (const id of ["aml-policy", "memo", "help", "da", "dy"]) {
      expect(all.includes(id)).toBe(await authz.check(check(`document:${id}`, "view", "user:lena")));
    }
  });

  it("lists who can read a resource", async () => {
    const authz = await bank();
    expect(
      await lookupAllSubjects(authz, {
        entity: parseEntity("section:aml-legal"),
        permission: "view",
        subjectType: "user",
      }),
    ).toEqual(["lena"]);
    expect(
      await lookupAllSubjects(authz, {
        entity: parseEntity("document:aml-policy"),
        permission: "view",
        subjectType: "agent",
      }),
    ).toEqual(["assistant"]);
  });
});

describe("embedded authorizer: writes", () => {
  it.each([
    ["an undefined relation", "document:memo#reader@user:a"],
    ["a subject type the relation does not allow", "document:memo#owner@team:legal"],
    ["a userset the relation does not allow", "document:memo#owner@team:legal#member"],
    ["an unknown entity type", "folder:x#owner@user:a"],
    ["an entity that is its own subject", "team:legal#member@team:legal#member"],
    ["an id outside Permify's pattern", `document:${"x".repeat(129)}#owner@user:a`],
  ])("rejects %s and changes nothing", async (_name, bad) => {
    const authz = await bank();
    const good = parseTuple("document:memo#viewer@user:new");
    // A function, so that parseTuple's own refusal of a bad id is the error under test too.
    const error = await expectAppError(
      () => authz.writeData({ tuples: [good, parseTuple(bad)] }),
      "DATA_INVALID",
    );
    expect(error.message).toContain(bad.slice(0, 20));
    expect(await authz.check(check("document:memo", "view", "user:new"))).toBe(false);
  });

  it("rejects identifiers with characters Permify does not allow while parsing", () => {
    expect(() => parseTuple("document:a/b#owner@user:x")).toThrow(/entity id/);
    expect(() => parseTuple("document:a b#owner@user:x")).toThrow(/entity id/);
    expect(() => parseTuple("doc2:a#owner@user:x")).toThrow(/entity type/);
  });

  it("rejects an attribute of the wrong type", async () => {
    const authz = await bank();
    await expectAppError(
      authz.writeData({ attributes: [parseAttribute("document:memo$public|string:yes")] }),
      "DATA_INVALID",
    );
    expect(await authz.check(check("document:memo", "view", "user:x"))).toBe(false);
  });

  it("keeps the previous schema when a new one is invalid", async () => {
    const authz = await bank();
    await expectAppError(authz.writeSchema("entity broken {"), "SCHEMA_INVALID");
    expect((await authz.readSchema()).schema).toBe(BANK_SCHEMA);
  });

  it("deletes by filter and reads relationships back", async () => {
    const authz = await bank();
    await authz.deleteData({
      tuples: { entity: { type: "team" }, relation: "member", subject: { type: "user", ids: ["lena"] } },
    });
    expect(await authz.check(check("document:aml-policy", "view", "user:lena"))).toBe(false);
    const { tuples } = await authz.readRelationships({
      filter: { entity: { type: "section", ids: ["aml-legal"] } },
    });
    expect(tuples).toHaveLength(2);
  });
});

describe("embedded authorizer: persistence", () => {
  it("survives a restart, including deletions and attributes", async () => {
    const dir = dataDir();
    const first = await bank({ dataDir: dir });
    await first.deleteData({ tuples: { entity: { type: "document", ids: ["memo"] } } });
    await first.close();
    const second = await createEmbeddedAuthorizer({ dataDir: dir });
    expect(await second.check(check("document:aml-policy", "view", "user:lena"))).toBe(true);
    expect(await second.check(check("document:help", "view", "user:x"))).toBe(true);
    expect(await second.check(check("document:memo", "view", "user:victor"))).toBe(false);
  });

  it("sees writes another process appended, and ignores a torn last line", async () => {
    const dir = dataDir();
    const server = await bank({ dataDir: dir });
    const cli = await createEmbeddedAuthorizer({ dataDir: dir });
    await cli.writeData({ tuples: [parseTuple("document:memo#viewer@user:olga")] });
    expect(await server.check(check("document:memo", "view", "user:olga"))).toBe(true);
    appendFileSync(
      join(dir, "authz", "journal.jsonl"),
      '{"revision":99,"writeTuples":["document:memo#viewer@user:eve"',
    );
    const restarted = await createEmbeddedAuthorizer({ dataDir: dir });
    expect(await restarted.check(check("document:memo", "view", "user:eve"))).toBe(false);
    expect(await restarted.check(check("document:memo", "view", "user:olga"))).toBe(true);
    // The next write after the crash must not run on from the torn fragment into a damaged line.
    await restarted.writeData({ tuples: [parseTuple("document:memo#viewer@user:finn")] });
    const again = await createEmbeddedAuthorizer({ dataDir: dir });
    expect(await again.check(check("document:memo", "view", "user:finn"))).toBe(true);
    expect(await again.check(check("document:memo", "view", "user:olga"))).toBe(true);
  });

  it("puts a schema another process wrote in force, for checks and for lookups", async () => {
    const dir = dataDir();
    const server = await bank({ dataDir: dir });
    const olga = { type: "user", id: "olga" };
    await server.writeData({ tuples: [parseTuple("document:memo#viewer@user:olga")] });
    expect(await server.check(check("document:memo", "view", "user:olga"))).toBe(true);
    expect(
      (await server.lookupResources({ entityType: "document", permission: "view", subject: olga })).ids,
    ).toContain("memo");
    // An operator narrows `view` to owners from another process (an ingest with a new schema).
    const cli = await createEmbeddedAuthorizer({ dataDir: dir });
    await cli.writeSchema(
      BANK_SCHEMA.replace(
        "permission view = owner or viewer or collection.view or public",
        "permission view = owner",
      ),
    );
    expect(await server.check(check("document:memo", "view", "user:olga"))).toBe(false);
    expect(
      (await server.lookupResources({ entityType: "document", permission: "view", subject: olga })).ids,
    ).not.toContain("memo");
  });

  it("refuses to start on a damaged journal instead of guessing", async () => {
    const dir = dataDir();
    await (await bank({ dataDir: dir })).close();
    const journal = join(dir, "authz", "journal.jsonl");
    writeFileSync(journal, `not json\n${readFileSync(journal, "utf8")}`);
    await expectAppError(createEmbeddedAuthorizer({ dataDir: dir }), "UPSTREAM_UNAVAILABLE");
  });

  it("compacts a long journal into a snapshot without losing anything", async () => {
    const dir = dataDir();
    const authz = await bank({ dataDir: dir });
    for (let i = 0; i < 2_050; i++)
      await authz.writeData({ tuples: [parseTuple(`document:n${i}#owner@user:u${i}`)] });
    await authz.deleteData({ tuples: { entity: { type: "document", ids: ["n7"] } } });
    const reopened = await createEmbeddedAuthorizer({ dataDir: dir });
    expect(await reopened.check(check("document:n2049", "view", "user:u2049"))).toBe(true);
    expect(await reopened.check(check("document:n7", "view", "user:u7"))).toBe(false);
    expect(await reopened.check(check("document:aml-policy", "view", "user:lena"))).toBe(true);
    expect(readFileSync(join(dir, "authz", "journal.jsonl"), "utf8").split("\n").length).toBeLessThan(100);
  });
});

/** Differences from Permify that the differential test (test/integration/differential.test.ts) found. */
describe("embedded authorizer: as Permify, where the differential test found it differed", () => {
  it("fails `x not y` when x fails, so a `not` around it cannot turn the failure into an allow", async () => {
    const authorizer = await createEmbeddedAuthorizer({ maxDepth: 10 });
    await authorizer.writeSchema(`entity user {}
entity folder {
  relation parent @folder
  relation viewer @user
  permission inner = parent.inner not viewer
  permission outer = viewer not inner
}`);
    await authorizer.writeData({
      tuples: [
        { entity: { type: "folder", id: "f1" }, relation: "parent", subject: { type: "folder", id: "f1" } },
        { entity: { type: "folder", id: "f1" }, relation: "viewer", subject: { type: "user", id: "u1" } },
      ],
    });
    const outer: CheckRequest = {
      entity: { type: "folder", id: "f1" },
      permission: "outer",
      subject: { type: "user", id: "u1" },
    };
    await expectAppError(authorizer.check(outer), "DEPTH_EXCEEDED");
    expect((await authorizer.checkMany([outer])).map(outcomeName)).toEqual(["failed"]);
  });

  it("reads a rule's attribute stored first and a boolean attribute contextual first, as Permify does", async () => {
    const authorizer = await createEmbeddedAuthorizer();
    await authorizer.writeSchema(`entity user {}
entity folder {
  attribute level integer
  attribute open boolean
  permission view = high(level)
  permission enter = open
}
rule high(level integer) {
  level >= 3
}`);
    const f2 = { type: "folder", id: "f2" };
    await authorizer.writeData({
      attributes: [
        { entity: f2, attribute: "level", value: { type: "integer", value: 1 } },
        { entity: f2, attribute: "open", value: { type: "boolean", value: false } },
      ],
    });
    const context = {
      attributes: [
        { entity: f2, attribute: "level", value: { type: "integer", value: 4 } } as const,
        { entity: f2, attribute: "open", value: { type: "boolean", value: true } } as const,
      ],
    };
    const subject = { type: "user", id: "u1" };
    expect(await authorizer.check({ entity: f2, permission: "view", subject, context })).toBe(false);
    expect(await authorizer.check({ entity: f2, permission: "enter", subject, context })).toBe(true);
  });

  it("refuses a rule with a double-quoted string, which Permify would read without its quotes", async () => {
    const authorizer = await createEmbeddedAuthorizer();
    const error = await expectAppError(
      authorizer.writeSchema(`entity user {}
entity folder {
  attribute tag string
  permission view = tagged(tag)
}
rule tagged(tag string) {
  tag == "tag"
}`),
      "SCHEMA_INVALID",
    );
    expect(error.message).toContain("single quotes");
  });
});
