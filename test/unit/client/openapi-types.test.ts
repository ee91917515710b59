/**
 * The client's types are generated from the API description and committed; this fails when a route or a
 * schema changed without `npm run generate:client`, so the published client never lags the server.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  CLIENT_TYPES_FILE,
  clientTypesSource,
  servedOpenApiDocument,
} from "../../../scripts/client-types.ts";

describe("the committed client types", () => {
  it("are what npm run generate:client makes of the served /openapi.json", async () => {
    const generated = await clientTypesSource(await servedOpenApiDocument());
    const committed = await readFile(CLIENT_TYPES_FILE, "utf8");
    expect(
      committed === generated,
      "src/client/openapi-types.ts is stale: run npm run generate:client and commit the result",
    ).toBe(true);
  });

  it("would notice a route the description gained", async () => {
    const document = await servedOpenApiDocument();
    const changed = {
      ...document,
      paths: { ...document.paths, "/v1/new-route": document.paths?.["/healthz"] ?? {} },
    };
    expect(await clientTypesSource(changed)).not.toBe(await readFile(CLIENT_TYPES_FILE, "utf8"));
  });

  it("describe clearance's errors with their codes and every status the retrieval routes answer", async () => {
    const document = await servedOpenApiDocument();
    const search = (document.paths?.["/v1/search"] as { post?: { responses?: object } } | undefined)?.post
      ?.responses;
    expect(Object.keys(search ?? {}).sort()).toEqual(["200", "400", "401", "403", "503"]);
    const source = await readFile(CLIENT_TYPES_FILE, "utf8");
    expect(source).toContain("export const errorErrorCodeValues");
  });
});
