import type { Authorizer, LookupResourcesRequest, LookupSubjectsRequest } from "../ports/authorizer.ts";
import { AppError } from "./errors.ts";

const MAX_PAGES = 100_000;

/**
 * Pages a lookup to its end. A page that repeats a cursor or an id out of order means the list cannot
 * be trusted to be complete, so it throws instead of returning what it has (a truncated list must never
 * become a filter). The result is strictly ascending, which lets callers intersect lists by merging.
 */
export async function lookupAllResources(
  authorizer: Pick<Authorizer, "lookupResources">,
  request: Omit<LookupResourcesRequest, "cursor">,
): Promise<string[]> {
  return collectPages((cursor) => authorizer.lookupResources({ ...request, cursor }));
}

export async function lookupAllSubjects(
  authorizer: Pick<Authorizer, "lookupSubjects">,
  request: Omit<LookupSubjectsRequest, "cursor">,
): Promise<string[]> {
  return collectPages((cursor) => authorizer.lookupSubjects({ ...request, cursor }));
}

async function collectPages(
  fetchPage: (cursor: string | undefined) => Promise<{ ids: readonly string[]; nextCursor?: string }>,
): Promise<string[]> {
  const ids: string[] = [];
  const seenCursors = new Set<string>();
  let cursor: string | undefined;
  let last: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await fetchPage(cursor);
    for (const id of result.ids) {
      // Ids ascend across pages as well as within them (code-unit order; ids are ASCII), so a repeat or a
      // step back means pages overlapped or were skipped.
      if (last !== undefined && !(last < id)) {
        throw new AppError("UPSTREAM_UNAVAILABLE", "lookup returned an id out of order or twice");
      }
      ids.push(id);
      last = id;
    }
    if (result.nextCursor === undefined) return ids;
    if (seenCursors.has(result.nextCursor)) {
      throw new AppError("UPSTREAM_UNAVAILABLE", "lookup returned a cursor it had already returned");
    }
    seenCursors.add(result.nextCursor);
    cursor = result.nextCursor;
  }
  throw new AppError("UPSTREAM_UNAVAILABLE", `lookup did not finish within ${MAX_PAGES} pages`);
}
