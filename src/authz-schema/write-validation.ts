/**
 * Write-time checks, as Permify's `internal/validation`: the relation exists on the entity, the subject's
 * type (and `#relation`) is one the relation allows, an entity is never its own subject, the attribute
 * exists with the value's type, and every name and id follows Permify's patterns.
 */
import { type Attribute, isValidId, isValidName, type Tuple, wildcardProblem } from "../core/authz-model.ts";
import { AppError } from "../core/errors.ts";
import { formatAttribute, formatTuple } from "../core/permify-notation.ts";
import type { CompiledSchema } from "./schema-compiler.ts";

export function validateTuple(schema: CompiledSchema, tuple: Tuple): void {
  const text = () => formatTuple(tuple);
  const fail = (why: string) => new AppError("DATA_INVALID", `relationship ${text()}: ${why}`);
  const { entity, relation, subject } = tuple;
  for (const name of [entity.type, relation, subject.type, ...(subject.relation ? [subject.relation] : [])]) {
    if (!isValidName(name)) throw fail(`"${name}" is not a valid name (letters and _ only, at most 64)`);
  }
  for (const id of [entity.id, subject.id]) {
    if (!isValidId(id)) throw fail(`"${id}" is not a valid id (A-Z a-z 0-9 _ - @ . : + only, at most 128)`);
  }
  const wildcard = wildcardProblem(tuple);
  if (wildcard) throw fail(wildcard);
  const definition = schema.entities.get(entity.type);
  if (!definition) throw fail(`entity type "${entity.type}" is not defined in the schema`);
  const relationDefinition = definition.relations.get(relation);
  if (!relationDefinition) throw fail(`"${relation}" is not a relation of "${entity.type}"`);
  const subjectRelation = subject.relation ?? "";
  const fits = relationDefinition.subjects.some(
    (allowed) => allowed.type === subject.type && (allowed.relation ?? "") === subjectRelation,
  );
  if (!fits) {
    const allowed = relationDefinition.subjects
      .map((s) => `@${s.type}${s.relation ? `#${s.relation}` : ""}`)
      .join(" ");
    throw fail(
      `subject ${subject.type}${subjectRelation ? `#${subjectRelation}` : ""} is not allowed (allowed: ${allowed})`,
    );
  }
  if (entity.type === subject.type && entity.id === subject.id && relation === subjectRelation) {
    throw fail("an entity cannot be its own subject");
  }
}

export function validateAttribute(schema: CompiledSchema, attribute: Attribute): void {
  const fail = (why: string) =>
    new AppError("DATA_INVALID", `attribute ${formatAttribute(attribute)}: ${why}`);
  if (!isValidName(attribute.entity.type) || !isValidName(attribute.attribute))
    throw fail("not a valid name");
  if (!isValidId(attribute.entity.id)) throw fail(`"${attribute.entity.id}" is not a valid id`);
  const definition = schema.entities.get(attribute.entity.type);
  if (!definition) throw fail(`entity type "${attribute.entity.type}" is not defined in the schema`);
  const type = definition.attributes.get(attribute.attribute);
  if (!type) throw fail(`"${attribute.attribute}" is not an attribute of "${attribute.entity.type}"`);
  if (type !== attribute.value.type) throw fail(`expected a ${type} value, got ${attribute.value.type}`);
}
