/**
 * clearance as a LangChain.js retriever: `POST /v1/search` with the caller's token, each passage a
 * `Document`. clearance authorizes every passage for the token's user and every agent acting for them
 * before it answers, so a chain built on this retriever can only ever hand its model what that caller may
 * read. That holds per token: create one retriever per caller, never one shared across callers.
 */
import type { CallbackManagerForRetrieverRun } from "@langchain/core/callbacks/manager";
import { Document } from "@langchain/core/documents";
import { BaseRetriever, type BaseRetrieverInput } from "@langchain/core/retrievers";
import {
  type ClearanceClient,
  type ClearanceClientOptions,
  createClearanceClient,
} from "./clearance-client.ts";

/** What each `Document` carries besides the passage text (`pageContent`). */
export interface PassageMetadata {
  readonly chunkId: string;
  readonly documentId: string;
  /** The narrower section the passage lies in, or null when it is governed by its document alone. */
  readonly sectionId: string | null;
  readonly title: string;
  /** clearance's relevance score: higher is more relevant, comparable within one result only. */
  readonly score: number;
}

export type ClearanceRetrieverInput = BaseRetrieverInput &
  // A client of the caller's own (for its fetch, timeout or a shared token function), or what makes one.
  ({ readonly client: ClearanceClient } | ClearanceClientOptions) & {
    /** How many passages to ask for (default: the server's default). */
    readonly k?: number;
  };

export class ClearanceRetriever extends BaseRetriever<PassageMetadata> {
  override lc_namespace = ["clearance", "retrievers"];

  static override lc_name(): string {
    return "ClearanceRetriever";
  }

  private readonly client: ClearanceClient;
  private readonly k: number | undefined;

  constructor(fields: ClearanceRetrieverInput) {
    // Only LangChain's own fields go to the base class: it keeps them as the constructor arguments it
    // serializes for every callback (tracers included) on each run, and the token must never be one.
    const { callbacks, tags, metadata, verbose } = fields;
    super({
      ...(callbacks === undefined ? {} : { callbacks }),
      ...(tags === undefined ? {} : { tags }),
      ...(metadata === undefined ? {} : { metadata }),
      ...(verbose === undefined ? {} : { verbose }),
    });
    this.client = "client" in fields ? fields.client : createClearanceClient(fields);
    this.k = fields.k;
  }

  /** Throws `ClearanceError` (401, 403, 503, ...) rather than answering with fewer or no documents. */
  override async _getRelevantDocuments(
    query: string,
    _runManager?: CallbackManagerForRetrieverRun,
  ): Promise<Document<PassageMetadata>[]> {
    const { passages } = await this.client.search(this.k === undefined ? { query } : { query, k: this.k });
    return passages.map(
      (passage) =>
        new Document<PassageMetadata>({
          id: passage.chunkId,
          pageContent: passage.text,
          metadata: {
            chunkId: passage.chunkId,
            documentId: passage.documentId,
            sectionId: passage.sectionId,
            title: passage.title,
            score: passage.score,
          },
        }),
    );
  }
}
