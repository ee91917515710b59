import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { CLEAR_LINE } from "../../../src/cli/progress-bar.ts";
import type { Runtime } from "../../../src/composition.ts";
import { loadConfig } from "../../../src/config.ts";
import { main } from "../../../src/main.ts";
import { captureIo } from "../../helpers/cli-io.ts";

/** The operator's flags: this corpus's manifest puts its schema in force and declares teams and collections. */
const OPERATOR_FLAGS = ["--write-schema", "--yes", "--allow-any-relationships"];

const FIXTURES = fileURLToPath(new URL("../../fixtures/ingest/", import.meta.url));
const BAD_PDFS = fileURLToPath(new URL("../../fixtures/bad-pdfs/", import.meta.url));

let dir: string;
let manifest: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "clearance-ingest-cli-"));
  await cp(FIXTURES, path.join(dir, "corpus"), { recursive: true });
  manifest = path.join(dir, "corpus", "manifest.yaml");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A memory-only runtime, recording whether the command closed it (the stores stay open for the test). */
async function memoryRuntime(): Promise<Runtime & { closed: boolean }> {
  const embedder = createHashingEmbedder({ dimensions: 64 });
  const authorizer = await createEmbeddedAuthorizer();
  const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
  const runtime = {
    config: loadConfig({ CLEARANCE_DATA_DIR: dir }),
    authorizer,
    vectorStore,
    embedder,
    chatModel: createExtractiveAnswerer(),
    closed: false,
    async close() {
      runtime.closed = true;
    },
  };
  return runtime;
}

