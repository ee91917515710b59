/**
 * What test files use to reach a real Permify.
 *
 * `describeWithPermify` runs a suite against the shared memory-engine server that test/global-setup.ts
 * starts; give every file its own tenant (`uniqueTenant`). Without a server the suite is skipped loudly,
 * and under CI it fails instead: CI must exercise the real server.
 *
 * `describeWithOwnPermify` gives a suite that loads Permify hard (the differential test) a server of its own.
 * `startPermifyOnPostgres` is for tests that need a server of their own: persistence, restarts, pauses.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  findPermifyBinary,
  type PermifyExtraOptions,
  type PermifyServer,
  startPermify,
} from "./permify-server.ts";
import { type PostgresServer, startPostgres, uniqueDatabaseName } from "./postgres-server.ts";

export { findPermifyBinary, type PermifyServer, startPermify, uniqueTenant } from "./permify-server.ts";

/** The shared server's addresses, or null when the run has none (no binary, outside CI). */
export function sharedPermify(): { endpoint: string; httpUrl: string } | null {
  // undefined when the global setup did not run (another config): same as no server.
  const endpoint = inject("permifyEndpoint") ?? null;
  const httpUrl = inject("permifyHttpUrl") ?? null;
  return endpoint !== null && httpUrl !== null ? { endpoint, httpUrl } : null;
}

/**
 * `describe(name, ...)` with the shared Permify's gRPC endpoint (and HTTP gateway URL). The callback runs
 * at collection time, like any describe body: start clients in hooks or tests, not at its top level.
 */
export function describeWithPermify(name: string, fn: (endpoint: string, httpUrl: string) => void): void {
  const shared = sharedPermify();
  if (shared !== null) {
    describe(name, () => fn(shared.endpoint, shared.httpUrl));
    return;
  }
  describeMissingPermify(name);
}

/**
 * `describe(name, ...)` with a memory-engine Permify of the suite's own, started before its tests and
 * stopped after them, for a suite that loads a server hard enough to disturb the others (or be disturbed
 * by them). `server()` is the running server; call it in hooks or tests. When the server has died, the
 * failing test's message carries its exit status and last output.
 */
export function describeWithOwnPermify(name: string, fn: (server: () => PermifyServer) => void): void {
  if (findPermifyBinary() === undefined) {
    describeMissingPermify(name);
    return;
  }
  describe(name, () => {
    let server: PermifyServer | undefined;
    beforeAll(async () => {
      server = await startPermify({ engine: "memory" });
    }, 60_000);
    afterEach(() => {
      const died = server?.exitedWith();
      if (died !== undefined) {
        expect.fail(`this suite's Permify exited (${died}). Its last output:\n${server?.output()}`);
      }
    });
    afterAll(async () => {
      await server?.stop();
    });
    fn(() => {
      if (server === undefined) throw new Error("the suite's Permify is not started yet (use it in tests)");
      return server;
    });
  });
}

/** Without a server a suite is skipped loudly, except under CI, where it fails. */
function describeMissingPermify(name: string): void {
  describe(name, () => {
    if (process.env.CI) {
      it("has a Permify server", () => {
        expect.fail(`CI=${process.env.CI} but no Permify server was started: run npm run permify:install`);
      });
    } else {
      console.warn(
        `\n!!! SKIPPING ${name}: this run has no Permify server (no binary in PERMIFY_BIN, .tools/bin or PATH).\n!!! run npm run permify:install\n`,
      );
      it.skip("needs a Permify binary (npm run permify:install)", () => {});
    }
  });
}

export interface PermifyOnPostgres {
  permify: PermifyServer;
  postgres: PostgresServer;
  databaseUri: string;
  /** Stops Permify, then the PostgreSQL cluster if this call started it. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * A Permify of its own on a fresh database (migrated on start). Pass `postgres` to put the database in a
 * cluster you already run (faster for several servers; the cluster is then yours to stop); otherwise a new
 * cluster is started and `stop()` takes it down too.
 */
export async function startPermifyOnPostgres(
  options: { postgres?: PostgresServer } & PermifyExtraOptions = {},
): Promise<PermifyOnPostgres> {
  const { postgres: given, ...extra } = options;
  const postgres = given ?? (await startPostgres());
  try {
    const databaseUri = await postgres.createDatabase(uniqueDatabaseName("permify"));
    const permify = await startPermify({ engine: "postgres", databaseUri }, extra);
    let stopping: Promise<void> | undefined;
    return {
      permify,
      postgres,
      databaseUri,
      stop() {
        stopping ??= (async () => {
          await permify.stop();
          if (given === undefined) await postgres.stop();
        })();
        return stopping;
      },
    };
  } catch (error) {
    if (given === undefined) await postgres.stop();
    throw error;
  }
}
