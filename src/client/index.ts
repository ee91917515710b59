/**
 * `clearance/client`: the typed client of clearance's HTTP API and its one error type. The LangChain
 * retriever is `clearance/langchain` (./clearance-retriever.ts), apart so that this needs no LangChain.
 */
export {
  type AnswerResponse,
  type CallOptions,
  type Citation,
  type ClearanceClient,
  type ClearanceClientOptions,
  type components,
  createClearanceClient,
  type DocumentsResponse,
  type Passage,
  type paths,
  type SearchRequest,
  type SearchResponse,
  type TokenSource,
} from "./clearance-client.ts";
export {
  ClearanceError,
  type ClearanceErrorCode,
  isClearanceError,
  type ServerErrorCode,
} from "./clearance-error.ts";
