/**
 * Use cases of document owners (issue 14): add or replace a document from an uploaded file, delete one,
 * see who may read it and its sections, and change its viewers and its sections' audiences. Every surface
 * (REST, the CLI's client mode) calls these; the CLI's operator mode calls them `asOperator`.
 *
 * Who may do it is the authorizer's decision: `manage` on the document (its owner, or whoever manages its
 * collection), or for a new document `manage` on the collection it goes into, for the user and every agent
 * acting for them. Anyone else gets `FORBIDDEN` and nothing changes; the check comes before any write.
 * Every write is one audit record: who, for whom, which document, what changed.
 *
 * Both stores change in the order that never widens access to content (ingest's `applyOrderedChange` and
 * `removeDocument`): access narrows before content changes and widens after.
 */
import type { DocumentChange, DocumentReport } from "../../ingest/ingest.ts";
import { ingestDocument, removeRelationships } from "../../ingest/ingest.ts";
import type { ManifestDocument } from "../../ingest/manifest.ts";
import { parseManifestEntry } from "../../ingest/manifest.ts";
import { documentFootprint, type RemovalReport, removeDocument } from "../../ingest/remove.ts";
import { isValidId, type Subject, type Tuple } from "../core/authz-model.ts";
import { AppError } from "../core/errors.ts";
import { formatTuple, parseSubject } from "../core/permify-notation.ts";
import { principalSubjects } from "../core/principal.ts";
import { upstream } from "../core/retrieval-meter.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { AuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";

export interface OwnersDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  /** INGEST_MAX_FILE_BYTES and INGEST_MAX_CHUNKS_PER_DOCUMENT. */
  readonly limits?: { readonly maxFileBytes?: number; readonly maxChunksPerDocument?: number };
}

export interface WriteOptions {
  /** Report what would change; change nothing (the audit record then lists no change). */
  readonly dryRun?: boolean;
  /** The operator's direct mode: no `manage` check (the operator holds the stores themselves). */
  readonly asOperator?: boolean;
}

/** The subject types `GET /v1/documents/{id}/access` lists: users, teams (as members) and agents. */
const SUBJECT_KINDS = [{ type: "user" }, { type: "team", relation: "member" }, { type: "agent" }] as const;

export interface AccessView {
  readonly document: { readonly id: string; readonly viewers: readonly string[] };
  readonly sections: readonly { readonly id: string; readonly viewers: readonly string[] }[];
}

export interface AccessChange {
  readonly addViewers?: readonly string[];
  readonly removeViewers?: readonly string[];
  /** Replaces each named section's audience. */
  readonly sectionAudiences?: readonly { readonly section: string; readonly audience: readonly string[] }[];
}

export interface AccessChangeReport {
  readonly id: string;
  readonly relationshipsAdded: readonly string[];
  readonly relationshipsRemoved: readonly string[];
}

/** Throws `BAD_REQUEST` for an id Permify would not accept, before anything is asked. */
function checkId(id: string, what: string): void {
  if (!isValidId(id) || id === "*") throw new AppError("BAD_REQUEST", `${what}: not a valid id`);
}

/** `FORBIDDEN` unless the user and every agent acting for them have `permission` on the entity. */
async function requireManage(
  deps: OwnersDeps,
  caller: Caller,
  entity: { readonly type: string; readonly id: string },
  options: WriteOptions,
): Promise<void> {
  if (options.asOperator) return;
  const subjects = principalSubjects(caller.principal);
  const outcomes = await upstream("authorizer", "the authorizer could not check the owner", () =>
    Promise.all(subjects.map((subject) => deps.authorizer.check({ entity, permission: "manage", subject }))),
  );
  if (!outcomes.every(Boolean)) {
    throw new AppError("FORBIDDEN", `the caller may not manage ${entity.type}:${entity.id}`);
  }
}

/** Whether either store holds anything of the document. */
async function exists(deps: OwnersDeps, documentId: string): Promise<boolean> {
  const footprint = await documentFootprint(documentId, deps);
  return footprint.chunks > 0 || footprint.own.length > 0;
}

export type OwnerWrite = "upload" | "replace" | "delete" | "access" | "ingest" | "prune";

/**
 * Adds (`replace: false`: the id must be new, `CONFLICT` otherwise) or replaces (`replace: true`: the id
 * must exist, `NOT_FOUND` otherwise) a document from its file and manifest entry.
 */
