/**
 * Compiles a parsed schema into the definitions the evaluator runs, applying the same reference
 * validation as Permify's compiler (`pkg/dsl/compiler`, with reference validation on, as schema writes
 * and `permify validate` use). A schema Permify would reject is rejected here with the line and the
 * reason; a schema this evaluator could not run exactly as Permify would is rejected too.
 */
import { createHash } from "node:crypto";
import type { AttributeType } from "../core/authz-model.ts";
import { type CompiledRule, compileRule } from "./rule-engine.ts";
import {
  type EntityStatement,
  type Expression,
  type Position,
  parseSchema,
  type RuleStatement,
  schemaError,
  type TypeName,
} from "./schema-parser.ts";

/** The evaluator's tree. Binary nodes keep Permify's left-to-right grouping. */
export type PermissionNode =
  | {
      readonly op: "union" | "intersection" | "exclusion";
      readonly left: PermissionNode;
      readonly right: PermissionNode;
    }
  /** A relation or permission of the same entity. */
  | { readonly op: "computed"; readonly name: string }
  /** A boolean attribute of the same entity; missing means denied. */
  | { readonly op: "attribute"; readonly name: string }
  /** `relation.name`: `name` on every subject of `relation` (the tuple's subject relation is ignored). */
  | { readonly op: "walk"; readonly relation: string; readonly name: string }
  | { readonly op: "call"; readonly rule: string; readonly attributes: readonly string[] };

export interface RelationDefinition {
  readonly name: string;
  readonly subjects: readonly { readonly type: string; readonly relation?: string }[];
}

export type MemberKind = "relation" | "attribute" | "permission";

export interface EntityDefinition {
  readonly name: string;
  readonly members: ReadonlyMap<string, MemberKind>;
  readonly relations: ReadonlyMap<string, RelationDefinition>;
  readonly attributes: ReadonlyMap<string, AttributeType>;
  readonly permissions: ReadonlyMap<string, PermissionNode>;
}

export interface CompiledSchema {
  readonly text: string;
  /** Content-derived, so the same schema always has the same version. */
  readonly version: string;
  readonly entities: ReadonlyMap<string, EntityDefinition>;
  readonly rules: ReadonlyMap<string, CompiledRule>;
  /** Whether any entity has attributes: then lookups must also start from entities that carry them. */
  readonly readsAttributes: boolean;
}

const SCALAR_TYPES = new Set(["boolean", "string", "integer", "double"]);

export function compileSchema(text: string): CompiledSchema {
  const ast = parseSchema(text);
  const entityStatements = ast.statements.filter((s): s is EntityStatement => s.kind === "entity");
  const ruleStatements = ast.statements.filter((s): s is RuleStatement => s.kind === "rule");
  if (entityStatements.length === 0) throw schemaError({ line: 1, column: 1 }, "no entity is defined");

  const index = indexDeclarations(entityStatements, ruleStatements);
  validateRelationSubjects(entityStatements, index);

  const rules = new Map<string, CompiledRule>();
  for (const rule of ruleStatements) {
    rules.set(rule.name, compileRule(rule, index.ruleParams.get(rule.name) as Map<string, AttributeType>));
  }

  const entities = new Map<string, EntityDefinition>();
  for (const statement of entityStatements) entities.set(statement.name, compileEntity(statement, index));

  const readsAttributes = [...entities.values()].some((entity) => entity.attributes.size > 0);
  return { text, version: schemaVersionOf(text), entities, rules, readsAttributes };
}

export function schemaVersionOf(text: string): string {
  return createHash("sha256").update(text.replace(/\r\n/g, "\n").trim()).digest("hex").slice(0, 20);
}

interface DeclarationIndex {
  readonly members: Map<string, Map<string, MemberKind>>;
  readonly relations: Map<string, Map<string, RelationDefinition>>;
  readonly attributes: Map<string, Map<string, AttributeType>>;
  readonly ruleParams: Map<string, Map<string, AttributeType>>;
}

