/**
 * `clearance revoke <tuple>...`: deletes exactly the relationships given from the configured authorizer,
 * one at a time, and prints each with the snap token of its delete. `team:x` is deleted without touching
 * `team:x#member`. A relationship that is not there (whatever the reason: never granted, already revoked,
 * or not even possible under the schema) is reported and skipped, with exit 0.
 */
import { exactTupleFilter } from "../core/authz-model.ts";
import { formatTuple } from "../core/permify-notation.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import {
  auditedCommand,
  type CliCommand,
  commandConfig,
  EXIT_FAILURE,
  EXIT_OK,
  errorMessage,
  openCommandAuthorizer,
} from "./command.ts";
import { tupleArgumentsOrExit } from "./tuple-arguments.ts";

const usage = "revoke <tuple>...";

export const revokeCommand: CliCommand = {
  name: "revoke",
  summary: "delete exactly these relationships (Permify notation) from the authorizer",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const tuples = tupleArgumentsOrExit(
      args,
      io,
      {
        name: "revoke",
        usage,
        help: [
          "Each relationship is deleted exactly, in its own transaction; one that is not there is",
          "reported and skipped.",
        ],
      },
      "nothing was revoked",
    );
    if (typeof tuples === "number") return tuples;
    let authorizer: Authorizer | undefined;
    let revoked = 0;
    try {
      const config = commandConfig(deps);
      await auditedCommand(deps, config, "revoke", "revoke", async (audit) => {
        const changes: { op: string; target: string }[] = [];
        audit.changes = changes;
        const opened = await openCommandAuthorizer(deps, config);
        authorizer = opened;
        for (const tuple of tuples) {
          const text = formatTuple(tuple);
          const filter = exactTupleFilter(tuple);
          // Read first: a delete of nothing succeeds silently, and the operator should know.
          const existing = await opened.readRelationships({ filter, pageSize: 1 });
          if (existing.tuples.length === 0) {
            io.stdout(`not granted: ${text} (nothing to revoke)`);
            continue;
          }
          const { snapToken } = await opened.deleteData({ tuples: filter });
          revoked += 1;
          changes.push({ op: "revoke", target: text });
          io.stdout(`revoked ${text} (snap token ${snapToken})`);
        }
      });
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
