/**
 * `npm run bench:mcp`: an MCP tool call against the same REST request (issue 16's performance aim: an MCP
 * call's p50 within 1.2× of REST's). The fixture bank on the embedded stores, served over real HTTP on a
 * loopback port; each question is asked through `POST /v1/search` and through the `search_documents` tool
 * of one connected MCP client (the official SDK's Streamable HTTP client), in alternating order, for a
 * customer and for an agent acting for a VP (the consent check included). Prints the table and writes
 * `bench/results/mcp.md`.
 *
 *   npm run bench:mcp [-- --rounds 3]
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SignJWT } from "jose";
import { pino } from "pino";
import { parse } from "yaml";
import { ingestManifest } from "../ingest/ingest.ts";
import { createMemoryAuditLog } from "../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { composeApp } from "../src/composition.ts";
import { createTokenVerifier } from "../src/http/token-verifier.ts";
import { machine, percentile, writeResults } from "./bench-support.ts";
import { fmt, markdownTable, textTable } from "./tables.ts";

const ISSUER = "https://bench.clearance.test";
const AUDIENCE = "clearance";
const K = 5;
const WARM_UP = 10;

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);

const PRINCIPALS = [
  { label: "maria (customer)", sub: "maria", agents: [] as string[] },
  { label: "support-assistant for victor (VP)", sub: "victor", agents: ["support-assistant"] },
];

async function signToken(privateKey: KeyObject, sub: string, agents: readonly string[]): Promise<string> {
  const act = [...agents]
    .reverse()
    .reduce<Record<string, unknown> | undefined>(
      (inner, agent) => (inner ? { sub: agent, act: inner } : { sub: agent }),
      undefined,
    );
  return new SignJWT({ ...(act ? { act } : {}), scope: "documents:search" })
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(privateKey);
}

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const questions = (parse(readFileSync(fixture("questions.yaml"), "utf8")) as { questions: string[] })
  .questions;

const embedder = createHashingEmbedder();
const authorizer = await createEmbeddedAuthorizer();
const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
const report = await ingestManifest({
  manifestPath: fixture("manifest.yaml"),
  authorizer,
  vectorStore,
  embedder,
  schemaChange: { allow: true },
  relationshipScope: "any",
});
if (report.failed > 0) throw new Error(`${report.failed} fixture documents failed to load`);

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const { app } = composeApp({
  authorizer,
  vectorStore,
  embedder,
  chatModel: createExtractiveAnswerer(),
  auditLog: createMemoryAuditLog(),
  tokenVerifier: createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["ES256"],
    key: publicKey,
    clockToleranceSeconds: 5,
  }),
  logger: pino({ level: "silent" }),
  limits: { defaultK: K, maxK: 50, queryMaxChars: 2000 },
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

interface Lane {
  readonly label: string;
  readonly rest: number[];
  readonly mcp: number[];
}

async function measure(principal: (typeof PRINCIPALS)[number]): Promise<Lane> {
  const token = await signToken(privateKey, principal.sub, principal.agents);
  const client = new Client({ name: "clearance-bench", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  const rest = async (query: string) => {
    const started = performance.now();
    const response = await fetch(`${base}/v1/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ query, k: K }),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`REST answered ${response.status}`);
    return performance.now() - started;
  };
  const mcp = async (query: string) => {
    const started = performance.now();
    const result = (await client.callTool({ name: "search_documents", arguments: { query, k: K } })) as {
      isError?: boolean;
    };
    if (result.isError) throw new Error("the tool answered an error");
    return performance.now() - started;
  };
  for (let i = 0; i < WARM_UP; i++) {
    await rest(questions[i % questions.length] as string);
    await mcp(questions[i % questions.length] as string);
  }
  const lane: Lane = { label: principal.label, rest: [], mcp: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [index, query] of questions.entries()) {
      // Alternate which goes first, so neither always meets a warmer cache.
      if ((index + round) % 2 === 0) {
        lane.rest.push(await rest(query));
        lane.mcp.push(await mcp(query));
      } else {
        lane.mcp.push(await mcp(query));
        lane.rest.push(await rest(query));
      }
    }
  }
  await client.close();
  return lane;
}

const lanes: Lane[] = [];
for (const principal of PRINCIPALS) lanes.push(await measure(principal));
await new Promise((resolve) => server.close(resolve));
await authorizer.close();

const headers = [
  "principal",
  "requests",
  "REST p50 ms",
  "MCP p50 ms",
  "MCP / REST p50",
  "REST p95 ms",
  "MCP p95 ms",
];
const rows = lanes.map((lane) => {
  const rest = [...lane.rest].sort((a, b) => a - b);
  const mcp = [...lane.mcp].sort((a, b) => a - b);
  return [
    lane.label,
    String(rest.length),
    fmt(percentile(rest, 50)),
    fmt(percentile(mcp, 50)),
    (percentile(mcp, 50) / percentile(rest, 50)).toFixed(2),
    fmt(percentile(rest, 95)),
    fmt(percentile(mcp, 95)),
  ];
});
console.log(textTable(headers, rows));
await writeResults(
  "mcp.md",
  [
    "# MCP tool call against the same REST request",
    "",
    `Machine: ${machine()}.`,
    `\`npm run bench:mcp\`: the fixture bank on the embedded stores over loopback HTTP; each of the ${questions.length}`,
    `questions, ${rounds} rounds, through \`POST /v1/search\` and the \`search_documents\` tool of one connected MCP`,
    `client (k = ${K}), in alternating order, after ${WARM_UP} warm-up calls of each. Aim: MCP p50 within 1.2× of REST.`,
    "",
    markdownTable(headers, rows),
    "",
  ].join("\n"),
);
