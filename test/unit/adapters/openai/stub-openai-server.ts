/**
 * A stub of an OpenAI-compatible server for adapter tests: a real node:http server on a free port that
 * speaks the JSON shapes of `/v1/embeddings` and `/v1/chat/completions`, records every request, and can
 * be told to be slow, to fail, or to answer something specific.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: the recorded JSON body is inspected freely by tests
  readonly body: any;
}

export interface StubBehaviour {
  /** Wait this long before answering. */
  delayMs?: number;
  /** Answer with this status and an error body that quotes the request (as some servers do). */
  status?: number;
  /** The assistant message for a chat completion. */
  chatContent?: string;
  /** The embedding for an input text (default: a fixed function of the text, not unit length). */
  embed?: (text: string) => number[];
  /** Return this many embeddings instead of one per input. */
  embeddingCount?: number;
  /** A streamed completion (`stream: true`) sends the content in these pieces (default: one piece). */
  chatPieces?: readonly string[];
  /** A streamed completion stops after this many pieces by destroying the connection. */
  breakAfterPieces?: number;
  /** Wait this long between streamed pieces. */
  pieceDelayMs?: number;
}

export interface StubServer {
  readonly baseURL: string;
  readonly requests: StubRequest[];
  behaviour: StubBehaviour;
  close(): Promise<void>;
}

export function defaultEmbedding(text: string, dimensions = 4): number[] {
  return Array.from({ length: dimensions }, (_, i) => ((text.length + i * 7) % 5) + 1);
}

export async function startStubOpenAiServer(): Promise<StubServer> {
  const requests: StubRequest[] = [];
  const state: { behaviour: StubBehaviour } = { behaviour: {} };
  const server: Server = createServer((request, response) => {
    const pieces: Buffer[] = [];
    request.on("data", (piece: Buffer) => pieces.push(piece));
    request.on("end", () => {
      const text = Buffer.concat(pieces).toString("utf8");
      const body = text ? JSON.parse(text) : undefined;
      const path = request.url ?? "";
      requests.push({ method: request.method ?? "", path, headers: request.headers, body });
      const behaviour = state.behaviour;
      const reply = (): void => {
        if (response.destroyed) return;
        const send = (status: number, value: unknown): void => {
          response.writeHead(status, { "content-type": "application/json" });
          response.end(JSON.stringify(value));
        };
        if (behaviour.status !== undefined && behaviour.status !== 200) {
          send(behaviour.status, {
            error: { message: `server error while handling: ${text}`, type: "server_error" },
          });
          return;
        }
        if (path === "/v1/embeddings") {
          const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
          const embed = behaviour.embed ?? ((input: string) => defaultEmbedding(input, body.dimensions ?? 4));
          const count = behaviour.embeddingCount ?? inputs.length;
          send(200, {
            object: "list",
            model: body.model,
            data: Array.from({ length: count }, (_, index) => ({
              object: "embedding",
              index,
              embedding: embed(inputs[index] ?? ""),
            })),
            usage: { prompt_tokens: 1, total_tokens: 1 },
          });
          return;
        }
        if (path === "/v1/chat/completions" && body.stream === true) {
          const pieces = behaviour.chatPieces ?? [behaviour.chatContent ?? ""];
          response.writeHead(200, { "content-type": "text/event-stream" });
          const chunk = (delta: Record<string, unknown>, finish: string | null) =>
            `data: ${JSON.stringify({
              id: "chatcmpl-stub",
              object: "chat.completion.chunk",
              created: 1_700_000_000,
              model: body.model,
              choices: [{ index: 0, delta, finish_reason: finish }],
            })}\n\n`;
          const sendPiece = (index: number): void => {
            if (response.destroyed) return;
            if (behaviour.breakAfterPieces !== undefined && index === behaviour.breakAfterPieces) {
              response.destroy();
              return;
            }
            if (index === pieces.length) {
              response.end(`${chunk({}, "stop")}data: [DONE]\n\n`);
              return;
            }
            response.write(
              chunk(
                index === 0 ? { role: "assistant", content: pieces[0] } : { content: pieces[index] },
                null,
              ),
            );
            setTimeout(() => sendPiece(index + 1), behaviour.pieceDelayMs ?? 0);
          };
          sendPiece(0);
          return;
        }
        if (path === "/v1/chat/completions") {
          send(200, {
            id: "chatcmpl-stub",
            object: "chat.completion",
            created: 1_700_000_000,
            model: body.model,
            choices: [
              {
                index: 0,
                message: { role: "assistant", content: behaviour.chatContent ?? "" },
                finish_reason: "stop",
              },
            ],
            usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          });
          return;
        }
        send(404, { error: { message: "not found" } });
      };
      if (behaviour.delayMs) setTimeout(reply, behaviour.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value: StubBehaviour) {
      state.behaviour = value;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
