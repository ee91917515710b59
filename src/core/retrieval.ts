/**
 * Authorized top-k: the k highest-scoring chunks among those the principal may view. This is the
 * pre-filter strategy: list every resource the principal may view, to the end, then search only among
 * them. A failure anywhere denies the whole request; a partial list is never used as a filter.
 */
import type { Authorizer } from "../ports/authorizer.ts";
import type { Embedder } from "../ports/embedder.ts";
import type { VectorStore } from "../ports/vector-store.ts";
import type { ScoredChunk } from "./chunk.ts";
import { AppError, isAppError } from "./errors.ts";
import { lookupAllResources } from "./lookup-all.ts";
import { type Principal, principalSubjects } from "./principal.ts";

/** The entity types a chunk's resource can have, and the permission that lets a principal read it. */
export const RESOURCE_TYPES = ["document", "section"] as const;
export const VIEW_PERMISSION = "view";

export interface RetrievalDeps {
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
}

export interface RetrievalRequest {
  readonly principal: Principal;
  readonly query: string;
  readonly k: number;
}

export interface RetrievalStats {
  readonly strategy: "pre-filter";
  /** Resources (documents and sections) the whole principal may view. */
  readonly permittedResources: number;
  /** Chunks in the store, and how many of them lie in permitted resources (the rest were withheld). */
  readonly storedChunks: number;
  readonly permittedChunks: number;
  readonly returned: number;
  readonly timingsMs: { readonly authorize: number; readonly embed: number; readonly search: number };
}

export interface RetrievalResult {
  readonly passages: readonly ScoredChunk[];
  readonly stats: RetrievalStats;
}

export async function retrieveAuthorized(
  deps: RetrievalDeps,
  request: RetrievalRequest,
): Promise<RetrievalResult> {
  const started = performance.now();
  const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const result = await work();
    return [result, performance.now() - started];
  };
  const [[permitted, authorizeMs], [vector, embedMs]] = await Promise.all([
    timed(() => permittedResources(deps.authorizer, request.principal)),
    timed(() => embedQuery(deps.embedder, request.query)),
  ]);
  const searchStarted = performance.now();
  const [found, storedChunks, permittedChunks] = await Promise.all([
    permitted.size === 0
      ? Promise.resolve([])
      : deps.vectorStore.search({ vector, k: request.k, resources: permitted }),
    deps.vectorStore.count(),
    deps.vectorStore.count(permitted),
  ]);
  // Defence in depth: the store promised to stay inside the set; a chunk outside it is a bug, and a bug
  // here must not become a leak.
  for (const chunk of found) {
    if (!permitted.has(chunk.resource)) {
      throw new AppError("INTERNAL", "the vector store returned a chunk outside the permitted resources");
    }
  }
  return {
    passages: found,
    stats: {
      strategy: "pre-filter",
      permittedResources: permitted.size,
      storedChunks,
      permittedChunks,
      returned: found.length,
      timingsMs: { authorize: authorizeMs, embed: embedMs, search: performance.now() - searchStarted },
    },
  };
}

/**
 * Every resource (`document:<id>`, `section:<id>`) on which the user and each agent in the chain has
 * `view`. Any authorizer failure becomes `UPSTREAM_UNAVAILABLE`, so the caller denies everything.
 */
export async function permittedResources(authorizer: Authorizer, principal: Principal): Promise<Set<string>> {
  const subjects = principalSubjects(principal);
  const perType = await Promise.all(
    RESOURCE_TYPES.map(async (entityType) => {
      const lists = await Promise.all(
        subjects.map((subject) =>
          lookupAllResources(authorizer, { entityType, permission: VIEW_PERMISSION, subject }).catch(
            (error: unknown) => {
              throw new AppError(
                "UPSTREAM_UNAVAILABLE",
                "the authorizer could not list permitted resources",
                {
                  cause: error,
                },
              );
            },
          ),
        ),
      );
      // A resource is permitted only if every subject may view it. The lists are strictly ascending
      // (`lookupAllResources` throws otherwise), so the intersection is a merge, with no set per subject.
      const [first = [], ...others] = lists;
      return { entityType, ids: others.reduce(intersectAscending, first) };
    }),
  );
  const permitted = new Set<string>();
  for (const { entityType, ids } of perType) {
    for (const id of ids) permitted.add(`${entityType}:${id}`);
  }
  return permitted;
}

/** The ids in both strictly ascending lists, ascending. */
function intersectAscending(a: readonly string[], b: readonly string[]): string[] {
  const both: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    if (x === y) {
      both.push(x);
      i++;
      j++;
    } else if (x < y) {
      i++;
    } else {
      j++;
    }
  }
  return both;
}

async function embedQuery(embedder: Embedder, query: string): Promise<Float32Array> {
  try {
    return await embedder.embedQuery(query);
  } catch (error) {
    if (isAppError(error)) throw error;
    throw new AppError("UPSTREAM_UNAVAILABLE", "the embedder failed", { cause: error });
  }
}
