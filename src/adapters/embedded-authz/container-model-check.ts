/**
 * Whether a schema lets the container pre-filter be exact: every way to `view` a document must be either
 * a grant the model lists directly (a leaf of `document.direct_view`) or a walk through a relation that
 * ingest mirrors in chunk metadata to a container whose listed permission covers it; and a section's
 * `view` must require its document's. The check reads the schema as the embedded evaluator compiles it,
 * so a schema the bank changes later turns the strategy off rather than making it miss passages.
 */
import type { ContainerModel } from "../../core/container-model.ts";
import { type CompiledSchema, compileSchema, type PermissionNode } from "./schema-compiler.ts";

export type ContainerModelCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const VIEW = "view";

export function checkContainerModel(schemaText: string, model: ContainerModel): ContainerModelCheck {
  let schema: CompiledSchema;
  try {
    schema = compileSchema(schemaText);
  } catch (error) {
    return { ok: false, reason: `the schema does not compile: ${(error as Error).message}` };
  }
  const direct = model.lookups.find((lookup) => lookup.entityType === "document");
  const document = schema.entities.get("document");
  const view = document?.permissions.get(VIEW);
  if (direct === undefined || document === undefined || view === undefined) {
    return { ok: false, reason: "the schema has no document.view, or the model no lookup of documents" };
  }
  const directNode = document.permissions.get(direct.permission);
  if (directNode === undefined) {
    return { ok: false, reason: `document has no permission ${direct.permission}` };
  }
  const directLeaves = unionLeaves(directNode);
  const directNames = new Set(directLeaves?.map(describe));
  if (directLeaves === undefined) {
    return { ok: false, reason: `document.${direct.permission} is not a plain union` };
  }
  const viewLeaves = unionLeaves(view);
  if (viewLeaves === undefined) return { ok: false, reason: "document.view is not a plain union" };
  for (const leaf of viewLeaves) {
    if (leaf.op === "computed" && (leaf.name === direct.permission || directNames.has(leaf.name))) continue;
    if (leaf.op === "walk" && walkCovered(schema, model, leaf.relation, leaf.name)) continue;
    return {
      ok: false,
      reason: `document.view reaches readers through ${describe(leaf)}, which no listed container covers`,
    };
  }
  const section = schema.entities.get("section")?.permissions.get(VIEW);
  if (section !== undefined && !requiresDocumentView(section)) {
    return { ok: false, reason: "section.view does not require document.view" };
  }
  return { ok: true };
}

/** `relation.name` on a document is covered when ingest mirrors `relation` and a lookup lists its target's `name`. */
function walkCovered(schema: CompiledSchema, model: ContainerModel, relation: string, name: string): boolean {
  if (!model.metadataRelations.includes(`document#${relation}`)) return false;
  const targets = schema.entities.get("document")?.relations.get(relation)?.subjects ?? [];
  if (targets.length === 0) return false;
  return targets.every(({ type }) => {
    const lookup = model.lookups.find((candidate) => candidate.entityType === type);
    if (lookup === undefined) return false;
    if (lookup.permission === name) return true;
    const listed = schema.entities.get(type)?.permissions.get(lookup.permission);
    const leaves = listed === undefined ? undefined : unionLeaves(listed);
    return leaves?.some((leaf) => leaf.op === "computed" && leaf.name === name) ?? false;
  });
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
