/** The positional relationships of `clearance grant` and `clearance revoke`, in Permify's notation. */
import { parseArgs } from "node:util";
import type { Tuple } from "../core/authz-model.ts";
import { formatTuple, parseTuple } from "../core/permify-notation.ts";
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, errorMessage } from "./command.ts";

export type TupleArguments =
  | { readonly tuples: readonly Tuple[] }
  /** Bad usage: exit 2 with the usage line. */
  | { readonly problem: string }
  /** A positional that is not a relationship: exit 1 naming it. */
  | { readonly invalid: string }
  | { readonly help: true };

/** Parses `<tuple>...`; repeated tuples count once, in the order first given. */
export function parseTupleArguments(args: readonly string[]): TupleArguments {
  let values: { help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  if (positionals.length === 0)
    return { problem: "missing the relationship, e.g. document:loan-1#viewer@user:alice" };
  const tuples = new Map<string, Tuple>();
  for (const text of positionals) {
    let tuple: Tuple;
    try {
      tuple = parseTuple(text);
    } catch (error) {
      return { invalid: `"${text}": ${errorMessage(error)}` };
    }
    tuples.set(formatTuple(tuple), tuple);
  }
  return { tuples: [...tuples.values()] };
}

/** The help lines shared by grant and revoke. */
export const TUPLE_HELP = [
  "<tuple>  a relationship in Permify's notation: entity:id#relation@subject:id, e.g.",
  "         document:loan-1#viewer@user:alice, or with a subject relation,",
  "         collection:risk-reports#viewer@team:risk#member",
  "The authorizer comes from the environment (AUTHZ, PERMIFY_*); see the README's configuration table.",
];

/**
 * The tuples of `grant <tuple>...` or `revoke <tuple>...`, or the exit code after printing help, a usage
 * problem (2) or a positional that is not a relationship (1, saying `nothingDone`).
 */
export function tupleArgumentsOrExit(
  args: readonly string[],
  io: CliIo,
  command: { readonly name: string; readonly usage: string; readonly help: readonly string[] },
  nothingDone: string,
): readonly Tuple[] | number {
  const parsed = parseTupleArguments(args);
  if ("help" in parsed) {
    io.stdout(`usage: clearance ${command.usage}`);
    for (const line of [...TUPLE_HELP, ...command.help]) io.stdout(`  ${line}`);
    return EXIT_OK;
  }
  if ("problem" in parsed) {
    io.stderr(`clearance ${command.name}: ${parsed.problem}`);
    io.stderr(`usage: clearance ${command.usage}`);
    return EXIT_USAGE;
  }
  if ("invalid" in parsed) {
    io.stderr(`clearance ${command.name}: ${parsed.invalid}; ${nothingDone}`);
    return EXIT_FAILURE;
  }
  return parsed.tuples;
}
