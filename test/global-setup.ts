/**
 * Starts one Permify (memory engine) for the whole run and hands its addresses to the test files through
 * `inject("permifyEndpoint")` / `inject("permifyHttpUrl")`. Test files isolate themselves by tenant
 * (`uniqueTenant`), so one shared server is enough and costs well under a second.
 *
 * Without a Permify binary the values are null and the Permify suites skip loudly, except under CI, where
 * a missing binary is a setup error: CI must run the real server, never skip it.
 */
import type { TestProject } from "vitest/node";
import { findPermifyBinary, type PermifyServer, startPermify } from "./helpers/permify-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** gRPC address of the shared Permify (`127.0.0.1:<port>`), or null when no binary was found. */
    permifyEndpoint: string | null;
    /** HTTP gateway of the same server (`http://127.0.0.1:<port>`), or null. */
    permifyHttpUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let server: PermifyServer | undefined;
  if (findPermifyBinary() === undefined) {
    if (process.env.CI) {
      throw new Error(
        `CI=${process.env.CI} but no Permify binary was found (PERMIFY_BIN, .tools/bin/permify, PATH): run npm run permify:install`,
      );
    }
  } else {
    server = await startPermify({ engine: "memory" });
  }
  project.provide("permifyEndpoint", server?.endpoint ?? null);
  project.provide("permifyHttpUrl", server?.httpUrl ?? null);
  return async () => {
    await server?.stop();
  };
}
