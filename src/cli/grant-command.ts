/**
 * `clearance grant <tuple>...`: writes relationships to the configured authorizer, all in one atomic write,
 * and prints each with the snap token of that write, so that operators can correlate it with Permify.
 * A relationship that does not fit the schema in force fails the whole write, and nothing is written.
 */
import { CHUNK_METADATA_RELATIONS, DOCUMENT_ENTITY } from "../core/container-model.ts";
import { AppError, isAppError } from "../core/errors.ts";
import { formatTuple } from "../core/permify-notation.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import {
  auditedCommand,
  type CliCommand,
  commandConfig,
  describeAuthorizer,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
  openCommandAuthorizer,
} from "./command.ts";
import { tupleArgumentsOrExit } from "./tuple-arguments.ts";

const usage = "grant <tuple>...";

export const grantCommand: CliCommand = {
  name: "grant",
  summary: "write relationships (Permify notation) to the authorizer, atomically, and print the snap token",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const tuples = tupleArgumentsOrExit(
      args,
      io,
      {
        name: "grant",
        usage,
        help: ["Several relationships are written in one transaction: all of them, or none."],
      },
      "nothing was written",
    );
    if (typeof tuples === "number") return tuples;
    const texts = tuples.map(formatTuple);
    // Chunks carry these relations as metadata; a grant here would put a document in a container its
    // chunks do not name, and the container pre-filter would miss it. Ingest writes both together.
    const mirrored = tuples.filter(
      (tuple) => tuple.entity.type === DOCUMENT_ENTITY && CHUNK_METADATA_RELATIONS.includes(tuple.relation),
    );
    if (mirrored.length > 0) {
      io.stderr(
        `clearance grant: ${mirrored.map(formatTuple).join(", ")}: a document's ${mirrored[0]?.relation} is ` +
          "written by ingest, with the chunk metadata that mirrors it; change the manifest and run " +
          "`clearance ingest` instead; nothing was written",
      );
      return EXIT_USAGE;
    }
    let authorizer: Authorizer | undefined;
    try {
      const config = commandConfig(deps);
      const snapToken = await auditedCommand(deps, config, "grant", "grant", async (audit) => {
        audit.changes = texts.map((target) => ({ op: "grant", target }));
        authorizer = await openCommandAuthorizer(deps, config);
        try {
          return (await authorizer.writeData({ tuples })).snapToken;
        } catch (error) {
          const where = describeAuthorizer(config);
          if (isAppError(error, "NOT_FOUND")) {
            throw new AppError(
              "NOT_FOUND",
              `${where} has no schema in force; run \`clearance schema push\` first`,
              {
                cause: error,
              },
            );
          }
          if (!isAppError(error, "DATA_INVALID")) throw error;
          // The embedded authorizer names the relationship; Permify names only the reason.
          const named = texts.some((text) => error.message.includes(text));
          const which = named ? "" : texts.length === 1 ? `${texts[0]}: ` : `one of ${texts.join(", ")}: `;
          throw new AppError("DATA_INVALID", `${which}${error.message}; nothing was written to ${where}`, {
            cause: error,
          });
        }
      });
      for (const text of texts) io.stdout(`granted ${text} (snap token ${snapToken})`);
      return EXIT_OK;
    } catch (error) {
      io.stderr(`clearance grant: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    } finally {
      await authorizer?.close().catch(() => undefined);
    }
  },
};
