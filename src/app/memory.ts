/**
 * Use cases: agent memory. A note is a resource of its own (`note:<id>`): written for a user by the agents
 * acting for them (all of whom own it), embedded and stored in a vector store of its own (never the
 * documents' store, so a document search can never return one), and derived from the passages' resources
 * it names as sources.
 *
 * Recall returns a note only to a principal whose user and every agent may view the note itself AND every
 * one of its sources, as of the recall: a summary of a section a reader may not see never reaches them; a
 * note written for user A does not reach the same agent acting for user B (B does not own it); revoking a
 * source hides every note derived from it. Owners may share a note (`viewer`) and delete it.
 */
import { randomUUID } from "node:crypto";
import type { CheckRequest, Subject, Tuple } from "../core/authz-model.ts";
import type { EmbeddedChunk, ScoredChunk } from "../core/chunk.ts";
import { AppError } from "../core/errors.ts";
import { lookupAllResources } from "../core/lookup-all.ts";
import { principalSubjects } from "../core/principal.ts";
import { upstream } from "../core/retrieval-meter.ts";
import { type Authorizer, isCheckFailure } from "../ports/authorizer.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { AuditDetail } from "./audit-trail.ts";
import type { Caller } from "./caller.ts";
import { withConsent } from "./consent.ts";

export const NOTE_ENTITY = "note";
const SOURCE_RELATIONS = { document: "source_document", section: "source_section" } as const;
/** At most this many sources per note; each is checked on every recall. */
export const MAX_NOTE_SOURCES = 20;
export const MAX_NOTE_CHARS = 4_000;

export interface MemoryDeps {
  readonly authorizer: Authorizer;
  /** The notes' own store: notes never share a store with documents. */
  readonly memoryStore: VectorStore;
  readonly embedder: Embedder;
  /** The audit records' keyed digest of a query (never its text). */
  readonly queryDigest: (text: string) => string;
  /** Milliseconds since the epoch, for consent. */
  readonly clock: () => number;
  /** New note ids (default: random UUIDs). */
  readonly newId?: () => string;
}

export interface RememberInput {
  readonly text: string;
  /** The resources (`document:<id>`, `section:<id>`) of the passages the note was derived from. */
  readonly sources: readonly string[];
}

export interface RecalledNote {
  readonly id: string;
  readonly text: string;
  readonly sources: readonly string[];
  readonly score: number;
}

/** Writes a note for the caller's user, owned by the user and every agent acting for them. */
export async function remember(
  deps: MemoryDeps,
  caller: Caller,
  input: RememberInput,
  audit: AuditDetail,
): Promise<{ id: string }> {
  const { principal } = caller;
  const sources = [...new Set(input.sources)];
  if (sources.length > MAX_NOTE_SOURCES) {
    throw new AppError("BAD_REQUEST", `sources: at most ${MAX_NOTE_SOURCES}`);
  }
  const parsed = sources.map(parseSource);
  const subjects = principalSubjects(principal);
  // A note may name only sources the whole principal may read now: no probing for resources, and no
  // provenance that its writer could not have read.
  await withConsent(deps.authorizer, principal, deps.clock(), async () => {
    const checks = parsed.flatMap((source) =>
      subjects.map((subject): CheckRequest => ({ entity: source, permission: "view", subject })),
    );
    const outcomes = await checkAll(deps.authorizer, checks);
    if (outcomes.some((allowed) => !allowed)) {
      throw new AppError("FORBIDDEN", "a note may name only sources the user and every agent may read");
    }
  });
  const id = `n-${(deps.newId ?? randomUUID)()}`;
  const entity = { type: NOTE_ENTITY, id };
  const [vector] = await upstream("embedder", "the embedder failed", () =>
    deps.embedder.embedDocuments([input.text]),
  );
  // In its own store a note is a one-chunk document named by the note's id (stores know documents and
  // sections only); what the authorizer decides on is `note:<id>`.
  const chunk: EmbeddedChunk = {
    id: `${id}:0`,
    resource: `document:${id}`,
    documentId: id,
    title: "note",
    text: input.text,
    ordinal: 0,
    metadata: { collection: "memory", owner: `user:${principal.userId}` },
    vector: vector as Float32Array,
  };
  // Content first, access after: a note is readable only once it is whole.
  await upstream("vector-store", "the memory store failed", () =>
    deps.memoryStore.replaceDocument(id, [chunk]),
  );
  const tuples: Tuple[] = [
    ...subjects.map((subject): Tuple => ({ entity, relation: "owner", subject })),
    ...parsed.map(
      (source): Tuple => ({
        entity,
        relation: SOURCE_RELATIONS[source.type as keyof typeof SOURCE_RELATIONS],
        subject: { type: source.type, id: source.id },
      }),
    ),
  ];
  await upstream("authorizer", "the authorizer could not record the note", () =>
    deps.authorizer.writeData({ tuples }),
  );
  audit.changes = [
    { op: "remember", target: `note:${id}` },
    ...sources.map((source) => ({ op: "note.source", target: source })),
  ];
  return { id };
}

