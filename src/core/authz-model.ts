/**
 * The authorization vocabulary shared by every Authorizer: the shapes of Permify's API, kept free of
 * any SDK so that core code and both adapters speak the same language.
 */

export interface Entity {
  readonly type: string;
  readonly id: string;
}

/** A subject is an entity, or a set of them when `relation` is given (`team:risk#member`). */
export interface Subject {
  readonly type: string;
  readonly id: string;
  readonly relation?: string;
}

export interface Tuple {
  readonly entity: Entity;
  readonly relation: string;
  readonly subject: Subject;
}

export type AttributeType =
  | "boolean"
  | "boolean[]"
  | "string"
  | "string[]"
  | "integer"
  | "integer[]"
  | "double"
  | "double[]";

export const attributeTypes: readonly AttributeType[] = [
  "boolean",
  "boolean[]",
  "string",
  "string[]",
  "integer",
  "integer[]",
  "double",
  "double[]",
];

export type AttributeValue =
  | { readonly type: "boolean"; readonly value: boolean }
  | { readonly type: "boolean[]"; readonly value: readonly boolean[] }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "string[]"; readonly value: readonly string[] }
  | { readonly type: "integer"; readonly value: number }
  | { readonly type: "integer[]"; readonly value: readonly number[] }
  | { readonly type: "double"; readonly value: number }
  | { readonly type: "double[]"; readonly value: readonly number[] };

export interface Attribute {
  readonly entity: Entity;
  readonly attribute: string;
  readonly value: AttributeValue;
}

/** Request-scoped data, as Permify's `context`: tuples and attributes that hold for this request only. */
export interface RequestContext {
  readonly tuples?: readonly Tuple[];
  readonly attributes?: readonly Attribute[];
  /** Visible to rules as `context.data`. Must be JSON (Permify carries it as a protobuf Struct). */
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface CheckRequest {
  readonly entity: Entity;
  /** A permission, or (as Permify allows) a relation, a boolean attribute or a rule name. */
  readonly permission: string;
  readonly subject: Subject;
  readonly context?: RequestContext;
}

/** Selects relationships: every given field must match. */
export interface TupleFilter {
  readonly entity: { readonly type: string; readonly ids?: readonly string[] };
  readonly relation?: string;
  readonly subject?: { readonly type?: string; readonly ids?: readonly string[]; readonly relation?: string };
}

/**
 * A filter matching exactly `tuple`. The subject relation is always given (`""` for none), so that deleting
 * `team:x` does not also delete `team:x#member`.
 */
export function exactTupleFilter(tuple: Tuple): TupleFilter {
  return {
    entity: { type: tuple.entity.type, ids: [tuple.entity.id] },
    relation: tuple.relation,
    subject: { type: tuple.subject.type, ids: [tuple.subject.id], relation: tuple.subject.relation ?? "" },
  };
}

/** Selects attributes of entities of one type, optionally only some ids and some attribute names. */
export interface AttributeFilter {
  readonly entity: { readonly type: string; readonly ids?: readonly string[] };
  readonly attributes?: readonly string[];
}

/** Permify's rules for names (entity types, relations, permissions) and identifiers. */
export const NAME_PATTERN = /^[a-zA-Z_]{1,64}$/;
export const ID_PATTERN = /^(?:[a-zA-Z0-9_\-@.:+]{1,128}|\*)$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Permify's wildcard id: `user:*` would mean every user. */
export const WILDCARD_ID = "*";

/**
 * Why `tuple` may not be written because it names a wildcard, or undefined. A wildcard subject
 * (`collection:x#viewer@user:*`) would grant every user at once, and a wildcard entity would grant on
 * every entity; Permify accepts a wildcard only where the schema declares one, and the schema language
 * clearance runs (Permify v1.7) has no way to declare it, so both are refused before any write, by the
 * embedded evaluator and by the Permify adapter alike.
 */
export function wildcardProblem(tuple: Tuple): string | undefined {
  if (tuple.subject.id === WILDCARD_ID) {
    return `the wildcard subject ${tuple.subject.type}:* is not allowed: the schema declares no wildcard for relation "${tuple.relation}" of "${tuple.entity.type}"`;
  }
  if (tuple.entity.id === WILDCARD_ID) {
    return `the wildcard entity ${tuple.entity.type}:* is not allowed: relationships name one entity`;
  }
  return undefined;
}
