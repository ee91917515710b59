/**
 * The `clearance` CLI with its real configured adapters, wrapped so that the process kills itself with
 * SIGKILL right after the Nth write to either store (`CRASH_AFTER_WRITE=N`): after an authorizer write or
 * delete, or after a vector store write, which covers "between documents" too (the last write of one
 * document is followed by the first of the next). With `COUNT_WRITES_TO=<file>` it instead appends one
 * line per write to that file, so a test learns how many crash points a command has. Run by
 * test/integration/owner-crash.test.ts as `node --import tsx test/helpers/crash-cli.ts <command> ...`.
 */
import { appendFileSync } from "node:fs";
import { openRuntime, type Runtime } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import { main } from "../../src/main.ts";
import { overridingAuthorizer, overridingVectorStore } from "./stub-adapters.ts";

const crashAfter = Number(process.env.CRASH_AFTER_WRITE ?? "0");
const countFile = process.env.COUNT_WRITES_TO;
let writes = 0;

function wrote(what: string): void {
  writes++;
  if (countFile) appendFileSync(countFile, `${what}\n`);
  if (crashAfter > 0 && writes === crashAfter) process.kill(process.pid, "SIGKILL");
}

async function crashingRuntime(): Promise<Runtime> {
  const runtime = await openRuntime(loadConfig(process.env), { readConsistency: "own-writes" });
  const { authorizer, vectorStore } = runtime;
  const after =
    <A extends unknown[], R>(what: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const result = await call(...args);
      wrote(what);
      return result;
    };
  return {
    ...runtime,
    authorizer: overridingAuthorizer(authorizer, {
      writeData: after("authorizer write", (data) => authorizer.writeData(data)),
      deleteData: after("authorizer delete", (filters) => authorizer.deleteData(filters)),
      writeSchema: after("schema write", (schema) => authorizer.writeSchema(schema)),
    }),
    vectorStore: overridingVectorStore(vectorStore, {
      replaceDocument: after("vector write", (id, chunks) => vectorStore.replaceDocument(id, chunks)),
      deleteDocument: after("vector delete", (id) => vectorStore.deleteDocument(id)),
      updateDocumentMetadata: after("vector metadata", (id, metadata) =>
        vectorStore.updateDocumentMetadata(id, metadata),
      ),
    }),
    close: () => runtime.close(),
  };
}

process.exitCode = await main(process.argv.slice(2), { openRuntime: crashingRuntime });