/** The k notes most similar to the query that the caller may view, with every source, as of now. */
export async function recall(
  deps: MemoryDeps,
  caller: Caller,
  input: { readonly query: string; readonly k: number },
  audit: AuditDetail,
): Promise<{ readonly notes: readonly RecalledNote[]; readonly logFields: Record<string, unknown> }> {
  const { principal } = caller;
  audit.queryDigest = deps.queryDigest(input.query);
  audit.k = input.k;
  const subjects = principalSubjects(principal);
  const viewable = await withConsent(deps.authorizer, principal, deps.clock(), () =>
    readableNotes(deps.authorizer, subjects),
  );
  let candidates: readonly ScoredChunk[] = [];
  if (viewable.size > 0) {
    const vector = await upstream("embedder", "the embedder failed", () =>
      deps.embedder.embedQuery(input.query),
    );
    const inStore = new Set([...viewable].map((resource) => `document:${resource.slice("note:".length)}`));
    candidates = await upstream("vector-store", "the memory store failed", () =>
      deps.memoryStore.search({ vector, k: inStore.size, resources: inStore }),
    );
  }
  const notes: RecalledNote[] = [];
  let withheld = 0;
  // Best first, in slices, until k notes whose every source is readable are found.
  for (let start = 0; start < candidates.length && notes.length < input.k; start += 50) {
    const slice = candidates
      .slice(start, start + 50)
      .filter((chunk) => viewable.has(`note:${chunk.documentId}`));
    const sources = await noteSources(
      deps.authorizer,
      slice.map((chunk) => chunk.documentId),
    );
    const distinct = [...new Set([...sources.values()].flat())];
    const checks = distinct.flatMap((source) =>
      subjects.map((subject): CheckRequest => ({ entity: parseSource(source), permission: "view", subject })),
    );
    const allowed = await checkAll(deps.authorizer, checks);
    const readable = new Set(
      distinct.filter((_, index) => subjects.every((_s, j) => allowed[index * subjects.length + j])),
    );
    for (const chunk of slice) {
      const noteSourcesList = sources.get(chunk.documentId) ?? [];
      if (noteSourcesList.every((source) => readable.has(source))) {
        if (notes.length < input.k) {
          notes.push({
            id: chunk.documentId,
            text: chunk.text,
            sources: noteSourcesList,
            score: chunk.score,
          });
        }
      } else {
        withheld++;
      }
    }
  }
  Object.assign(audit, {
    readableResources: viewable.size,
    withheld,
    returned: notes.map((note) => ({ chunkId: `${note.id}:0`, resource: `note:${note.id}` })),
  });
  return {
    notes,
    logFields: {
      readableResources: viewable.size,
      candidates: candidates.length,
      withheld,
      returned: notes.length,
    },
  };
}

/** Shares a note the caller owns with a user or an agent (`user:<id>`, `agent:<id>`). */
export async function shareNote(
  deps: MemoryDeps,
  caller: Caller,
  noteId: string,
  subjectText: string,
  audit: AuditDetail,
): Promise<void> {
  const subject = parseShareSubject(subjectText);
  await requireManage(deps, caller, noteId);
  audit.changes = [{ op: "note.share", target: `note:${noteId}#viewer@${subject.type}:${subject.id}` }];
  await upstream("authorizer", "the authorizer could not share the note", () =>
    deps.authorizer.writeData({
      tuples: [{ entity: { type: NOTE_ENTITY, id: noteId }, relation: "viewer", subject }],
    }),
  );
}

/** Deletes a note the caller owns: its relationships first (no one may read it), then its text. */
export async function deleteNote(
  deps: MemoryDeps,
  caller: Caller,
  noteId: string,
  audit: AuditDetail,
): Promise<void> {
  await requireManage(deps, caller, noteId);
  audit.changes = [{ op: "note.delete", target: `note:${noteId}` }];
  await upstream("authorizer", "the authorizer could not delete the note", () =>
    deps.authorizer.deleteData({ tuples: { entity: { type: NOTE_ENTITY, ids: [noteId] } } }),
  );
  await upstream("vector-store", "the memory store failed", () => deps.memoryStore.deleteDocument(noteId));
}

