/**
 * `clearance/langchain`: the LangChain.js retriever, with the error it throws so that a chain's caller can
 * branch on `code` without importing `clearance/client` too.
 */

export { ClearanceError, type ClearanceErrorCode, isClearanceError } from "./clearance-error.ts";
export {
  ClearanceRetriever,
  type ClearanceRetrieverInput,
  type PassageMetadata,
} from "./clearance-retriever.ts";
