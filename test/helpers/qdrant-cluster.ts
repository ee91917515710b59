/**
 * A Qdrant cluster on this machine for tests: `size` real servers in distributed mode, each with its own
 * ports (HTTP, gRPC, peer-to-peer) and storage (./qdrant-server.ts). The first node bootstraps the cluster
 * (`--uri` its own peer-to-peer URL); the others join it (`--bootstrap` that URL) and start together.
 * Each node can be killed (SIGKILL: its storage stays) and started again, when it rejoins the cluster from
 * its storage. Every process is killed and every directory removed by `stop`, and when the test process
 * ends however it ends (the servers' own cleanup).
 */
import { type QdrantServer, startQdrant } from "./qdrant-server.ts";

export interface QdrantCluster {
  /** The nodes, the bootstrap node first. */
  readonly nodes: readonly QdrantServer[];
  /**
   * Resolves once every replica of every shard of `collection` is `Active` as each running node sees it
   * (a restarted node's replicas recover from the others first); fails after `timeoutMs`.
   */
  waitUntilActive(collection: string, timeoutMs?: number): Promise<void>;
  /** Stops every node and removes its storage. Safe to call more than once. */
  stop(): Promise<void>;
}

interface ShardInfo {
  shard_id: number;
  state: string;
  peer_id?: number;
}

export async function startQdrantCluster(size = 3): Promise<QdrantCluster> {
  if (size < 1) throw new Error("a cluster needs a node");
  const first = await startQdrant({ cluster: {} });
  const nodes: QdrantServer[] = [first];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= Promise.all(nodes.map((node) => node.stop())).then(() => undefined);
    return stopping;
  };
  try {
    const joined = await Promise.allSettled(
      Array.from({ length: size - 1 }, () => startQdrant({ cluster: { bootstrap: first.p2pUrl } })),
    );
    for (const result of joined) if (result.status === "fulfilled") nodes.push(result.value);
    const failed = joined.find((result) => result.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    await waitForPeers(first.url, size);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    stop,
    async waitUntilActive(collection, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "";
      for (;;) {
        const running = nodes.filter((node) => node.pid() !== undefined);
        const views = await Promise.all(running.map((node) => replicaStates(node.url, collection)));
        const states = views.flat();
        if (views.every((view) => view.length > 0) && states.every((state) => state === "Active")) return;
        last = JSON.stringify(views);
        if (Date.now() > deadline) {
          throw new Error(`replicas of ${collection} not all Active after ${timeoutMs} ms: ${last}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** Waits until the bootstrap node counts `size` peers in its cluster. */
async function waitForPeers(url: string, size: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const body = (await getJson(`${url}/cluster`)) as { result?: { peers?: object } } | undefined;
    if (Object.keys(body?.result?.peers ?? {}).length >= size) return;
    if (Date.now() > deadline) throw new Error(`the Qdrant cluster did not reach ${size} peers`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The state of every replica of `collection` as the node at `url` sees it; empty when it cannot say. */
async function replicaStates(url: string, collection: string): Promise<string[]> {
  const body = (await getJson(`${url}/collections/${collection}/cluster`)) as
    | { result?: { local_shards?: ShardInfo[]; remote_shards?: ShardInfo[] } }
    | undefined;
  const result = body?.result;
  if (result === undefined) return [];
  return [...(result.local_shards ?? []), ...(result.remote_shards ?? [])].map((shard) => shard.state);
}

async function getJson(url: string): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) {
      await response.arrayBuffer();
      return undefined;
    }
    return await response.json();
  } catch {
    return undefined;
  }
}
