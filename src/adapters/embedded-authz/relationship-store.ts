/**
 * Relationships and attributes in memory, indexed both ways: forward (entity#relation → subjects) for
 * checks, and reverse (subject entity → tuples) for finding lookup candidates.
 */
import type {
  Attribute,
  AttributeFilter,
  AttributeValue,
  Subject,
  Tuple,
  TupleFilter,
} from "../../core/authz-model.ts";
import { formatTuple } from "../../core/permify-notation.ts";

export function entityKey(type: string, id: string): string {
  return `${type}:${id}`;
}

/** A read-only view the evaluator queries: the stored data, possibly overlaid with a request's context. */
export interface RelationshipView {
  subjectsOf(type: string, id: string, relation: string): Iterable<Subject>;
  /** Whether exactly this tuple exists: answers a direct grant without scanning a relation's subjects. */
  hasTupleOf(type: string, id: string, relation: string, subject: Subject): boolean;
  /** The userset subjects (`team:x#member`) of a relation: the only ones a check must recurse into. */
  usersetsOf(type: string, id: string, relation: string): Iterable<Subject>;
  /** Whether the relation has any userset subject: when not, a direct lookup is the whole answer. */
  hasUsersets(type: string, id: string, relation: string): boolean;
  /** Tuples whose subject is this entity, whatever the subject relation. */
  tuplesWithSubject(type: string, id: string): Iterable<Tuple>;
  /** An attribute's value, a contextual one first (as Permify reads a boolean attribute leaf). */
  attributeOf(type: string, id: string, name: string): AttributeValue | undefined;
  /**
   * An attribute's value, the stored one first: Permify's rule calls read stored attributes and add only
   * the contextual ones not stored (checkDirectCall, NewUniqueAttributeIterator).
   */
  storedAttributeFirstOf(type: string, id: string, name: string): AttributeValue | undefined;
  /** Ids of entities of `type` that carry any attribute. */
  entitiesWithAttributes(type: string): Iterable<string>;
  /** Every id of `type` that appears in a tuple (as entity or subject) or carries an attribute. */
  idsOfType(type: string): Iterable<string>;
}

/**
 * The subjects of one entity's relation. `subjects` keeps insertion order (what the evaluator iterates);
 * `direct` answers "is this exact subject here" with map lookups on strings that already exist, since
 * building a tuple's text for every check was most of what a lookup of thousands of entities cost.
 */
interface RelationSubjects {
  /** Tuple text → subject, in insertion order. */
  readonly subjects: Map<string, Subject>;
  /** The userset subjects among them (`team:x#member`), tuple text → subject. */
  readonly usersets: Map<string, Subject>;
  /** Subject type → subject id → subject relations ("" for none). */
  readonly direct: Map<string, Map<string, Set<string>>>;
}

export class RelationshipStore implements RelationshipView {
  private readonly tuples = new Map<string, Tuple>();
  /** type → relation → id → subjects. */
  private readonly forward = new Map<string, Map<string, Map<string, RelationSubjects>>>();
  /** Subject type → subject id → tuple text → tuple: the tuples naming an entity as their subject. */
  private readonly reverse = new Map<string, Map<string, Map<string, Tuple>>>();
  private readonly attributes = new Map<string, Map<string, AttributeValue>>();
  private readonly attributeHolders = new Map<string, Set<string>>();
  /** type → id → number of tuples and attributes mentioning it. */
  private readonly mentions = new Map<string, Map<string, number>>();

  get tupleCount(): number {
    return this.tuples.size;
  }

  hasTuple(tuple: Tuple): boolean {
    return this.tuples.has(formatTuple(tuple));
  }

  addTuple(tuple: Tuple): void {
    const key = formatTuple(tuple);
    if (this.tuples.has(key)) return;
    this.tuples.set(key, tuple);
    const { entity, relation, subject } = tuple;
    const byId = getOrCreate(getOrCreate(this.forward, entity.type), relation);
    let entry = byId.get(entity.id);
    if (!entry) {
      entry = { subjects: new Map(), usersets: new Map(), direct: new Map() };
      byId.set(entity.id, entry);
    }
    entry.subjects.set(key, subject);
    if (subject.relation) entry.usersets.set(key, subject);
    const ids = getOrCreate(entry.direct, subject.type);
    let relations = ids.get(subject.id);
    if (!relations) {
      relations = new Set();
      ids.set(subject.id, relations);
    }
    relations.add(subject.relation || "");
    getOrCreate(getOrCreate(this.reverse, subject.type), subject.id).set(key, tuple);
    this.mention(entity.type, entity.id, 1);
    this.mention(subject.type, subject.id, 1);
  }

