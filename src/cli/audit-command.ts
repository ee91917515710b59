/**
 * `clearance audit verify | search | export | init-postgres`: the audit trail for operators and
 * examiners. `verify` recomputes the hash chain and checks the checkpoints, naming the first record
 * that was edited, removed, reordered or inserted, or a cut tail; `search` and `export` read it back
 * (and are themselves recorded, as the operator); `init-postgres` creates the PostgreSQL tables.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { initAuditSchema } from "../adapters/postgres/postgres-audit-trail.ts";
import { auditCheckpointKey, openAuditTrail } from "../composition.ts";
import type { Config } from "../config.ts";
import { recordResources, verifyTrail } from "../core/audit-chain.ts";
import { AppError } from "../core/errors.ts";
import type { AuditFilter, ChainedAuditRecord } from "../ports/audit-log.ts";
import {
  auditedCommand,
  type CliCommand,
  type CliDeps,
  commandConfig,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
} from "./command.ts";

const usage = "audit verify|search|export|init-postgres [options]";

const HELP = [
  "verify [--key <file>] [--json]",
  "    recompute the hash chain and check the checkpoints; exit 1 naming the first bad record",
  "    --key: the checkpoint key (Ed25519, public or private PEM; default AUDIT_CHECKPOINT_KEY_FILE)",
  "search [--user U] [--agent A] [--resource R] [--surface S] [--outcome allowed|denied|failed]",
  "       [--since T] [--until T] [--limit N] [--json]",
  "    records matching every filter, as a table (or JSON lines); T is ISO 8601 or 30m, 24h, 7d ago",
  "export --since T [--until T]",
  "    every record in the window as JSON lines, for a SIEM",
  "init-postgres [--grant-to ROLE]",
  "    create the audit tables in AUDIT_DATABASE_URL (connect as their owner) and grant ROLE insert and select",
];

const FILTER_OPTIONS = {
  user: { type: "string" },
  agent: { type: "string" },
  resource: { type: "string" },
  surface: { type: "string" },
  outcome: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  key: { type: "string" },
  "grant-to": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const auditCommand: CliCommand = {
  name: "audit",
  summary: "verify the audit trail's hash chain, search it, export it, or create its PostgreSQL tables",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const [sub, ...rest] = args;
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({
        args: rest,
        options: FILTER_OPTIONS,
        allowPositionals: false,
        strict: true,
      }));
    } catch (error) {
      io.stderr(`clearance audit: ${errorMessage(error)}`);
      return EXIT_USAGE;
    }
    if (sub === undefined || sub === "--help" || sub === "-h" || values.help) {
      io.stdout(`usage: clearance ${usage}`);
      for (const line of HELP) io.stdout(`  ${line}`);
      return sub === undefined ? EXIT_USAGE : EXIT_OK;
    }
    try {
      const config = commandConfig(deps);
      switch (sub) {
        case "verify":
          return await verify(config, deps, values);
        case "search":
        case "export":
          return await search(config, deps, sub, values);
        case "init-postgres":
          return await initPostgres(config, deps, values);
        default:
          io.stderr(`clearance audit: unknown subcommand "${sub}"`);
          io.stderr(`usage: clearance ${usage}`);
          return EXIT_USAGE;
      }
    } catch (error) {
      if (error instanceof UsageError) {
        io.stderr(`clearance audit ${sub}: ${error.message}`);
        return EXIT_USAGE;
      }
      io.stderr(`clearance audit ${sub}: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    }
  },
};

class UsageError extends Error {}

async function verify(
  config: Config,
  deps: CliDeps,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const key = await verificationKey(config, values.key as string | undefined);
  const trail = deps.openAuditTrail
    ? await deps.openAuditTrail()
    : await openAuditTrail(config, { readOnly: true });
  try {
    const report = await verifyTrail(trail, {
      ...(key === undefined ? {} : { key }),
      unsignedTailGraceMs: Math.max(120_000, 3 * config.audit.checkpointIntervalMs),
    });
    if (values.json) {
      deps.io.stdout(JSON.stringify(report));
    } else {
      const span = report.firstSeq === undefined ? "" : ` (seq ${report.firstSeq} to ${report.lastSeq})`;
      if (report.ok) {
        deps.io.stdout(
          `verified: ${report.records} records${span}, ${report.checkpoints} checkpoints (${report.signedCheckpoints} signature${report.signedCheckpoints === 1 ? "" : "s"} checked)`,
        );
      } else {
        deps.io.stdout(`NOT VERIFIED: ${report.problem?.message}`);
        deps.io.stdout(`checked ${report.records} records${span} before the problem`);
      }
      for (const note of report.notes) deps.io.stdout(`note: ${note}`);
    }
    return report.ok ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await trail.close().catch(() => undefined);
  }
}

/** `--key` (public or private PEM), else the configured checkpoint key, else none. */
async function verificationKey(config: Config, file: string | undefined): Promise<KeyObject | undefined> {
  if (file === undefined) {
    if (config.audit.checkpointKeyFile === undefined && config.auth.mode !== "demo") return undefined;
    return auditCheckpointKey(config);
  }
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (error) {
    throw new AppError("BAD_REQUEST", `--key: cannot read ${file}`, { cause: error });
  }
  try {
    return pem.includes("PRIVATE KEY") ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `--key: ${file} is not a PEM key`, { cause: error });
  }
}

