import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../../src/main.ts";
import { captureIo } from "../../helpers/cli-io.ts";
import { createTableAuthorizer, type TableAuthorizer } from "../../helpers/table-authorizer.ts";
import { useTempDir } from "../../helpers/temp-dir.ts";

const tmp = useTempDir("clearance-validate-cli-");
const write = tmp.write;

const documentFile = (userOneMayView: boolean) => `schema: |-
  entity user {}
  entity document {
    relation viewer @user
    permission view = viewer
  }
relationships:
  - document:1#viewer@user:1
attributes:
scenarios:
  - name: viewers
    checks:
      - entity: document:1
        subject: user:1
        context: null
        assertions:
          view: ${userOneMayView}
      - entity: document:1
        subject: user:2
        assertions:
          view: false
    entity_filters:
      - entity_type: document
        subject: user:1
        assertions:
          view: ["1"]
    subject_filters:
      - subject_reference: user
        entity: document:1
        assertions:
          view: ["1"]
`;

describe("clearance (dispatch)", () => {
  it("prints usage and exits 2 without a command", async () => {
    const io = captureIo();
    expect(await main([], { io })).toBe(2);
    expect(io.err[0]).toBe("usage: clearance <command> [options]");
    expect(io.err.join("\n")).toContain("validate <file.yaml> [--authorizer embedded|permify] [--depth N]");
  });

  it("names an unknown command, prints usage and exits 2", async () => {
    const io = captureIo();
    expect(await main(["frobnicate"], { io })).toBe(2);
    expect(io.err[0]).toBe('clearance: unknown command "frobnicate"');
    expect(io.err).toContain("usage: clearance <command> [options]");
    expect(io.out).toEqual([]);
  });

  it("prints usage on stdout for help", async () => {
    const io = captureIo();
    expect(await main(["help"], { io })).toBe(0);
    expect(io.out[0]).toBe("usage: clearance <command> [options]");
  });
});

describe("clearance validate", () => {
  it("passes a file whose assertions all hold (embedded evaluator)", async () => {
    const io = captureIo();
    const code = await main(["validate", await write("ok.yaml", documentFile(true))], { io });
    expect(io.err).toEqual([]);
    expect(io.out).toEqual([
      "PASS  viewers :: user:1 view document:1  expected true, got true",
      "PASS  viewers :: user:2 view document:1  expected false, got false",
      "PASS  viewers :: user:1 view document  expected [1], got [1]",
      "PASS  viewers :: document:1 view user  expected [1], got [1]",
      "4 passed, 0 failed",
    ]);
    expect(code).toBe(0);
  });

  it("fails a file with a wrong assertion and exits 1 (embedded evaluator)", async () => {
    const io = captureIo();
    const code = await main(["validate", await write("bad.yaml", documentFile(false)), "--depth", "20"], {
      io,
    });
    expect(io.out).toContain("FAIL  viewers :: user:1 view document:1  expected false, got true");
    expect(io.out.at(-1)).toBe("3 passed, 1 failed");
    expect(code).toBe(1);
  });

  it("exits 1 naming a file it cannot read", async () => {
    const io = captureIo();
    const missing = path.join(tmp.path, "missing.yaml");
    expect(await main(["validate", missing], { io })).toBe(1);
    expect(io.out).toEqual([]);
    expect(io.err).toEqual([`clearance validate: ${missing}: cannot read the file (no such file)`]);
  });

  it("exits 1 naming a file it cannot parse", async () => {
    const io = captureIo();
    const file = await write("broken.yaml", "schema: |-\n  entity user {}\nscenarios: 3\n");
    expect(await main(["validate", file], { io })).toBe(1);
    expect(io.err).toEqual([`clearance validate: ${file}: scenarios: expected a list`]);
  });

  it.each([
    [[], "missing the validation file"],
    [["a.yaml", "b.yaml"], "unexpected arguments: b.yaml"],
    [["a.yaml", "--depth", "0"], '--depth must be an integer of at least 1, got "0"'],
    [["a.yaml", "--depth", "1e3"], '--depth must be an integer of at least 1, got "1e3"'],
    [["a.yaml", "--frob"], "Unknown option '--frob'"],
    [["a.yaml", "--authorizer", "spicedb"], '--authorizer must be one of embedded, permify, got "spicedb"'],
    [
      ["a.yaml", "--authorizer", "permify", "--depth", "2"],
      '--depth must be an integer of at least 3, got "2"',
    ],
  ])("exits 2 on bad usage: %j", async (args, problem) => {
    const io = captureIo();
    expect(await main(["validate", ...args], { io })).toBe(2);
    expect(io.err[0]).toContain(problem);
    expect(io.err[1]).toBe(
      "usage: clearance validate <file.yaml> [--authorizer embedded|permify] [--depth N]",
    );
  });

  it("prints its options for --help", async () => {
    const io = captureIo();
    expect(await main(["validate", "--help"], { io })).toBe(0);
    expect(io.out[0]).toBe(
      "usage: clearance validate <file.yaml> [--authorizer embedded|permify] [--depth N]",
    );
  });

  describe("with an injected authorizer", () => {
    async function runWith(text: string, args: string[] = []) {
      const io = captureIo();
      const created: { authorizer?: TableAuthorizer; maxDepth?: number } = {};
      const code = await main(["validate", await write("v.yaml", text), ...args], {
        io,
        createAuthorizer: async ({ maxDepth }) => {
          created.maxDepth = maxDepth;
          created.authorizer = createTableAuthorizer({ failing: { deep: "DEPTH_EXCEEDED" } });
          return created.authorizer;
        },
      });
      return { code, io, ...created };
    }

    it("passes --depth to the authorizer (default 100, as permify validate) and closes it", async () => {
      const text = "schema: entity user {}\n";
      const byDefault = await runWith(text);
      expect(byDefault.maxDepth).toBe(100);
      expect(byDefault.authorizer?.calls.closed).toBe(true);
      expect(byDefault.io.out).toEqual(["0 passed, 0 failed"]);
      expect(byDefault.code).toBe(0);
      expect((await runWith(text, ["--depth", "7"])).maxDepth).toBe(7);
    });

    it("prints an assertion that errored with its code and message, numbering an unnamed scenario", async () => {
      const { code, io } = await runWith(
        "schema: entity user {}\nscenarios:\n  - checks:\n      - entity: doc:1\n        subject: user:1\n        assertions:\n          deep:\n",
      );
      expect(io.out).toEqual([
        "FAIL  scenario 1 :: user:1 deep doc:1  expected false, got error: DEPTH_EXCEEDED (deep fails on purpose)",
        "0 passed, 1 failed",
      ]);
      expect(code).toBe(1);
    });

    it("exits 1 naming the file and the stage when the data cannot be written", async () => {
      const { code, io } = await runWith("schema: entity user {}\nrelationships:\n  - doc:1#view\n");
      expect(code).toBe(1);
      expect(io.out).toEqual([]);
      expect(io.err).toHaveLength(1);
      expect(io.err[0]).toMatch(
        /^clearance validate: .*v\.yaml: relationships: DATA_INVALID: \[0\] invalid tuple/,
      );
    });
  });
});
