/**
 * Finding 4 of the attack (issue 13): `collection:wealth-management#viewer@user:*` was accepted from a
 * relationships file although the schema allows no `@user:*`. A wildcard is refused before any write, by
 * the embedded evaluator, by the Permify adapter (before it calls Permify) and by `clearance grant`.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientMiddleware } from "nice-grpc";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createPermifyAuthorizer } from "../../../src/adapters/permify/permify-authorizer.ts";
import type { CliIo } from "../../../src/cli/command.ts";
import { isAppError } from "../../../src/core/errors.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import { main } from "../../../src/main.ts";

const ATTACK = "collection:wealth-management#viewer@user:*";
const SIBLINGS = [
  ATTACK,
  "collection:wealth-management#viewer@team:*#member",
  "team:wealth#member@user:*",
  "document:*#viewer@user:maria",
];

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "clearance-wildcards-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error.code;
    throw error;
  }
  return "resolved";
}

describe("wildcard subjects and entities are refused before any write", () => {
  it("the embedded evaluator: DATA_INVALID, and nothing written", async () => {
    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    await authorizer.writeSchema(await readFile("fixtures/schema.perm", "utf8"));
    for (const text of SIBLINGS) {
      expect(await codeOf(authorizer.writeData({ tuples: [parseTuple(text)] })), text).toBe("DATA_INVALID");
    }
    const page = await authorizer.readRelationships({ filter: { entity: { type: "collection" } } });
    expect(page.tuples).toEqual([]);
    // A valid grant next to the attack in the same write: the whole write is refused.
    const mixed = [parseTuple("collection:wealth-management#viewer@user:grace"), parseTuple(ATTACK)];
    expect(await codeOf(authorizer.writeData({ tuples: mixed }))).toBe("DATA_INVALID");
    expect(
      (await authorizer.readRelationships({ filter: { entity: { type: "collection" } } })).tuples,
    ).toEqual([]);
    await authorizer.close();
  });

  it("the Permify adapter: DATA_INVALID without calling Permify", async () => {
    let calls = 0;
    const counting: ClientMiddleware = async function* (call, options) {
      calls += 1;
      return yield* call.next(call.request, options);
    };
    const authorizer = createPermifyAuthorizer({
      endpoint: "127.0.0.1:1",
      tenant: "t1",
      middleware: [counting],
      timeouts: { readMs: 200, writeMs: 200 },
    });
    for (const text of SIBLINGS) {
      expect(await codeOf(authorizer.writeData({ tuples: [parseTuple(text)] })), text).toBe("DATA_INVALID");
    }
    expect(calls).toBe(0);
    await authorizer.close();
  });

  it("clearance grant: exit 1 naming the relationship, nothing granted", async () => {
    const env = { CLEARANCE_DATA_DIR: dataDir, LOG_LEVEL: "silent" };
    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    await authorizer.writeSchema(await readFile("fixtures/schema.perm", "utf8"));
    await authorizer.close();
    const err: string[] = [];
    const io: CliIo = { stdout: () => {}, stderr: (line) => err.push(line) };
    expect(await main(["grant", ATTACK], { io, env })).toBe(1);
    expect(err.join("\n")).toContain("wildcard");
    const after = await createEmbeddedAuthorizer({ dataDir });
    expect((await after.readRelationships({ filter: { entity: { type: "collection" } } })).tuples).toEqual(
      [],
    );
    await after.close();
  });
});
