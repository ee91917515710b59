/**
 * A Server-Sent Events reader for `fetch` responses (EventSource cannot POST or send a Bearer token). It
 * follows the WHATWG parsing rules clearance's stream needs: `event:` and `data:` fields, multi-line data,
 * comments, and events split across network chunks. Shared by the widget, the console and the clients.
 */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** Parses complete events out of `buffer`; returns them and the unparsed rest. */
export function parseSseChunk(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0) events.push({ event, data: data.join("\n") });
  }
  return { events, rest };
}

/** The events of a response body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      const parsed = parseSseChunk(buffer);
      buffer = parsed.rest;
      yield* parsed.events;
    }
    const parsed = parseSseChunk(`${buffer + decoder.decode()}\n\n`);
    yield* parsed.events;
  } finally {
    // The reader stopped early: cancel the request rather than leave the answer running.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
