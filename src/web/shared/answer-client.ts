/**
 * Asking clearance for a streamed answer from a browser: POST /v1/answer with a Bearer token and
 * `Accept: text/event-stream`, read the events, and turn every outcome into one of a few cases the pages
 * show in plain words. Shared by the widget and the console; it uses the public API like any client.
 */
import { readSse } from "./sse.ts";

export interface PassageView {
  readonly chunkId: string;
  readonly documentId: string;
  readonly sectionId: string | null;
  readonly title: string;
  readonly text: string;
  readonly score: number;
}

export interface CitationView {
  readonly chunkId: string;
  readonly documentId: string;
  readonly sectionId: string | null;
  readonly title: string;
}

export interface AnswerHandlers {
  onPassages(passages: readonly PassageView[]): void;
  onText(text: string): void;
}

/** How an ask ended. `status` is the HTTP status of a refusal before streaming. */
export type AnswerEnd =
  | { readonly kind: "done"; readonly answer: string; readonly citations: readonly CitationView[] }
  | { readonly kind: "withheld" }
  | { readonly kind: "incomplete"; readonly code: string }
  | { readonly kind: "refused"; readonly status: number; readonly code: string }
  | { readonly kind: "unreachable" };

export async function askStreaming(
  apiUrl: string,
  token: string,
  request: { readonly query: string; readonly k?: number },
  handlers: AnswerHandlers,
  signal?: AbortSignal,
): Promise<AnswerEnd> {
  let response: Response;
  try {
    response = await fetch(`${apiUrl.replace(/\/+$/, "")}/v1/answer`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify(request),
      // Bearer tokens only: no cookie is ever sent, to clearance or anywhere else.
      credentials: "omit",
      ...(signal ? { signal } : {}),
    });
  } catch {
    return { kind: "unreachable" };
  }
  if (!response.ok || response.body === null) {
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string } } | undefined;
    return { kind: "refused", status: response.status, code: body?.error?.code ?? "UNKNOWN" };
  }
  try {
    for await (const event of readSse(response.body)) {
      const data = JSON.parse(event.data) as Record<string, unknown>;
      if (event.event === "passages") handlers.onPassages(data.passages as PassageView[]);
      else if (event.event === "text") handlers.onText(String(data.text));
      else if (event.event === "done")
        return {
          kind: "done",
          answer: String(data.answer),
          citations: data.citations as CitationView[],
        };
      else if (event.event === "withheld") return { kind: "withheld" };
      else if (event.event === "error")
        return { kind: "incomplete", code: (data.error as { code?: string })?.code ?? "UNKNOWN" };
    }
  } catch {
    return { kind: "incomplete", code: "STREAM_BROKEN" };
  }
  // The stream ended without a last event: never shown as a complete answer.
  return { kind: "incomplete", code: "STREAM_CUT" };
}

/** What a person is told, in plain words, for each way an ask can fail. */
export function plainWords(end: Exclude<AnswerEnd, { kind: "done" }>): string {
  switch (end.kind) {
    case "withheld":
      return "Your access changed while this answer was being written, so it was withdrawn. Please ask again.";
    case "incomplete":
      return "The answer was interrupted and is incomplete. Please ask again.";
    case "unreachable":
      return "The assistant could not be reached. Check your connection and try again.";
    case "refused":
      switch (end.status) {
        case 401:
          return "Your session has expired. Please sign in again.";
        case 403:
          return "You are not allowed to ask this.";
        case 429:
          return "Too many questions at once. Please wait a moment and try again.";
        case 400:
          return "That question could not be read. Please shorten or rephrase it.";
        case 409:
          return "Your access changed while this answer was being written, so it was withdrawn. Please ask again.";
        default:
          return end.status >= 500
            ? "The assistant is unavailable right now. Please try again in a few minutes."
            : "Something went wrong. Please try again.";
      }
  }
}

/**
 * The answer text as pieces to render as text: plain strings, and citation markers `[chunk id]` replaced
 * by their number (first cited, first numbered). Nothing in it is ever parsed as HTML or Markdown.
 */
export function numberCitations(
  text: string,
  knownIds: ReadonlySet<string>,
  numbers: Map<string, number>,
): (string | { readonly number: number; readonly chunkId: string })[] {
  const pieces: (string | { number: number; chunkId: string })[] = [];
  const marker = /\[([^\]\s]{1,200})\]/g;
  let last = 0;
  for (let match = marker.exec(text); match !== null; match = marker.exec(text)) {
    const id = match[1] as string;
    if (!knownIds.has(id)) continue;
    if (match.index > last) pieces.push(text.slice(last, match.index));
    let number = numbers.get(id);
    if (number === undefined) {
      number = numbers.size + 1;
      numbers.set(id, number);
    }
    pieces.push({ number, chunkId: id });
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}