  removeTuple(tuple: Tuple): void {
    const key = formatTuple(tuple);
    if (!this.tuples.delete(key)) return;
    const { entity, relation, subject } = tuple;
    const byRelation = this.forward.get(entity.type);
    const byId = byRelation?.get(relation);
    const entry = byId?.get(entity.id);
    if (byRelation && byId && entry) {
      entry.subjects.delete(key);
      entry.usersets.delete(key);
      const ids = entry.direct.get(subject.type);
      const relations = ids?.get(subject.id);
      relations?.delete(subject.relation || "");
      if (ids && relations?.size === 0) ids.delete(subject.id);
      if (ids?.size === 0) entry.direct.delete(subject.type);
      if (entry.subjects.size === 0) byId.delete(entity.id);
      if (byId.size === 0) byRelation.delete(relation);
      if (byRelation.size === 0) this.forward.delete(entity.type);
    }
    const byType = this.reverse.get(subject.type);
    const naming = byType?.get(subject.id);
    if (byType && naming) {
      naming.delete(key);
      if (naming.size === 0) byType.delete(subject.id);
      if (byType.size === 0) this.reverse.delete(subject.type);
    }
    this.mention(entity.type, entity.id, -1);
    this.mention(subject.type, subject.id, -1);
  }

  setAttribute(attribute: Attribute): void {
    const key = entityKey(attribute.entity.type, attribute.entity.id);
    const values = getOrCreate(this.attributes, key);
    if (!values.has(attribute.attribute)) this.mention(attribute.entity.type, attribute.entity.id, 1);
    values.set(attribute.attribute, attribute.value);
    let holders = this.attributeHolders.get(attribute.entity.type);
    if (!holders) {
      holders = new Set();
      this.attributeHolders.set(attribute.entity.type, holders);
    }
    holders.add(attribute.entity.id);
  }

  removeAttribute(type: string, id: string, name: string): void {
    const key = entityKey(type, id);
    const values = this.attributes.get(key);
    if (!values?.delete(name)) return;
    this.mention(type, id, -1);
    if (values.size === 0) {
      this.attributes.delete(key);
      this.attributeHolders.get(type)?.delete(id);
    }
  }

  matchingTuples(filter: TupleFilter): Tuple[] {
    const matches: Tuple[] = [];
    const ids = filter.entity.ids && filter.entity.ids.length > 0 ? new Set(filter.entity.ids) : undefined;
    const subjectIds =
      filter.subject?.ids && filter.subject.ids.length > 0 ? new Set(filter.subject.ids) : undefined;
    for (const tuple of this.tuples.values()) {
      if (tuple.entity.type !== filter.entity.type) continue;
      if (ids && !ids.has(tuple.entity.id)) continue;
      if (filter.relation && tuple.relation !== filter.relation) continue;
      if (filter.subject?.type && tuple.subject.type !== filter.subject.type) continue;
      if (subjectIds && !subjectIds.has(tuple.subject.id)) continue;
      if (
        filter.subject?.relation !== undefined &&
        (tuple.subject.relation ?? "") !== filter.subject.relation
      )
        continue;
      matches.push(tuple);
    }
    return matches;
  }

  matchingAttributes(filter: AttributeFilter): Attribute[] {
    const matches: Attribute[] = [];
    const names = filter.attributes && filter.attributes.length > 0 ? new Set(filter.attributes) : undefined;
    const holders = this.attributeHolders.get(filter.entity.type) ?? new Set<string>();
    const ids = filter.entity.ids && filter.entity.ids.length > 0 ? filter.entity.ids : [...holders];
    for (const id of ids) {
      const values = this.attributes.get(entityKey(filter.entity.type, id));
      if (!values) continue;
      for (const [name, value] of values) {
        if (!names || names.has(name))
          matches.push({ entity: { type: filter.entity.type, id }, attribute: name, value });
      }
    }
    return matches;
  }

  allTuples(): IterableIterator<Tuple> {
    return this.tuples.values();
  }

