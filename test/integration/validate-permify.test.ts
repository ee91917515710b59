/**
 * `clearance validate --authorizer permify` against the run's real Permify: every conformance file gives
 * the same verdicts through the CLI as `clearance validate` on the embedded evaluator, and the scratch
 * tenant each run uses is gone afterwards.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { main } from "../../src/main.ts";
import { captureIo } from "../helpers/cli-io.ts";
import { describeWithPermify } from "../helpers/permify.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const conformanceDir = process.env.PERMIFY_CONFORMANCE_DIR
  ? path.resolve(process.env.PERMIFY_CONFORMANCE_DIR)
  : path.resolve(repoRoot, "../shared/conformance/permify");
/** Files whose schema is a path the CLI cannot resolve from this folder (see permify-conformance.test.ts). */
const NEEDS_PATH_MAPPING = new Set(["permify-validate-action__sample-schema-with-file-path.yaml"]);

/**
 * A verdict line without the error's code and wording, which are each authorizer's own: Permify answers
 * "schema not found" both for a permission its schema lacks and for a tenant without a schema, so the
 * adapter cannot tell a caller's mistake from a server not set up, and reports both as unavailable.
 */
const verdict = (line: string) => line.replace(/got error: [A-Z_]+.*$/, "got an error");

async function scratchTenants(httpUrl: string): Promise<string[]> {
  const response = await fetch(`${httpUrl}/v1/tenants/list`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ page_size: 1000 }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { tenants?: { id: string }[] };
  return (body.tenants ?? []).map((tenant) => tenant.id).filter((id) => id.startsWith("clearance-scratch-"));
}

describeWithPermify("clearance validate --authorizer permify", (endpoint, httpUrl) => {
  const files = existsSync(conformanceDir)
    ? readdirSync(conformanceDir)
        .filter((name) => name.endsWith(".yaml") && !NEEDS_PATH_MAPPING.has(name))
        .sort()
    : [];

  it("has conformance files to run", () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(files)("%s: the same verdicts and exit code as on the embedded evaluator", async (name) => {
    const file = path.join(conformanceDir, name);
    const embedded = captureIo();
    const permify = captureIo();
    const embeddedExit = await main(["validate", file], { io: embedded });
    const permifyExit = await main(["validate", file, "--authorizer", "permify"], {
      io: permify,
      env: { PERMIFY_ENDPOINT: endpoint },
    });
    expect(permify.err).toEqual([]);
    expect(permify.out.map(verdict)).toEqual(embedded.out.map(verdict));
    expect(permifyExit).toBe(embeddedExit);
  });

  it("deletes its scratch tenant, and refuses to run without an endpoint", async () => {
    const before = await scratchTenants(httpUrl);
    const file = path.join(conformanceDir, "permify__rbac.yaml");
    expect(
      await main(["validate", file, "--authorizer", "permify"], {
        io: captureIo(),
        env: { PERMIFY_ENDPOINT: endpoint },
      }),
    ).toBe(0);
    expect(await scratchTenants(httpUrl)).toEqual(before);

    const io = captureIo();
    expect(await main(["validate", file, "--authorizer", "permify"], { io, env: {} })).toBe(1);
    expect(io.err.join("\n")).toContain("PERMIFY_ENDPOINT");
  });
});