export async function putDocument(
  deps: OwnersDeps,
  caller: Caller,
  input: { readonly entry: unknown; readonly bytes: Buffer; readonly replace: boolean; readonly id?: string },
  options: WriteOptions = {},
  audit: AuditDetail = {},
): Promise<DocumentReport> {
  const document: ManifestDocument = parseManifestEntry(input.entry);
  if (input.id !== undefined && input.id !== document.id) {
    throw new AppError(
      "BAD_REQUEST",
      `entry.id: ${document.id} is not the document of the path (${input.id})`,
    );
  }
  const present = await exists(deps, document.id);
  if (input.replace && !present) throw new AppError("NOT_FOUND", `no document ${document.id}`);
  if (!input.replace && present) {
    throw new AppError("CONFLICT", `document ${document.id} exists; replace it with PUT`);
  }
  // A new document needs `manage` on the collection it goes into; a replaced one on itself, and on the
  // collection it moves to (moving into a collection one does not manage would publish there).
  if (present) await requireManage(deps, caller, { type: "document", id: document.id }, options);
  await requireManage(deps, caller, { type: "collection", id: document.collection }, options);
  const report = await ingestDocument({
    document,
    bytes: input.bytes,
    authorizer: deps.authorizer,
    vectorStore: deps.vectorStore,
    embedder: deps.embedder,
    ...(deps.limits === undefined ? {} : { limits: deps.limits }),
    dryRun: options.dryRun === true,
    // Who may change the owner is decided above by `manage`; the manifest's takeover rule is for files.
    allowOwnerChange: present,
  });
  if (!options.dryRun && report.status !== "unchanged") {
    audit.changes = [{ op: input.replace ? "replace" : "upload", target: `document:${document.id}` }];
  }
  return report;
}

/** Deletes a document from both stores (`removeDocument`); `NOT_FOUND` when neither holds it. */
export async function deleteDocument(
  deps: OwnersDeps,
  caller: Caller,
  documentId: string,
  options: WriteOptions = {},
  audit: AuditDetail = {},
): Promise<RemovalReport> {
  checkId(documentId, "document id");
  if (!(await exists(deps, documentId))) {
    // Chunks or section relationships left by an interrupted removal still count: finish it.
    const footprint = await documentFootprint(documentId, deps);
    if (footprint.sections.length === 0) throw new AppError("NOT_FOUND", `no document ${documentId}`);
  }
  await requireManage(deps, caller, { type: "document", id: documentId }, options);
  const report = await removeDocument(documentId, { ...deps, dryRun: options.dryRun === true });
  if (!options.dryRun) audit.changes = [{ op: "delete", target: `document:${documentId}` }];
  return report;
}

/**
 * Who may view the document and each of its sections: users, teams (as members) and agents, each list
 * followed to its end (a list that cannot be completed is an error, never a shorter list).
 */
export async function documentAccess(
  deps: OwnersDeps,
  caller: Caller,
  documentId: string,
  options: WriteOptions = {},
): Promise<AccessView> {
  checkId(documentId, "document id");
  if (!(await exists(deps, documentId))) throw new AppError("NOT_FOUND", `no document ${documentId}`);
  await requireManage(deps, caller, { type: "document", id: documentId }, options);
  const footprint = await documentFootprint(documentId, deps);
  const sectionIds = [...new Set(footprint.sections.map((tuple) => tuple.entity.id))].sort();
  return {
    document: { id: documentId, viewers: await viewersOf(deps.authorizer, "document", documentId) },
    sections: await Promise.all(
      sectionIds.map(async (id) => ({ id, viewers: await viewersOf(deps.authorizer, "section", id) })),
    ),
  };
}

