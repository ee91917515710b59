/**
 * Who may read what in a benchmark's bank, straight from the bank schema's meaning over its relationships,
 * with no authorizer involved: the reference every benchmark checks its authorizers' answers against.
 *
 * The bank schema is fixtures/schema.perm (authz-graph.ts's BANK_SCHEMA is a part of it):
 *
 *   collection.view = owner or viewer or parent.view
 *   document.view   = owner or viewer or collection.view or customer.holder or customer.banker
 *   section.view    = document.view and audience
 *
 * where a relation holds its subjects and the members of its usersets (`team:t#member`, nested to any
 * depth; `customer:c#holder`). A principal reads what the user and every agent acting for them may view.
 */
import type { Tuple } from "../src/core/authz-model.ts";
import type { Principal } from "../src/core/principal.ts";

export interface BankReference {
  /** `document:<id>` and `section:<id>` of everything the principal may view. */
  readable(principal: Principal): Set<string>;
  /** The ids of the documents `user` may view, ascending (as Permify lists them). */
  viewableDocuments(user: string): string[];
}

/** `type:id` for a subject, `type:id#relation` for a userset and for an entity's relation. */
const keyOf = (type: string, id: string, relation?: string): string =>
  relation === undefined ? `${type}:${id}` : `${type}:${id}#${relation}`;

export function bankReference(tuples: readonly Tuple[]): BankReference {
  /** Subject (or userset) key to the entity relations that list it. */
  const listedIn = new Map<string, string[]>();
  /** Entity relation to the ids of the entities it points at: a document's collections, a section's documents. */
  const walks = new Map<string, string[]>();
  const documentIds = new Set<string>();
  const sectionIds = new Set<string>();
  const append = (map: Map<string, string[]>, key: string, value: string): void => {
    const values = map.get(key);
    if (values === undefined) map.set(key, [value]);
    else values.push(value);
  };
  for (const { entity, relation, subject } of tuples) {
    const holder = keyOf(entity.type, entity.id, relation);
    append(listedIn, keyOf(subject.type, subject.id, subject.relation), holder);
    if (subject.relation === undefined) append(walks, holder, subject.id);
    if (entity.type === "document") documentIds.add(entity.id);
    if (entity.type === "section") sectionIds.add(entity.id);
  }
  const pointsAt = (type: string, id: string, relation: string): readonly string[] =>
    walks.get(keyOf(type, id, relation)) ?? [];
  // The keys each question looks up, built once: a reference answers for thousands of users.
  const customerKeys = (id: string) => [keyOf("customer", id, "holder"), keyOf("customer", id, "banker")];
  const collections = new Map(
    [...new Set(tuples.filter((t) => t.entity.type === "collection").map((t) => t.entity.id))].map((id) => [
      id,
      {
        grants: [keyOf("collection", id, "owner"), keyOf("collection", id, "viewer")],
        parents: pointsAt("collection", id, "parent"),
      },
    ]),
  );
  const documents = [...documentIds].sort().map((id) => ({
    id,
    grants: [
      keyOf("document", id, "owner"),
      keyOf("document", id, "viewer"),
      ...pointsAt("document", id, "customer").flatMap(customerKeys),
    ],
    collections: pointsAt("document", id, "collection"),
  }));
  const sections = [...sectionIds].sort().map((id) => ({
    resource: `section:${id}`,
    audience: keyOf("section", id, "audience"),
    documents: pointsAt("section", id, "document"),
  }));

  /** Every entity relation that holds `subject`, directly or through usersets. */
  const relationsHolding = (subject: string): Set<string> => {
    const held = new Set<string>();
    const queue = [subject];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      for (const holder of listedIn.get(next) ?? []) {
        if (held.has(holder)) continue;
        held.add(holder);
        queue.push(holder);
      }
    }
    return held;
  };

  /** The ids of the documents `subject` may view, ascending, and the sections among its resources. */
  const readableBy = (subject: string): { documents: string[]; sections: string[] } => {
    const held = relationsHolding(subject);
    const collectionViews = new Map<string, boolean>();
    const viewCollection = (id: string): boolean => {
      const known = collectionViews.get(id);
      if (known !== undefined) return known;
      collectionViews.set(id, false); // the banks' collections form a forest: no parent cycle to follow
      const collection = collections.get(id);
      const view =
        collection !== undefined &&
        (collection.grants.some((key) => held.has(key)) || collection.parents.some(viewCollection));
      collectionViews.set(id, view);
      return view;
    };
    const viewable = documents
      .filter((d) => d.grants.some((key) => held.has(key)) || d.collections.some(viewCollection))
      .map((d) => d.id);
    const viewableSet = new Set(viewable);
    const readableSections = sections
      .filter((s) => held.has(s.audience) && s.documents.some((id) => viewableSet.has(id)))
      .map((s) => s.resource);
    return { documents: viewable, sections: readableSections };
  };

  const resourcesOf = (subject: string): Set<string> => {
    const { documents: ids, sections: readableSections } = readableBy(subject);
    return new Set([...ids.map((id) => `document:${id}`), ...readableSections]);
  };

  return {
    readable(principal) {
      let result = resourcesOf(keyOf("user", principal.userId));
      for (const agent of principal.agentIds) {
        const agentReads = resourcesOf(keyOf("agent", agent));
        result = new Set([...result].filter((resource) => agentReads.has(resource)));
      }
      return result;
    },
    viewableDocuments(user) {
      return readableBy(keyOf("user", user)).documents;
    },
  };
}
