import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { deriveContainerModel } from "../../../src/authz-schema/container-model.ts";
import { FOLDER_SCHEMA } from "../../helpers/container-models.ts";

const BANK = readFileSync(new URL("../../../fixtures/schema.perm", import.meta.url), "utf8");
const DOCUMENT_VIEW =
  "permission view = owner or viewer or collection.view or customer.holder or customer.banker";

/** The bank's schema with document.view (or another line) replaced. */
function variant(from: string, to: string): string {
  expect(BANK).toContain(from);
  return BANK.replace(from, to);
}

const BANK_MODEL = {
  lookups: [
    { entityType: "document", permission: "direct_view", key: "document" },
    { entityType: "collection", permission: "view", key: "collection" },
    { entityType: "customer", permission: "view", key: "customer" },
  ],
};

describe("deriveContainerModel", () => {
  it("derives the bank's model, also from the same view spelled through the listed permissions", () => {
    expect(deriveContainerModel(BANK)).toEqual({ ok: true, model: BANK_MODEL });
    const spelled = variant(
      DOCUMENT_VIEW,
      "permission view = direct_view or collection.view or customer.view",
    );
    expect(deriveContainerModel(spelled)).toEqual({ ok: true, model: BANK_MODEL });
  });

  it("reads container and permission names from the schema (folders and accounts)", () => {
    expect(deriveContainerModel(FOLDER_SCHEMA)).toEqual({
      ok: true,
      model: {
        lookups: [
          { entityType: "document", permission: "granted", key: "document" },
          { entityType: "folder", permission: "open", key: "collection" },
          { entityType: "account", permission: "read", key: "customer" },
        ],
      },
    });
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
      "no permission listing the grants on the document itself",
      variant("    permission direct_view = owner or viewer\n", ""),
      "no other permission of document lists exactly those grants",
    ],
    [
      "a section readable without its document",
      variant("permission view = document.view and audience", "permission view = audience"),
      "section.view",
    ],
    ["a schema that does not compile", "entity document {", "does not compile"],
  ])("refuses %s, saying why", (_name, schema, reason) => {
    const check = deriveContainerModel(schema);
    expect(check.ok).toBe(false);
    expect(check.ok ? "" : check.reason).toContain(reason);
  });
});
