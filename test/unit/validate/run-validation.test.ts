import { describe, expect, it } from "vitest";
import { runValidation } from "../../../src/validate/run-validation.ts";
import type { ValidationFile } from "../../../src/validate/validation-file.ts";
import { createTableAuthorizer } from "../../helpers/table-authorizer.ts";

function file(overrides: Partial<ValidationFile>): ValidationFile {
  return {
    path: "v.yaml",
    schema: "entity user {}",
    relationships: [],
    attributes: [],
    scenarios: [],
    ...overrides,
  };
}

const scenario = { name: "s", description: "", checks: [], entityFilters: [], subjectFilters: [] };

describe("runValidation", () => {
  it("writes the schema, then all relationships and attributes in one write", async () => {
    const authorizer = createTableAuthorizer();
    const run = await runValidation(
      file({
        relationships: ["doc:1#view@user:1", "doc:2#view@team:1#member"],
        attributes: ["doc:1$public|boolean:true"],
      }),
      authorizer,
    );
    expect(run).toEqual({ assertions: [], passed: 0, failed: 0, ok: true });
    expect(authorizer.calls.schemas).toEqual(["entity user {}"]);
    expect(authorizer.calls.writes).toHaveLength(1);
    expect(authorizer.calls.writes[0]?.tuples).toHaveLength(2);
    expect(authorizer.calls.writes[0]?.attributes).toEqual([
      { entity: { type: "doc", id: "1" }, attribute: "public", value: { type: "boolean", value: true } },
    ]);
  });

  it("counts one assertion per permission key of a check, as Permify does", async () => {
    const run = await runValidation(
      file({
        relationships: ["doc:1#view@user:1"],
        scenarios: [
          {
            ...scenario,
            checks: [
              {
                entity: "doc:1",
                subject: "user:1",
                assertions: [
                  { permission: "view", expected: true },
                  { permission: "edit", expected: false },
                  { permission: "view", expected: false },
                ],
              },
            ],
          },
        ],
      }),
      createTableAuthorizer(),
    );
    expect(run.assertions).toEqual([
      {
        scenario: "s",
        scenarioIndex: 0,
        kind: "check",
        description: "user:1 view doc:1",
        expected: "true",
        actual: "true",
        passed: true,
      },
      expect.objectContaining({
        description: "user:1 edit doc:1",
        expected: "false",
        actual: "false",
        passed: true,
      }),
      expect.objectContaining({
        description: "user:1 view doc:1",
        expected: "false",
        actual: "true",
        passed: false,
      }),
    ]);
    expect(run).toMatchObject({ passed: 2, failed: 1, ok: false });
  });

  it("passes the check's context to the authorizer", async () => {
    const authorizer = createTableAuthorizer();
    const run = await runValidation(
      file({
        scenarios: [
          {
            ...scenario,
            checks: [
              {
                entity: "doc:1",
                subject: "user:1",
                context: { tuples: ["doc:1#view@user:1"], attributes: [], data: { amount: 3 } },
                assertions: [{ permission: "view", expected: true }],
              },
            ],
          },
        ],
      }),
      authorizer,
    );
    expect(run.ok).toBe(true);
    expect(authorizer.calls.checks[0]?.context).toEqual({
      tuples: [{ entity: { type: "doc", id: "1" }, relation: "view", subject: { type: "user", id: "1" } }],
      attributes: [],
      data: { amount: 3 },
    });
  });

  it("fails an assertion whose check throws, with the code as its actual value", async () => {
    const run = await runValidation(
      file({
        scenarios: [
          {
            ...scenario,
            checks: [
              { entity: "doc:1", subject: "user:1", assertions: [{ permission: "deep", expected: false }] },
            ],
          },
        ],
      }),
      createTableAuthorizer({ failing: { deep: "DEPTH_EXCEEDED" } }),
    );
    expect(run.assertions).toEqual([
      expect.objectContaining({
        expected: "false",
        actual: "error: DEPTH_EXCEEDED",
        passed: false,
        error: { code: "DEPTH_EXCEEDED", message: "deep fails on purpose" },
      }),
    ]);
  });

  it("fails every assertion of a check whose entity, subject or context does not parse", async () => {
    const run = await runValidation(
      file({
        scenarios: [
          {
            ...scenario,
            checks: [
              {
                entity: "doc 1",
                subject: "user:1",
                assertions: [
                  { permission: "view", expected: false },
                  { permission: "edit", expected: false },
                ],
              },
              {
                entity: "doc:1",
                subject: "user:1",
                context: { tuples: ["doc:1#view"], attributes: [] },
                assertions: [{ permission: "view", expected: false }],
              },
            ],
          },
        ],
      }),
      createTableAuthorizer(),
    );
    expect(run.assertions.map((assertion) => [assertion.description, assertion.actual])).toEqual([
      ["user:1 view doc 1", "error: DATA_INVALID"],
      ["user:1 edit doc 1", "error: DATA_INVALID"],
      ["user:1 view doc:1", "error: DATA_INVALID"],
    ]);
    expect(run.assertions[2]?.error?.message).toContain('"doc:1#view"');
    expect(run.failed).toBe(3);
  });

  it("compares entity filters as sets, following every page", async () => {
    const run = await runValidation(
      file({
        relationships: ["doc:3#view@user:1", "doc:1#view@user:1", "doc:2#view@user:1", "doc:9#view@user:2"],
        scenarios: [
          {
            ...scenario,
            entityFilters: [
              {
                entityType: "doc",
                subject: "user:1",
                assertions: [
                  { permission: "view", expected: ["2", "3", "1"] },
                  { permission: "edit", expected: [] },
                  { permission: "view", expected: ["1", "2"] },
                ],
              },
            ],
          },
        ],
      }),
      createTableAuthorizer({ pageSize: 1 }),
    );
    expect(run.assertions.map((a) => [a.kind, a.description, a.expected, a.actual, a.passed])).toEqual([
      ["entity_filter", "user:1 view doc", "[1, 2, 3]", "[1, 2, 3]", true],
      ["entity_filter", "user:1 edit doc", "[]", "[]", true],
      ["entity_filter", "user:1 view doc", "[1, 2]", "[1, 2, 3]", false],
    ]);
  });

  it("looks up subjects by type and optional relation for subject filters", async () => {
    const run = await runValidation(
      file({
        relationships: [
          "doc:1#view@user:2",
          "doc:1#view@user:1",
          "doc:1#view@team:1#member",
          "doc:1#view@team:2",
        ],
        scenarios: [
          {
            ...scenario,
            subjectFilters: [
              {
                subjectReference: "user",
                entity: "doc:1",
                assertions: [{ permission: "view", expected: ["1", "2"] }],
              },
              {
                subjectReference: "team#member",
                entity: "doc:1",
                assertions: [{ permission: "view", expected: ["1"] }],
              },
              {
                subjectReference: "team#",
                entity: "doc:1",
                assertions: [{ permission: "view", expected: ["2"] }],
              },
              {
                subjectReference: "a#b#c",
                entity: "doc:1",
                assertions: [{ permission: "view", expected: [] }],
              },
            ],
          },
        ],
      }),
      createTableAuthorizer(),
    );
    expect(run.assertions.map((a) => [a.kind, a.description, a.actual, a.passed])).toEqual([
      ["subject_filter", "doc:1 view user", "[1, 2]", true],
      ["subject_filter", "doc:1 view team#member", "[1]", true],
      ["subject_filter", "doc:1 view team#", "[2]", true],
      ["subject_filter", "doc:1 view a#b#c", "error: DATA_INVALID", false],
    ]);
  });

  it("stops before any assertion when the schema is rejected", async () => {
    const authorizer = createTableAuthorizer();
    const run = await runValidation(
      file({ schema: "syntax error", relationships: ["doc:1#view@user:1"] }),
      authorizer,
    );
    expect(run).toEqual({
      setupError: { stage: "schema", code: "SCHEMA_INVALID", message: "1:1: syntax error" },
      assertions: [],
      passed: 0,
      failed: 0,
      ok: false,
    });
    expect(authorizer.calls.writes).toEqual([]);
  });

  it("reports every relationship that does not parse, quoting it, and writes nothing", async () => {
    const authorizer = createTableAuthorizer();
    const run = await runValidation(
      file({ relationships: ["doc:1#view@user:1", "doc:1#view", "doc:1#v iew@user:1"] }),
      authorizer,
    );
    expect(run.setupError?.stage).toBe("relationships");
    expect(run.setupError?.code).toBe("DATA_INVALID");
    expect(run.setupError?.message).toContain(
      '[1] invalid tuple, expected entity:id#relation@subject:id: "doc:1#view"',
    );
    expect(run.setupError?.message).toContain('[2] invalid tuple relation: "doc:1#v iew@user:1"');
    expect(authorizer.calls.writes).toEqual([]);
  });

  it("reports an attribute that does not parse", async () => {
    const run = await runValidation(
      file({ attributes: ["doc:1$public|boolean:maybe"] }),
      createTableAuthorizer(),
    );
    expect(run.setupError).toMatchObject({ stage: "attributes", code: "DATA_INVALID" });
    expect(run.setupError?.message).toContain('"doc:1$public|boolean:maybe"');
  });

  it("reports data the authorizer refuses", async () => {
    const run = await runValidation(
      file({ relationships: ["unknown:1#view@user:1"] }),
      createTableAuthorizer(),
    );
    expect(run.setupError).toMatchObject({ stage: "data", code: "DATA_INVALID" });
  });
});
