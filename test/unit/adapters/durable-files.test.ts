/**
 * Finding 5 of the attack (issue 13): the vector journal (every document's full text), the authorization
 * journal and the audit trail were created 0644 in 0755 directories, readable by anyone on the host. Every
 * data file is now 0600 and every data directory 0700, under the common 022 umask, and a data directory
 * that others can read is reported (for the start-up warning).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileAuditTrail } from "../../../src/adapters/audit/file-audit-trail.ts";
import { loadDemoIdentity } from "../../../src/adapters/demo-identity/demo-identity.ts";
import { createExclusively, exposedDataPaths, writeAtomically } from "../../../src/adapters/durable-files.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";

let root: string;
let previousUmask: number;

beforeEach(() => {
  // The usual default, under which a plain create gives 0644 and 0755.
  previousUmask = process.umask(0o022);
  root = mkdtempSync(join(tmpdir(), "clearance-modes-"));
});

afterEach(() => {
  process.umask(previousUmask);
  rmSync(root, { recursive: true, force: true });
});

/** Every path under `dir` with its permission bits, e.g. `authz/journal.jsonl 600`. */
function modesUnder(dir: string): string[] {
  const found: string[] = [];
  const visit = (path: string, name: string) => {
    const stat = statSync(path);
    found.push(`${name} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) {
      for (const child of readdirSync(path).sort()) visit(join(path, child), `${name}/${child}`);
    }
  };
  visit(dir, ".");
  return found;
}

describe("data files are private to the service's user", () => {
  it("the authorizer, the vector store, the audit trail and the demo key create 0600 files in 0700 directories", async () => {
    const dataDir = join(root, "data");
    const authorizer = await createEmbeddedAuthorizer({ dataDir });
    await authorizer.writeSchema("entity user {}\nentity document {\n  relation viewer @user\n}\n");
    await authorizer.writeData({
      tuples: [
        {
          entity: { type: "document", id: "memo" },
          relation: "viewer",
          subject: { type: "user", id: "ann" },
        },
      ],
    });
    await authorizer.close();

    // A journal this small is compacted at once, so the snapshot is written too.
    const store = await createEmbeddedVectorStore({ dataDir, dimensions: 2, compactJournalBytes: 1 });
    await store.replaceDocument("memo", [
      {
        id: "memo#0",
        resource: "document:memo",
        documentId: "memo",
        title: "Memo",
        text: "The branch closes in May.",
        ordinal: 0,
        metadata: { collection: "executive", owner: "user:ann" },
        vector: Float32Array.from([1, 0]),
      },
    ]);
    await store.close();

    const audit = await createFileAuditTrail({ dir: join(dataDir, "audit", "trail") });
    await audit.record({
      time: new Date(0).toISOString(),
      requestId: "r1",
      surface: "POST /v1/search",
      action: "search",
      outcome: { status: "allowed" },
      userId: "ann",
      agentIds: [],
      queryDigest: "0".repeat(64),
      k: 1,
      strategy: "pre-filter",
      finishedWith: "pre-filter",
      withheld: 0,
      returned: [],
    });
    await audit.close();
    await loadDemoIdentity(dataDir);

    const modes = modesUnder(dataDir);
    expect(modes).toEqual(
      expect.arrayContaining([
        ". 700",
        "./authz 700",
        "./authz/schema.perm 600",
        "./authz/journal.jsonl 600",
        "./vectors 700",
        "./vectors/journal.log 600",
        "./vectors/snapshot.bin 600",
        "./vectors/meta.json 600",
        "./audit 700",
        "./audit/trail 700",
        "./audit/trail/segment-000000000001.jsonl 600",
        "./demo-identity 700",
        "./demo-identity/key.json 600",
      ]),
    );
    const open = modes.filter((line) => !/ [67]00$/.test(line));
    expect(open).toEqual([]);
    expect(exposedDataPaths(dataDir)).toEqual([]);
  });

  it("atomic and exclusive writes create 0600 files, and a stricter umask is kept", () => {
    writeAtomically(join(root, "a.json"), "{}");
    expect(createExclusively(join(root, "b.json"), "{}")).toBe(true);
    expect(createExclusively(join(root, "b.json"), "{}")).toBe(false);
    process.umask(0o277);
    writeAtomically(join(root, "c.json"), "{}");
    expect(statSync(join(root, "a.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, "b.json")).mode & 0o777).toBe(0o600);
    // 0600 less a umask of 0277: read-only for the owner, never wider than asked.
    expect(statSync(join(root, "c.json")).mode & 0o777).toBe(0o400);
    expect(readdirSync(root).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("names what others can read in a data directory made by other means", () => {
    const dataDir = join(root, "legacy");
    mkdirSync(join(dataDir, "vectors"), { recursive: true });
    writeFileSync(join(dataDir, "vectors", "journal.log"), "");
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, "vectors"), 0o700);
    chmodSync(join(dataDir, "vectors", "journal.log"), 0o644);
    expect(exposedDataPaths(dataDir)).toEqual([dataDir, join(dataDir, "vectors", "journal.log")]);
  });
});
