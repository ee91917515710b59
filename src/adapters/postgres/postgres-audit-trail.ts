/**
 * The production audit trail: an append-only PostgreSQL table shared by every clearance replica, one
 * global hash chain. A batch of records (group commit: the records that arrived while the last batch was
 * being written) is appended in one transaction under a transaction-scoped advisory lock: read the head,
 * chain, insert, commit. Replicas take turns per batch, so no record is lost and the chain stays one.
 * The role clearance connects as needs INSERT and SELECT only (see AUDIT_POSTGRES_SCHEMA_SQL and the
 * README); a trigger refuses UPDATE, DELETE and TRUNCATE even to the table's owner.
 *
 * Fail closed: a record resolves only after COMMIT; a server that is down or slow fails the record
 * within the timeouts, and the pool reconnects on the next request once it is back.
 */
import type { KeyObject } from "node:crypto";
import pg from "pg";
import { canonicalJson, chainRecord, makeCheckpoint, recordResources } from "../../core/audit-chain.ts";
import { AppError } from "../../core/errors.ts";
import type {
  AuditCheckpoint,
  AuditFilter,
  AuditPage,
  AuditRecord,
  AuditScanItem,
  AuditTrail,
  ChainedAuditRecord,
} from "../../ports/audit-log.ts";

/** The tables, their indexes and the append-only trigger. Run once by an administrator. */
export const AUDIT_POSTGRES_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS clearance_audit_records (
  seq        bigint PRIMARY KEY,
  time       timestamptz NOT NULL,
  user_id    text NOT NULL,
  agent_ids  text[] NOT NULL,
  surface    text NOT NULL,
  action     text NOT NULL,
  outcome    text NOT NULL,
  resources  text[] NOT NULL,
  hash       text NOT NULL,
  entry      text NOT NULL
);
CREATE INDEX IF NOT EXISTS clearance_audit_records_time ON clearance_audit_records (time);
CREATE INDEX IF NOT EXISTS clearance_audit_records_user ON clearance_audit_records (user_id, seq);
CREATE INDEX IF NOT EXISTS clearance_audit_records_agents ON clearance_audit_records USING gin (agent_ids);
CREATE INDEX IF NOT EXISTS clearance_audit_records_resources ON clearance_audit_records USING gin (resources);
CREATE TABLE IF NOT EXISTS clearance_audit_checkpoints (
  seq   bigint NOT NULL,
  time  timestamptz NOT NULL,
  entry text NOT NULL
);
CREATE INDEX IF NOT EXISTS clearance_audit_checkpoints_seq ON clearance_audit_checkpoints (seq);
CREATE OR REPLACE FUNCTION clearance_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the clearance audit trail is append-only';
END
$$;
CREATE OR REPLACE TRIGGER clearance_audit_records_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON clearance_audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION clearance_audit_append_only();
CREATE OR REPLACE TRIGGER clearance_audit_checkpoints_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON clearance_audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION clearance_audit_append_only();
`;

/** What the role clearance connects as may do: insert and read, nothing else. */
export function auditRoleGrantSql(role: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`bad role name: ${role}`);
  return `GRANT SELECT, INSERT ON clearance_audit_records, clearance_audit_checkpoints TO ${role};`;
}

/** Creates the tables (connected as their owner) and grants `grantTo`, the role clearance uses, INSERT and SELECT. */
export async function initAuditSchema(options: {
  readonly connectionString: string;
  readonly timeoutMs?: number;
  readonly grantTo?: string;
}): Promise<void> {
  const client = new pg.Client({
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.timeoutMs ?? 5_000,
  });
  await client.connect();
  try {
    await client.query(AUDIT_POSTGRES_SCHEMA_SQL);
    if (options.grantTo !== undefined) await client.query(auditRoleGrantSql(options.grantTo));
  } finally {
    await client.end();
  }
}

/** The advisory lock every writer of the chain takes for one batch ("clearance audit"). */
const CHAIN_LOCK = 0x636c_6561_7564_6974n;
/** Rows per INSERT: 10 parameters each, under PostgreSQL's 65,535. */
const MAX_BATCH = 1_000;
const SCAN_PAGE = 5_000;

export interface PostgresAuditTrailOptions {
  readonly connectionString: string;
  readonly checkpointKey?: KeyObject;
  readonly checkpointIntervalMs?: number;
  /** Connecting, and each statement, time out after this (default 5 s). */
  readonly timeoutMs?: number;
  readonly poolSize?: number;
  readonly now?: () => Date;
  /** Only read: no checkpoint at start. */
  readonly readOnly?: boolean;
}

interface Pending {
  readonly record: AuditRecord;
  readonly resolve: (chained: ChainedAuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

export async function createPostgresAuditTrail(options: PostgresAuditTrailOptions): Promise<AuditTrail> {
  const now = options.now ?? (() => new Date());
  const interval = options.checkpointIntervalMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 8,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: "clearance-audit",
  });
  // A connection that dies while idle (the server restarts) is dropped from the pool; the next query
  // opens a new one. Without a listener the error would end the process.
  pool.on("error", () => undefined);

  const unavailable = (error: unknown) =>
    new AppError("UPSTREAM_UNAVAILABLE", "the audit trail (PostgreSQL) could not be written", {
      cause: error,
      upstream: "audit-log",
    });

  try {
    await pool.query("SELECT 1 FROM clearance_audit_records LIMIT 0");
    await pool.query("SELECT 1 FROM clearance_audit_checkpoints LIMIT 0");
  } catch (error) {
    await pool.end().catch(() => undefined);
    const code = (error as { code?: string }).code;
    throw new AppError(
      "UPSTREAM_UNAVAILABLE",
      code === "42P01"
        ? "AUDIT_DATABASE_URL: the audit tables do not exist; create them with `clearance audit init-postgres` (see the README)"
        : `AUDIT_DATABASE_URL: cannot read the audit tables (${code ?? (error as Error).message})`,
      { cause: error, upstream: "audit-log" },
    );
  }

  let pending: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  let lastCheckpointAt = 0;
  let uncheckpointed: { seq: number; hash: string } | undefined;

  const insertCheckpoint = async (head: { seq: number; hash: string }) => {
    const time = now();
    const checkpoint = makeCheckpoint(head, {
      ...(options.checkpointKey ? { key: options.checkpointKey } : {}),
      time,
    });
    await pool.query("INSERT INTO clearance_audit_checkpoints (seq, time, entry) VALUES ($1, $2, $3)", [
      head.seq,
      checkpoint.time,
      canonicalJson(checkpoint),
    ]);
    lastCheckpointAt = time.getTime();
    if (uncheckpointed !== undefined && uncheckpointed.seq <= head.seq) uncheckpointed = undefined;
  };

  const writeBatch = async (records: readonly AuditRecord[]): Promise<ChainedAuditRecord[]> => {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [CHAIN_LOCK.toString()]);
      const head = await client.query<{ seq: string; hash: string }>(
        "SELECT seq, hash FROM clearance_audit_records ORDER BY seq DESC LIMIT 1",
      );
      const row = head.rows[0];
      let link: { seq: number; hash: string } | undefined =
        row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash };
      const chained = records.map((record) => {
        const next = chainRecord(record, link);
        link = next;
        return next;
      });
      const values: unknown[] = [];
      const rows = chained.map((record) => {
        const base = values.length;
        values.push(
          record.seq,
          record.time,
          record.userId,
          record.agentIds,
          record.surface,
          record.action,
          record.outcome.status,
          recordResources(record),
          record.hash,
          canonicalJson(record),
        );
        return `(${Array.from({ length: 10 }, (_, i) => `$${base + i + 1}`).join(", ")})`;
      });
      await client.query(
        "INSERT INTO clearance_audit_records (seq, time, user_id, agent_ids, surface, action, outcome, resources, hash, entry) " +
          `VALUES ${rows.join(", ")}`,
        values,
      );
      await client.query("COMMIT");
      return chained;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  };

  const flush = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.slice(0, MAX_BATCH);
      pending = pending.slice(batch.length);
      try {
        const chained = await writeBatch(batch.map((item) => item.record));
        batch.forEach((item, index) => {
          item.resolve(chained[index] as ChainedAuditRecord);
        });
        const last = chained.at(-1) as ChainedAuditRecord;
        uncheckpointed = { seq: last.seq, hash: last.hash };
        if (now().getTime() - lastCheckpointAt >= interval) {
          await insertCheckpoint(uncheckpointed).catch(() => undefined);
        }
      } catch (error) {
        const failure = unavailable(error);
        for (const item of batch) item.reject(failure);
      }
    }
  };

  const kick = () => {
    flushing ??= flush().finally(() => {
      flushing = undefined;
      if (pending.length > 0) kick();
    });
  };

  const checkpointHead = async () => {
    const head = await pool.query<{ seq: string; hash: string }>(
      "SELECT seq, hash FROM clearance_audit_records ORDER BY seq DESC LIMIT 1",
    );
    const row = head.rows[0];
    if (row !== undefined) await insertCheckpoint({ seq: Number(row.seq), hash: row.hash });
  };

  let timer: NodeJS.Timeout | undefined;
  if (!options.readOnly) {
    // Records a replica that crashed wrote after its last checkpoint are covered from now on.
    await checkpointHead().catch(() => undefined);
    timer = setInterval(() => {
      if (uncheckpointed !== undefined && !flushing) {
        void insertCheckpoint(uncheckpointed).catch(() => undefined);
      }
    }, interval);
    timer.unref();
  }

  return {
    record(entry) {
      if (closed) return Promise.reject(new AppError("INTERNAL", "the audit trail is closed"));
      return new Promise<ChainedAuditRecord>((resolve, reject) => {
        pending.push({ record: entry, resolve, reject });
        kick();
      });
    },
    async probe() {
      try {
        await pool.query("SELECT 1");
      } catch (error) {
        throw unavailable(error);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await flushing;
      if (uncheckpointed !== undefined) await insertCheckpoint(uncheckpointed).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
    async *scan(): AsyncGenerator<AuditScanItem> {
      let after = -1;
      for (;;) {
        const page = await pool.query<{ seq: string; entry: string }>(
          "SELECT seq, entry FROM clearance_audit_records WHERE seq > $1 ORDER BY seq LIMIT $2",
          [after, SCAN_PAGE],
        );
        for (const row of page.rows) {
          const where = `row seq ${row.seq}`;
          try {
            yield { kind: "record", record: JSON.parse(row.entry) as ChainedAuditRecord, where };
          } catch {
            yield { kind: "malformed", text: row.entry, where };
          }
        }
        if (page.rows.length < SCAN_PAGE) return;
        after = Number((page.rows.at(-1) as { seq: string }).seq);
      }
    },
    async checkpoints(): Promise<readonly AuditCheckpoint[]> {
      const rows = await pool.query<{ entry: string }>(
        "SELECT entry FROM clearance_audit_checkpoints ORDER BY seq",
      );
      return rows.rows.map((row) => JSON.parse(row.entry) as AuditCheckpoint);
    },
    async search(
      filter: AuditFilter,
      page: { readonly after?: number; readonly limit: number },
    ): Promise<AuditPage> {
      const where: string[] = [];
      const values: unknown[] = [];
      const add = (clause: (parameter: string) => string, value: unknown) => {
        values.push(value);
        where.push(clause(`$${values.length}`));
      };
      if (page.after !== undefined) add((p) => `seq > ${p}`, page.after);
      if (filter.user !== undefined) add((p) => `user_id = ${p}`, filter.user);
      if (filter.agent !== undefined) add((p) => `agent_ids @> ARRAY[${p}::text]`, filter.agent);
      if (filter.resource !== undefined) add((p) => `resources @> ARRAY[${p}::text]`, filter.resource);
      if (filter.surface !== undefined) add((p) => `(surface = ${p} OR action = ${p})`, filter.surface);
      if (filter.outcome !== undefined) add((p) => `outcome = ${p}`, filter.outcome);
      if (filter.since !== undefined) add((p) => `time >= ${p}`, filter.since);
      if (filter.until !== undefined) add((p) => `time < ${p}`, filter.until);
      values.push(page.limit + 1);
      const rows = await pool.query<{ entry: string }>(
        `SELECT entry FROM clearance_audit_records ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ` +
          `ORDER BY seq LIMIT $${values.length}`,
        values,
      );
      const records = rows.rows
        .slice(0, page.limit)
        .map((row) => JSON.parse(row.entry) as ChainedAuditRecord);
      return rows.rows.length > page.limit
        ? { records, next: (records.at(-1) as ChainedAuditRecord).seq }
        : { records };
    },
  };
}