async function search(
  config: Config,
  deps: CliDeps,
  sub: "search" | "export",
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const filter = filterOf(values);
  if (sub === "export" && filter.since === undefined) throw new UsageError("--since is required");
  const limit =
    values.limit === undefined ? (sub === "export" ? Number.POSITIVE_INFINITY : 100) : Number(values.limit);
  if (!(limit >= 1)) throw new UsageError("--limit must be a positive integer");
  const json = sub === "export" || values.json === true;
  let printed = 0;
  await auditedCommand(deps, config, `audit ${sub}`, "audit.read", async (audit, trail) => {
    audit.filter = Object.fromEntries(
      Object.entries({ ...filter, ...(Number.isFinite(limit) ? { limit } : {}) }).filter(
        ([, value]) => value !== undefined,
      ),
    ) as Record<string, string | number>;
    if (!json) deps.io.stdout(tableRow(["seq", "time", "surface", "outcome", "user", "agents", "resources"]));
    let after: number | undefined;
    for (;;) {
      const page = await trail.search(filter, {
        limit: Math.min(1_000, limit - printed),
        ...(after === undefined ? {} : { after }),
      });
      for (const record of page.records) {
        deps.io.stdout(json ? JSON.stringify(record) : formatRow(record));
        printed += 1;
      }
      if (page.next === undefined || printed >= limit) break;
      after = page.next;
    }
  });
  if (!json) deps.io.stderr(`${printed} record${printed === 1 ? "" : "s"}`);
  return EXIT_OK;
}

function filterOf(values: Record<string, string | boolean | undefined>): AuditFilter {
  const text = (name: string) => {
    const value = values[name];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  const outcome = text("outcome");
  if (outcome !== undefined && !["allowed", "denied", "failed"].includes(outcome)) {
    throw new UsageError("--outcome must be allowed, denied or failed");
  }
  const since = text("since");
  const until = text("until");
  const filter: Record<string, string> = {};
  for (const name of ["user", "agent", "resource", "surface"]) {
    const value = text(name);
    if (value !== undefined) filter[name] = value;
  }
  if (outcome !== undefined) filter.outcome = outcome;
  if (since !== undefined) filter.since = parseTime(since, "--since");
  if (until !== undefined) filter.until = parseTime(until, "--until");
  return filter as AuditFilter;
}

/** ISO 8601, or a duration ago: `30m`, `24h`, `7d`. */
export function parseTime(value: string, option: string, now: Date = new Date()): string {
  const relative = /^(\d+)([mhd])$/.exec(value);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "m" | "h" | "d"];
    return new Date(now.getTime() - Number(relative[1]) * unit).toISOString();
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new UsageError(`${option} must be an ISO 8601 time or a duration such as 7d`);
  return new Date(time).toISOString();
}

function formatRow(record: ChainedAuditRecord): string {
  const outcome =
    record.outcome.status === "allowed" ? "allowed" : `${record.outcome.status} ${record.outcome.code}`;
  const resources = recordResources(record);
  return tableRow([
    String(record.seq),
    record.time,
    record.surface,
    outcome,
    record.userId,
    record.agentIds.join(">") || "-",
    resources.length === 0 ? "-" : resources.join(" "),
  ]);
}

function tableRow(cells: readonly string[]): string {
  const widths = [8, 24, 22, 28, 14, 20];
  return cells
    .map((cell, index) => (index < widths.length ? cell.padEnd(widths[index] as number) : cell))
    .join(" ");
}

async function initPostgres(
  config: Config,
  deps: CliDeps,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  if (config.audit.store.kind !== "postgres") {
    throw new UsageError("set AUDIT=postgres and AUDIT_DATABASE_URL (as the tables' owner)");
  }
  const role = values["grant-to"] as string | undefined;
  await initAuditSchema({
    connectionString: config.audit.store.url,
    timeoutMs: config.audit.timeoutMs,
    ...(role === undefined ? {} : { grantTo: role }),
  });
  deps.io.stdout(
    `created the audit tables${role === undefined ? "" : ` and granted ${role} INSERT and SELECT on them`}`,
  );
  return EXIT_OK;
}
