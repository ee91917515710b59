/**
 * `clearance schema push`, `clearance grant` and `clearance revoke` against the embedded authorizer in a
 * temporary data directory, driven through `main` with captured output, as an operator would run them.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { formatTuple } from "../../../src/core/permify-notation.ts";
import { main } from "../../../src/main.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import { captureIo } from "../../helpers/cli-io.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";

/** A schema in which a document's viewer may be a team itself or its members: `team:x` and `team:x#member`. */
const TEAMS_SCHEMA = `entity user {}
entity team {
    relation member @user @team#member
}
entity document {
    relation viewer @user @team @team#member
    permission view = viewer
}
`;

let dataDir: string;
let env: Record<string, string>;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "clearance-relationships-"));
  env = { CLEARANCE_DATA_DIR: dataDir, LOG_LEVEL: "silent" };
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function run(args: string[], deps: { openAuthorizer?: () => Promise<Authorizer> } = {}) {
  const io = captureIo();
  const code = await main(args, { io, env, ...deps });
  return { code, out: io.out, err: io.err };
}

/** The relationships in the data directory, as a fresh process would read them. */
async function storedTuples(): Promise<string[]> {
  const authorizer = await createEmbeddedAuthorizer({ dataDir });
  try {
    const tuples: string[] = [];
    for (const type of ["document", "collection", "team"]) {
      const { tuples: page } = await authorizer.readRelationships({ filter: { entity: { type } } });
      tuples.push(...page.map(formatTuple));
    }
    return tuples.sort();
  } finally {
    await authorizer.close();
  }
}

async function pushTeamsSchema(): Promise<void> {
  const file = join(dataDir, "teams.perm");
  await writeFile(file, TEAMS_SCHEMA);
  expect((await run(["schema", "push", "--schema", file])).code).toBe(0);
}

describe("clearance schema push", () => {
  it("pushes AUTHZ_SCHEMA_FILE (the fixture schema by default), then writes nothing the second time", async () => {
    let writes = 0;
    const counting = async () => {
      const real = await createEmbeddedAuthorizer({ dataDir });
      return overridingAuthorizer(real, {
        writeSchema: (schema) => {
          writes += 1;
          return real.writeSchema(schema);
        },
      });
    };
    const first = await run(["schema", "push"], { openAuthorizer: counting });
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.out).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pushed the schema in fixtures/schema.perm to the embedded authorizer in ${dataDir}: version \\S+$`,
        ),
      ),
    ]);
    const version = (first.out[0] as string).split(" ").at(-1);

    const second = await run(["schema", "push"], { openAuthorizer: counting });
    expect(second.code).toBe(0);
    expect(second.out).toEqual([
      `the schema in fixtures/schema.perm is already in force in the embedded authorizer in ${dataDir} ` +
        `(version ${version}); nothing written`,
    ]);
    expect(writes).toBe(1);

    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    expect(await authorizer.isSchemaInForce(await readFile("fixtures/schema.perm", "utf8"))).toBe(true);
    await authorizer.close();
  });

  it("pushes the schema --schema names, or AUTHZ_SCHEMA_FILE's", async () => {
    const file = join(dataDir, "teams.perm");
    await writeFile(file, TEAMS_SCHEMA);
    const pushed = await run(["schema", "push", "--schema", file]);
    expect(pushed.code).toBe(0);
    expect(pushed.out[0]).toContain(`pushed the schema in ${file}`);
    env = { ...env, AUTHZ_SCHEMA_FILE: file };
    expect((await run(["schema", "push"])).out[0]).toContain(`the schema in ${file} is already in force`);
  });

  it("refuses a schema that does not compile with its position, and keeps the one in force", async () => {
    await run(["schema", "push"]);
    const bad = join(dataDir, "bad.perm");
    await writeFile(bad, "entity user {}\nentity doc {\n  relation viewer @usr\n}\n");
    const result = await run(["schema", "push", "--schema", bad]);
    expect(result.code).toBe(1);
    expect(result.out).toEqual([]);
    expect(result.err).toEqual([
      `clearance schema push: ${bad}: schema line 3, column 20: relation "viewer" refers to undefined entity "usr"`,
    ]);
    expect((await run(["schema", "push"])).out[0]).toContain("already in force");
  });

  it("exits 1 for a schema file that cannot be read, and 2 for bad usage", async () => {
    const missing = await run(["schema", "push", "--schema", join(dataDir, "nope.perm")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toEqual([
      `clearance schema push: cannot read the schema ${join(dataDir, "nope.perm")} (ENOENT)`,
    ]);
    for (const args of [
      ["schema"],
      ["schema", "pull"],
      ["schema", "push", "extra"],
      ["schema", "push", "--frob"],
    ]) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.err.at(-1)).toBe("usage: clearance schema push [--schema <file>]");
    }
    expect((await run(["schema", "--help"])).code).toBe(0);
  });
});

describe("clearance grant", () => {
  beforeEach(async () => {
    expect((await run(["schema", "push"])).code).toBe(0);
  });

  it("writes every relationship in one write and prints each with its snap token", async () => {
    const result = await run([
      "grant",
      "document:loan-1#viewer@user:alice",
      "collection:risk#viewer@team:risk#member",
      "document:loan-1#viewer@user:alice",
    ]);
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      expect.stringMatching(/^granted document:loan-1#viewer@user:alice \(snap token \S+\)$/),
      expect.stringMatching(/^granted collection:risk#viewer@team:risk#member \(snap token \S+\)$/),
    ]);
    const tokens = result.out.map((line) => line.split(" ").at(-1));
    expect(tokens[0]).toBe(tokens[1]);
    expect(await storedTuples()).toEqual([
      "collection:risk#viewer@team:risk#member",
      "document:loan-1#viewer@user:alice",
    ]);
  });

  it("refuses a document's collection or customer, which ingest writes with the chunk metadata", async () => {
    for (const mirrored of [
      "document:loan-1#collection@collection:risk",
      "document:loan-1#customer@customer:c-1",
    ]) {
      const result = await run(["grant", "document:loan-1#viewer@user:alice", mirrored]);
      expect(result.code).toBe(2);
      expect(result.out).toEqual([]);
      expect(result.err).toHaveLength(1);
      expect(result.err[0]).toContain(mirrored);
      expect(result.err[0]).toMatch(/clearance ingest.*nothing was written$/);
    }
    expect(await storedTuples()).toEqual([]);
  });

  it("refuses a relationship that does not parse, naming it, and writes none of the others", async () => {
    const result = await run([
      "grant",
      "document:loan-1#viewer@user:alice",
      "document:loan-1#viewer@user:bad id",
    ]);
    expect(result.code).toBe(1);
    expect(result.out).toEqual([]);
    expect(result.err).toHaveLength(1);
    expect(result.err[0]).toMatch(
      /^clearance grant: "document:loan-1#viewer@user:bad id": invalid entity id/,
    );
    expect(result.err[0]).toMatch(/nothing was written$/);
    expect(await storedTuples()).toEqual([]);
  });

  it("refuses a relationship that does not fit the schema, naming it, and writes none of the others", async () => {
    const result = await run([
      "grant",
      "document:loan-1#viewer@user:alice",
      "document:loan-1#viewer@team:risk",
    ]);
    expect(result.code).toBe(1);
    expect(result.out).toEqual([]);
    expect(result.err).toEqual([
      "clearance grant: relationship document:loan-1#viewer@team:risk: subject team is not allowed " +
        `(allowed: @user @team#member @agent); nothing was written to the embedded authorizer in ${dataDir}`,
    ]);
    const unknownRelation = await run(["grant", "document:loan-1#reader@user:alice"]);
    expect(unknownRelation.code).toBe(1);
    expect(unknownRelation.err[0]).toContain("document:loan-1#reader@user:alice");
    expect(await storedTuples()).toEqual([]);
  });

  it("says how to fix a data directory with no schema", async () => {
    await rm(dataDir, { recursive: true, force: true });
    const result = await run(["grant", "document:loan-1#viewer@user:alice"]);
    expect(result.code).toBe(1);
    expect(result.err).toEqual([
      `clearance grant: the embedded authorizer in ${dataDir} has no schema in force; ` +
        "run `clearance schema push` first",
    ]);
  });

  it("exits 2 without a relationship or with an unknown option, 0 for --help", async () => {
    for (const args of [["grant"], ["grant", "--frob", "document:a#viewer@user:b"]]) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.err.at(-1)).toBe("usage: clearance grant <tuple>...");
    }
    const help = await run(["grant", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out[0]).toBe("usage: clearance grant <tuple>...");
  });
});

