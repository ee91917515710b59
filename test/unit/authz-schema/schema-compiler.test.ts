import { describe, expect, it } from "vitest";
import { compileSchema } from "../../../src/authz-schema/schema-compiler.ts";
import { isAppError } from "../../../src/core/errors.ts";

function compileError(schema: string): { code: string; message: string } {
  try {
    compileSchema(schema);
  } catch (error) {
    if (isAppError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected the schema to be rejected");
}

describe("schema compiler", () => {
  it("compiles relations, attributes, permissions, walks and rules", () => {
    const schema = compileSchema(`
      entity user {}
      /* teams */
      entity team { relation member @user @team#member }
      entity document {
        relation owner @user
        relation team @team
        attribute public boolean
        attribute tags string[]
        permission view = owner or team.member or public or has_tag(tags) // trailing comment
        action edit = owner
      }
      rule has_tag(tags string[]) {
        'faq' in tags
      }
    `);
    const document = schema.entities.get("document");
    expect(document?.members.get("view")).toBe("permission");
    expect(document?.members.get("edit")).toBe("permission");
    expect(document?.attributes.get("tags")).toBe("string[]");
    expect(schema.rules.get("has_tag")?.params.get("tags")).toBe("string[]");
    expect(schema.version).toMatch(/^[0-9a-f]{20}$/);
  });

  it("groups and/or/not left to right with one precedence, as Permify does", () => {
    const schema = compileSchema(`entity user {}
entity doc {
  relation a @user
  relation b @user
  relation c @user
  permission p = a or b and c
  permission q = a or (b and c)
  permission r = a not b
}`);
    const doc = schema.entities.get("doc");
    expect(doc?.permissions.get("p")).toEqual({
      op: "intersection",
      left: { op: "union", left: { op: "computed", name: "a" }, right: { op: "computed", name: "b" } },
      right: { op: "computed", name: "c" },
    });
    expect(doc?.permissions.get("q")).toEqual({
      op: "union",
      left: { op: "computed", name: "a" },
      right: {
        op: "intersection",
        left: { op: "computed", name: "b" },
        right: { op: "computed", name: "c" },
      },
    });
    expect(doc?.permissions.get("r")?.op).toBe("exclusion");
  });

  it("lets an expression continue after an operator, ( or =, and nowhere else", () => {
    expect(() =>
      compileSchema(
        "entity user {}\nentity doc {\n relation a @user\n relation b @user\n permission p =\n  a or\n  (b and\n a)\n}",
      ),
    ).not.toThrow();
    const error = compileError(
      "entity user {}\nentity doc {\n relation a @user\n relation b @user\n permission p = a\n or b\n}",
    );
    expect(error.code).toBe("SCHEMA_INVALID");
    expect(error.message).toContain("line 6");
  });

  it.each([
    ["a syntax error", "entity user {}\nentity doc {\n  relation owner user\n}", "line 3"],
    ["an unclosed entity", "entity user {}\nentity doc {\n  relation owner @user\n", "line 4"],
    [
      "an undefined relation in a permission",
      "entity user {}\nentity doc {\n  relation owner @user\n  permission view = viewer\n}",
      "line 4",
    ],
    ["an unknown subject type", "entity user {}\nentity doc {\n  relation owner @person\n}", "line 3"],
    [
      "a subject relation that does not exist",
      "entity user {}\nentity team {}\nentity doc {\n  relation owner @team#member\n}",
      "line 4",
    ],
    ["a digit in a name", "entity user {}\nentity doc2 {}", "line 2"],
    ["prefix not", "entity user {}\nentity doc {\n  relation a @user\n  permission p = not a\n}", "line 4"],
    [
      "a non-boolean attribute as a leaf",
      "entity user {}\nentity doc {\n  attribute level integer\n  permission p = level\n}",
      "line 4",
    ],
    [
      "a walk through an attribute",
      "entity user {}\nentity doc {\n  relation owner @user\n  permission p = owner.name\n}",
      "line 4",
    ],
    [
      "a walk of three segments",
      "entity user {}\nentity doc {\n  relation parent @doc\n  permission p = parent.parent.parent\n}",
      "line 4",
    ],
    [
      "a duplicate relation",
      "entity user {}\nentity doc {\n  relation a @user\n  relation a @user\n}",
      "line 4",
    ],
    ["a duplicate entity", "entity user {}\nentity user {}", "line 2"],
    ["an unknown attribute type", "entity user {}\nentity doc {\n  attribute when date\n}", "line 3"],
    [
      "an undefined rule",
      "entity user {}\nentity doc {\n  attribute x integer\n  permission p = missing(x)\n}",
      "line 4",
    ],
    [
      "a rule argument that is not a parameter name",
      "entity user {}\nentity doc {\n  attribute x integer\n  permission p = r(x)\n}\nrule r(y integer) {\n  y > 1\n}",
      "line 4",
    ],
    [
      "a rule argument of the wrong type",
      "entity user {}\nentity doc {\n  attribute x string\n  permission p = r(x)\n}\nrule r(x integer) {\n  x > 1\n}",
      "line 4",
    ],
    ["a rule that is not CEL", "entity user {}\nrule r(x integer) {\n  x >>> 1\n}", "line 2"],
    ["a rule that is not boolean", "entity user {}\nrule r(x integer) {\n  x + 1\n}", "line 2"],
    ["a rule reading an undeclared name", "entity user {}\nrule r(x integer) {\n  x > limit\n}", "line 2"],
    ["an unclosed comment", "entity user {}\n/* oops\nentity doc {}", "line 2"],
    ["no entity at all", "// nothing here\n", "line 1"],
  ])("refuses %s, naming the line", (_name, schema, line) => {
    const error = compileError(schema);
    expect(error.code).toBe("SCHEMA_INVALID");
    expect(error.message).toContain(line);
  });
});
