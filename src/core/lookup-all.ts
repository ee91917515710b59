import type { Authorizer, LookupResourcesRequest, LookupSubjectsRequest } from "../ports/authorizer.ts";
import { AppError } from "./errors.ts";

const MAX_PAGES = 100_000;

/**
 * Pages a lookup to its end. A page that repeats a cursor or an id out of order means the list cannot
 * be trusted to be complete, so it throws instead of returning what it has (a truncated list must never
 * become a filter).
 */
export async function lookupAllResources(
  authorizer: Authorizer,
  request: Omit<LookupResourcesRequest, "cursor">,
): Promise<string[]> {
  return collectPages((cursor) => authorizer.lookupResources({ ...request, cursor }));
}

export async function lookupAllSubjects(
  authorizer: Authorizer,
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
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await fetchPage(cursor);
    ids.push(...result.ids);
    if (result.nextCursor === undefined) return ids;
    if (seenCursors.has(result.nextCursor)) {
      throw new AppError("UPSTREAM_UNAVAILABLE", "lookup returned a cursor it had already returned");
    }
    seenCursors.add(result.nextCursor);
    cursor = result.nextCursor;
  }
  throw new AppError("UPSTREAM_UNAVAILABLE", `lookup did not finish within ${MAX_PAGES} pages`);
}
