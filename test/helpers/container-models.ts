/** Container models derived from the schemas tests run on, as the server derives them at start-up. */
import { readFileSync } from "node:fs";
import { deriveContainerModel } from "../../src/authz-schema/container-model.ts";
import type { ContainerModel } from "../../src/core/container-model.ts";

const BANK_SCHEMA_FILE = new URL("../../fixtures/schema.perm", import.meta.url);

/** The model of `schemaText`; throws when the schema does not make the container pre-filter exact. */
export function containerModelOf(schemaText: string): ContainerModel {
  const derived = deriveContainerModel(schemaText);
  if (!derived.ok) throw new Error(`no container model: ${derived.reason}`);
  return derived.model;
}

/** The model of fixtures/schema.perm. */
export function bankContainerModel(): ContainerModel {
  return containerModelOf(readFileSync(BANK_SCHEMA_FILE, "utf8"));
}

/** A bank that names its containers folders and accounts, and its permissions otherwise too. */
export const FOLDER_SCHEMA = `
entity user {}
entity folder {
    relation reader @user
    relation parent @folder
    permission open = reader or parent.open
}
entity account {
    relation holder @user
    relation banker @user
    permission read = holder or banker
}
entity document {
    relation owner @user
    relation viewer @user
    relation collection @folder
    relation customer @account
    permission granted = owner or viewer
    permission view = owner or viewer or collection.open or customer.holder or customer.banker
}
entity section {
    relation document @document
    relation audience @user
    permission view = document.view and audience
}
`;
