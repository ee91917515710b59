/**
 * `clearance validate [--authorizer embedded|permify] <file.yaml> [--depth N]`: runs a `permify validate`
 * file against the embedded evaluator (default, no server needed) or against the Permify server configured
 * by PERMIFY_ENDPOINT and friends, in a scratch tenant deleted afterwards. The same file through both is how
 * the two are compared.
 */
import { parseArgs } from "node:util";
import { createEmbeddedAuthorizer } from "../adapters/embedded-authz/embedded-authorizer.ts";
import { openScratchPermifyAuthorizer } from "../composition.ts";
import { processEnvironment } from "../config.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import { type AssertionResult, runValidation } from "../validate/run-validation.ts";
import { loadValidationFile } from "../validate/validation-file.ts";
import {
  type CliCommand,
  type CliDeps,
  commandConfig,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
} from "./command.ts";

/** `permify validate` evaluates with `metadata.depth: 100`; the same default keeps verdicts comparable. */
export const DEFAULT_VALIDATE_DEPTH = 100;

const usage = "validate <file.yaml> [--authorizer embedded|permify] [--depth N]";
const AUTHORIZERS = ["embedded", "permify"] as const;
type AuthorizerKind = (typeof AUTHORIZERS)[number];

export const validateCommand: CliCommand = {
  name: "validate",
  summary:
    "run a Permify validation file (schema, data, assertions) against the embedded evaluator or Permify",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseValidateArgs(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      io.stdout("  --authorizer embedded  the embedded evaluator, in memory (default)");
      io.stdout(
        "  --authorizer permify   the Permify at PERMIFY_ENDPOINT (PERMIFY_TOKEN, PERMIFY_TLS_CA), in a",
      );
      io.stdout("                         scratch tenant that is deleted afterwards");
      io.stdout(
        `  --depth N              nested evaluations allowed per check (default ${DEFAULT_VALIDATE_DEPTH})`,
      );
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
      authorizer = deps.createAuthorizer
        ? await deps.createAuthorizer({ maxDepth: parsed.depth })
        : await defaultAuthorizer(parsed.authorizer, parsed.depth, deps);
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

function defaultAuthorizer(kind: AuthorizerKind, depth: number, deps: CliDeps): Promise<Authorizer> {
  if (kind === "embedded") return createEmbeddedAuthorizer({ maxDepth: depth });
  // PERMIFY_* configure the server; AUTHZ need not say permify for a validation run.
  const config = commandConfig({ ...deps, env: { ...(deps.env ?? processEnvironment()), AUTHZ: "permify" } });
  return openScratchPermifyAuthorizer(config, { depth });
}

type ValidateArgs =
  | { file: string; depth: number; authorizer: AuthorizerKind }
  | { problem: string }
  | { help: true };

function parseValidateArgs(args: readonly string[]): ValidateArgs {
  let values: { depth?: string | undefined; authorizer?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: {
        depth: { type: "string" },
        authorizer: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
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
  const authorizer = (values.authorizer ?? "embedded") as AuthorizerKind;
  if (!AUTHORIZERS.includes(authorizer)) {
    return { problem: `--authorizer must be one of ${AUTHORIZERS.join(", ")}, got "${values.authorizer}"` };
  }
  if (values.depth === undefined) return { file, depth: DEFAULT_VALIDATE_DEPTH, authorizer };
  const depth = Number(values.depth);
  // Permify refuses a depth below 3 in every request's metadata.
  const minimum = authorizer === "permify" ? 3 : 1;
  if (!/^\d+$/.test(values.depth) || !Number.isSafeInteger(depth) || depth < minimum) {
    return { problem: `--depth must be an integer of at least ${minimum}, got "${values.depth}"` };
  }
  return { file, depth, authorizer };
}

/** `PASS  <scenario> :: user:1 view document:1  expected true, got true` */
export function formatAssertion(assertion: AssertionResult): string {
  const scenario = assertion.scenario.trim() || `scenario ${assertion.scenarioIndex + 1}`;
  const verdict = assertion.passed ? "PASS" : "FAIL";
  const detail = assertion.error ? ` (${assertion.error.message})` : "";
  return `${verdict}  ${scenario} :: ${assertion.description}  expected ${assertion.expected}, got ${assertion.actual}${detail}`;
}