function indexDeclarations(
  entities: readonly EntityStatement[],
  rules: readonly RuleStatement[],
): DeclarationIndex {
  const index: DeclarationIndex = {
    members: new Map(),
    relations: new Map(),
    attributes: new Map(),
    ruleParams: new Map(),
  };
  const topLevel = new Set<string>();
  for (const entity of entities) {
    if (topLevel.has(entity.name)) throw schemaError(entity.at, `"${entity.name}" is defined twice`);
    topLevel.add(entity.name);
    const members = new Map<string, MemberKind>();
    const relations = new Map<string, RelationDefinition>();
    const attributes = new Map<string, AttributeType>();
    for (const member of entity.members) {
      if (members.has(member.name)) {
        throw schemaError(member.at, `"${member.name}" is defined twice in entity "${entity.name}"`);
      }
      members.set(member.name, member.kind);
      if (member.kind === "relation")
        relations.set(member.name, { name: member.name, subjects: member.subjects });
      if (member.kind === "attribute") attributes.set(member.name, attributeTypeOf(member.type));
    }
    index.members.set(entity.name, members);
    index.relations.set(entity.name, relations);
    index.attributes.set(entity.name, attributes);
  }
  for (const rule of rules) {
    if (topLevel.has(rule.name)) throw schemaError(rule.at, `"${rule.name}" is defined twice`);
    topLevel.add(rule.name);
    const params = new Map<string, AttributeType>();
    for (const param of rule.params) {
      if (params.has(param.name))
        throw schemaError(param.type.at, `parameter "${param.name}" is declared twice`);
      params.set(param.name, attributeTypeOf(param.type));
    }
    index.ruleParams.set(rule.name, params);
  }
  return index;
}

function attributeTypeOf(type: TypeName): AttributeType {
  if (!SCALAR_TYPES.has(type.name)) {
    throw schemaError(
      type.at,
      `unknown type "${type.name}" (expected boolean, string, integer or double, optionally [])`,
    );
  }
  return `${type.name}${type.isArray ? "[]" : ""}` as AttributeType;
}

/** `@type` must be an entity, and `@type#relation` a relation of it (Permify: relation reference not found). */
function validateRelationSubjects(entities: readonly EntityStatement[], index: DeclarationIndex): void {
  for (const entity of entities) {
    for (const member of entity.members) {
      if (member.kind !== "relation") continue;
      for (const subject of member.subjects) {
        if (!index.members.has(subject.type)) {
          throw schemaError(
            subject.at,
            `relation "${member.name}" refers to undefined entity "${subject.type}"`,
          );
        }
        if (subject.relation !== undefined && !index.relations.get(subject.type)?.has(subject.relation)) {
          throw schemaError(
            subject.at,
            `relation "${member.name}" refers to "${subject.type}#${subject.relation}", which is not a relation of "${subject.type}"`,
          );
        }
      }
    }
  }
}

function compileEntity(statement: EntityStatement, index: DeclarationIndex): EntityDefinition {
  const permissions = new Map<string, PermissionNode>();
  for (const member of statement.members) {
    if (member.kind === "permission") {
      permissions.set(member.name, compileExpression(statement.name, member.expression, index));
    }
  }
  return {
    name: statement.name,
    members: index.members.get(statement.name) as Map<string, MemberKind>,
    relations: index.relations.get(statement.name) as Map<string, RelationDefinition>,
    attributes: index.attributes.get(statement.name) as Map<string, AttributeType>,
    permissions,
  };
}

function compileExpression(entity: string, expression: Expression, index: DeclarationIndex): PermissionNode {
  switch (expression.kind) {
    case "or":
    case "and":
    case "not":
      return {
        op: expression.kind === "or" ? "union" : expression.kind === "and" ? "intersection" : "exclusion",
        left: compileExpression(entity, expression.left, index),
        right: compileExpression(entity, expression.right, index),
      };
    case "reference":
      return compileReference(entity, expression.path, expression.at, index);
    case "call":
      return compileCall(entity, expression, index);
  }
}