describe("clearance ingest", () => {
  it("prints one line per document and a summary, exits 0, and closes the runtime", async () => {
    const io = captureIo();
    const runtime = await memoryRuntime();
    const code = await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], {
      io,
      openRuntime: async () => runtime,
    });
    expect(io.err).toEqual([]);
    // A first run puts the manifest's schema in force: the difference is printed first (--write-schema --yes).
    expect(io.out[0]).toBe(
      "The manifest's schema schema.perm is not the schema in force. The difference of permissions:",
    );
    expect(io.out).toContain("    + permission view: document.view and audience");
    expect(io.out.slice(-4)).toEqual([
      expect.stringMatching(/^\[1\/3\] ingested ops-handbook \(\d+ chunks\) \d+\.\ds$/),
      expect.stringMatching(/^\[2\/3\] ingested branch-notes \(1 chunk\) \d+\.\ds$/),
      expect.stringMatching(/^\[3\/3\] ingested credit-report \(\d+ chunks\) \d+\.\ds$/),
      expect.stringMatching(/^3 documents: 3 ingested, 0 unchanged, 0 failed; \d+ chunks; 18 relationships$/),
    ]);
    expect(code).toBe(0);
    expect(runtime.closed).toBe(true);
  });

  it("on a terminal draws a bar under the lines and clears it before the summary", async () => {
    const written: string[] = [];
    const code = await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], {
      io: { stdout: (line) => written.push(`${line}\n`), stderr: (line) => written.push(`${line}\n`) },
      terminal: { isTTY: true, columns: 80, write: (text) => written.push(text) },
      openRuntime: memoryRuntime,
    });
    expect(code).toBe(0);
    const bars = written.filter((text) => text.startsWith(CLEAR_LINE) && text.length > CLEAR_LINE.length);
    // Each document advances the bar (redrawn, too, under every line printed meanwhile).
    expect([...new Set(bars.map((bar) => bar.match(/\] (\d\/\d) /)?.[1]))]).toEqual(["1/3", "2/3", "3/3"]);
    expect(written.slice(-2)).toEqual([CLEAR_LINE, expect.stringMatching(/^3 documents: 3 ingested, /)]);
    expect(written.filter((text) => text.endsWith("\n")).slice(-4)).toEqual([
      expect.stringMatching(/^\[1\/3\] ingested ops-handbook /),
      expect.stringMatching(/^\[2\/3\] ingested branch-notes /),
      expect.stringMatching(/^\[3\/3\] ingested credit-report /),
      expect.stringMatching(/^3 documents: /),
    ]);
  });

  it("reports a failed document on stderr by path, lands the others, and exits 1", async () => {
    await cp(path.join(BAD_PDFS, "encrypted.pdf"), path.join(dir, "corpus/documents/x.pdf"));
    await writeFile(
      manifest,
      `${await readFile(manifest, "utf8")}  - id: x\n    path: documents/x.pdf\n    title: X\n    collection: reports\n    owner: user:rita\n`,
    );
    const io = captureIo();
    const runtime = await memoryRuntime();
    const code = await main(
      ["ingest", "--manifest", manifest, "--chunk-size", "200", "--chunk-overlap", "0", ...OPERATOR_FLAGS],
      {
        io,
        openRuntime: async () => runtime,
      },
    );
    expect(io.err).toEqual([
      expect.stringMatching(/^\[\d\/\d\] failed documents\/x\.pdf: encrypted \(needs a password\)$/),
    ]);
    expect(io.out.at(-1)).toMatch(
      /^4 documents: 3 ingested, 0 unchanged, 1 failed; \d+ chunks; 18 relationships$/,
    );
    expect(code).toBe(1);
    expect(await runtime.vectorStore.listDocuments()).toEqual([
      "branch-notes",
      "credit-report",
      "ops-handbook",
    ]);
  });

  it("prints every manifest problem and exits 1 without writing", async () => {
    await writeFile(
      manifest,
      (await readFile(manifest, "utf8"))
        .replace("heading: legal hold PROCEDURE", "heading: Nope")
        .replace("    title: Branch notes\n", ""),
    );
    const io = captureIo();
    const runtime = await memoryRuntime();
    expect(
      await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], {
        io,
        openRuntime: async () => runtime,
      }),
    ).toBe(1);
    expect(io.out).toEqual([]);
    expect(io.err).toEqual([
      `clearance ingest: manifest ${manifest} is invalid (1 problem):`,
      "clearance ingest:   documents[1] (id branch-notes).title: missing a title",
    ]);
    expect(await runtime.vectorStore.count()).toBe(0);
    expect(runtime.closed).toBe(true);
  });

  it("uses the configured data directory by default, and a second run is unchanged", async () => {
    const env = { CLEARANCE_DATA_DIR: path.join(dir, "data"), LOG_LEVEL: "silent" };
    const first = captureIo();
    expect(await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], { io: first, env })).toBe(0);
    const second = captureIo();
    expect(await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], { io: second, env })).toBe(0);
    expect(second.out.slice(0, 3)).toEqual([
      expect.stringMatching(/^\[1\/3\] unchanged ops-handbook \(\d+ chunks\) \d+\.\ds$/),
      expect.stringMatching(/^\[2\/3\] unchanged branch-notes \(1 chunk\) \d+\.\ds$/),
      expect.stringMatching(/^\[3\/3\] unchanged credit-report \(\d+ chunks\) \d+\.\ds$/),
    ]);
    expect(second.out.at(-1)).toMatch(
      /^3 documents: 0 ingested, 3 unchanged, 0 failed; \d+ chunks; 18 relationships$/,
    );
  });

  it("exits 1 with one line when the runtime cannot be opened", async () => {
    const io = captureIo();
    const code = await main(["ingest", "--manifest", manifest, ...OPERATOR_FLAGS], {
      io,
      openRuntime: async () => {
        throw new Error("data directory locked");
      },
    });
    expect(code).toBe(1);
    expect(io.err).toEqual(["clearance ingest: data directory locked"]);
  });

  it.each([
    [[], "missing --manifest <file>"],
    [["--manifest"], "Option '--manifest <value>' argument missing"],
    [["--manifest", "m.yaml", "extra"], "unexpected arguments: extra"],
    [["--manifest", "m.yaml", "--frob"], "Unknown option '--frob'"],
    [
      ["--manifest", "m.yaml", "--chunk-size", "1e3"],
      '--chunk-size must be an integer of at least 100, got "1e3"',
    ],
    [
      ["--manifest", "m.yaml", "--chunk-size", "99"],
      '--chunk-size must be an integer of at least 100, got "99"',
    ],
    [["--manifest", "m.yaml", "--chunk-overlap", "-5"], "Option '--chunk-overlap' argument is ambiguous"],
    [
      ["--manifest", "m.yaml", "--chunk-overlap", "1.5"],
      '--chunk-overlap must be a non-negative integer, got "1.5"',
    ],
    [
      ["--manifest", "m.yaml", "--chunk-size", "200", "--chunk-overlap", "200"],
      "--chunk-overlap (200) must be less than the chunk size (200)",
    ],
    [
      ["--manifest", "m.yaml", "--chunk-overlap", "1000"],
      "--chunk-overlap (1000) must be less than the chunk size (1000)",
    ],
    [["--manifest", "m.yaml", "--token-file", "t"], "--token-file needs --server"],
    [["--manifest", "m.yaml", "--server", "http://x.test", "--prune"], "--prune is the operator's"],
    [
      ["--manifest", "m.yaml", "--server", "http://x.test", "--write-schema", "--yes", "--chunk-size", "200"],
      "--chunk-size, --write-schema, --yes: the operator's, not taken with --server",
    ],
  ])("exits 2 on bad usage: %j", async (args, problem) => {
    const io = captureIo();
    let opened = false;
    const code = await main(["ingest", ...args], {
      io,
      openRuntime: async () => {
        opened = true;
        throw new Error("not reached");
      },
    });
    expect(code).toBe(2);
    expect(io.err[0]).toContain(problem);
    expect(io.err[1]).toBe(
      `usage: clearance ingest --manifest <file> [--chunk-size N] [--chunk-overlap N] [--write-schema [--yes]] [--allow-any-relationships] [--allow-owner-change] [--prune] [--dry-run] [--server <url> [--token-file <file>]]`,
    );
    expect(opened).toBe(false);
  });

  it("prints its options for --help, and is listed in the usage", async () => {
    const io = captureIo();
    expect(await main(["ingest", "--help"], { io })).toBe(0);
    expect(io.out[0]).toBe(
      `usage: clearance ingest --manifest <file> [--chunk-size N] [--chunk-overlap N] [--write-schema [--yes]] [--allow-any-relationships] [--allow-owner-change] [--prune] [--dry-run] [--server <url> [--token-file <file>]]`,
    );
    expect(io.out.join("\n")).toContain("--chunk-overlap N");
    const help = captureIo();
    await main(["help"], { io: help });
    expect(help.out.join("\n")).toContain("ingest --manifest <file>");
  });
});