/** Note ids whose `view` the user and every agent hold, as `note:<id>`. */
async function readableNotes(authorizer: Authorizer, subjects: readonly Subject[]): Promise<Set<string>> {
  const lists = await Promise.all(
    subjects.map((subject) =>
      upstream("authorizer", "the authorizer could not list readable notes", () =>
        lookupAllResources(authorizer, { entityType: NOTE_ENTITY, permission: "view", subject }),
      ),
    ),
  );
  const [first = [], ...rest] = lists;
  const others = rest.map((list) => new Set(list));
  return new Set(first.filter((id) => others.every((set) => set.has(id))).map((id) => `note:${id}`));
}

/** Each note's sources as resources (`document:<id>`, `section:<id>`), from the authorizer. */
async function noteSources(
  authorizer: Authorizer,
  noteIds: readonly string[],
): Promise<Map<string, string[]>> {
  const sources = new Map<string, string[]>(noteIds.map((id) => [id, []]));
  if (noteIds.length === 0) return sources;
  await Promise.all(
    Object.values(SOURCE_RELATIONS).map(async (relation) => {
      let cursor: string | undefined;
      const seen = new Set<string>();
      do {
        const page = await upstream("authorizer", "the authorizer could not read the notes' sources", () =>
          authorizer.readRelationships({
            filter: { entity: { type: NOTE_ENTITY, ids: noteIds }, relation },
            pageSize: 100,
            ...(cursor === undefined ? {} : { cursor }),
          }),
        );
        for (const tuple of page.tuples) {
          sources.get(tuple.entity.id)?.push(`${tuple.subject.type}:${tuple.subject.id}`);
        }
        cursor = page.nextCursor;
        if (cursor !== undefined && seen.has(cursor)) {
          throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer repeated a cursor");
        }
        if (cursor !== undefined) seen.add(cursor);
      } while (cursor !== undefined);
    }),
  );
  for (const list of sources.values()) list.sort();
  return sources;
}

async function requireManage(deps: MemoryDeps, caller: Caller, noteId: string): Promise<void> {
  if (!/^n-[A-Za-z0-9-]{1,100}$/.test(noteId)) throw new AppError("BAD_REQUEST", "note id: not a note id");
  const subjects = principalSubjects(caller.principal);
  const allowed = await withConsent(deps.authorizer, caller.principal, deps.clock(), () =>
    checkAll(
      deps.authorizer,
      subjects.map((subject) => ({
        entity: { type: NOTE_ENTITY, id: noteId },
        permission: "manage",
        subject,
      })),
    ),
  );
  // Not found and not the caller's look alike: no oracle for other users' note ids.
  if (!allowed.every(Boolean)) throw new AppError("NOT_FOUND", `no note ${noteId} that you own`);
}

/** Every check's answer; any item the authorizer could not decide fails the request (never "allowed"). */
async function checkAll(authorizer: Authorizer, checks: readonly CheckRequest[]): Promise<boolean[]> {
  if (checks.length === 0) return [];
  const outcomes = await upstream("authorizer", "the authorizer could not check the notes", () =>
    authorizer.checkMany(checks),
  );
  if (outcomes.length !== checks.length) {
    throw new AppError("UPSTREAM_UNAVAILABLE", "the authorizer answered a different number of checks");
  }
  return outcomes.map((outcome) => {
    if (isCheckFailure(outcome)) throw outcome.failed;
    return outcome === "allowed";
  });
}

function parseSource(text: string): { type: string; id: string } {
  const match = /^(document|section):([A-Za-z0-9_\-@.:+]{1,128})$/.exec(text);
  if (!match)
    throw new AppError(
      "BAD_REQUEST",
      `sources: "${text.slice(0, 140)}" is not document:<id> or section:<id>`,
    );
  return { type: match[1] as string, id: match[2] as string };
}

function parseShareSubject(text: string): Subject {
  const match = /^(user|agent):([A-Za-z0-9_\-@.:+]{1,128})$/.exec(text);
  if (!match) throw new AppError("BAD_REQUEST", "subject: must be user:<id> or agent:<id>");
  return { type: match[1] as string, id: match[2] as string };
}
