/**
 * The audit trail's hash chain, checkpoints and verification, shared by every store. A record's `hash` is
 * SHA-256 of its canonical form (RFC 8785 JSON canonicalization) without `hash`; it carries the `hash` of
 * the record before it as `prev`, and a sequence number. Editing, removing, reordering or inserting a
 * record breaks the chain at that record; cutting the tail or recomputing every hash is caught by the
 * checkpoints, which sign the head's hash with a key the writer of the trail never stores beside it.
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  type KeyObject,
  sign,
  verify as verifySignature,
} from "node:crypto";
import canonicalize from "canonicalize";
import type {
  AuditCheckpoint,
  AuditFilter,
  AuditReader,
  AuditRecord,
  ChainedAuditRecord,
} from "../ports/audit-log.ts";

/** `prev` of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** RFC 8785 canonical JSON. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error("the value has no JSON form");
  return text;
}

/** SHA-256 (hex) of a record's canonical form without its `hash`. */
export function recordHash(record: Omit<ChainedAuditRecord, "hash"> | ChainedAuditRecord): string {
  const { hash: _hash, ...rest } = record as ChainedAuditRecord;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** The record that follows `head` (undefined for the first record of a trail). */
export function chainRecord(
  record: AuditRecord,
  head: { readonly seq: number; readonly hash: string } | undefined,
): ChainedAuditRecord {
  // Undefined fields have no canonical form and would make a stored record differ from the hashed one.
  const clean = JSON.parse(JSON.stringify(record)) as AuditRecord;
  const linked = { ...clean, seq: (head?.seq ?? 0) + 1, prev: head?.hash ?? GENESIS_HASH };
  return { ...linked, hash: recordHash(linked) };
}

/** The key's id: SHA-256 of its public key (SPKI DER), base64url, 16 characters. */
export function checkpointKeyId(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("base64url")
    .slice(0, 16);
}

/** A checkpoint of `head`, signed with Ed25519 when a private key is given. */
export function makeCheckpoint(
  head: { readonly seq: number; readonly hash: string },
  options: { readonly key?: KeyObject; readonly time?: Date; readonly sealed?: boolean } = {},
): AuditCheckpoint {
  const body: AuditCheckpoint = {
    seq: head.seq,
    hash: head.hash,
    time: (options.time ?? new Date()).toISOString(),
    ...(options.sealed ? { sealed: true } : {}),
    ...(options.key ? { keyId: checkpointKeyId(options.key) } : {}),
  };
  if (!options.key) return body;
  const signature = sign(null, Buffer.from(canonicalJson(body)), options.key).toString("base64url");
  return { ...body, signature };
}

/** Whether `checkpoint`'s signature verifies under `publicKey`. */
export function checkpointSignatureValid(checkpoint: AuditCheckpoint, publicKey: KeyObject): boolean {
  const { signature, ...body } = checkpoint;
  if (signature === undefined) return false;
  try {
    return verifySignature(
      null,
      Buffer.from(canonicalJson(body)),
      publicKey,
      Buffer.from(signature, "base64url"),
    );
  } catch {
    return false;
  }
}

/** HMAC-SHA-256 (hex) of a query under the configured key: a dictionary of common questions cannot read it. */
export function queryDigest(key: Uint8Array, query: string): string {
  return createHmac("sha256", key).update(query, "utf8").digest("hex");
}

/** The resources a record names: passages returned, documents listed, targets changed. */
export function recordResources(record: AuditRecord): string[] {
  const resources = new Set<string>();
  for (const passage of record.returned ?? []) resources.add(passage.resource);
  for (const document of record.documents ?? []) resources.add(document);
  for (const change of record.changes ?? []) {
    // `document:x#viewer@user:y` names document:x (and the subject, which is a principal, not a resource).
    resources.add(change.target.split("#")[0] as string);
  }
  return [...resources];
}

/** Whether a record matches every filter given. */
export function matchesFilter(record: ChainedAuditRecord, filter: AuditFilter): boolean {
  if (filter.user !== undefined && record.userId !== filter.user) return false;
  if (filter.agent !== undefined && !record.agentIds.includes(filter.agent)) return false;
  if (filter.surface !== undefined && record.surface !== filter.surface && record.action !== filter.surface) {
    return false;
  }
  if (filter.outcome !== undefined && record.outcome.status !== filter.outcome) return false;
  if (filter.since !== undefined && Date.parse(record.time) < Date.parse(filter.since)) return false;
  if (filter.until !== undefined && Date.parse(record.time) >= Date.parse(filter.until)) return false;
  if (filter.resource !== undefined && !recordResources(record).includes(filter.resource)) return false;
  return true;
}

export interface VerifyProblem {
  /** The record the problem is found at, when there is one. */
  readonly seq?: number;
  /** Where it lies: `segment-000000000001.jsonl:12`, `seq 12`. */
  readonly where?: string;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly records: number;
  readonly firstSeq?: number;
  readonly lastSeq?: number;
  readonly checkpoints: number;
  /** Checkpoints whose signature was checked and verified. */
  readonly signedCheckpoints: number;
  /** The first problem found: what `audit verify` names. */
  readonly problem?: VerifyProblem;
  /** What was not checked, or was accepted (records removed by retention). */
  readonly notes: readonly string[];
}

export interface VerifyOptions {
  /** The checkpoint key (public, or the private key it is derived from). Without it, signatures are not checked. */
  readonly key?: KeyObject;
  /** Now, for the rule on the unsigned tail. */
  readonly now?: Date;
  /**
   * Records after the last signed checkpoint are accepted only while younger than this: a writer
   * checkpoints its head at least every AUDIT_CHECKPOINT_INTERVAL_MS, on rotation, on close and on start.
   */
  readonly unsignedTailGraceMs?: number;
}

/**
 * Recomputes the chain and checks it against the checkpoints. Stops at the first problem and names the
 * record: edited (its hash), removed (a gap), reordered or inserted (a number out of place, a broken
 * link), a cut tail (a checkpoint past the end, a rotated segment without its seal), a consistent
 * rewrite (a signed checkpoint that no longer matches, or old records no signed checkpoint covers).
 */
export async function verifyTrail(reader: AuditReader, options: VerifyOptions = {}): Promise<VerifyReport> {
  const notes: string[] = [];
  const publicKey =
    options.key === undefined
      ? undefined
      : options.key.type === "private"
        ? createPublicKey(options.key)
        : options.key;
  const now = options.now ?? new Date();
  const grace = options.unsignedTailGraceMs ?? 120_000;
  let records = 0;
  let firstSeq: number | undefined;
  let lastSeq: number | undefined;
  let signed = 0;
  const all = await reader.checkpoints();
  const fail = (problem: VerifyProblem): VerifyReport => ({
    ok: false,
    records,
    ...(firstSeq === undefined ? {} : { firstSeq }),
    ...(lastSeq === undefined ? {} : { lastSeq }),
    checkpoints: all.length,
    signedCheckpoints: signed,
    problem,
    notes,
  });

  // Checkpoints that count: with a key, only those it signed (an unsigned or forged one is a problem);
  // without one, every checkpoint, as a hint that catches a cut tail but not a consistent rewrite.
  const trusted = new Map<number, AuditCheckpoint[]>();
  for (const checkpoint of all) {
    if (publicKey !== undefined) {
      if (checkpoint.signature === undefined) {
        notes.push(`the checkpoint of seq ${checkpoint.seq} (${checkpoint.time}) is unsigned; ignored`);
        continue;
      }
      if (!checkpointSignatureValid(checkpoint, publicKey)) {
        return fail({
          seq: checkpoint.seq,
          message: `the checkpoint of seq ${checkpoint.seq} (${checkpoint.time}) has a bad signature: forged or altered`,
        });
      }
      signed += 1;
    }
    const list = trusted.get(checkpoint.seq) ?? [];
    list.push(checkpoint);
    trusted.set(checkpoint.seq, list);
  }
  if (publicKey === undefined && all.some((checkpoint) => checkpoint.signature !== undefined)) {
    notes.push("no checkpoint key given: signatures not checked, so a consistent rewrite cannot be caught");
  }

  let expected: number | undefined;
  let prev = GENESIS_HASH;
  let lastCovered = 0;
  let oldestUncovered: { seq: number; time: string } | undefined;
  for await (const item of reader.scan()) {
    if (item.kind === "malformed") {
      return fail({ where: item.where, message: `${item.where} is not a record: damaged or edited` });
    }
    if (item.kind === "segment-end") {
      if (item.sealedAt === undefined || item.sealedAt !== lastSeq) {
        return fail({
          ...(lastSeq === undefined ? {} : { seq: lastSeq }),
          where: item.where,
          message: `${item.where} was rotated but does not end with its seal${lastSeq === undefined ? "" : ` (its last record is seq ${lastSeq})`}: its tail was cut or a record was added`,
        });
      }
      continue;
    }
    const { record, where } = item;
    if (recordHash(record) !== record.hash) {
      return fail({
        seq: record.seq,
        where,
        message: `record seq ${record.seq} (${where}) was edited: its hash does not match its content`,
      });
    }
    if (expected === undefined) {
      if (record.seq !== 1) {
        const anchor = trusted.get(record.seq - 1)?.find((checkpoint) => checkpoint.hash === record.prev);
        if (anchor === undefined) {
          return fail({
            seq: record.seq,
            where,
            message: `the trail starts at seq ${record.seq} (${where}): records 1 to ${record.seq - 1} were removed`,
          });
        }
        notes.push(`records 1 to ${record.seq - 1} were removed by retention (anchored by a checkpoint)`);
      } else if (record.prev !== GENESIS_HASH) {
        return fail({ seq: 1, where, message: `record seq 1 (${where}) does not start the chain` });
      }
      firstSeq = record.seq;
    } else if (record.seq > expected) {
      return fail({
        seq: expected,
        where,
        message:
          `record seq ${expected} is missing: seq ${record.seq} follows seq ${expected - 1} at ${where} ` +
          `(record${record.seq - expected > 1 ? `s ${expected} to ${record.seq - 1}` : ` ${expected}`} removed or moved)`,
      });
    } else if (record.seq < expected) {
      return fail({
        seq: record.seq,
        where,
        message: `record seq ${record.seq} (${where}) comes after seq ${expected - 1}: reordered or inserted`,
      });
    } else if (record.prev !== prev) {
      return fail({
        seq: record.seq,
        where,
        message: `record seq ${record.seq} (${where}) does not link to the record before it: inserted, or the record before it was replaced`,
      });
    }
    for (const checkpoint of trusted.get(record.seq) ?? []) {
      if (checkpoint.hash !== record.hash) {
        return fail({
          seq: record.seq,
          where,
          message: `record seq ${record.seq} (${where}) differs from the checkpoint of ${checkpoint.time}: the trail was rewritten`,
        });
      }
      lastCovered = record.seq;
      oldestUncovered = undefined;
    }
    if (lastCovered !== record.seq && oldestUncovered === undefined) {
      oldestUncovered = { seq: record.seq, time: record.time };
    }
    records += 1;
    lastSeq = record.seq;
    prev = record.hash;
    expected = record.seq + 1;
  }
  const beyond = [...trusted.keys()].filter((seq) => lastSeq === undefined || seq > lastSeq);
  if (beyond.length > 0) {
    const furthest = Math.max(...beyond);
    const from = (lastSeq ?? 0) + 1;
    return fail({
      seq: from,
      message: `the trail ends at seq ${lastSeq ?? 0} but a checkpoint covers seq ${furthest}: records seq ${from} to ${furthest} were cut`,
    });
  }
  if (publicKey !== undefined && oldestUncovered !== undefined && lastSeq !== undefined) {
    const age = now.getTime() - Date.parse(oldestUncovered.time);
    if (age > grace) {
      return fail({
        seq: oldestUncovered.seq,
        message:
          `records ${oldestUncovered.seq} to ${lastSeq} are covered by no signed checkpoint: rewritten, or ` +
          "their writer stopped without checkpointing (starting it again checkpoints the head)",
      });
    }
    notes.push(`records ${oldestUncovered.seq} to ${lastSeq} are recent and not yet checkpointed`);
  }
  if (publicKey === undefined) notes.push("no checkpoint key given: a consistent rewrite cannot be caught");
  return {
    ok: true,
    records,
    ...(firstSeq === undefined ? {} : { firstSeq }),
    ...(lastSeq === undefined ? {} : { lastSeq }),
    checkpoints: all.length,
    signedCheckpoints: signed,
    notes,
  };
}
