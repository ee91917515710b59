/**
 * The audit trail: one record per request or command that reads or writes, after its principal is
 * established. A record says who acted, on whose behalf, under which token, what was allowed, what was
 * withheld, which model saw what and what changed. It never holds the query text, a prompt, passage text
 * or a token (see the README's "Audit trail" for every field).
 */

/** How the request ended: `allowed`, or `denied`/`failed` with the error code the caller was given. */
export type AuditOutcome =
  | { readonly status: "allowed" }
  | { readonly status: "denied"; readonly code: string }
  | { readonly status: "failed"; readonly code: string };

/** What a verified token said about itself; never the token. */
export interface TokenDescriptor {
  /** `iss`. */
  readonly issuer?: string;
  /** `jti`, when the issuer sets one. */
  readonly jti?: string;
  /** `client_id` (RFC 9068), or `azp` when there is no `client_id`. */
  readonly clientId?: string;
}

/** One change a write made: `grant document:x#viewer@user:y`, `ingest document:x`. */
export interface AuditChange {
  readonly op: string;
  readonly target: string;
}

export interface AuditRecord {
  /** When the use case finished, ISO 8601 UTC. */
  readonly time: string;
  /** clearance's own id for the request, never taken from the caller. */
  readonly requestId: string;
  /** The caller's `X-Request-Id`, kept apart so that no caller can make its record share an id with another's. */
  readonly callerRequestId?: string;
  /** Where the request came in: `POST /v1/search`, `GET /v1/audit`, `mcp:<tool>`, `cli:<command>`. */
  readonly surface: string;
  /** The use case: `search`, `answer`, `documents`, `audit.read`, `grant`, `revoke`, `ingest`, `schema.push`. */
  readonly action: string;
  readonly outcome: AuditOutcome;
  /** The user the token was issued for (the operator for the CLI). */
  readonly userId: string;
  /** The agents acting for the user, as the token names them: current actor first. */
  readonly agentIds: readonly string[];
  readonly token?: TokenDescriptor;
  /** HMAC-SHA-256 of the query under AUDIT_QUERY_KEY: equal questions correlate, the text is never stored. */
  readonly queryDigest?: string;
  readonly k?: number;
  /** The retrieval strategy chosen, and the one that produced the passages (pre-filter after a fallback). */
  readonly strategy?: string;
  readonly finishedWith?: string;
  /** Resources the principal may view, when the strategy listed them all. */
  readonly readableResources?: number;
  /**
   * Chunks withheld: for pre-filter every stored chunk outside the readable set, for a scan the candidates
   * checked and denied before the k-th passage.
   */
  readonly withheld?: number;
  /** The passages returned (and given to the model, for answers), by chunk id and resource. */
  readonly returned?: readonly { readonly chunkId: string; readonly resource: string }[];
  /** For answers: the model called and the chunk ids it cited. */
  readonly model?: string;
  readonly cited?: readonly string[];
  /** For `documents`: the documents listed, by resource. */
  readonly documents?: readonly string[];
  /** For writes: what changed. */
  readonly changes?: readonly AuditChange[];
  /** For reads of the trail: the filters asked for. */
  readonly filter?: Readonly<Record<string, string | number>>;
  /**
   * For answers: a streamed answer has two records, `answer-started` (stored before its first byte, with
   * the passages the model is given) and one of `answer-finished`, `answer-withheld` (access to a cited
   * resource changed while the model wrote), `answer-incomplete` (a failure after streaming began) or
   * `answer-abandoned` (the client went away). A JSON answer has one record, with `answer-withheld` only
   * when withheld.
   */
  readonly phase?:
    | "answer-started"
    | "answer-finished"
    | "answer-withheld"
    | "answer-incomplete"
    | "answer-abandoned";
}

/** A record as stored: its place in the hash chain. `hash` is SHA-256 of the canonical form of the rest. */
export interface ChainedAuditRecord extends AuditRecord {
  readonly seq: number;
  /** The previous record's `hash` (64 zeros for the first record). */
  readonly prev: string;
  readonly hash: string;
}

/**
 * A statement that the trail had `hash` at `seq` at `time`, signed (Ed25519, `signature` in base64url)
 * when a checkpoint key is configured. `sealed` marks the last record of a rotated segment.
 */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly sealed?: boolean;
  /** The key's id (SHA-256 of its public key, base64url, first 16 characters). */
  readonly keyId?: string;
  readonly signature?: string;
}

/** Filters of an audit search; every one given must match. */
export interface AuditFilter {
  readonly user?: string;
  readonly agent?: string;
  /** A resource returned, cited, listed or changed (`document:x`, `section:y`). */
  readonly resource?: string;
  /** The surface (`POST /v1/search`, `cli:grant`) or the action (`search`, `grant`). */
  readonly surface?: string;
  readonly outcome?: "allowed" | "denied" | "failed";
  /** ISO times, inclusive `since`, exclusive `until`. */
  readonly since?: string;
  readonly until?: string;
}

export interface AuditPage {
  readonly records: readonly ChainedAuditRecord[];
  /** Pass back as `after` for the next page; absent on the last page. */
  readonly next?: number;
}

/**
 * Fail-closed contract: `record` resolves only once the record is durable (fsynced, or committed); a
 * failure throws, and the request then fails instead of answering without a trail.
 */
export interface AuditLog {
  record(entry: AuditRecord): Promise<ChainedAuditRecord>;
  /**
   * Resolves when a record could be stored now (the PostgreSQL store asks the server); throws otherwise.
   * An answer calls it before the model, so that a trail that is down costs no model call.
   */
  probe(): Promise<void>;
  close(): Promise<void>;
}

/** Reading the trail back: search and verification. */
export interface AuditReader {
  /** Records matching `filter`, ascending by `seq`, after `after`, at most `limit`. Throws on a failure. */
  search(filter: AuditFilter, page: { readonly after?: number; readonly limit: number }): Promise<AuditPage>;
  /** Every record as stored, ascending by storage order, with where it lies; malformed lines included. */
  scan(): AsyncIterable<AuditScanItem>;
  /** Every checkpoint. */
  checkpoints(): Promise<readonly AuditCheckpoint[]>;
}

export type AuditScanItem =
  | { readonly kind: "record"; readonly record: ChainedAuditRecord; readonly where: string }
  | { readonly kind: "malformed"; readonly text: string; readonly where: string }
  /** A rotated segment ended: its last record must be `lastSeq`, and it must be sealed. */
  | { readonly kind: "segment-end"; readonly where: string; readonly sealedAt?: number };

export type AuditTrail = AuditLog & AuditReader;