function compileReference(
  entity: string,
  path: readonly string[],
  at: Position,
  index: DeclarationIndex,
): PermissionNode {
  const members = index.members.get(entity) as Map<string, MemberKind>;
  const [first, second] = path as [string, string | undefined];
  if (path.length > 2) {
    throw schemaError(
      at,
      `"${path.join(".")}": walks of more than one relation are not supported by Permify`,
    );
  }
  if (second === undefined) {
    const kind = members.get(first);
    if (kind === undefined) throw schemaError(at, `"${first}" is not defined in entity "${entity}"`);
    if (kind === "attribute") {
      if (index.attributes.get(entity)?.get(first) !== "boolean") {
        throw schemaError(at, `attribute "${first}" is not boolean; use it through a rule`);
      }
      return { op: "attribute", name: first };
    }
    return { op: "computed", name: first };
  }
  validateWalk(entity, first, second, at, index);
  return { op: "walk", relation: first, name: second };
}

/**
 * As Permify's `validateTupleToUserSetReference`: `rel` is a relation of this entity, and `name` is a
 * relation or permission (never an attribute) on every type `rel` can point to, following `@T#r` types.
 */
function validateWalk(
  entity: string,
  relation: string,
  name: string,
  at: Position,
  index: DeclarationIndex,
): void {
  const start = index.relations.get(entity)?.get(relation);
  if (!start)
    throw schemaError(at, `"${relation}.${name}": "${relation}" is not a relation of entity "${entity}"`);
  const pending = [...start.subjects];
  const visited = new Set<string>();
  while (pending.length > 0) {
    const subject = pending.pop() as { type: string; relation?: string };
    const key = `${subject.type}#${subject.relation ?? ""}`;
    if (visited.has(key)) continue;
    visited.add(key);
    if (subject.relation === undefined) {
      const kind = index.members.get(subject.type)?.get(name);
      if (kind === undefined || kind === "attribute") {
        throw schemaError(
          at,
          `"${relation}.${name}": "${name}" is not a relation or permission of "${subject.type}"`,
        );
      }
    } else {
      const next = index.relations.get(subject.type)?.get(subject.relation);
      if (!next)
        throw schemaError(
          at,
          `"${relation}.${name}": "${subject.type}#${subject.relation}" is not a relation`,
        );
      pending.push(...next.subjects);
    }
  }
}

function compileCall(
  entity: string,
  call: Extract<Expression, { kind: "call" }>,
  index: DeclarationIndex,
): PermissionNode {
  const params = index.ruleParams.get(call.rule);
  if (!params) throw schemaError(call.at, `rule "${call.rule}" is not defined`);
  if (call.args.length === 0 || call.args.length !== params.size) {
    throw schemaError(
      call.at,
      `rule "${call.rule}" takes ${params.size} argument(s), got ${call.args.length}`,
    );
  }
  const attributes: string[] = [];
  for (const arg of call.args) {
    if (arg.path.length !== 1) {
      throw schemaError(
        arg.at,
        `rule arguments must be attributes of "${entity}", not walks ("${arg.path.join(".")}")`,
      );
    }
    const name = arg.path[0] as string;
    const attributeType = index.attributes.get(entity)?.get(name);
    if (attributeType === undefined)
      throw schemaError(call.at, `"${name}" is not an attribute of entity "${entity}"`);
    const paramType = params.get(name);
    if (paramType === undefined) {
      throw schemaError(
        arg.at,
        `rule "${call.rule}" has no parameter named "${name}" (Permify binds arguments by name)`,
      );
    }
    if (paramType !== attributeType) {
      throw schemaError(
        arg.at,
        `attribute "${name}" is ${attributeType} but rule "${call.rule}" expects ${paramType}`,
      );
    }
    attributes.push(name);
  }
  return { op: "call", rule: call.rule, attributes };
}
