/**
 * Permify's string forms, as used in its validation files and in clearance's CLI and fixtures:
 *   tuple      entity:id#relation@subject:id[#relation]
 *   attribute  entity:id$name|type:value        (arrays as comma lists: string[]:a,b)
 * Parsing checks the shape and Permify's name and id rules; whether a tuple fits a schema is the
 * authorizer's concern.
 */
import {
  type Attribute,
  type AttributeType,
  type AttributeValue,
  attributeTypes,
  type Entity,
  isValidId,
  isValidName,
  type Subject,
  type Tuple,
} from "./authz-model.ts";
import { AppError } from "./errors.ts";

function invalid(text: string, why: string): AppError {
  return new AppError("DATA_INVALID", `invalid ${why}: "${text}"`);
}

/** `type:id`. The id may itself contain ':' (Permify's id pattern allows it), so split on the first. */
export function parseEntity(text: string): Entity {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(":");
  if (colon <= 0) throw invalid(text, "entity, expected type:id");
  const entity = { type: trimmed.slice(0, colon), id: trimmed.slice(colon + 1) };
  assertEntity(entity, text);
  return entity;
}

/** `type:id` or `type:id#relation` (a userset subject). `...` means no relation, as in Permify. */
export function parseSubject(text: string): Subject {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  if (hash < 0) return parseEntity(trimmed);
  const entity = parseEntity(trimmed.slice(0, hash));
  const relation = trimmed.slice(hash + 1);
  if (relation === "..." || relation === "") return entity;
  if (!isValidName(relation)) throw invalid(text, "subject relation");
  return { ...entity, relation };
}

export function parseTuple(text: string): Tuple {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  if (hash < 0) throw invalid(text, "tuple, expected entity:id#relation@subject:id");
  const at = trimmed.indexOf("@", hash);
  if (at < 0) throw invalid(text, "tuple, expected entity:id#relation@subject:id");
  const entity = parseEntity(trimmed.slice(0, hash));
  const relation = trimmed.slice(hash + 1, at);
  if (!isValidName(relation)) throw invalid(text, "tuple relation");
  return { entity, relation, subject: parseSubject(trimmed.slice(at + 1)) };
}

export function parseAttribute(text: string): Attribute {
  const trimmed = text.trim();
  const bar = trimmed.indexOf("|");
  const dollar = trimmed.indexOf("$");
  if (bar < 0 || dollar < 0 || dollar > bar)
    throw invalid(text, "attribute, expected entity:id$name|type:value");
  const entity = parseEntity(trimmed.slice(0, dollar));
  const attribute = trimmed.slice(dollar + 1, bar);
  if (!isValidName(attribute)) throw invalid(text, "attribute name");
  const typed = trimmed.slice(bar + 1);
  const colon = typed.indexOf(":");
  if (colon <= 0) throw invalid(text, "attribute value, expected type:value");
  return {
    entity,
    attribute,
    value: parseAttributeValue(typed.slice(0, colon), typed.slice(colon + 1), text),
  };
}

function parseAttributeValue(type: string, raw: string, text: string): AttributeValue {
  if (!(attributeTypes as readonly string[]).includes(type)) throw invalid(text, `attribute type "${type}"`);
  if (raw === "") throw invalid(text, "attribute value (empty)");
  const items = raw.split(",");
  const bool = (s: string): boolean => {
    // Go's strconv.ParseBool, which Permify uses.
    if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
    if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
    throw invalid(text, "boolean value");
  };
  const int = (s: string): number => {
    if (!/^[+-]?\d+$/.test(s)) throw invalid(text, "integer value");
    const n = Number(s);
    if (n < -2147483648 || n > 2147483647) throw invalid(text, "integer value (outside int32)");
    return n;
  };
  const dbl = (s: string): number => {
    const n = Number(s);
    if (s.trim() === "" || Number.isNaN(n)) throw invalid(text, "double value");
    return n;
  };
  switch (type as AttributeType) {
    case "boolean":
      return { type: "boolean", value: bool(raw) };
    case "boolean[]":
      return { type: "boolean[]", value: items.map(bool) };
    case "string":
      return { type: "string", value: raw };
    case "string[]":
      return { type: "string[]", value: items };
    case "integer":
      return { type: "integer", value: int(raw) };
    case "integer[]":
      return { type: "integer[]", value: items.map(int) };
    case "double":
      return { type: "double", value: dbl(raw) };
    case "double[]":
      return { type: "double[]", value: items.map(dbl) };
  }
  throw invalid(text, `attribute type "${type}"`);
}

function assertEntity(entity: Entity, text: string): void {
  if (!isValidName(entity.type)) throw invalid(text, "entity type (letters and _ only)");
  if (!isValidId(entity.id)) throw invalid(text, "entity id (allowed: A-Z a-z 0-9 _ - @ . : +, at most 128)");
}

export function formatEntity(entity: Entity): string {
  return `${entity.type}:${entity.id}`;
}

export function formatSubject(subject: Subject): string {
  return subject.relation
    ? `${subject.type}:${subject.id}#${subject.relation}`
    : `${subject.type}:${subject.id}`;
}

export function formatTuple(tuple: Tuple): string {
  return `${formatEntity(tuple.entity)}#${tuple.relation}@${formatSubject(tuple.subject)}`;
}

export function formatAttribute(attribute: Attribute): string {
  const { value } = attribute;
  const raw = Array.isArray(value.value) ? value.value.join(",") : String(value.value);
  return `${formatEntity(attribute.entity)}$${attribute.attribute}|${value.type}:${raw}`;
}
