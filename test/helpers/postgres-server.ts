/**
 * A throwaway PostgreSQL cluster for tests: its own temporary directory, a free port on 127.0.0.1, trust
 * authentication, and no fsync (the data has to outlive a Permify restart, not a machine crash).
 *
 * initdb refuses to run as root, and the test machines run as root: the cluster then belongs to the
 * `postgres` system user and every server-side command runs through `runuser -u postgres`.
 *
 * However the test process ends (exit, failed test, a signal from vitest, SIGKILL), the clusters it started
 * are shut down immediately and their directories removed (./process-cleanup.ts).
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { isExecutable } from "./executable.ts";
import { freePort } from "./free-port.ts";
import { armWatchdog, killOnExit } from "./process-cleanup.ts";

export interface PostgresServer {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<databaseName>?sslmode=disable` */
  uri(databaseName: string): string;
  /** Creates the database and returns its URI. Names are `[a-z_][a-z0-9_]*`, at most 63 characters. */
  createDatabase(name: string): Promise<string>;
  /** Runs `sql` in `database` as the superuser (psql); resolves its output, unaligned, tuples only. */
  sql(database: string, sql: string): Promise<string>;
  /** Fast shutdown, then removes the cluster's directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/** PostgreSQL's own minimum for Permify v1.7.3 (`EnsureDBVersion`: server_version_num >= 130008). */
const MIN_SERVER_VERSION_NUM = 130008;
const START_ATTEMPTS = 3;
const COMMAND_TIMEOUT_MS = 60_000;
const SUPERUSER = "postgres";

/**
 * The directory holding initdb, pg_ctl and postgres: `initdb` on PATH (symlinks resolved, so that the
 * sibling binaries are found), else the newest `/usr/lib/postgresql/<major>/bin` (Debian's layout, which
 * keeps initdb off PATH).
 */
export function findPostgresBinDir(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, "initdb");
    if (!isExecutable(candidate)) continue;
    const binDir = path.dirname(realpathSync(candidate));
    if (isExecutable(path.join(binDir, "pg_ctl"))) return binDir;
  }
  const debianRoot = "/usr/lib/postgresql";
  if (!existsSync(debianRoot)) return undefined;
  const majors = readdirSync(debianRoot)
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const major of majors) {
    const binDir = path.join(debianRoot, major, "bin");
    if (isExecutable(path.join(binDir, "initdb")) && isExecutable(path.join(binDir, "pg_ctl"))) return binDir;
  }
  return undefined;
}

export interface PostgresOptions {
  /** `shared_preload_libraries`, e.g. `pg_stat_statements` (which the benchmarks read). */
  readonly preloadLibraries?: readonly string[];
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  if (binDir === undefined) {
    throw new Error(
      "PostgreSQL not found: no initdb on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)",
    );
  }
  const asRoot = process.getuid?.() === 0;
  const root = await mkdtemp(path.join(tmpdir(), "clearance-pg-"));
  const dataDir = path.join(root, "data");
  const socketDir = path.join(root, "sock");
  const logFile = path.join(root, "postgres.log");
  const forget = killOnExit(() => killClusterSync(dataDir, root));
  let disarmWatchdog = () => {};

