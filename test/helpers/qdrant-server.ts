/**
 * Real Qdrant servers for tests, each on free ports of its own (HTTP and gRPC, and the peer-to-peer port in
 * distributed mode) with its storage in a fresh temporary directory.
 *
 * The binary is `QDRANT_BIN`, else `../shared/bin/qdrant` beside the repository (a v1.18.3 server built
 * from its source tag: Qdrant is in no package registry), else `qdrant` on PATH. It needs no config file;
 * everything is set through `QDRANT__*` variables, inherited ones are dropped, and it runs in an empty
 * directory (Qdrant reads ./config/*.yaml when present), so nothing is written outside that directory.
 *
 * A taken gRPC port is only logged (the process keeps running): the output is read for it and the start
 * retried on new ports. Every process started here is killed, and its directory removed, when the test
 * process ends, however it ends (./process-cleanup.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePorts } from "./free-port.ts";
import { killOnExit } from "./process-cleanup.ts";
import {
  findBinary,
  PortTakenError,
  repoRoot,
  type ServerProcess,
  spawnServer,
  waitUntilReady,
} from "./server-process.ts";

export interface QdrantPorts {
  readonly http: number;
  readonly grpc: number;
  /** Peer-to-peer (Raft and shard transfers); only in distributed mode. */
  readonly p2p?: number;
}

export interface QdrantOptions {
  /** Fixed ports instead of free ones (no retry on a port race then). */
  readonly ports?: QdrantPorts;
  /**
   * Distributed mode: the first node of a cluster gives `{}` and is the one the others name in
   * `bootstrap` (its peer-to-peer URL, `QdrantServer.p2pUrl`).
   */
  readonly cluster?: { readonly bootstrap?: string };
}

export interface QdrantServer {
  /** REST API: `http://127.0.0.1:<http>`. */
  readonly url: string;
  readonly ports: QdrantPorts;
  /** `http://127.0.0.1:<p2p>` in distributed mode. */
  readonly p2pUrl: string | undefined;
  /** The scratch directory holding the storage (removed by `stop`, or when the test process ends). */
  readonly workDir: string;
  /** The running process's id (undefined after `kill`). */
  pid(): number | undefined;
  /** SIGTERM, then SIGKILL after 5 s; removes the storage. Safe to call more than once. */
  stop(): Promise<void>;
  /** SIGSTOP: the ports stay open but nothing answers. Returns once every thread has stopped. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  /** SIGKILL, as a crash: the storage stays, `start` brings it back. */
  kill(): Promise<void>;
  /** Starts again after `kill` on the same ports and storage; resolves once it is ready. */
  start(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const PORT_RACE_ATTEMPTS = 3;

/** `QDRANT_BIN`, else `../shared/bin/qdrant` beside the repository, else `qdrant` on PATH. */
export function findQdrantBinary(): string | undefined {
  return findBinary("qdrant", process.env.QDRANT_BIN, [path.resolve(repoRoot, "../shared/bin/qdrant")]);
}

export async function startQdrant(options: QdrantOptions = {}): Promise<QdrantServer> {
  const binary = findQdrantBinary();
  if (binary === undefined) {
    throw new Error("Qdrant binary not found (QDRANT_BIN, ../shared/bin/qdrant, PATH)");
  }
  const workDir = mkdtempSync(path.join(tmpdir(), "clearance-qdrant-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  const forgetWorkDir = killOnExit(removeWorkDir);

  let running: ServerProcess | undefined;
  let ports: QdrantPorts;
  try {
    for (let attempt = 1; ; attempt++) {
      ports = options.ports ?? (await pickPorts(options.cluster !== undefined));
      try {
        running = await launch(binary, workDir, options, ports);
        break;
      } catch (error) {
        const retry = error instanceof PortTakenError && options.ports === undefined;
        if (!retry || attempt >= PORT_RACE_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    removeWorkDir();
    forgetWorkDir();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const current = () => {
    if (running === undefined) throw new Error("Qdrant is not running (killed and not started again)");
    return running;
  };
  return {
    url: `http://127.0.0.1:${ports.http}`,
    ports,
    p2pUrl: ports.p2p === undefined ? undefined : `http://127.0.0.1:${ports.p2p}`,
    workDir,
    pid: () => running?.child.pid,
    stop() {
      stopping ??= (async () => {
        await running?.terminate();
        removeWorkDir();
        forgetWorkDir();
      })();
      return stopping;
    },
    pause: () => current().pause(),
    resume: () => current().resume(),
    async kill() {
      await running?.kill();
      running = undefined;
    },
    async start() {
      if (stopping) throw new Error("start after stop");
      if (running !== undefined) throw new Error("Qdrant is already running");
      // The killed process's listeners are gone; retry briefly if another process took a port meanwhile.
      for (let attempt = 1; ; attempt++) {
        try {
          running = await launch(binary, workDir, options, ports);
          return;
        } catch (error) {
          if (!(error instanceof PortTakenError) || attempt >= PORT_RACE_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
  };
}

async function pickPorts(cluster: boolean): Promise<QdrantPorts> {
  const [http, grpc, p2p] = await freePorts(cluster ? 3 : 2);
  if (http === undefined || grpc === undefined) throw new Error("no free ports");
  return { http, grpc, ...(cluster && p2p !== undefined ? { p2p } : {}) };
}

/** Spawns one Qdrant process and resolves once `/readyz` answers 200 (every shard ready). */
async function launch(
  binary: string,
  workDir: string,
  options: QdrantOptions,
  ports: QdrantPorts,
): Promise<ServerProcess> {
  const inherited = Object.entries(process.env).filter(([key]) => !key.startsWith("QDRANT"));
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(inherited),
    QDRANT__STORAGE__STORAGE_PATH: path.join(workDir, "storage"),
    QDRANT__STORAGE__SNAPSHOTS_PATH: path.join(workDir, "snapshots"),
    QDRANT_INIT_FILE_PATH: path.join(workDir, ".qdrant-initialized"),
    QDRANT__SERVICE__HOST: "127.0.0.1",
    QDRANT__SERVICE__HTTP_PORT: String(ports.http),
    QDRANT__SERVICE__GRPC_PORT: String(ports.grpc),
    QDRANT__TELEMETRY_DISABLED: "true",
    QDRANT__LOG_LEVEL: "WARN",
    // Test collections are tiny: a 1 MB write-ahead log instead of 32 MB preallocated per collection.
    QDRANT__STORAGE__WAL__WAL_CAPACITY_MB: "1",
    QDRANT__STORAGE__WAL__WAL_SEGMENTS_AHEAD: "0",
  };
  const args: string[] = [];
  if (options.cluster !== undefined) {
    if (ports.p2p === undefined) throw new Error("distributed mode needs a p2p port");
    env.QDRANT__CLUSTER__ENABLED = "true";
    env.QDRANT__CLUSTER__P2P__PORT = String(ports.p2p);
    args.push("--uri", `http://127.0.0.1:${ports.p2p}`);
    if (options.cluster.bootstrap !== undefined) args.push("--bootstrap", options.cluster.bootstrap);
  }
  const server = spawnServer(binary, args, { cwd: workDir, env, workDir });
  const readyz = `http://127.0.0.1:${ports.http}/readyz`;
  await waitUntilReady(
    server,
    `Qdrant on ports ${JSON.stringify(ports)}`,
    () => isReady(readyz),
    READY_TIMEOUT_MS,
  );
  return server;
}

async function isReady(readyz: string): Promise<boolean> {
  try {
    const response = await fetch(readyz, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
