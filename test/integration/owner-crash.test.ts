/**
 * Crash safety of ingest and delete (issue 14): the CLI is killed with SIGKILL right after each write to
 * either store in turn (after an authorizer write, after a vector write, and so between documents), then
 * the same command runs again. Afterwards both stores agree: every document has its chunks and its
 * relationships, or neither (no chunk without relationships, no relationships of a document without
 * chunks), on the embedded stores in the data directory and with Permify holding the relationships.
 */
import { spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import { createPermifyAuthorizer } from "../../src/adapters/permify/permify-authorizer.ts";
import type { Authorizer } from "../../src/ports/authorizer.ts";
import { describeWithPermify, uniqueTenant } from "../helpers/permify.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../fixtures/ingest/", import.meta.url));
const DOCUMENTS = ["ops-handbook", "branch-notes", "credit-report"];
const SECTIONS = ["ops-legal-hold", "credit-regulator-pages"];

interface Setup {
  readonly env: Record<string, string>;
  readonly dataDir: string;
  readonly manifest: string;
  openAuthorizer(): Promise<Authorizer>;
  cleanup(): Promise<void>;
}

type SetupFactory = () => Promise<Setup>;

async function baseSetup(
  extraEnv: (dataDir: string) => Record<string, string>,
  authorizer: (dataDir: string) => Promise<Authorizer>,
): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), "clearance-crash-"));
  await cp(FIXTURES, path.join(dir, "corpus"), { recursive: true });
  const dataDir = path.join(dir, "data");
  return {
    env: { CLEARANCE_DATA_DIR: dataDir, LOG_LEVEL: "silent", ...extraEnv(dataDir) },
    dataDir,
    manifest: path.join(dir, "corpus", "manifest.yaml"),
    openAuthorizer: () => authorizer(dataDir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function runCli(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/crash-cli.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Documents and sections with chunks, and with relationships, in the two stores. */
async function holdings(setup: Setup): Promise<{ chunks: string[]; tuples: string[]; sections: string[] }> {
  const authorizer = await setup.openAuthorizer();
  const store = await createEmbeddedVectorStore({
    dataDir: setup.dataDir,
    dimensions: createHashingEmbedder().dimensions,
  });
  try {
    const withTuples = [];
    for (const id of DOCUMENTS) {
      const read = await authorizer.readRelationships({
        filter: { entity: { type: "document", ids: [id] } },
      });
      if (read.tuples.length > 0) withTuples.push(id);
    }
    const sections = (
      await authorizer.readRelationships({ filter: { entity: { type: "section", ids: SECTIONS } } })
    ).tuples.map((tuple) => tuple.entity.id);
    return {
      chunks: [...(await store.listDocuments())],
      tuples: withTuples,
      sections: [...new Set(sections)].sort(),
    };
  } finally {
    await Promise.all([authorizer.close(), store.close()]);
  }
}

async function countWrites(setup: Setup, args: readonly string[]): Promise<string[]> {
  const file = path.join(setup.dataDir, "..", "writes.txt");
  const result = await runCli(args, { ...setup.env, COUNT_WRITES_TO: file });
  expect(result.code, result.stderr).toBe(0);
  return (await readFile(file, "utf8")).trim().split("\n");
}

function crashSuite(name: string, makeSetup: SetupFactory): void {
  describe(name, () => {
    const ingestArgs = (setup: Setup) => [
      "ingest",
      "--manifest",
      setup.manifest,
      "--write-schema",
      "--yes",
      "--allow-any-relationships",
    ];

    it("ingest killed after each write, then run again: both stores agree on every document", async () => {
      const counting = await makeSetup();
      const writes = await countWrites(counting, ingestArgs(counting));
      await counting.cleanup();
      expect(writes.length).toBeGreaterThanOrEqual(7);
      for (let crashAt = 1; crashAt <= writes.length; crashAt++) {
        const setup = await makeSetup();
        try {
          const crashed = await runCli(ingestArgs(setup), {
            ...setup.env,
            CRASH_AFTER_WRITE: String(crashAt),
          });
          expect(crashed.signal, `after write ${crashAt} (${writes[crashAt - 1]})`).toBe("SIGKILL");
          const again = await runCli(ingestArgs(setup), setup.env);
          expect(again.code, again.stderr).toBe(0);
          const held = await holdings(setup);
          expect(held.chunks, `after write ${crashAt}`).toEqual([...DOCUMENTS].sort());
          expect(held.tuples.sort()).toEqual([...DOCUMENTS].sort());
          expect(held.sections).toEqual([...SECTIONS].sort());
        } finally {
          await setup.cleanup();
        }
      }
    }, 600_000);

    it("delete killed after each write, then run again: nothing of the documents is left in either store", async () => {
      const deleteArgs = ["delete", "ops-handbook", "credit-report"];
      const counting = await makeSetup();
      expect((await runCli(ingestArgs(counting), counting.env)).code).toBe(0);
      const writes = await countWrites(counting, deleteArgs);
      await counting.cleanup();
      expect(writes.length).toBe(6);
      for (let crashAt = 1; crashAt <= writes.length; crashAt++) {
        const setup = await makeSetup();
        try {
          expect((await runCli(ingestArgs(setup), setup.env)).code).toBe(0);
          const crashed = await runCli(deleteArgs, { ...setup.env, CRASH_AFTER_WRITE: String(crashAt) });
          expect(crashed.signal, `after write ${crashAt} (${writes[crashAt - 1]})`).toBe("SIGKILL");
          const again = await runCli(deleteArgs, setup.env);
          // A document the killed run had finished is reported not found (exit 1); nothing else may fail.
          expect(again.stderr.split("\n").filter((line) => line && !line.includes("not found"))).toEqual([]);
          const held = await holdings(setup);
          expect(held.chunks, `after write ${crashAt}`).toEqual(["branch-notes"]);
          expect(held.tuples).toEqual(["branch-notes"]);
          expect(held.sections).toEqual([]);
        } finally {
          await setup.cleanup();
        }
      }
    }, 600_000);
  });
}

crashSuite("crash safety (embedded stores)", () =>
  baseSetup(
    () => ({}),
    (dataDir) => createEmbeddedAuthorizer({ dataDir }),
  ),
);

describeWithPermify("crash safety (Permify)", (endpoint) => {
  crashSuite("relationships in Permify, chunks in the data directory", () => {
    const tenant = uniqueTenant("owner-crash");
    return baseSetup(
      () => ({ AUTHZ: "permify", PERMIFY_ENDPOINT: endpoint, PERMIFY_TENANT: tenant }),
      async () => createPermifyAuthorizer({ endpoint, tenant }),
    );
  });
});