describe("clearance revoke", () => {
  it("deletes exactly the relationship given: team:x goes, team:x#member stays", async () => {
    await pushTeamsSchema();
    await run([
      "grant",
      "document:d#viewer@team:x",
      "document:d#viewer@team:x#member",
      "document:d#viewer@user:a",
    ]);
    const result = await run(["revoke", "document:d#viewer@team:x"]);
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      expect.stringMatching(/^revoked document:d#viewer@team:x \(snap token \S+\)$/),
    ]);
    expect(await storedTuples()).toEqual(["document:d#viewer@team:x#member", "document:d#viewer@user:a"]);

    const member = await run(["revoke", "document:d#viewer@team:x#member"]);
    expect(member.out).toEqual([
      expect.stringMatching(/^revoked document:d#viewer@team:x#member \(snap token \S+\)$/),
    ]);
    expect(await storedTuples()).toEqual(["document:d#viewer@user:a"]);
  });

  it("says so for a relationship that is not there, revokes the others, and exits 0", async () => {
    await run(["schema", "push"]);
    await run(["grant", "document:loan-1#viewer@user:alice"]);
    const result = await run([
      "revoke",
      "document:loan-1#viewer@user:bob",
      "document:loan-1#viewer@user:alice",
      "document:loan-1#viewer@user:alice",
    ]);
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      "not granted: document:loan-1#viewer@user:bob (nothing to revoke)",
      expect.stringMatching(/^revoked document:loan-1#viewer@user:alice \(snap token \S+\)$/),
    ]);
    expect(await storedTuples()).toEqual([]);
    const again = await run(["revoke", "document:loan-1#viewer@user:alice"]);
    expect(again).toEqual({
      code: 0,
      out: ["not granted: document:loan-1#viewer@user:alice (nothing to revoke)"],
      err: [],
    });
  });

  it("refuses a relationship that does not parse, naming it, before revoking anything", async () => {
    await run(["schema", "push"]);
    await run(["grant", "document:loan-1#viewer@user:alice"]);
    const result = await run(["revoke", "document:loan-1#viewer@user:alice", "document:loan-1@user:alice"]);
    expect(result.code).toBe(1);
    expect(result.err).toEqual([
      'clearance revoke: "document:loan-1@user:alice": invalid tuple, expected entity:id#relation@subject:id: ' +
        '"document:loan-1@user:alice"; nothing was revoked',
    ]);
    expect(await storedTuples()).toEqual(["document:loan-1#viewer@user:alice"]);
    expect((await run(["revoke"])).code).toBe(2);
  });
});

describe("clearance --help", () => {
  it("lists schema push, grant and revoke", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    for (const usage of ["schema push [--schema <file>]", "grant <tuple>...", "revoke <tuple>..."]) {
      expect(result.out.some((line) => line.trimStart().startsWith(usage))).toBe(true);
    }
  });
});
