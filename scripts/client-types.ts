/**
 * `npm run generate:client`: writes the TypeScript client's types (src/client/openapi-types.ts) from the
 * OpenAPI document a default `clearance demo` serves at `/openapi.json`. The document is read from the
 * composed app in process, so the types follow the routes without a server to start; a test fails when
 * the committed file differs from what this produces (test/unit/client/openapi-types.test.ts).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, type OpenAPI3 } from "openapi-typescript";
import { pino } from "pino";
import { composeServedApp, openRuntime } from "../src/composition.ts";
import { loadConfig } from "../src/config.ts";

export const CLIENT_TYPES_FILE = fileURLToPath(new URL("../src/client/openapi-types.ts", import.meta.url));

const HEADER = `/**
 * The types of clearance's HTTP API, generated from its /openapi.json by \`npm run generate:client\`
 * (openapi-typescript). Do not edit: a test fails when this file and the served document disagree.
 */

`;

/**
 * The document as the default configuration serves it (demo identity, embedded stores, default limits) in
 * a scratch data directory that is removed afterwards.
 */
export async function servedOpenApiDocument(): Promise<OpenAPI3> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "clearance-openapi-"));
  try {
    const config = loadConfig({
      AUTH_MODE: "demo",
      CLEARANCE_DATA_DIR: dataDir,
      METRICS_PORT: "off",
      LOG_LEVEL: "silent",
    });
    const runtime = await openRuntime(config);
    try {
      const served = await composeServedApp(runtime, pino({ level: "silent" }));
      try {
        const response = await served.app.request("/openapi.json");
        if (response.status !== 200) throw new Error(`/openapi.json answered ${response.status}`);
        return (await response.json()) as OpenAPI3;
      } finally {
        await served.close();
      }
    } finally {
      await runtime.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The source of src/client/openapi-types.ts for `document`. */
export async function clientTypesSource(document: OpenAPI3): Promise<string> {
  const ast = await openapiTS(document, {
    silent: true,
    // `k` has a default: optional in a request, as the server treats it.
    defaultNonNullable: false,
    // Runtime lists of the enums, so that the client recognises clearance's error codes without importing them.
    enumValues: true,
  });
  return HEADER + astToString(ast);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const source = await clientTypesSource(await servedOpenApiDocument());
  await writeFile(CLIENT_TYPES_FILE, source);
  console.log(`wrote ${path.relative(process.cwd(), CLIENT_TYPES_FILE)} (${source.length} characters)`);
}
