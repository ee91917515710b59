/**
 * The typed client of clearance's HTTP API: openapi-fetch over the types generated from `/openapi.json`
 * (./openapi-types.ts). It knows clearance only through that description, never through the server's
 * modules, so it works against any clearance that serves the same API.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import { ClearanceError, errorFromResponse } from "./clearance-error.ts";
import type { components, paths } from "./openapi-types.ts";

export type SearchRequest = components["schemas"]["RetrievalRequest"];
export type SearchResponse = components["schemas"]["SearchResponse"];
export type Passage = components["schemas"]["Passage"];
export type AnswerResponse = components["schemas"]["AnswerResponse"];
export type Citation = components["schemas"]["Citation"];
export type DocumentsResponse = components["schemas"]["DocumentsResponse"];
export type { components, paths };

/**
 * The caller's access token, or a function that returns the current one. The function is asked before
 * every request, so a short-lived token can be renewed by the caller's own sign-in code.
 */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClearanceClientOptions {
  /** Where clearance serves its API, e.g. `https://clearance.bank.example`. */
  readonly baseUrl: string;
  /** The Bearer token of the person (or agent chain) asking: clearance answers with what they may read. */
  readonly token: TokenSource;
  /** Replaces the global fetch: a proxy-aware one, or an app's own `fetch` to call it in process. */
  readonly fetch?: (request: Request) => Promise<Response>;
  /** How long one request may take before it fails with `UNREACHABLE` (default 30 s). */
  readonly timeoutMs?: number;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ClearanceClient {
  /**
   * Every route of the API, typed from its description (`api.GET("/v1/delegations")`, ...). A response
   * other than 2xx throws `ClearanceError`, so `data` is there whenever the call returns.
   */
  readonly api: Client<paths>;
  /** `POST /v1/search`: the k passages most relevant to `query` among those the caller may read. */
  search(request: SearchRequest, options?: CallOptions): Promise<SearchResponse>;
  /** `POST /v1/answer` (JSON): an answer written only from passages the caller may read, with citations. */
  answer(request: SearchRequest, options?: CallOptions): Promise<AnswerResponse>;
  /** `GET /v1/documents`: the documents the caller may read. */
  readableDocuments(options?: CallOptions): Promise<DocumentsResponse>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function createClearanceClient(options: ClearanceClientOptions): ClearanceClient {
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: (request) =>
      send(
        new Request(request, { signal: AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]) }),
      ),
  });
  api.use(bearerToken(options.token), errorsAsClearanceErrors);

  return {
    api,
    async search(request, call = {}) {
      return dataOf(await api.POST("/v1/search", { body: request, ...call }));
    },
    async answer(request, call = {}) {
      // The route also streams (text/event-stream); this asks for the JSON answer only.
      const data = dataOf(
        await api.POST("/v1/answer", { body: request, headers: { accept: "application/json" }, ...call }),
      );
      if (typeof data === "string") {
        throw new ClearanceError("UNEXPECTED_RESPONSE", "an event stream where JSON was asked for", {
          status: 200,
        });
      }
      return data;
    },
    async readableDocuments(call = {}) {
      return dataOf(await api.GET("/v1/documents", { ...call }));
    },
  };
}

function bearerToken(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const current = typeof token === "function" ? await token() : token;
      request.headers.set("authorization", `Bearer ${current}`);
      return request;
    },
  };
}

/**
 * Failures become `ClearanceError`s here, once, for every route: a non-2xx response carries clearance's
 * code, and a request that got no response at all is `UNREACHABLE`. A caller's own abort stays an abort.
 */
const errorsAsClearanceErrors: Middleware = {
  async onResponse({ response }) {
    if (!response.ok) throw await errorFromResponse(response);
    return undefined;
  },
  onError({ error, request }) {
    if (error instanceof ClearanceError) return error;
    // The caller's own abort (their signal, not the timeout) is theirs to handle: it is rethrown as it is.
    if (request.signal.aborted) return undefined;
    return new ClearanceError(
      "UNREACHABLE",
      isTimeout(error) ? "clearance did not answer in time" : "clearance could not be reached",
      { cause: error },
    );
  },
};

function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

/** The parsed body of a 2xx response; an empty one is not a result. */
function dataOf<T>(result: { data?: T; response: Response }): T {
  if (result.data === undefined) {
    throw new ClearanceError("UNEXPECTED_RESPONSE", `HTTP ${result.response.status} without a body`, {
      status: result.response.status,
    });
  }
  return result.data;
}
