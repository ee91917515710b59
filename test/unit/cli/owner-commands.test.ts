/**
 * `clearance delete`, `clearance access` and `clearance ingest --prune --dry-run` in the operator's direct
 * mode, on memory stores: what they print, what they change, and one audit record per write.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import type { Runtime } from "../../../src/composition.ts";
import { composeApp } from "../../../src/composition.ts";
import { loadConfig } from "../../../src/config.ts";
import { delegationData } from "../../../src/core/delegation.ts";
import { formatTuple, parseTuple } from "../../../src/core/permify-notation.ts";
import { main } from "../../../src/main.ts";
import { captureIo } from "../../helpers/cli-io.ts";
import { signTestToken, testTokenVerifier } from "../../helpers/test-identity.ts";

const FIXTURES = fileURLToPath(new URL("../../fixtures/ingest/", import.meta.url));
const OPERATOR_FLAGS = ["--write-schema", "--yes", "--allow-any-relationships"];

let dir: string;
let manifest: string;
let runtime: Runtime;
let auditLog: ReturnType<typeof createMemoryAuditLog>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "clearance-owner-cli-"));
  await cp(FIXTURES, path.join(dir, "corpus"), { recursive: true });
  manifest = path.join(dir, "corpus", "manifest.yaml");
  const embedder = createHashingEmbedder({ dimensions: 64 });
  runtime = {
    config: loadConfig({ CLEARANCE_DATA_DIR: dir, CLEARANCE_OPERATOR: "operator" }),
    authorizer: await createEmbeddedAuthorizer(),
    vectorStore: await createEmbeddedVectorStore({ dimensions: embedder.dimensions }),
    embedder,
    chatModel: createExtractiveAnswerer(),
    async close() {},
  };
  auditLog = createMemoryAuditLog();
  const code = await run(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS]);
  expect(code.code).toBe(0);
  // Ingest's writes are audited too: one record naming each document it changed and the schema it wrote.
  expect(auditLog.records.map((r) => [r.userId, r.surface, r.action, r.changes])).toEqual([
    [
      "operator",
      "cli:ingest",
      "ingest",
      expect.arrayContaining([
        { op: "ingest", target: "document:ops-handbook" },
        { op: "ingest", target: "document:branch-notes" },
        { op: "ingest", target: "document:credit-report" },
      ]),
    ],
  ]);
  auditLog = createMemoryAuditLog();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  const io = captureIo();
  const code = await main(argv, {
    io,
    openRuntime: async () => runtime,
    // Each command closes the trail it opened; this one outlives them, so that the test can read it.
    openAuditTrail: async () => Object.assign(Object.create(auditLog), { close: async () => {} }),
  });
  return { code, out: io.out, err: io.err };
}

async function tuplesOf(type: string, id: string): Promise<string[]> {
  const read = await runtime.authorizer.readRelationships({ filter: { entity: { type, ids: [id] } } });
  return read.tuples.map(formatTuple).sort();
}

/**
 * Runs the CLI in client mode against the real app on the test's stores, with `token` as CLEARANCE_TOKEN;
 * `send` replaces the app as the HTTP client (a server that cannot be reached).
 */
async function client(
  argv: string[],
  token: string | undefined,
  extra: Record<string, string> = {},
  send?: (url: string, init: RequestInit) => Promise<Response>,
) {
  const { app } = composeApp({
    authorizer: runtime.authorizer,
    vectorStore: runtime.vectorStore,
    embedder: runtime.embedder,
    chatModel: runtime.chatModel,
    auditLog,
    tokenVerifier: testTokenVerifier(),
    logger: pino({ level: "silent" }),
    limits: { defaultK: 8, maxK: 50, queryMaxChars: 2000 },
  });
  const io = captureIo();
  const code = await main(argv, {
    io,
    env: { CLEARANCE_DATA_DIR: dir, ...(token === undefined ? {} : { CLEARANCE_TOKEN: token }), ...extra },
    fetch: send ?? (async (url, init) => app.request(url, init)),
    openRuntime: async () => {
      throw new Error("client mode must not open the stores");
    },
  });
  return { code, out: io.out, err: io.err };
}

