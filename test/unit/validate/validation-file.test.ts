import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadValidationFile, parseValidationText } from "../../../src/validate/validation-file.ts";
import { expectAppError, expectThrownAppError } from "../../helpers/errors.ts";
import { useTempDir } from "../../helpers/temp-dir.ts";

const tmp = useTempDir("clearance-validation-file-");
const write = tmp.write;

/** The loader's error, so a test can look at its code and at what it names. */
async function loadError(file: string, options?: Parameters<typeof loadValidationFile>[1]): Promise<Error> {
  return expectAppError(loadValidationFile(file, options), "BAD_REQUEST");
}

const schema = "schema: |-\n  entity user {}\n  entity doc {\n    relation viewer @user\n  }\n";

describe("parseValidationText", () => {
  it("treats null or absent relationships, attributes and scenarios as empty", () => {
    const parsed = parseValidationText(`${schema}relationships:\nattributes:\nscenarios:\n`, "f.yaml");
    expect(parsed).toEqual({
      schema: "entity user {}\nentity doc {\n  relation viewer @user\n}",
      relationships: [],
      attributes: [],
      scenarios: [],
    });
    expect(parseValidationText(schema, "f.yaml").scenarios).toEqual([]);
  });

  it("reads checks with their context, and a null assertion as false like Go's zero bool", () => {
    const parsed = parseValidationText(
      `${schema}
relationships:
  - doc:1#viewer@user:1
attributes:
  - doc:1$public|boolean:true
scenarios:
  - name: first
    description: the one
    checks:
      - entity: doc:1
        subject: user:1
        context: null
        assertions:
          view: true
          edit: false
          checks:
      - entity: "doc:2"
        subject: "team:1#member"
        context:
          tuples: ["doc:2#viewer@team:1#member"]
          attributes: ["doc:2$public|boolean:false"]
          data:
            amount: 3000
            region: eu
        assertions:
          view: yes
`,
      "f.yaml",
    );
    expect(parsed.relationships).toEqual(["doc:1#viewer@user:1"]);
    expect(parsed.attributes).toEqual(["doc:1$public|boolean:true"]);
    const [scenario] = parsed.scenarios;
    expect(scenario?.name).toBe("first");
    expect(scenario?.description).toBe("the one");
    expect(scenario?.checks).toEqual([
      {
        entity: "doc:1",
        subject: "user:1",
        assertions: [
          { permission: "view", expected: true },
          { permission: "edit", expected: false },
          { permission: "checks", expected: false },
        ],
      },
      {
        entity: "doc:2",
        subject: "team:1#member",
        context: {
          tuples: ["doc:2#viewer@team:1#member"],
          attributes: ["doc:2$public|boolean:false"],
          data: { amount: 3000, region: "eu" },
        },
        assertions: [{ permission: "view", expected: true }],
      },
    ]);
  });

  it("keeps an empty context (no tuples, attributes or data) as an empty context", () => {
    const parsed = parseValidationText(
      `${schema}scenarios:\n  - name: s\n    checks:\n      - entity: doc:1\n        subject: user:1\n        context:\n          tuples: []\n          attributes:\n        assertions:\n          view: false\n`,
      "f.yaml",
    );
    expect(parsed.scenarios[0]?.checks[0]?.context).toEqual({ tuples: [], attributes: [] });
  });

  it("reads entity and subject filters, ids as written (numbers keep their source text)", () => {
    const parsed = parseValidationText(
      `${schema}
scenarios:
  - name: filters
    entity_filters:
      - entity_type: doc
        subject: user:1
        context:
          data: { amount: 10 }
        assertions:
          view: [1, "2", 007]
          edit:
    subject_filters:
      - subject_reference: team#member
        entity: doc:1
        assertions:
          view: ["1"]
    checks: []
`,
      "f.yaml",
    );
    const [scenario] = parsed.scenarios;
    expect(scenario?.checks).toEqual([]);
    expect(scenario?.entityFilters).toEqual([
      {
        entityType: "doc",
        subject: "user:1",
        context: { tuples: [], attributes: [], data: { amount: 10 } },
        assertions: [
          { permission: "view", expected: ["1", "2", "007"] },
          { permission: "edit", expected: [] },
        ],
      },
    ]);
    expect(scenario?.subjectFilters).toEqual([
      {
        subjectReference: "team#member",
        entity: "doc:1",
        assertions: [{ permission: "view", expected: ["1"] }],
      },
    ]);
  });

  it("ignores keys it does not know, as Permify's decoder does", () => {
    const parsed = parseValidationText(`tenant_id: t1\n${schema}extra: 1\n`, "f.yaml");
    expect(parsed.relationships).toEqual([]);
  });

  it.each([
    ["not YAML", "schema: [unclosed\n", /bad\.yaml: not valid YAML/],
    ["a list at the top", "- a\n- b\n", /bad\.yaml: \(top level\): expected a mapping/],
    ["no schema", "relationships: []\n", /bad\.yaml: schema: expected a schema/],
    ["scenarios that are not a list", `${schema}scenarios: {}\n`, /bad\.yaml: scenarios: expected a list/],
    [
      "a check without an entity",
      `${schema}scenarios:\n  - checks:\n      - subject: user:1\n        assertions: { view: true }\n`,
      /bad\.yaml: scenarios\[0\]\.checks\[0\]\.entity: expected an entity/,
    ],
    [
      "an assertion that is not a boolean",
      `${schema}scenarios:\n  - checks:\n      - entity: doc:1\n        subject: user:1\n        assertions: { view: maybe }\n`,
      /bad\.yaml: scenarios\[0\]\.checks\[0\]\.assertions\.view: expected true or false, got "maybe"/,
    ],
    [
      "filter assertions that are not lists",
      `${schema}scenarios:\n  - entity_filters:\n      - entity_type: doc\n        subject: user:1\n        assertions: { view: true }\n`,
      /bad\.yaml: scenarios\[0\]\.entity_filters\[0\]\.assertions\.view: expected a list/,
    ],
    [
      "a relationship that is a mapping",
      `${schema}relationships:\n  - a: b\n`,
      /bad\.yaml: relationships\[0\]/,
    ],
    ["a duplicate key", `${schema}relationships: []\nrelationships: []\n`, /bad\.yaml: not valid YAML/],
  ])("rejects %s, naming the file and the place", (_label, text, message) => {
    const error = expectThrownAppError(() => parseValidationText(text, "bad.yaml"), "BAD_REQUEST");
    expect(error.message).toMatch(message);
  });
});

