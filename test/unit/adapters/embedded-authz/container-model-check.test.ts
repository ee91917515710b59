import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkContainerModel } from "../../../../src/adapters/embedded-authz/container-model-check.ts";
import { BANK_CONTAINER_MODEL } from "../../../../src/core/container-model.ts";

const BANK = readFileSync(new URL("../../../../fixtures/schema.perm", import.meta.url), "utf8");
const DOCUMENT_VIEW =
  "permission view = owner or viewer or collection.view or customer.holder or customer.banker";

/** The bank's schema with document.view (or another line) replaced. */
function variant(from: string, to: string): string {
  expect(BANK).toContain(from);
  return BANK.replace(from, to);
}

describe("checkContainerModel", () => {
  it("accepts the bank's schema, and the same view spelled through the listed permissions", () => {
    expect(checkContainerModel(BANK, BANK_CONTAINER_MODEL)).toEqual({ ok: true });
    const spelled = variant(
      DOCUMENT_VIEW,
      "permission view = direct_view or collection.view or customer.view",
    );
    expect(checkContainerModel(spelled, BANK_CONTAINER_MODEL)).toEqual({ ok: true });
  });

  it.each([
    [
      "a reader through a relation no container lists",
      variant(
        "    relation customer @customer\n",
        "    relation customer @customer\n    relation auditor @user\n",
      ).replace(DOCUMENT_VIEW, `${DOCUMENT_VIEW} or auditor`),
      "auditor",
    ],
    [
      "an intersection in document.view",
      variant(DOCUMENT_VIEW, "permission view = (owner or viewer) and collection.view"),
      "not a plain union",
    ],
    [
      "a walk through a relation ingest does not mirror",
      variant(DOCUMENT_VIEW, `${DOCUMENT_VIEW} or owner.nothing`).replace(
        "entity user {}",
        "entity user {\n    relation nothing @user\n}",
      ),
      "owner.nothing",
    ],
    [
      "no direct_view permission",
      variant("    permission direct_view = owner or viewer\n", ""),
      "direct_view",
    ],
    [
      "a section readable without its document",
      variant("permission view = document.view and audience", "permission view = audience"),
      "section.view",
    ],
    ["a schema that does not compile", "entity document {", "does not compile"],
  ])("refuses %s, saying why", (_name, schema, reason) => {
    const check = checkContainerModel(schema, BANK_CONTAINER_MODEL);
    expect(check.ok).toBe(false);
    expect(check.ok ? "" : check.reason).toContain(reason);
  });
});
