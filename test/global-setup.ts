/**
 * Starts one Permify (memory engine) and one Qdrant for the whole run and hands their addresses to the test
 * files through `inject("permifyEndpoint")` / `inject("permifyHttpUrl")` / `inject("qdrantUrl")`. Test files
 * isolate themselves by tenant (`uniqueTenant`) on Permify and by collection on Qdrant, so one shared server
 * of each is enough and costs about a second to start. `QDRANT_URL` points the Qdrant suites at a server of
 * your own instead (`QDRANT_API_KEY` if it needs one); tests that stop or pause Qdrant start their own.
 *
 * The shared Permify is supervised: if it dies during the run, its exit status and last output go to
 * stderr (the only trace of why; its log exporters are off) and it is started again on the same ports, so
 * that only the tests running at that moment fail (memory engine: their tenants are gone), not every test
 * after them.
 *
 * Without a binary the values are null and the suites that need it skip loudly, except under CI, where a
 * missing binary is a setup error: CI must run the real servers, never skip them.
 */
import type { TestProject } from "vitest/node";
import {
  findPermifyBinary,
  type PermifyServer,
  startPermify,
  superviseRestarts,
} from "./helpers/permify-server.ts";
import { findQdrantBinary, type QdrantServer, startQdrant } from "./helpers/qdrant-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** gRPC address of the shared Permify (`127.0.0.1:<port>`), or null when no binary was found. */
    permifyEndpoint: string | null;
    /** HTTP gateway of the same server (`http://127.0.0.1:<port>`), or null. */
    permifyHttpUrl: string | null;
    /** REST URL of the shared Qdrant (or of `QDRANT_URL`), or null when there is none. */
    qdrantUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing: string[] = [];
  if (findPermifyBinary() === undefined) {
    missing.push(
      "no Permify binary was found (PERMIFY_BIN, .tools/bin/permify, PATH): run npm run permify:install",
    );
  }
  const externalQdrant = process.env.QDRANT_URL || undefined;
  if (externalQdrant === undefined && findQdrantBinary() === undefined) {
    missing.push(
      "no Qdrant binary was found (QDRANT_BIN, ../shared/bin/qdrant, PATH) and QDRANT_URL is not set",
    );
  }
  if (process.env.CI && missing.length > 0) throw new Error(`CI=${process.env.CI} but ${missing.join("; ")}`);

  const started = await Promise.allSettled([
    findPermifyBinary() === undefined ? undefined : startPermify({ engine: "memory" }),
    externalQdrant !== undefined || findQdrantBinary() === undefined ? undefined : startQdrant(),
  ]);
  const [permifyResult, qdrantResult] = started;
  const permify: PermifyServer | undefined =
    permifyResult.status === "fulfilled" ? permifyResult.value : undefined;
  const qdrant: QdrantServer | undefined =
    qdrantResult?.status === "fulfilled" ? qdrantResult.value : undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    await Promise.all([permify?.stop(), qdrant?.stop()]);
  };
  if (permify !== undefined) {
    void superviseRestarts(
      permify,
      () => stopping,
      (message) => console.error(`\n!!! The shared ${message}\n!!! Tests using it at that moment fail.\n`),
    );
  }
  const failed = started.find((result) => result.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  project.provide("permifyEndpoint", permify?.endpoint ?? null);
  project.provide("permifyHttpUrl", permify?.httpUrl ?? null);
  project.provide("qdrantUrl", externalQdrant ?? qdrant?.url ?? null);
  return stop;
}
