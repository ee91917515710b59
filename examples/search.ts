/**
 * A plain call with the typed client: the passages clearance returns for one caller's token.
 *
 *   CLEARANCE_TOKEN=$(AUTH_MODE=demo npx clearance token --sub maria | tail -1) \
 *     npx tsx examples/search.ts "How do I dispute a card transaction?"
 *
 * CLEARANCE_URL is where clearance serves (default http://127.0.0.1:8080, as `npm start`).
 */
import { createClearanceClient, isClearanceError } from "clearance/client";

const token = process.env.CLEARANCE_TOKEN;
if (!token) {
  console.error(
    "usage: CLEARANCE_TOKEN=<the caller's token> [CLEARANCE_URL=<url>] tsx examples/search.ts <question>",
  );
  process.exit(2);
}
const question = process.argv.slice(2).join(" ") || "How do I dispute a card transaction?";
const client = createClearanceClient({
  baseUrl: process.env.CLEARANCE_URL ?? "http://127.0.0.1:8080",
  token,
});

try {
  const { passages } = await client.search({ query: question, k: 4 });
  console.log(`${passages.length} passages you may read for: ${question}`);
  for (const passage of passages) {
    const section = passage.sectionId === null ? "" : `, section ${passage.sectionId}`;
    console.log(
      `- ${passage.title} (document ${passage.documentId}${section}, chunk ${passage.chunkId}, score ${passage.score})`,
    );
    console.log(`  ${passage.text.slice(0, 160)}`);
  }
} catch (error) {
  // clearance refused or failed: say which, by code, and never go on as if nothing were readable.
  if (!isClearanceError(error)) throw error;
  console.error(
    `clearance refused: ${error.code} (HTTP ${error.status ?? "none"}, request ${error.requestId ?? "none"})`,
  );
  process.exitCode = 1;
}