async function viewersOf(authorizer: Authorizer, type: string, id: string): Promise<string[]> {
  const viewers: string[] = [];
  for (const kind of SUBJECT_KINDS) {
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await upstream("authorizer", "the authorizer could not list who may view", () =>
        authorizer.lookupSubjects({
          entity: { type, id },
          permission: "view",
          subjectType: kind.type,
          ...("relation" in kind ? { subjectRelation: kind.relation } : {}),
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      for (const subjectId of page.ids) {
        viewers.push(`${kind.type}:${subjectId}${"relation" in kind ? `#${kind.relation}` : ""}`);
      }
      cursor = page.nextCursor;
      if (cursor !== undefined) {
        if (seen.has(cursor)) {
          throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer repeated a cursor listing viewers", {
            upstream: "authorizer",
          });
        }
        seen.add(cursor);
      }
    } while (cursor !== undefined);
  }
  return viewers;
}

/**
 * Changes the document's viewers and its sections' audiences: relationships only (nothing is re-embedded,
 * no chunk changes: viewers and audiences are not mirrored in chunk metadata). Removals are written before
 * additions, so in between the document is readable by fewer principals, never more.
 */
export async function changeAccess(
  deps: OwnersDeps,
  caller: Caller,
  documentId: string,
  change: AccessChange,
  options: WriteOptions = {},
  audit: AuditDetail = {},
): Promise<AccessChangeReport> {
  checkId(documentId, "document id");
  const subjects = (list: readonly string[] | undefined, field: string): Subject[] =>
    (list ?? []).map((text, index) => {
      try {
        const subject = parseSubject(text);
        if (subject.id === "*") throw new Error("wildcards are not allowed");
        return subject;
      } catch (error) {
        throw new AppError("BAD_REQUEST", `${field}[${index}]: ${(error as Error).message}`);
      }
    });
  const add = subjects(change.addViewers, "addViewers");
  const remove = subjects(change.removeViewers, "removeViewers");
  const audiences = (change.sectionAudiences ?? []).map((item, index) => {
    checkId(item.section, `sectionAudiences[${index}].section`);
    const audience = subjects(item.audience, `sectionAudiences[${index}].audience`);
    if (audience.length === 0) {
      throw new AppError("BAD_REQUEST", `sectionAudiences[${index}].audience: a section needs an audience`);
    }
    return { section: item.section, audience };
  });
  if (add.length + remove.length + audiences.length === 0) {
    throw new AppError(
      "BAD_REQUEST",
      "nothing to change: give viewers to add or remove, or section audiences",
    );
  }
  if (!(await exists(deps, documentId))) throw new AppError("NOT_FOUND", `no document ${documentId}`);
  await requireManage(deps, caller, { type: "document", id: documentId }, options);

  const footprint = await documentFootprint(documentId, deps);
  const own = new Set(footprint.sections.map((tuple) => tuple.entity.id));
  for (const [index, item] of audiences.entries()) {
    if (!own.has(item.section)) {
      throw new AppError(
        "BAD_REQUEST",
        `sectionAudiences[${index}].section: ${item.section} is not a section of ${documentId}`,
      );
    }
  }
  const entity = { type: "document", id: documentId };
  const current = new Set([...footprint.own, ...footprint.sections].map(formatTuple));
  const toAdd: Tuple[] = add.map((subject) => ({ entity, relation: "viewer", subject }));
  const toRemove: Tuple[] = remove.map((subject) => ({ entity, relation: "viewer", subject }));
  for (const item of audiences) {
    const sectionEntity = { type: "section", id: item.section };
    const wanted = item.audience.map(
      (subject): Tuple => ({ entity: sectionEntity, relation: "audience", subject }),
    );
    const wantedKeys = new Set(wanted.map(formatTuple));
    toAdd.push(...wanted);
    toRemove.push(
      ...footprint.sections.filter(
        (tuple) =>
          tuple.entity.id === item.section &&
          tuple.relation === "audience" &&
          !wantedKeys.has(formatTuple(tuple)),
      ),
    );
  }
  const removing = toRemove.filter((tuple) => current.has(formatTuple(tuple)));
  const removingKeys = new Set(removing.map(formatTuple));
  const adding = dedupe(toAdd).filter(
    (tuple) => !current.has(formatTuple(tuple)) && !removingKeys.has(formatTuple(tuple)),
  );
  const report: AccessChangeReport = {
    id: documentId,
    relationshipsAdded: adding.map(formatTuple),
    relationshipsRemoved: removing.map(formatTuple),
  };
  if (options.dryRun || (adding.length === 0 && removing.length === 0)) return report;
  await removeRelationships(removing, deps.authorizer);
  if (adding.length > 0) await deps.authorizer.writeData({ tuples: adding });
  audit.changes = [
    ...report.relationshipsRemoved.map((target) => ({ op: "revoke", target })),
    ...report.relationshipsAdded.map((target) => ({ op: "grant", target })),
  ];
  return report;
}

function dedupe(tuples: readonly Tuple[]): Tuple[] {
  const seen = new Map<string, Tuple>();
  for (const tuple of tuples) seen.set(formatTuple(tuple), tuple);
  return [...seen.values()];
}

export type { DocumentChange, DocumentReport, RemovalReport };
