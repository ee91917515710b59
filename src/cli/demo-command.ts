/**
 * `clearance demo`: the whole service on one machine. Ingests the fixture bank into the data directory
 * if it is empty, serves it, and prints for each fixture user a line that gets a token and asks a question.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { ingestManifest } from "../../ingest/ingest.ts";
import { AppError } from "../core/errors.ts";
import { type CliCommand, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { serveUntilStopped } from "./serve-command.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
export const DEMO_QUESTION = "Is the Pier Street branch closing, and what happens to my safe deposit box?";

const usersFileSchema = z.object({
  users: z.array(z.object({ id: z.string(), name: z.string(), role: z.string() })).min(1),
  agents: z.array(z.object({ id: z.string(), name: z.string(), role: z.string() })).default([]),
});

export const demoCommand: CliCommand = {
  name: "demo",
  summary: "ingest the fixture bank if needed, serve it, and show how each fixture user asks",
  usage: "demo",
  async run(args, deps) {
    const { io } = deps;
    if (args.includes("--help") || args.includes("-h")) {
      io.stdout("usage: clearance demo");
      io.stdout(
        "  Ingests fixtures/manifest.yaml into CLEARANCE_DATA_DIR when it holds no documents, then serves.",
      );
      io.stdout("  Needs AUTH_MODE=demo (npm start sets it): demo identity, on loopback only.");
      return EXIT_OK;
    }
    if (args.length > 0) {
      io.stderr(`clearance demo: unexpected arguments: ${args.join(" ")}`);
      return EXIT_USAGE;
    }
    const users = usersFileSchema.parse(parse(await readFile(new URL("users.yaml", FIXTURES), "utf8")));
    return serveUntilStopped(
      deps,
      "demo",
      async (runtime) => {
        if ((await runtime.vectorStore.count()) > 0) {
          io.stdout(`Using the documents already in ${runtime.config.dataDir}.`);
          return;
        }
        io.stdout(`Ingesting the fixture bank into ${runtime.config.dataDir} ...`);
        const report = await ingestManifest({
          manifestPath: fileURLToPath(new URL("manifest.yaml", FIXTURES)),
          authorizer: runtime.authorizer,
          vectorStore: runtime.vectorStore,
          embedder: runtime.embedder,
          // The bank's own fixture into an empty data directory, asked for by running the demo: its schema
          // and its team, customer and collection relationships are the operator's.
          schemaChange: { allow: true },
          relationshipScope: "any",
          limits: runtime.config.ingest,
          onProgress: (document) =>
            document.status === "failed"
              ? io.stderr(`  failed ${document.path}: ${document.error}`)
              : io.stdout(`  ${document.status} ${document.id} (${document.chunks} chunks)`),
        });
        const chunks = report.documents.reduce((sum, document) => sum + document.chunks, 0);
        io.stdout(`Ingested ${report.documents.length - report.failed} documents (${chunks} chunks).`);
        if (report.failed > 0) {
          throw new AppError("INTERNAL", `${report.failed} fixture documents failed to ingest`);
        }
      },
      (url, metricsUrl) => {
        const body = JSON.stringify({ query: DEMO_QUESTION, k: 4 });
        const ask = (tokenArgs: string) =>
          `    curl -s ${url}/v1/answer -H 'content-type: application/json' -d '${body}' ` +
          `-H "authorization: Bearer $(AUTH_MODE=demo npx clearance token ${tokenArgs} | tail -1)"`;
        io.stdout("");
        io.stdout(`clearance is serving on ${url} with demo identity (not for production).`);
        io.stdout(`Open the console: ${url}/console (pick a person, or "Ask as four people").`);
        io.stdout(`Ask "${DEMO_QUESTION}" as different people; each gets only what they may read:`);
        for (const user of users.users) {
          io.stdout(`  ${user.name}, ${user.role}:`);
          io.stdout(ask(`--sub ${user.id}`));
        }
        // The agent acting for a customer and for the VP: it sees at most what both it and that person may.
        const showcase = users.users.filter((user) => user.id === "maria" || user.id === "victor");
        for (const agent of users.agents) {
          for (const user of showcase) {
            io.stdout(`  ${agent.name} acting for ${user.name}:`);
            io.stdout(ask(`--sub ${user.id} --act ${agent.id}`));
          }
        }
        // Consent: an agent acts only for users who delegated to it (fixtures/relationships.yaml).
        for (const agent of users.agents) {
          io.stdout(
            `  ${agent.name} acting for Lena Hoffmann, who never delegated to it (403 CONSENT_REQUIRED):`,
          );
          io.stdout(ask(`--sub lena --act ${agent.id}`));
          io.stdout(
            `    (she consents with: AUTH_MODE=demo npx clearance delegate --user lena --agent ${agent.id})`,
          );
        }
        io.stdout(`MCP: ${url}/mcp (Streamable HTTP, the same Bearer token).`);
        io.stdout(`API description: ${url}/openapi.json. Stop with Ctrl-C.`);
        if (metricsUrl) io.stdout(`Metrics (this machine only): ${metricsUrl}/metrics`);
      },
    );
  },
};
