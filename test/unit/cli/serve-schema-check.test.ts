/**
 * `clearance serve` with AUTHZ=permify refuses to start unless AUTHZ_SCHEMA_FILE's schema is in force, and
 * when Permify cannot be reached. The schema decision is driven through a runtime whose configuration says
 * Permify and whose authorizer is the real embedded evaluator (the Permify-backed run lives in the
 * integration tests); the unreachable case dials a port nothing listens on.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import type { Runtime } from "../../../src/composition.ts";
import { loadConfig } from "../../../src/config.ts";
import { main } from "../../../src/main.ts";
import { captureIo } from "../../helpers/cli-io.ts";
import { freePort } from "../../helpers/free-port.ts";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "clearance-serve-schema-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A runtime configured for Permify whose authorizer is the embedded evaluator, holding `schema` if given. */
async function permifyConfiguredRuntime(env: Record<string, string>, schema?: string): Promise<Runtime> {
  const authorizer = await createEmbeddedAuthorizer();
  if (schema !== undefined) await authorizer.writeSchema(schema);
  const embedder = createHashingEmbedder({ dimensions: 16 });
  const vectorStore = await createEmbeddedVectorStore({ dimensions: 16 });
  return {
    config: loadConfig(env),
    authorizer,
    vectorStore,
    embedder,
    chatModel: createExtractiveAnswerer(),
    async close() {
      await Promise.all([vectorStore.close(), authorizer.close()]);
    },
  };
}

describe("clearance serve with AUTHZ=permify", () => {
  const permifyEnv = () => ({
    CLEARANCE_DATA_DIR: dataDir,
    PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    AUTH_MODE: "demo",
    AUTHZ: "permify",
    PERMIFY_ENDPOINT: "permify.internal:3478",
  });

  it("refuses to start when the tenant has no schema in force, saying how to fix it", async () => {
    const env = permifyEnv();
    const io = captureIo();
    const stop = AbortSignal.abort();
    const code = await main(["serve"], { io, env, stop, openRuntime: () => permifyConfiguredRuntime(env) });
    expect(code).toBe(1);
    expect(io.out).toEqual([]);
    expect(io.err).toEqual([
      "clearance serve: Permify tenant t1 at permify.internal:3478 does not have the schema in " +
        "fixtures/schema.perm in force; run `clearance schema push` (or set AUTHZ_SCHEMA_FILE to the schema you use)",
    ]);
  });

  it("refuses to start when another schema is in force", async () => {
    const env = { ...permifyEnv(), PERMIFY_TENANT: "bank" };
    const io = captureIo();
    const other = "entity user {}\nentity document {\n  relation viewer @user\n}\n";
    const code = await main(["serve"], {
      io,
      env,
      stop: AbortSignal.abort(),
      openRuntime: () => permifyConfiguredRuntime(env, other),
    });
    expect(code).toBe(1);
    expect(io.err[0]).toContain("Permify tenant bank at permify.internal:3478 does not have the schema");
  });

  it("starts when AUTHZ_SCHEMA_FILE's schema is in force", async () => {
    const env = permifyEnv();
    const schema = await readFile("fixtures/schema.perm", "utf8");
    const io = captureIo();
    const stop = new AbortController();
    const serving = main(["serve"], {
      io,
      env,
      stop: stop.signal,
      openRuntime: () => permifyConfiguredRuntime(env, schema),
    });
    for (
      let waited = 0;
      !io.out.some((line) => line.includes("serving on")) && waited < 10_000;
      waited += 20
    ) {
      if (io.err.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(io.err).toEqual([]);
    expect(io.out).toEqual([
      expect.stringMatching(/^clearance is serving on http:\/\/127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^metrics for Prometheus on http:\/\/127\.0\.0\.1:\d+\/metrics$/),
    ]);
    stop.abort();
    expect(await serving).toBe(0);
  });

  it("refuses to start when Permify cannot be reached, naming where it looked", async () => {
    const port = await freePort(); // taken and released: nothing listens on it
    const env = { ...permifyEnv(), PERMIFY_ENDPOINT: `127.0.0.1:${port}`, PERMIFY_TOKEN: "preshared-secret" };
    const io = captureIo();
    const code = await main(["serve"], { io, env, stop: AbortSignal.abort() });
    expect(code).toBe(1);
    expect(io.err).toHaveLength(1);
    expect(io.err[0]).toMatch(
      new RegExp(
        `^clearance serve: cannot check the schema of Permify tenant t1 at 127\\.0\\.0\\.1:${port}: `,
      ),
    );
    expect(io.err[0]).not.toContain("preshared-secret");
  });

  it("refuses to start when AUTHZ_SCHEMA_FILE cannot be read", async () => {
    const env = { ...permifyEnv(), AUTHZ_SCHEMA_FILE: join(dataDir, "missing.perm") };
    const io = captureIo();
    const code = await main(["serve"], {
      io,
      env,
      stop: AbortSignal.abort(),
      openRuntime: () => permifyConfiguredRuntime(env),
    });
    expect(code).toBe(1);
    expect(io.err).toEqual([
      `clearance serve: AUTHZ_SCHEMA_FILE: cannot read ${join(dataDir, "missing.perm")} (ENOENT)`,
    ]);
  });

  it("refuses to start when PERMIFY_TLS_CA cannot be read", async () => {
    const ca = join(dataDir, "missing-ca.pem");
    const io = captureIo();
    const code = await main(["serve"], {
      io,
      env: { ...permifyEnv(), PERMIFY_TLS_CA: ca },
      stop: AbortSignal.abort(),
    });
    expect(code).toBe(1);
    expect(io.err).toEqual([`clearance serve: PERMIFY_TLS_CA: cannot read ${ca} (ENOENT)`]);
  });
});

describe("clearance serve and the container pre-filter", () => {
  const env = () => ({
    CLEARANCE_DATA_DIR: dataDir,
    PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    AUTH_MODE: "demo",
  });
  const withoutDirectView = (schema: string) =>
    schema.replace("    permission direct_view = owner or viewer\n", "");

  it("refuses RETRIEVAL_STRATEGY=container-pre-filter when the schema in force cannot make it exact", async () => {
    const schema = withoutDirectView(await readFile("fixtures/schema.perm", "utf8"));
    const forced = { ...env(), RETRIEVAL_STRATEGY: "container-pre-filter" };
    const io = captureIo();
    const code = await main(["serve"], {
      io,
      env: forced,
      stop: AbortSignal.abort(),
      openRuntime: () => permifyConfiguredRuntime(forced, schema),
    });
    expect(code).toBe(1);
    expect(io.err).toEqual([
      "clearance serve: RETRIEVAL_STRATEGY=container-pre-filter cannot be exact with this schema: " +
        "document.view reaches readers through owner, viewer, and no other permission of document lists exactly those grants (declare one, e.g. direct_view)",
    ]);
  });
});