  allAttributes(): Attribute[] {
    const all: Attribute[] = [];
    for (const [key, values] of this.attributes) {
      const colon = key.indexOf(":");
      const entity = { type: key.slice(0, colon), id: key.slice(colon + 1) };
      for (const [attribute, value] of values) all.push({ entity, attribute, value });
    }
    return all;
  }

  subjectsOf(type: string, id: string, relation: string): Iterable<Subject> {
    return this.forward.get(type)?.get(relation)?.get(id)?.subjects.values() ?? [];
  }

  hasTupleOf(type: string, id: string, relation: string, subject: Subject): boolean {
    const entry = this.forward.get(type)?.get(relation)?.get(id);
    return (
      entry?.direct
        .get(subject.type)
        ?.get(subject.id)
        ?.has(subject.relation || "") ?? false
    );
  }

  usersetsOf(type: string, id: string, relation: string): Iterable<Subject> {
    return this.forward.get(type)?.get(relation)?.get(id)?.usersets.values() ?? [];
  }

  hasUsersets(type: string, id: string, relation: string): boolean {
    return (this.forward.get(type)?.get(relation)?.get(id)?.usersets.size ?? 0) > 0;
  }

  tuplesWithSubject(type: string, id: string): Iterable<Tuple> {
    return this.reverse.get(type)?.get(id)?.values() ?? [];
  }

  attributeOf(type: string, id: string, name: string): AttributeValue | undefined {
    return this.attributes.get(entityKey(type, id))?.get(name);
  }

  storedAttributeFirstOf(type: string, id: string, name: string): AttributeValue | undefined {
    return this.attributeOf(type, id, name);
  }

  entitiesWithAttributes(type: string): Iterable<string> {
    return this.attributeHolders.get(type) ?? [];
  }

  idsOfType(type: string): Iterable<string> {
    return this.mentions.get(type)?.keys() ?? [];
  }

  private mention(type: string, id: string, delta: number): void {
    const ids = getOrCreate(this.mentions, type);
    const count = (ids.get(id) ?? 0) + delta;
    if (count <= 0) ids.delete(id);
    else ids.set(id, count);
  }
}

/**
 * The stored data plus a request's contextual tuples and attributes. Which value wins when both have an
 * attribute depends on who reads it, as in Permify: see `attributeOf` and `storedAttributeFirstOf`.
 */
export function overlayContext(
  base: RelationshipView,
  tuples: readonly Tuple[] = [],
  attributes: readonly Attribute[] = [],
): RelationshipView {
  if (tuples.length === 0 && attributes.length === 0) return base;
  const extra = new RelationshipStore();
  for (const tuple of tuples) extra.addTuple(tuple);
  for (const attribute of attributes) extra.setAttribute(attribute);
  return {
    subjectsOf: (type, id, relation) =>
      union(extra.subjectsOf(type, id, relation), base.subjectsOf(type, id, relation)),
    hasTupleOf: (type, id, relation, subject) =>
      extra.hasTupleOf(type, id, relation, subject) || base.hasTupleOf(type, id, relation, subject),
    usersetsOf: (type, id, relation) =>
      union(extra.usersetsOf(type, id, relation), base.usersetsOf(type, id, relation)),
    hasUsersets: (type, id, relation) =>
      extra.hasUsersets(type, id, relation) || base.hasUsersets(type, id, relation),
    tuplesWithSubject: (type, id) =>
      union(extra.tuplesWithSubject(type, id), base.tuplesWithSubject(type, id)),
    attributeOf: (type, id, name) => extra.attributeOf(type, id, name) ?? base.attributeOf(type, id, name),
    storedAttributeFirstOf: (type, id, name) =>
      base.storedAttributeFirstOf(type, id, name) ?? extra.attributeOf(type, id, name),
    entitiesWithAttributes: (type) =>
      new Set([...extra.entitiesWithAttributes(type), ...base.entitiesWithAttributes(type)]),
    idsOfType: (type) => new Set([...extra.idsOfType(type), ...base.idsOfType(type)]),
  };
}

function* union<T>(first: Iterable<T>, second: Iterable<T>): Iterable<T> {
  yield* first;
  yield* second;
}

function getOrCreate<K, V extends Map<unknown, unknown>>(map: Map<K, V>, key: K): V {
  let value = map.get(key);
  if (!value) {
    value = new Map() as V;
    map.set(key, value);
  }
  return value;
}