describe("loadValidationFile", () => {
  it("reads an inline schema as written", async () => {
    const file = await write("inline.yaml", `${schema}relationships: []\n`);
    const loaded = await loadValidationFile(file);
    expect(loaded.path).toBe(file);
    expect(loaded.schema).toContain("relation viewer @user");
    expect(loaded.schemaPath).toBeUndefined();
  });

  it("resolves a schema path against the file's directory, not the working directory", async () => {
    await write("nested/schemas/app.perm", "entity user {}\n");
    const file = await write("nested/v.yaml", "schema: schemas/app.perm\n");
    const loaded = await loadValidationFile(file);
    expect(loaded.schema).toBe("entity user {}\n");
    expect(loaded.schemaPath).toBe(path.join(tmp.path, "nested/schemas/app.perm"));
  });

  it("reads a one-line schema value that names an existing file, whatever its extension", async () => {
    await write("schema.txt", "entity user {}\n");
    const loaded = await loadValidationFile(await write("v.yaml", "schema: schema.txt\n"));
    expect(loaded.schemaPath).toBe(path.join(tmp.path, "schema.txt"));
  });

  it("keeps a one-line schema that names no file inline", async () => {
    const loaded = await loadValidationFile(await write("v.yaml", "schema: entity user {}\n"));
    expect(loaded.schema).toBe("entity user {}");
    expect(loaded.schemaPath).toBeUndefined();
  });

  it("lets the caller map a schema path (as the conformance files need)", async () => {
    await write("elsewhere.perm", "entity user {}\n");
    const file = await write("v.yaml", "schema: tests/schemas/app.perm\n");
    const loaded = await loadValidationFile(file, {
      resolveSchemaPath: (reference, directory) =>
        reference === "tests/schemas/app.perm" ? path.join(directory, "elsewhere.perm") : reference,
    });
    expect(loaded.schemaPath).toBe(path.join(tmp.path, "elsewhere.perm"));
  });

  it("rejects a .perm path that does not exist, naming the file and the path", async () => {
    const file = await write("v.yaml", "schema: missing/app.perm\n");
    const error = await loadError(file);
    expect(error.message).toContain(file);
    expect(error.message).toContain("missing/app.perm");
    expect(error.message).toContain("not found");
  });

  it("rejects a schema URL instead of fetching it", async () => {
    const error = await loadError(await write("v.yaml", "schema: https://example.com/app.perm\n"));
    expect(error.message).toContain("URLs are not supported");
  });

  it("rejects a file it cannot read, naming it", async () => {
    const missing = path.join(tmp.path, "nope.yaml");
    const error = await loadError(missing);
    expect(error.message).toBe(`${missing}: cannot read the file (no such file)`);
    expect((await loadError(tmp.path)).message).toContain("it is a directory");
  });

  it("names the file when its content is wrong", async () => {
    const file = await write("v.yaml", "relationships: []\n");
    expect((await loadError(file)).message).toMatch(new RegExp(`^${escapeRegExp(file)}: schema: `));
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
