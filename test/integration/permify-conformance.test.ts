/**
 * Runs Permify's own validation files (see ../shared/conformance/permify/README.md) through the embedded
 * evaluator and through the Permify adapter against a real Permify server (a tenant per file), and expects
 * exactly the verdicts that `permify validate` (v1.7.3) gives.
 *
 * What the real binary reported, file by file (`permify validate <file>`, run in the folder):
 *   every file not listed below: SUCCESS, all assertions passed (six files have no scenarios at all);
 *   permify__facebook-groups.yaml: FAILED, 29 assertions passed and one error (see `permifyErrors`);
 *   permify-validate-action__sample-schema-with-file-path.yaml: run from the folder, Permify resolves
 *     `schema: tests/schemas/app.perm` against its working directory, finds nothing, parses the path as
 *     schema text and stops with "1:1: no entity references found in schema". Laid out as in its origin
 *     repository (tests/schemas/app.perm beside it), it passes all 3 assertions. The README says the path
 *     means permify-validate-action__app.perm, so this test maps it there (`resolveSchemaPath`).
 *
 * Folder: PERMIFY_CONFORMANCE_DIR, or ../shared/conformance/permify beside the repository. Without the
 * folder the suite is skipped loudly, except under CI where that is a failure.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type AssertionResult, runValidation } from "../../src/validate/run-validation.ts";
import { loadValidationFile } from "../../src/validate/validation-file.ts";
import { describeEachAuthorizer } from "../helpers/authorizers.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const conformanceDir = process.env.PERMIFY_CONFORMANCE_DIR
  ? path.resolve(process.env.PERMIFY_CONFORMANCE_DIR)
  : path.resolve(repoRoot, "../shared/conformance/permify");
const inCi = Boolean(process.env.CI);

/** Permify's own files run 60 assertions; fewer means files went missing or stopped being read. */
const MIN_ASSERTIONS_IN_CI = 60;

/**
 * Assertions that `permify validate` itself reports as errors. We must report them as failed with an
 * error too, never as a pass (and never as a plain denial that happens to match `false`).
 */
const permifyErrors: Readonly<Record<string, readonly { scenarioIndex: number; description: string }[]>> = {
  // The third scenario has a stray `checks:` key inside `assertions`, so it asserts that user:2 does not
  // have the permission "checks" (a null bool is false in Go). group has no such permission or relation:
  // Permify does the same, reporting `fail: user:2 checks group:1 -> schema not found`.
  "permify__facebook-groups.yaml": [{ scenarioIndex: 2, description: "user:2 checks group:1" }],
};

/** Schema paths written for another layout, mapped as the folder's README says. */
const schemaPathMap: Readonly<Record<string, string>> = {
  "tests/schemas/app.perm": "permify-validate-action__app.perm",
};

function isPermifyError(file: string, assertion: AssertionResult): boolean {
  return (permifyErrors[file] ?? []).some(
    (expected) =>
      expected.scenarioIndex === assertion.scenarioIndex && expected.description === assertion.description,
  );
}

if (!existsSync(conformanceDir)) {
  describe("Permify conformance", () => {
    if (inCi) {
      it("has its conformance folder", () => {
        expect.fail(
          `CI=${process.env.CI} but ${conformanceDir} does not exist (set PERMIFY_CONFORMANCE_DIR)`,
        );
      });
    } else {
      console.warn(
        `\n!!! SKIPPING Permify conformance: ${conformanceDir} does not exist.\n!!! Set PERMIFY_CONFORMANCE_DIR to the folder of Permify validation files.\n`,
      );
      it.skip(`needs ${conformanceDir}`, () => {});
    }
  });
} else {
  const files = readdirSync(conformanceDir)
    .filter((name) => name.endsWith(".yaml") || name.endsWith(".yml"))
    .sort();

  describeEachAuthorizer(`Permify conformance (${conformanceDir})`, (backend) => {
    const totals = { files: 0, assertions: 0 };
    afterAll(() => {
      console.log(
        `Permify conformance (${backend.name}): ran ${totals.files} of ${files.length} files, ${totals.assertions} assertions`,
      );
    });

    it.each(files)("%s gives Permify's verdicts", async (name) => {
      const file = await loadValidationFile(path.join(conformanceDir, name), {
        resolveSchemaPath: (reference, directory) =>
          path.resolve(directory, schemaPathMap[reference] ?? reference),
      });
      const authorizer = await backend.open(
        `conformance-${name.replace(/[^a-zA-Z0-9]+/g, "-").slice(0, 60)}`,
      );
      try {
        const run = await runValidation(file, authorizer);
        totals.files += 1;
        totals.assertions += run.assertions.length;
        expect(run.setupError).toBeUndefined();

        const unexpected = run.assertions
          .filter((assertion) =>
            isPermifyError(name, assertion)
              ? assertion.passed || !assertion.actual.startsWith("error: ")
              : !assertion.passed,
          )
          .map(
            (assertion) =>
              `scenario ${assertion.scenarioIndex + 1} "${assertion.scenario}" :: ${assertion.description}: expected ${assertion.expected}, got ${assertion.actual}${assertion.error ? ` (${assertion.error.message})` : ""}${isPermifyError(name, assertion) ? " [Permify reports an error here]" : ""}`,
          );
        expect(unexpected).toEqual([]);

        for (const expected of permifyErrors[name] ?? []) {
          const found = run.assertions.some(
            (assertion) =>
              assertion.scenarioIndex === expected.scenarioIndex &&
              assertion.description === expected.description,
          );
          expect(
            found,
            `${name}: no assertion "${expected.description}" in scenario ${expected.scenarioIndex + 1}`,
          ).toBe(true);
        }
      } finally {
        await authorizer.close();
      }
    });

    // A table entry for a file that is gone would silently expect nothing; an override folder may hold a subset.
    if (!process.env.PERMIFY_CONFORMANCE_DIR) {
      it("every expected Permify error names a file in the folder", () => {
        expect(Object.keys(permifyErrors).filter((name) => !files.includes(name))).toEqual([]);
      });
    }

    if (inCi) {
      it(`ran at least ${MIN_ASSERTIONS_IN_CI} assertions (CI)`, () => {
        expect(totals.assertions).toBeGreaterThanOrEqual(MIN_ASSERTIONS_IN_CI);
      });
    }
  });
}
