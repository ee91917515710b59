/**
 * The developer examples (examples/*.ts) run as a developer runs them, `node --import tsx <example>` with
 * CLEARANCE_URL and CLEARANCE_TOKEN, against a clearance listening on a free port (the small bank on its
 * real embedded adapters). They import the package by name (clearance/client, clearance/langchain), so
 * this also checks what package.json exports. The RAG example runs offline (no OPENAI_API_KEY passed).
 */
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.ts";
import { repoRoot } from "../helpers/server-process.ts";
import { createSmallBank, type SmallBank } from "../helpers/small-bank.ts";
import { overridingAuthorizer } from "../helpers/stub-adapters.ts";
import { signTestToken } from "../helpers/test-identity.ts";

const SEARCH = fileURLToPath(new URL("../../examples/search.ts", import.meta.url));
const RAG = fileURLToPath(new URL("../../examples/langchain-rag.ts", import.meta.url));
const QUESTION = "How do I dispute a card transaction?";

type Listener = ReturnType<typeof serve>;

async function listen(bank: SmallBank): Promise<{ url: string; close: () => Promise<void> }> {
  const server = await new Promise<Listener>((resolve) => {
    const started: Listener = serve({ fetch: bank.app.fetch, hostname: "127.0.0.1", port: 0 }, () =>
      resolve(started),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs an example to its end with only the environment a developer would give it. */
function runExample(example: string, env: Record<string, string>, question = QUESTION): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", example, question], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The document ids an example printed, from its `(document <id>, ...)` lines. */
function documentsIn(output: string): string[] {
  return [...output.matchAll(/\(document ([^,)]+)/g)].map((match) => match[1] as string);
}

// Each example is a Node process that loads LangChain through tsx: seconds each, on a shared machine.
describe("the examples against a running clearance", { timeout: 120_000 }, () => {
  let bank: SmallBank;
  let server: { url: string; close: () => Promise<void> };
  let down: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    bank = await createSmallBank();
    server = await listen(bank);
    // The same bank with its authorizer down: clearance answers 503 and returns nothing.
    const fail = async () => {
      throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
    };
    down = await listen(
      await createSmallBank({
        authorizer: overridingAuthorizer(bank.authorizer, {
          check: fail,
          checkMany: fail,
          lookupResources: fail,
        }),
      }),
    );
  });
  afterAll(async () => {
    await Promise.all([server?.close(), down?.close()]);
  });

  const as = async (sub: string, agents: string[] = []) => ({
    CLEARANCE_URL: server.url,
    CLEARANCE_TOKEN: await signTestToken({ sub, agents }),
  });

  it("search.ts: Maria's passages, from her documents only", async () => {
    const run = await runExample(SEARCH, await as("maria"));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(new Set(documentsIn(run.stdout))).toEqual(new Set(["help-disputes", "maria-statement"]));
  });

  it("search.ts: Victor's passages include the memo and nothing of Maria's", async () => {
    const run = await runExample(SEARCH, await as("victor"));
    expect(run.code).toBe(0);
    expect(documentsIn(run.stdout)).toContain("exec-memo");
    expect(documentsIn(run.stdout)).not.toContain("maria-statement");
  });

  it("langchain-rag.ts: Maria's answer is written from her passages and cites them", async () => {
    const run = await runExample(RAG, await as("maria"));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Answer: .+\[1\]$/m);
    expect(new Set(documentsIn(run.stdout))).toEqual(new Set(["help-disputes", "maria-statement"]));
  });

  it("langchain-rag.ts: Victor's sources hold the memo; the assistant acting for him gets none", async () => {
    const victor = await runExample(RAG, await as("victor"), "card transaction disputes this quarter");
    expect(victor.code).toBe(0);
    expect(documentsIn(victor.stdout)).toContain("exec-memo");
    expect(documentsIn(victor.stdout)).not.toContain("maria-statement");

    const assistant = await runExample(RAG, await as("victor", ["support-assistant"]));
    expect(assistant.code).toBe(0);
    expect(documentsIn(assistant.stdout)).toEqual([]);
    expect(assistant.stdout).toContain("Answer: None of the passages you may read answers this.");
  });

  const refusals: {
    name: string;
    example: string;
    env: () => Promise<Record<string, string>>;
    code: string;
  }[] = [
    {
      name: "langchain-rag.ts with a token clearance does not trust",
      example: RAG,
      env: async () => ({
        CLEARANCE_URL: server.url,
        CLEARANCE_TOKEN: await signTestToken({ signWith: "stranger" }),
      }),
      code: "UNAUTHENTICATED (HTTP 401",
    },
    {
      name: "search.ts for an agent Nadia never delegated to",
      example: SEARCH,
      env: () => as("nadia", ["support-assistant"]),
      code: "CONSENT_REQUIRED (HTTP 403",
    },
    {
      name: "langchain-rag.ts while the authorizer is down",
      example: RAG,
      env: async () => ({ CLEARANCE_URL: down.url, CLEARANCE_TOKEN: await signTestToken({ sub: "maria" }) }),
      code: "UPSTREAM_UNAVAILABLE (HTTP 503",
    },
  ];
  for (const { name, example, env, code } of refusals) {
    it(`${name}: exits 1 naming ${code.split(" ")[0]}, with the request id, and prints no answer`, async () => {
      const run = await runExample(example, await env());
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`clearance refused: ${code}, request `);
      expect(run.stderr).not.toMatch(/request none/);
      expect(run.stdout).not.toContain("Answer:");
      expect(documentsIn(run.stdout)).toEqual([]);
    });
  }

  it("without CLEARANCE_TOKEN both examples print their usage and exit 2", async () => {
    for (const example of [SEARCH, RAG]) {
      const run = await runExample(example, { CLEARANCE_URL: server.url });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("usage: CLEARANCE_TOKEN=");
    }
  });
});
