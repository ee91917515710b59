/**
 * Derives the container pre-filter's model from a schema, or says why the strategy cannot be exact with
 * it. Every way to `view` a document must be either a grant on the document itself (listed by one of the
 * document's permissions that covers them all) or a walk through a relation chunks mirror in their
 * metadata (`CHUNK_METADATA_RELATIONS`) to a container whose listed permission covers the walk; and a
 * section's `view` must require its document's. Entity and permission names are read from the schema, so
 * a bank that calls its containers `folder` and `account` gets the strategy too. The derivation reads the
 * schema as the embedded evaluator compiles it, so a schema the bank changes later turns the strategy off
 * rather than making it miss passages.
 */
import {
  CHUNK_METADATA_RELATIONS,
  type ContainerLookup,
  type ContainerModel,
  DOCUMENT_ENTITY,
} from "../core/container-model.ts";
import { type CompiledSchema, compileSchema, type PermissionNode } from "./schema-compiler.ts";

export type ContainerModelDerivation =
  | { readonly ok: true; readonly model: ContainerModel }
  | { readonly ok: false; readonly reason: string };

const VIEW = "view";

export function deriveContainerModel(schemaText: string): ContainerModelDerivation {
  let schema: CompiledSchema;
  try {
    schema = compileSchema(schemaText);
  } catch (error) {
    return { ok: false, reason: `the schema does not compile: ${(error as Error).message}` };
  }
  const document = schema.entities.get(DOCUMENT_ENTITY);
  const view = document?.permissions.get(VIEW);
  if (document === undefined || view === undefined) {
    return { ok: false, reason: "the schema has no document.view" };
  }
  const viewLeaves = unionLeaves(view);
  if (viewLeaves === undefined) return { ok: false, reason: "document.view is not a plain union" };

  const lookups = new Map<string, ContainerLookup>();
  const add = (lookup: ContainerLookup) =>
    lookups.set(`${lookup.key}/${lookup.entityType}#${lookup.permission}`, lookup);

  const direct = viewLeaves.filter((leaf) => leaf.op === "computed");
  if (direct.length > 0) {
    const permission = directPermission(document.permissions, direct);
    if (permission === undefined) {
      return {
        ok: false,
        reason:
          `document.view reaches readers through ${direct.map(describe).join(", ")}, and no other ` +
          "permission of document lists exactly those grants (declare one, e.g. direct_view)",
      };
    }
    add({ entityType: DOCUMENT_ENTITY, permission, key: DOCUMENT_ENTITY });
  }
  for (const leaf of viewLeaves) {
    if (leaf.op !== "walk") continue;
    const covering = walkLookups(schema, leaf.relation, leaf.name);
    if (covering === undefined) {
      return {
        ok: false,
        reason: `document.view reaches readers through ${describe(leaf)}, which no listed container covers`,
      };
    }
    for (const lookup of covering) add(lookup);
  }
  const section = schema.entities.get("section")?.permissions.get(VIEW);
  if (section !== undefined && !requiresDocumentView(section)) {
    return { ok: false, reason: "section.view does not require document.view" };
  }
  return { ok: true, model: { lookups: [...lookups.values()] } };
}

/**
 * A permission of document other than `view` whose leaves cover every direct leaf of `view` and reach
 * nothing but relations and permissions of the document itself (so listing it is cheap and exact):
 * `direct_view` when it qualifies, else the first that does.
 */
function directPermission(
  permissions: ReadonlyMap<string, PermissionNode>,
  direct: readonly Leaf[],
): string | undefined {
  const qualifies = (name: string, node: PermissionNode) => {
    const leaves = unionLeaves(node);
    if (leaves === undefined || leaves.some((leaf) => leaf.op !== "computed")) return false;
    const names = new Set(leaves.map(describe));
    return direct.every((leaf) => leaf.op === "computed" && (leaf.name === name || names.has(leaf.name)));
  };
  const candidates = [...permissions].filter(([name, node]) => name !== VIEW && qualifies(name, node));
  return (candidates.find(([name]) => name === "direct_view") ?? candidates[0])?.[0];
}

/**
 * `relation.name` on a document is covered when chunks mirror `relation` and, for every entity type it
 * points to, a permission lists `name` (the permission `name` itself, or one whose union includes it,
 * `view` first).
 */
function walkLookups(schema: CompiledSchema, relation: string, name: string): ContainerLookup[] | undefined {
  if (!CHUNK_METADATA_RELATIONS.includes(relation)) return undefined;
  const targets = schema.entities.get(DOCUMENT_ENTITY)?.relations.get(relation)?.subjects ?? [];
  if (targets.length === 0) return undefined;
  const lookups: ContainerLookup[] = [];
  for (const { type } of targets) {
    const permissions = schema.entities.get(type)?.permissions ?? new Map<string, PermissionNode>();
    const covers = (candidate: string, node: PermissionNode) =>
      candidate === name ||
      (unionLeaves(node)?.some((leaf) => leaf.op === "computed" && leaf.name === name) ?? false);
    const listed = [...permissions].filter(([candidate, node]) => covers(candidate, node)).map(([n]) => n);
    const permission = listed.includes(VIEW) ? VIEW : listed[0];
    if (permission === undefined) return undefined;
    lookups.push({ entityType: type, permission, key: relation });
  }
  return lookups;
}

/** A section may be read only by those who may read its document: `document.view and ...` at the top. */
function requiresDocumentView(node: PermissionNode): boolean {
  if (node.op === "walk") return node.relation === "document" && node.name === VIEW;
  if (node.op === "intersection") return requiresDocumentView(node.left) || requiresDocumentView(node.right);
  if (node.op === "union") return requiresDocumentView(node.left) && requiresDocumentView(node.right);
  if (node.op === "exclusion") return requiresDocumentView(node.left);
  return false;
}

type Leaf = Extract<PermissionNode, { op: "computed" | "walk" }>;

/** The leaves of a tree of unions only; undefined when it has `and`, `not`, attributes or rules. */
function unionLeaves(node: PermissionNode): Leaf[] | undefined {
  const leaves: Leaf[] = [];
  const visit = (n: PermissionNode): boolean => {
    if (n.op === "union") return visit(n.left) && visit(n.right);
    if (n.op === "computed" || n.op === "walk") {
      leaves.push(n);
      return true;
    }
    return false;
  };
  return visit(node) ? leaves : undefined;
}

function describe(leaf: Leaf): string {
  return leaf.op === "walk" ? `${leaf.relation}.${leaf.name}` : leaf.name;
}
