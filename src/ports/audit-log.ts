/**
 * One audit record per authorized request: who asked, on whose behalf, and what was allowed and withheld.
 * It never holds the query text, a prompt, passage text or a token.
 */
export interface AuditRecord {
  readonly time: string;
  readonly requestId: string;
  readonly route: string;
  readonly userId: string;
  /** The agents acting for the user, current actor first. */
  readonly agentIds: readonly string[];
  /** SHA-256 of the query, so that repeated questions can be correlated without storing them. */
  readonly queryDigest: string;
  readonly k: number;
  /** The retrieval strategy chosen, and the one that produced the passages (pre-filter after a fallback). */
  readonly strategy: string;
  readonly finishedWith: string;
  /** Resources the principal may view, when the strategy listed them all. */
  readonly readableResources?: number;
  /**
   * Chunks withheld: for pre-filter every stored chunk outside the readable set, for a scan the candidates
   * checked and denied before the k-th passage.
   */
  readonly withheld: number;
  /** The passages returned, by chunk id and resource. */
  readonly returned: readonly { readonly chunkId: string; readonly resource: string }[];
  /** For /v1/answer: the model called and the chunk ids it cited. */
  readonly model?: string;
  readonly cited?: readonly string[];
  /**
   * For an owner's write (issue 14; a minimal record until the audit trail is generalised): what was done
   * to which document, and what changed (chunks and relationships written and removed).
   */
  readonly write?: {
    readonly action: string;
    readonly document: string;
    readonly change: Readonly<Record<string, unknown>>;
  };
}

/**
 * Fail-closed contract: `record` resolves only once the record is stored; a failure throws, and the request
 * then fails instead of answering without a trail.
 */
export interface AuditLog {
  record(entry: AuditRecord): Promise<void>;
  close(): Promise<void>;
}
