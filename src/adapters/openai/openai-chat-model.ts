import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { ChatOpenAICompletions } from "@langchain/openai";
import { AppError } from "../../core/errors.ts";
import type { ChatModel } from "../../ports/chat-model.ts";
import { buildAnswerPrompt, NO_ANSWER_TEXT, parseCitations } from "./answer-prompt.ts";
import { badResponse, callUpstream, checkTimeout, upstreamError } from "./upstream-call.ts";

export interface OpenAiChatModelOptions {
  readonly apiKey: string;
  /** An OpenAI-compatible endpoint, e.g. `http://localhost:11434/v1`; omitted means OpenAI. */
  readonly baseURL?: string;
  readonly model: string;
  /** Deadline of one answer, retries included. */
  readonly timeoutMs: number;
  readonly maxTokens?: number;
  /** Retries of a failed request inside the deadline (default 1). */
  readonly maxRetries?: number;
  /** Sampling temperature; omitted leaves the endpoint's default (some reasoning models accept no other). */
  readonly temperature?: number;
}

const DEFAULT_MAX_RETRIES = 1;
const OPENAI_BASE_URL = "https://api.openai.com/v1";
/** The readiness probe's own deadline: a probe answers quickly or reports the endpoint down. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * The ChatModel port over an OpenAI-compatible `/chat/completions` endpoint (the completions client is
 * used directly, so the Responses API is never chosen behind our back for some model names).
 * The prompt quotes the passages as data (see answer-prompt.ts); citations are parsed from the answer and
 * kept only when they name a passage of the request. With no passage, the model is not called at all.
 */
export function createOpenAiChatModel(options: OpenAiChatModelOptions): ChatModel {
  checkTimeout(options.timeoutMs);
  if (!options.apiKey) throw new AppError("BAD_REQUEST", "an API key is required for the OpenAI chat model");
  const service = `the chat model ${options.model}`;
  const client = new ChatOpenAICompletions({
    apiKey: options.apiKey,
    model: options.model,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
    ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.baseURL === undefined ? {} : { configuration: { baseURL: options.baseURL } }),
  });
  return {
    model: options.model,
    async answer(request) {
      if (request.passages.length === 0) return { text: NO_ANSWER_TEXT, citations: [] };
      const prompt = buildAnswerPrompt(request);
      const message = await callUpstream(service, options.timeoutMs, (signal) =>
        client.invoke([new SystemMessage(prompt.system), new HumanMessage(prompt.user)], { signal }),
      );
      const text = message.text.trim();
      if (text === "") throw badResponse(service, "no text");
      return {
        text,
        citations: parseCitations(
          text,
          request.passages.map((passage) => passage.id),
        ),
      };
    },
    /**
     * Streams the completion (`stream: true`) through LangChain's `stream`, under the same deadline for
     * the whole answer; the citations are parsed from the full text at the end, as `answer` does.
     */
    async *streamAnswer(request) {
      if (request.passages.length === 0) {
        yield { kind: "text", text: NO_ANSWER_TEXT };
        yield { kind: "answer", answer: { text: NO_ANSWER_TEXT, citations: [] } };
        return;
      }
      const prompt = buildAnswerPrompt(request);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), options.timeoutMs);
      let text = "";
      try {
        const stream = await client.stream(
          [new SystemMessage(prompt.system), new HumanMessage(prompt.user)],
          {
            signal: controller.signal,
          },
        );
        for await (const chunk of stream) {
          const piece = chunk.text;
          if (piece === "") continue;
          // Leading white space is dropped, as `answer` trims it.
          const shown = text === "" ? piece.trimStart() : piece;
          text += shown;
          if (shown !== "") yield { kind: "text", text: shown };
        }
      } catch (error) {
        throw upstreamError(service, options.timeoutMs, error, controller.signal.aborted);
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
      if (text.trim() === "") throw badResponse(service, "no text");
      const ids = request.passages.map((passage) => passage.id);
      yield { kind: "answer", answer: { text, citations: parseCitations(text, ids) } };
    },
    /**
     * `GET /models` on the same endpoint with the same key: it proves the endpoint is reachable and the key
     * accepted, costs no tokens, and sends no prompt. It does not check that the model is listed, since
     * compatible servers (Ollama, LiteLLM) name models differently in their lists.
     */
    async probe() {
      const url = `${(options.baseURL ?? OPENAI_BASE_URL).replace(/\/+$/, "")}/models`;
      const timeoutMs = Math.min(options.timeoutMs, PROBE_TIMEOUT_MS);
      await callUpstream(service, timeoutMs, async (signal) => {
        const response = await fetch(url, {
          headers: { authorization: `Bearer ${options.apiKey}`, accept: "application/json" },
          signal,
        });
        await response.body?.cancel();
        // `status` is what callUpstream reports; the body is never quoted.
        if (!response.ok) throw Object.assign(new Error("models list refused"), { status: response.status });
      });
    },
  };
}
