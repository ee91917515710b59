/**
 * The progress bar under the `[n/N]` lines: drawn, redrawn in place and cleared on a terminal; absent, and
 * the output unchanged byte for byte, anywhere else. Driven through `clearance delete` on memory stores.
 */
import { describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import type { CliIo } from "../../../src/cli/command.ts";
import { CLEAR_LINE, createProgress, renderBar, type Terminal } from "../../../src/cli/progress-bar.ts";
import { loadConfig } from "../../../src/config.ts";
import { main } from "../../../src/main.ts";

/** stdout, stderr and the terminal in one stream, in the order a screen would receive them. */
function screen(isTTY: boolean) {
  const written: string[] = [];
  const io: CliIo = {
    stdout: (line) => written.push(`${line}\n`),
    stderr: (line) => written.push(`${line}\n`),
  };
  const terminal: Terminal = { isTTY, columns: 60, write: (text) => written.push(text) };
  return { io, terminal, written };
}

describe("renderBar", () => {
  it("fills in proportion, never wider than the terminal", () => {
    expect(renderBar(0, 4, 0, 60)).toBe(`[${".".repeat(40)}] 0/4 0.0s`);
    expect(renderBar(1, 4, 1.25, 60)).toBe(`[${"#".repeat(10)}${".".repeat(30)}] 1/4 1.3s`);
    expect(renderBar(4, 4, 2, 30)).toBe(`[${"#".repeat(18)}] 4/4 2.0s`);
    expect(renderBar(4, 4, 2, 30).length).toBeLessThan(30);
    expect(renderBar(3, 10, 0, 5).length).toBeLessThan(5);
  });
});

describe("createProgress", () => {
  it("on a terminal: a line lifts the bar, the bar comes back below it, and the end clears it", () => {
    const { io, terminal, written } = screen(true);
    let now = 0;
    const progress = createProgress(io, terminal, 2, 0, () => now);
    progress.io.stdout("[1/2] deleted a");
    now = 1000;
    progress.advance(1);
    progress.io.stderr("[2/2] not found b");
    progress.advance(2);
    progress.finish();
    io.stdout("1 of 2 documents deleted");
    const bar = (done: number, seconds: string) => `${CLEAR_LINE}${renderBar(done, 2, Number(seconds), 60)}`;
    expect(written).toEqual([
      "[1/2] deleted a\n",
      bar(1, "1.0"),
      CLEAR_LINE,
      "[2/2] not found b\n",
      bar(1, "1.0"),
      bar(2, "1.0"),
      CLEAR_LINE,
      "1 of 2 documents deleted\n",
    ]);
    // What stays on the screen is the lines alone.
    expect(written.filter((text) => !text.startsWith(CLEAR_LINE)).join("")).toBe(
      "[1/2] deleted a\n[2/2] not found b\n1 of 2 documents deleted\n",
    );
  });

  it("a terminal that reports no width (a pseudo-terminal with no size) still gets a bar", () => {
    const written: string[] = [];
    const progress = createProgress(
      { stdout() {}, stderr() {} },
      { isTTY: true, columns: 0, write: (text) => written.push(text) },
      2,
      0,
      () => 0,
    );
    progress.advance(1);
    expect(written).toEqual([`${CLEAR_LINE}${renderBar(1, 2, 0, 80)}`]);
  });

  it("without a TTY it hands back the same io and writes nothing of its own", () => {
    for (const terminal of [undefined, screen(false).terminal]) {
      const { io, written } = screen(false);
      const progress = createProgress(io, terminal, 3, 0);
      expect(progress.io).toBe(io);
      progress.advance(1);
      progress.finish();
      expect(written).toEqual([]);
    }
  });
});

describe("clearance delete with and without a terminal", () => {
  async function deleteTwice(terminal: Terminal | undefined, io: CliIo) {
    const embedder = createHashingEmbedder({ dimensions: 16 });
    const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
    const runtime = {
      config: loadConfig({ CLEARANCE_OPERATOR: "operator" }),
      authorizer: await createEmbeddedAuthorizer(),
      vectorStore,
      embedder,
      chatModel: createExtractiveAnswerer(),
      async close() {},
    };
    return main(["delete", "gone-1", "gone-2", "--dry-run"], {
      io,
      ...(terminal ? { terminal } : {}),
      openRuntime: async () => runtime,
      openAuditTrail: async () => createMemoryAuditLog(),
    });
  }

  it("prints the same bytes with no terminal and with one that is not a TTY; a TTY adds only the bar", async () => {
    const plain = screen(false);
    const piped = screen(false);
    const tty = screen(true);
    expect(await deleteTwice(undefined, plain.io)).toBe(1);
    expect(await deleteTwice(piped.terminal, piped.io)).toBe(1);
    expect(await deleteTwice(tty.terminal, tty.io)).toBe(1);
    const expected = [
      "[1/2] not found gone-1: no document gone-1\n",
      "[2/2] not found gone-2: no document gone-2\n",
      "0 of 2 documents would be deleted\n",
    ];
    expect(plain.written).toEqual(expected);
    expect(piped.written).toEqual(expected);
    expect(
      tty.written.some(
        (text) => text.startsWith(CLEAR_LINE) && /^\[#{20}\.{20}\] 1\/2 /.test(text.slice(CLEAR_LINE.length)),
      ),
    ).toBe(true);
    expect(
      tty.written.filter((text) => text.startsWith(CLEAR_LINE) && text.length > CLEAR_LINE.length),
    ).toHaveLength(3);
    // The bar is cleared before the summary, which is intact and last.
    expect(tty.written.slice(-2)).toEqual([CLEAR_LINE, "0 of 2 documents would be deleted\n"]);
    expect(tty.written.filter((text) => text.endsWith("\n"))).toEqual(expected);
  });
});