describe("clearance delete", () => {
  it("--dry-run prints what it would remove and removes nothing", async () => {
    const result = await run(["delete", "ops-handbook", "--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(
      /^\[1\/1\] would delete ops-handbook \(\d+ chunks, 5 relationships\) \d+\.\ds$/,
    );
    expect(result.out).toContain("  - section:ops-legal-hold#audience@team:legal#member");
    expect(await runtime.vectorStore.listDocuments()).toContain("ops-handbook");
    // The dry run is recorded (the operator read both stores), with no change.
    expect(auditLog.records.map((r) => [r.action, r.changes])).toEqual([["document.delete", undefined]]);
  });

  it("removes chunks and relationships of the document and its sections; unknown ids exit 1", async () => {
    const result = await run(["delete", "ops-handbook", "nope"]);
    expect(result.code).toBe(1);
    expect(result.out[0]).toMatch(/^\[1\/2\] deleted ops-handbook \(\d+ chunks, 5 relationships\)/);
    expect(result.err).toEqual([expect.stringMatching(/^\[2\/2\] not found nope: no document nope$/)]);
    expect(await runtime.vectorStore.listDocuments()).not.toContain("ops-handbook");
    expect(await tuplesOf("document", "ops-handbook")).toEqual([]);
    expect(await tuplesOf("section", "ops-legal-hold")).toEqual([]);
    expect(auditLog.records).toEqual([
      expect.objectContaining({
        userId: "operator",
        surface: "cli:delete",
        outcome: { status: "allowed" },
        changes: [{ op: "delete", target: "document:ops-handbook" }],
      }),
      expect.objectContaining({ surface: "cli:delete", outcome: { status: "failed", code: "NOT_FOUND" } }),
    ]);
    expect((await run(["delete"])).code).toBe(2);
    expect((await run(["delete", "bad id!"])).code).toBe(1);
  });
});

describe("clearance access", () => {
  it("adds and removes viewers and replaces a section's audience, relationships only", async () => {
    const chunks = await runtime.vectorStore.documentChunks("ops-handbook");
    const result = await run([
      "access",
      "ops-handbook",
      "--add-viewer",
      "user:tom",
      "--remove-viewer",
      "agent:support-assistant",
      "--section",
      "ops-legal-hold",
      "--audience",
      "team:legal#member",
      "--audience",
      "user:tom",
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      "remove document:ops-handbook#viewer@agent:support-assistant",
      "add document:ops-handbook#viewer@user:tom",
      "add section:ops-legal-hold#audience@user:tom",
    ]);
    expect(await tuplesOf("document", "ops-handbook")).toContain("document:ops-handbook#viewer@user:tom");
    expect(await runtime.vectorStore.documentChunks("ops-handbook")).toEqual(chunks);
    expect(auditLog.records.map((r) => r.action)).toEqual(["document.access.change"]);

    const shown = await run(["access", "ops-handbook"]);
    expect(shown.out[0]).toContain("user:tom");
    expect(shown.out[1]).toMatch(/^section:ops-legal-hold: /);
  });

  it("refuses bad usage and unknown documents", async () => {
    expect((await run(["access"])).code).toBe(2);
    expect((await run(["access", "ops-handbook", "--audience", "user:x"])).code).toBe(2);
    expect((await run(["access", "ops-handbook", "--section", "ops-legal-hold"])).code).toBe(2);
    expect((await run(["access", "nope", "--add-viewer", "user:tom"])).code).toBe(1);
    expect(
      (await run(["access", "ops-handbook", "--section", "not-its-section", "--audience", "user:tom"])).code,
    ).toBe(1);
  });
});

describe("clearance ingest --prune", () => {
  it("--dry-run says what would change and prune; then the run removes the unlisted document", async () => {
    const text = await readFile(manifest, "utf8");
    // branch-notes leaves the manifest; handbooks stays one of its collections (ops-handbook).
    await writeFile(manifest, text.replace(/ {2}- id: branch-notes\n(?: {4}.*\n)+/, ""));
    const dry = await run(["ingest", "--manifest", manifest, "--prune", "--dry-run", ...OPERATOR_FLAGS]);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("would prune branch-notes (1 chunks, 2 relationships)");
    expect(dry.out.at(-1)).toMatch(/^dry run, nothing written: /);
    expect(await runtime.vectorStore.listDocuments()).toContain("branch-notes");

    const real = await run(["ingest", "--manifest", manifest, "--prune", ...OPERATOR_FLAGS]);
    expect(real.code).toBe(0);
    expect(real.out).toContain("pruned branch-notes (1 chunks, 2 relationships)");
    expect(await runtime.vectorStore.listDocuments()).not.toContain("branch-notes");
    expect(await tuplesOf("document", "branch-notes")).toEqual([]);
  });
});

describe("client mode (--server): through the HTTP routes, as the owner whose token is given", () => {
  beforeEach(async () => {
    // The corpus's schema has no `manage`; the bank's does (a document's owner and its collection's managers).
    const schema = await readFile(path.join(dir, "corpus", "schema.perm"), "utf8");
    await runtime.authorizer.writeSchema(
      schema.replace(
        "permission view = owner or viewer or collection.view or customer.holder",
        "permission view = owner or viewer or collection.view or customer.holder\n    permission manage = owner",
      ),
    );
  });

  it("the owner deletes and changes access; another user gets 403 and nothing changes", async () => {
    const stranger = await client(
      ["delete", "ops-handbook", "--server", "http://clearance.test"],
      await signTestToken({ sub: "tom", extraClaims: { scope: "documents:write" } }),
    );
    expect(stranger.code).toBe(1);
    expect(stranger.err[0]).toMatch(/403/);
    expect(await runtime.vectorStore.listDocuments()).toContain("ops-handbook");

    const owner = await signTestToken({ sub: "omar", extraClaims: { scope: "documents:write" } });
    const access = await client(
      ["access", "ops-handbook", "--add-viewer", "user:tom", "--server", "http://clearance.test"],
      owner,
    );
    expect(access.code).toBe(0);
    expect(access.out).toEqual(["add document:ops-handbook#viewer@user:tom"]);
    const deleted = await client(["delete", "ops-handbook", "--server", "http://clearance.test"], owner);
    expect(deleted.code).toBe(0);
    expect(await runtime.vectorStore.listDocuments()).not.toContain("ops-handbook");
    expect(auditLog.records.filter((r) => r.changes !== undefined).map((r) => [r.userId, r.action])).toEqual([
      ["omar", "document.access.change"],
      ["omar", "document.delete"],
    ]);
  });

  it("takes the token from a file, and refuses to run without one", async () => {
    const file = path.join(dir, "token");
    await writeFile(
      file,
      `${await signTestToken({ sub: "omar", extraClaims: { scope: "documents:write" } })}\n`,
    );
    const shown = await client(
      ["access", "ops-handbook", "--server", "http://clearance.test", "--token-file", file],
      undefined,
    );
    expect(shown.code).toBe(0);
    expect(shown.out[0]).toMatch(/^document:ops-handbook: /);
    const none = await client(["access", "ops-handbook", "--server", "http://clearance.test"], undefined);
    expect(none.code).toBe(1);
    expect(none.err[0]).toMatch(/CLEARANCE_TOKEN/);
  });
});

describe("clearance ingest --server: an owner's manifest uploaded through POST/PUT /v1/documents", () => {
  const SERVER = "http://clearance.test";
  let ownerManifest: string;
  let handbookBefore: unknown;

  beforeEach(async () => {
    // The bank's schema: `manage` for a document's owner and its collection's owners and managers, and
    // delegations, so that an agent can act for the owner.
    await runtime.authorizer.writeSchema(
      await readFile(new URL("../../../fixtures/schema.perm", import.meta.url), "utf8"),
    );
    await runtime.authorizer.writeData({
      tuples: [parseTuple("collection:handbooks#owner@user:omar")],
    });
    await runtime.authorizer.writeData(delegationData("omar", "support-assistant"));
    // An owner's folder: the handbook, corrected, and a new document for the same collection.
    const folder = path.join(dir, "owner");
    await mkdir(folder);
    const handbook = await readFile(path.join(dir, "corpus", "documents", "operations-handbook.md"), "utf8");
    await writeFile(
      path.join(folder, "operations-handbook.md"),
      `${handbook}\nCorrected: tills close at 6 pm.\n`,
    );
    await writeFile(path.join(folder, "faq.md"), "# Operations FAQ\n\nThe vault opens at 8 am.\n");
    ownerManifest = path.join(folder, "manifest.yaml");
    await writeFile(
      ownerManifest,
      `documents:
  - id: ops-handbook
    path: operations-handbook.md
    title: Operations handbook
    collection: handbooks
    owner: user:omar
    viewers: [agent:support-assistant]
    sections:
      - id: ops-legal-hold
        heading: legal hold PROCEDURE
        audience: [team:legal#member]
  - id: ops-faq
    path: faq.md
    title: Operations FAQ
    collection: handbooks
    owner: user:omar
`,
    );
    handbookBefore = await runtime.vectorStore.documentChunks("ops-handbook");
  });

  const token = (sub: string, agents: string[] = []) =>
    signTestToken({ sub, agents, extraClaims: { scope: "documents:write" } });
  const ingest = (extra: string[] = []) => [
    "ingest",
    "--manifest",
    ownerManifest,
    "--server",
    SERVER,
    ...extra,
  ];
  const unchangedStores = async () => {
    expect(await runtime.vectorStore.listDocuments()).not.toContain("ops-faq");
    expect(await runtime.vectorStore.documentChunks("ops-handbook")).toEqual(handbookBefore);
    expect(auditLog.records.filter((r) => r.changes !== undefined)).toEqual([]);
  };

  it("the owner adds and replaces documents of a collection they manage; a re-run changes nothing", async () => {
    const dry = await client(ingest(["--dry-run"]), await token("omar"));
    expect(dry.err).toEqual([]);
    expect(dry.out).toEqual([
      expect.stringMatching(/^\[1\/2\] would ingest ops-handbook \(\d+ chunks\) \d+\.\ds$/),
      expect.stringMatching(/^\[2\/2\] would ingest ops-faq \(1 chunk\) \d+\.\ds$/),
      expect.stringMatching(/^dry run, nothing written: 2 documents: 2 ingested, 0 unchanged, 0 failed; /),
    ]);
    await unchangedStores();

    const real = await client(ingest(), await token("omar"));
    expect(real.code).toBe(0);
    expect(real.out[0]).toMatch(/^\[1\/2\] ingested ops-handbook \(\d+ chunks\) \d+\.\ds$/);
    expect(real.out[1]).toMatch(/^\[2\/2\] ingested ops-faq \(1 chunk\) \d+\.\ds$/);
    expect(real.out[2]).toMatch(
      /^2 documents: 2 ingested, 0 unchanged, 0 failed; \d+ chunks \(through http:\/\/clearance\.test\)$/,
    );
    expect(await runtime.vectorStore.listDocuments()).toContain("ops-faq");
    expect(await runtime.vectorStore.documentChunks("ops-handbook")).not.toEqual(handbookBefore);
    // The server audits each write under the owner: the existing document replaced, the new one uploaded.
    expect(
      auditLog.records.filter((r) => r.changes !== undefined).map((r) => [r.userId, r.surface, r.changes]),
    ).toEqual([
      ["omar", "PUT /v1/documents/{id}", [{ op: "replace", target: "document:ops-handbook" }]],
      ["omar", "POST /v1/documents", [{ op: "upload", target: "document:ops-faq" }]],
    ]);

    const again = await client(ingest(), await token("omar"));
    expect(again.code).toBe(0);
    expect(again.out.slice(0, 2)).toEqual([
      expect.stringMatching(/^\[1\/2\] unchanged ops-handbook /),
      expect.stringMatching(/^\[2\/2\] unchanged ops-faq /),
    ]);
  });

  it("another user gets 403 for each document, with the server's code, and nothing changes", async () => {
    const stranger = await client(ingest(), await token("tom"));
    expect(stranger.code).toBe(1);
    expect(stranger.err).toEqual([
      expect.stringMatching(/^\[1\/2\] failed ops-handbook \(FORBIDDEN: .*403.*\) \d+\.\ds$/),
      expect.stringMatching(/^\[2\/2\] failed ops-faq \(FORBIDDEN: .*403.*\) \d+\.\ds$/),
    ]);
    expect(stranger.out).toEqual([
      expect.stringMatching(/^2 documents: 0 ingested, 0 unchanged, 2 failed; /),
    ]);
    await unchangedStores();
  });

  it("an agent acting for the owner may only when the agent manages the collection too", async () => {
    const refused = await client(ingest(), await token("omar", ["support-assistant"]));
    expect(refused.code).toBe(1);
    expect(refused.err).toHaveLength(2);
    expect(refused.err.every((line) => line.includes("(FORBIDDEN: "))).toBe(true);
    await unchangedStores();

    await runtime.authorizer.writeData({
      tuples: [parseTuple("collection:handbooks#manager@agent:support-assistant")],
    });
    const allowed = await client(ingest(), await token("omar", ["support-assistant"]));
    expect(allowed.code).toBe(0);
    expect(await runtime.vectorStore.listDocuments()).toContain("ops-faq");
    expect(auditLog.records.find((r) => r.changes !== undefined)).toMatchObject({
      userId: "omar",
      agentIds: ["support-assistant"],
    });
  });

  it("a token file that cannot be read or holds no valid token stops before any upload", async () => {
    const missing = await client(ingest(["--token-file", path.join(dir, "no-such-token")]), undefined);
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toMatch(/--token-file: cannot read/);
    const garbage = path.join(dir, "garbage-token");
    await writeFile(garbage, "not-a-jwt\n");
    const refused = await client(ingest(["--token-file", garbage]), undefined);
    expect(refused.code).toBe(1);
    // A token the server does not accept ends the run at the first document: every other would fail alike.
    expect(refused.out).toEqual([]);
    expect(refused.err).toEqual([
      expect.stringMatching(/^clearance ingest: .*401.*; run the same command again to finish$/),
    ]);
    await unchangedStores();
  });

  it("a server that cannot be reached ends the run, naming it", async () => {
    const result = await client(ingest(), await token("omar"), {}, async () => {
      throw new TypeError("fetch failed");
    });
    expect(result.code).toBe(1);
    expect(result.err).toEqual([
      "clearance ingest: cannot reach http://clearance.test; run the same command again to finish",
    ]);
    await unchangedStores();
  });

  it("refuses a manifest that names a schema or relationships file, and a file outside its folder", async () => {
    const operators = await client(
      ["ingest", "--manifest", manifest, "--server", SERVER],
      await token("omar"),
    );
    expect(operators.code).toBe(1);
    expect(operators.err[0]).toMatch(/a schema \(schema\.perm\) and a relationships file .*only an operator/);
    expect(operators.out).toEqual([]);

    await writeFile(
      ownerManifest,
      (await readFile(ownerManifest, "utf8")).replace(
        "path: faq.md",
        "path: ../corpus/documents/branch-notes.txt",
      ),
    );
    const outside = await client(ingest(), await token("omar"));
    expect(outside.code).toBe(1);
    expect(outside.err.join("\n")).toMatch(/documents\[1\] \(id ops-faq\)\.path: /);
    await unchangedStores();
  });
});
