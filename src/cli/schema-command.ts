/**
 * `clearance schema push [--schema <file>]`: puts a Permify schema in force in the configured authorizer
 * (AUTHZ_SCHEMA_FILE by default, the schema `clearance serve` expects). When the same schema is already in
 * force it writes nothing, so pushing is safe to repeat (a Permify write would add a version each time).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { AppError, isAppError } from "../core/errors.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import {
  type CliCommand,
  commandConfig,
  describeAuthorizer,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
  openCommandAuthorizer,
} from "./command.ts";

const usage = "schema push [--schema <file>]";

const HELP = [
  `usage: clearance ${usage}`,
  "  --schema <file>  the schema to push (default: AUTHZ_SCHEMA_FILE, fixtures/schema.perm unless set)",
  "  Writes nothing when the same schema is already in force. The authorizer comes from the environment",
  "  (AUTHZ, PERMIFY_*); see the README's configuration table.",
];

export const schemaCommand: CliCommand = {
  name: "schema",
  summary: "put the schema in force in the authorizer (unless it already is) and print its version",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseSchemaArgs(args);
    if ("help" in parsed) {
      for (const line of HELP) io.stdout(line);
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance schema: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    let authorizer: Authorizer | undefined;
    let file = parsed.schema;
    try {
      const config = commandConfig(deps);
      file ??= config.authz.schemaFile;
      const text = await readSchemaFile(file);
      const where = describeAuthorizer(config);
      authorizer = await openCommandAuthorizer(deps, config);
      if (await authorizer.isSchemaInForce(text)) {
        const { schemaVersion } = await authorizer.readSchema();
        io.stdout(
          `the schema in ${file} is already in force in ${where} (version ${schemaVersion}); nothing written`,
        );
        return EXIT_OK;
      }
      const { schemaVersion } = await authorizer.writeSchema(text);
      io.stdout(`pushed the schema in ${file} to ${where}: version ${schemaVersion}`);
      return EXIT_OK;
    } catch (error) {
      // A schema that does not compile: the message starts with its position (line and column).
      const prefix = isAppError(error, "SCHEMA_INVALID") ? `${file}: ` : "";
      io.stderr(`clearance schema push: ${prefix}${errorMessage(error)}`);
      return EXIT_FAILURE;
    } finally {
      await authorizer?.close().catch(() => undefined);
    }
  },
};

async function readSchemaFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AppError("BAD_REQUEST", `cannot read the schema ${file}${code ? ` (${code})` : ""}`, {
      cause: error,
    });
  }
}

type SchemaArgs = { schema?: string } | { problem: string } | { help: true };

function parseSchemaArgs(args: readonly string[]): SchemaArgs {
  let values: { schema?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: { schema: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  const [action, ...extra] = positionals;
  if (action === undefined) return { problem: "missing the action: push" };
  if (action !== "push") return { problem: `unknown action "${action}" (the one action is push)` };
  if (extra.length > 0) return { problem: `unexpected arguments: ${extra.join(" ")}` };
  if (values.schema !== undefined && values.schema.trim() === "") return { problem: "--schema needs a file" };
  return values.schema === undefined ? {} : { schema: values.schema };
}
