/**
 * `clearance revoke <tuple>...`: deletes exactly the relationships given from the configured authorizer,
 * one at a time, and prints each with the snap token of its delete. `team:x` is deleted without touching
 * `team:x#member`. A relationship that is not there (whatever the reason: never granted, already revoked,
 * or not even possible under the schema) is reported and skipped, with exit 0.
 */
import { formatTuple } from "../core/permify-notation.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import {
  type CliCommand,
  commandConfig,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
  openCommandAuthorizer,
} from "./command.ts";
import { exactFilter, parseTupleArguments, TUPLE_HELP } from "./tuple-arguments.ts";

const usage = "revoke <tuple>...";

export const revokeCommand: CliCommand = {
  name: "revoke",
  summary: "delete exactly these relationships (Permify notation) from the authorizer",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseTupleArguments(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      for (const line of TUPLE_HELP) io.stdout(`  ${line}`);
      io.stdout("  Each relationship is deleted exactly, in its own transaction; one that is not there is");
      io.stdout("  reported and skipped.");
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance revoke: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    if ("invalid" in parsed) {
      io.stderr(`clearance revoke: ${parsed.invalid}; nothing was revoked`);
      return EXIT_FAILURE;
    }
    let authorizer: Authorizer | undefined;
    let revoked = 0;
    try {
      authorizer = await openCommandAuthorizer(deps, commandConfig(deps));
      for (const tuple of parsed.tuples) {
        const text = formatTuple(tuple);
        const filter = exactFilter(tuple);
        // Read first: a delete of nothing succeeds silently, and the operator should know.
        const existing = await authorizer.readRelationships({ filter, pageSize: 1 });
        if (existing.tuples.length === 0) {
          io.stdout(`not granted: ${text} (nothing to revoke)`);
          continue;
        }
        const { snapToken } = await authorizer.deleteData({ tuples: filter });
        revoked += 1;
        io.stdout(`revoked ${text} (snap token ${snapToken})`);
      }
      return EXIT_OK;
    } catch (error) {
      const done = revoked > 0 ? ` (the ${revoked} revoked above stay revoked)` : "";
      io.stderr(`clearance revoke: ${errorMessage(error)}${done}`);
      return EXIT_FAILURE;
    } finally {
      await authorizer?.close().catch(() => undefined);
    }
  },
};
