/**
 * `clearance validate <file.yaml> [--depth N]`: runs a `permify validate` file against the embedded
 * evaluator, so a schema can be tested without a Permify server and the two can be compared file by file.
 */
import { parseArgs } from "node:util";
import { createEmbeddedAuthorizer } from "../adapters/embedded-authz/embedded-authorizer.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import { type AssertionResult, runValidation } from "../validate/run-validation.ts";
import { loadValidationFile } from "../validate/validation-file.ts";
import { type CliCommand, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./command.ts";

/** `permify validate` evaluates with `metadata.depth: 100`; the same default keeps verdicts comparable. */
export const DEFAULT_VALIDATE_DEPTH = 100;

const usage = "validate <file.yaml> [--depth N]";

export const validateCommand: CliCommand = {
  name: "validate",
  summary: "run a Permify validation file (schema, data, assertions) against the embedded evaluator",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseValidateArgs(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      io.stdout(`  --depth N  nested evaluations allowed per check (default ${DEFAULT_VALIDATE_DEPTH})`);
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance validate: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }

    let file: Awaited<ReturnType<typeof loadValidationFile>>;
    try {
      file = await loadValidationFile(parsed.file);
    } catch (error) {
      io.stderr(`clearance validate: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    }

    let authorizer: Authorizer;
    try {
      authorizer = await (deps.createAuthorizer ?? defaultAuthorizer)({ maxDepth: parsed.depth });
    } catch (error) {
      io.stderr(`clearance validate: ${parsed.file}: cannot start the authorizer: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    }

    try {
      const run = await runValidation(file, authorizer);
      if (run.setupError) {
        const { stage, code, message } = run.setupError;
        io.stderr(`clearance validate: ${parsed.file}: ${stage}: ${code}: ${message}`);
        return EXIT_FAILURE;
      }
      for (const assertion of run.assertions) io.stdout(formatAssertion(assertion));
      io.stdout(`${run.passed} passed, ${run.failed} failed`);
      return run.ok ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await authorizer.close().catch(() => undefined);
    }
  },
};

function defaultAuthorizer(options: { readonly maxDepth: number }): Promise<Authorizer> {
  return createEmbeddedAuthorizer({ maxDepth: options.maxDepth });
}

type ValidateArgs = { file: string; depth: number } | { problem: string } | { help: true };

function parseValidateArgs(args: readonly string[]): ValidateArgs {
  let values: { depth?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: { depth: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  const [file, ...extra] = positionals;
  if (file === undefined) return { problem: "missing the validation file" };
  if (extra.length > 0) return { problem: `unexpected arguments: ${extra.join(" ")}` };
  if (values.depth === undefined) return { file, depth: DEFAULT_VALIDATE_DEPTH };
  const depth = Number(values.depth);
  if (!/^\d+$/.test(values.depth) || !Number.isSafeInteger(depth) || depth < 1) {
    return { problem: `--depth must be a positive integer, got "${values.depth}"` };
  }
  return { file, depth };
}

/** `PASS  <scenario> :: user:1 view document:1  expected true, got true` */
export function formatAssertion(assertion: AssertionResult): string {
  const scenario = assertion.scenario.trim() || `scenario ${assertion.scenarioIndex + 1}`;
  const verdict = assertion.passed ? "PASS" : "FAIL";
  const detail = assertion.error ? ` (${assertion.error.message})` : "";
  return `${verdict}  ${scenario} :: ${assertion.description}  expected ${assertion.expected}, got ${assertion.actual}${detail}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
