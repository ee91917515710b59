/**
 * Consent on a real Permify on PostgreSQL: 100 rounds of `clearance delegate`, a request by the agent,
 * `clearance undelegate`, a request by the agent. Every request after a delegation is served and every one
 * after its revocation is refused with CONSENT_REQUIRED: no stale answer.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ingestManifest } from "../../ingest/ingest.ts";
import { createMemoryAuditLog } from "../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedVectorStore } from "../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../src/adapters/offline/hashing-embedder.ts";
import {
  createPermifyAuthorizer,
  type PermifyAuthorizer,
} from "../../src/adapters/permify/permify-authorizer.ts";
import type { CliCommand } from "../../src/cli/command.ts";
import { delegateCommand, undelegateCommand } from "../../src/cli/delegate-command.ts";
import { composeApp } from "../../src/composition.ts";
import type { App } from "../../src/http/app-env.ts";
import type { VectorStore } from "../../src/ports/vector-store.ts";
import { bankContainerModel } from "../helpers/container-models.ts";
import { describeWithPermify, type PermifyOnPostgres, startPermifyOnPostgres } from "../helpers/permify.ts";
import { postJson } from "../helpers/small-bank.ts";
import { signTestToken, testTokenVerifier } from "../helpers/test-identity.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TENANT = "t1";
const ROUNDS = 100;

describeWithPermify("consent on Permify on PostgreSQL", () => {
  let servers: PermifyOnPostgres;
  let authorizer: PermifyAuthorizer;
  let vectorStore: VectorStore;
  let app: App;

  beforeAll(async () => {
    servers = await startPermifyOnPostgres();
    authorizer = createPermifyAuthorizer({
      endpoint: servers.permify.endpoint,
      tenant: TENANT,
      timeouts: { readMs: 15_000 },
    });
    const embedder = createHashingEmbedder();
    vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
    const report = await ingestManifest({
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: path.join(repoRoot, "fixtures/manifest.yaml"),
      authorizer,
      vectorStore,
      embedder,
    });
    expect(report.failed).toBe(0);
    app = composeApp({
      retrieval: { containerModel: bankContainerModel() },
      authorizer,
      vectorStore,
      embedder,
      chatModel: createExtractiveAnswerer(),
      auditLog: createMemoryAuditLog(),
      tokenVerifier: testTokenVerifier(),
      logger: pino({ level: "silent" }),
      limits: { defaultK: 8, maxK: 50, queryMaxChars: 2_000 },
    }).app;
  }, 120_000);

  afterAll(async () => {
    await authorizer?.close();
    await vectorStore?.close();
    await servers?.stop();
  });

  let writesRetried = 0;
  const cli = async (command: CliCommand, args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      const out: string[] = [];
      const code = await command.run(args, {
        io: { stdout: (line) => out.push(line), stderr: (line) => out.push(line) },
        env: { AUTHZ: "permify", PERMIFY_ENDPOINT: servers.permify.endpoint, PERMIFY_TENANT: TENANT },
      });
      if (code !== 0 && attempt < 5 && out.join("\n").includes("Permify failed")) {
        writesRetried += 1;
        continue;
      }
      expect(code, out.join("\n")).toBe(0);
      return out.join("\n");
    }
  };

  it(`has an undelegation in force for the agent's very next request (${ROUNDS} rounds)`, async () => {
    const agent = await signTestToken({ sub: "maria", agents: ["support-assistant"] });
    let unavailable = 0;
    const status = async () => {
      for (let attempt = 1; ; attempt++) {
        const response = await postJson(
          app,
          "/v1/search",
          { query: "how do I dispute a card transaction" },
          agent,
        );
        const body = (await response.json()) as { error?: { code: string } };
        if (response.status === 503 && attempt < 5) {
          unavailable += 1;
          continue;
        }
        return response.status === 200 ? "served" : (body.error?.code ?? String(response.status));
      }
    };
    // The fixture's delegation first.
    expect(await status()).toBe("served");
    expect(await cli(undelegateCommand, ["--user", "maria", "--agent", "support-assistant"])).toContain(
      "undelegated",
    );
    expect(await status()).toBe("CONSENT_REQUIRED");

    let stale = 0;
    let servedAfterDelegation = 0;
    for (let round = 0; round < ROUNDS; round++) {
      expect(await cli(delegateCommand, ["--user", "maria", "--agent", "support-assistant"])).toContain(
        "delegated",
      );
      if ((await status()) === "served") servedAfterDelegation += 1;
      expect(await cli(undelegateCommand, ["--user", "maria", "--agent", "support-assistant"])).toContain(
        "undelegated",
      );
      const after = await status();
      if (after !== "CONSENT_REQUIRED") stale += 1;
    }
    console.log(
      `consent on PostgreSQL: ${ROUNDS} rounds, ${stale} stale answers, ${servedAfterDelegation} delegations ` +
        `served on the next request, ${unavailable} requests asked again after a 503, ${writesRetried} writes retried`,
    );
    expect(stale).toBe(0);
    expect(servedAfterDelegation).toBe(ROUNDS);
    // Leave the fixture's delegation as it was.
    await cli(delegateCommand, ["--user", "maria", "--agent", "support-assistant"]);
  }, 300_000);

  it("expires a delegation on Permify as in the embedded evaluator", async () => {
    const agent = await signTestToken({ sub: "james", agents: ["support-assistant"] });
    const soon = new Date(Date.now() + 1_500).toISOString();
    await cli(delegateCommand, ["--user", "james", "--agent", "support-assistant", "--expires", soon]);
    expect((await postJson(app, "/v1/search", { query: "wire transfers" }, agent)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const refused = await postJson(app, "/v1/search", { query: "wire transfers" }, agent);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("CONSENT_REQUIRED");
    await cli(delegateCommand, ["--user", "james", "--agent", "support-assistant"]);
  }, 60_000);
});