  // As root, run the server side as `postgres`; the temp dir must then be theirs.
  const server = (command: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", SUPERUSER, "--", path.join(binDir, command), ...args])
      : run(path.join(binDir, command), args);

  try {
    await mkdir(socketDir);
    if (asRoot) {
      const { uid, gid } = systemUser(SUPERUSER);
      for (const dir of [root, socketDir]) chownSync(dir, uid, gid);
    }
    await server("initdb", [
      "--pgdata",
      dataDir,
      "--username",
      SUPERUSER,
      "--auth",
      "trust",
      "--encoding",
      "UTF8",
      "--locale",
      "C",
      "--no-sync",
    ]);
    await appendFile(
      path.join(dataDir, "postgresql.conf"),
      [
        "",
        "# clearance test harness",
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${socketDir}'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        // Each Permify opens up to 20 connections by default; several may share one cluster.
        "max_connections = 200",
        ...(options.preloadLibraries === undefined || options.preloadLibraries.length === 0
          ? []
          : [`shared_preload_libraries = '${options.preloadLibraries.join(",")}'`]),
        "",
      ].join("\n"),
    );

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await server("pg_ctl", [
          "--pgdata",
          dataDir,
          "--log",
          logFile,
          "--wait",
          "--timeout",
          "30",
          "-o",
          `-p ${port}`,
          "start",
        ]);
        break;
      } catch (error) {
        const log = await readTail(logFile);
        if (attempt < START_ATTEMPTS && /could not bind|address already in use/i.test(log)) continue;
        throw new Error(`PostgreSQL did not start on port ${port}. Log tail:\n${log}`, { cause: error });
      }
    }
    const postmasterPid = (await readFile(path.join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0] ?? "";
    disarmWatchdog = armWatchdog(
      // Immediate shutdown; the postmaster removes its pid file on the way out. Then the directory goes.
      'kill -QUIT "$1" 2>/dev/null; i=0; while [ -e "$2/data/postmaster.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; rm -rf "$2"',
      [postmasterPid, root],
    );

    const psql = (database: string, sql: string) =>
      run(existsSync(path.join(binDir, "psql")) ? path.join(binDir, "psql") : "psql", [
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        SUPERUSER,
        "-d",
        database,
        "-c",
        sql,
      ]);

    const versionNum = Number((await psql("postgres", "SHOW server_version_num")).trim());
    if (!(versionNum >= MIN_SERVER_VERSION_NUM)) {
      throw new Error(`PostgreSQL ${versionNum} in ${binDir} is older than Permify's minimum 13.8`);
    }

    const uri = (databaseName: string) =>
      `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(databaseName)}?sslmode=disable`;
    let stopping: Promise<void> | undefined;
    return {
      port,
      uri,
      sql: psql,
      async createDatabase(name) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name: ${name}`);
        await psql("postgres", `CREATE DATABASE ${name}`);
        return uri(name);
      },
      stop() {
        stopping ??= (async () => {
          try {
            await server("pg_ctl", ["--pgdata", dataDir, "--mode", "fast", "--wait", "stop"]);
          } catch {
            killClusterSync(dataDir, root);
          }
          disarmWatchdog();
          await rm(root, { recursive: true, force: true });
          forget();
        })();
        return stopping;
      },
    };
  } catch (error) {
    disarmWatchdog();
    killClusterSync(dataDir, root);
    forget();
    throw error;
  }
}

/** A database name that no other call returns: `<prefix>_<random>`. */
export function uniqueDatabaseName(prefix = "db"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

function systemUser(name: string): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch (error) {
    throw new Error(`running as root, but there is no "${name}" user to run PostgreSQL as`, { cause: error });
  }
}

/** Runs a command and resolves with its stdout; rejects with its stderr in the message. */
function run(command: string, args: string[]): Promise<string> {
  // Ambient PG* variables (PGSSLMODE, PGSERVICE, PGDATA...) must not redirect the harness's commands.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PG")));
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, timeout: COMMAND_TIMEOUT_MS, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

async function readTail(file: string, chars = 2000): Promise<string> {
  try {
    return (await readFile(file, "utf8")).slice(-chars);
  } catch {
    return "(no log)";
  }
}

/**
 * Synchronous, for exit and signal handlers: immediate shutdown (SIGQUIT to the postmaster, which takes
 * its backends down with it), a short wait for it to go, then the directory goes.
 */
function killClusterSync(dataDir: string, root: string): void {
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    pid = undefined;
  }
  if (pid !== undefined && Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, "SIGQUIT");
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && isAlive(pid)) sleepSync(10);
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
}

/**
 * The postmaster is not our child (pg_ctl daemonizes it), so once it exits it stays a zombie until init
 * reaps it, and a zombie still answers `kill -0`: read its state from /proc where there is one.
 */
function isAlive(pid: number): boolean {
  if (existsSync("/proc")) {
    try {
      return !/^\S+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
