/**
 * The difference of permissions between two schemas, entity by entity, for a person to read before a new
 * schema is put in force: which entities, relations (with the subjects they allow), attributes and
 * permissions appear, disappear or change. Removing `and audience` from `section.view` shows as
 *
 *   entity section
 *     ~ permission view: (document.view and audience) -> document.view
 *
 * Definitions are compared as compiled, so formatting and comments make no difference.
 */
import type {
  CompiledSchema,
  EntityDefinition,
  PermissionNode,
} from "../src/authz-schema/schema-compiler.ts";

/** One line per change, grouped under `entity <name>` headers; empty when the definitions are the same. */
export function schemaDiff(before: CompiledSchema | undefined, after: CompiledSchema): string[] {
  const lines: string[] = [];
  const names = [...new Set([...(before?.entities.keys() ?? []), ...after.entities.keys()])].sort();
  for (const name of names) {
    const old = before?.entities.get(name);
    const next = after.entities.get(name);
    const oldMembers = old ? members(old) : new Map<string, string>();
    const newMembers = next ? members(next) : new Map<string, string>();
    const changes: string[] = [];
    for (const key of [...new Set([...oldMembers.keys(), ...newMembers.keys()])].sort()) {
      const was = oldMembers.get(key);
      const is = newMembers.get(key);
      if (was === is) continue;
      if (was === undefined) changes.push(`    + ${key}: ${is}`);
      else if (is === undefined) changes.push(`    - ${key}: ${was}`);
      else changes.push(`    ~ ${key}: ${was} -> ${is}`);
    }
    if (changes.length === 0) continue;
    const mark = old === undefined ? "+ " : next === undefined ? "- " : "";
    lines.push(`  ${mark}entity ${name}`, ...changes);
  }
  return lines;
}

/** `relation viewer` → `@user @team#member`, `permission view` → its expression, `attribute x` → its type. */
function members(entity: EntityDefinition): Map<string, string> {
  const result = new Map<string, string>();
  for (const [name, relation] of entity.relations) {
    result.set(
      `relation ${name}`,
      relation.subjects.map((s) => `@${s.type}${s.relation ? `#${s.relation}` : ""}`).join(" "),
    );
  }
  for (const [name, type] of entity.attributes) result.set(`attribute ${name}`, type);
  for (const [name, node] of entity.permissions) result.set(`permission ${name}`, expression(node));
  return result;
}

/** Permify's notation, with parentheses only where operators of different kinds meet. */
function expression(node: PermissionNode, parent?: PermissionNode["op"]): string {
  switch (node.op) {
    case "computed":
    case "attribute":
      return node.name;
    case "walk":
      return `${node.relation}.${node.name}`;
    case "call":
      return `${node.rule}(${node.attributes.join(", ")})`;
    default: {
      const word = node.op === "union" ? "or" : node.op === "intersection" ? "and" : "not";
      const text = `${expression(node.left, node.op)} ${word} ${expression(node.right, node.op === "exclusion" ? undefined : node.op)}`;
      return parent === undefined || parent === node.op ? text : `(${text})`;
    }
  }
}
