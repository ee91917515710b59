/**
 * What the container pre-filter needs to know about a schema: which lookups name the containers a
 * principal reads through, as container keys that match the ones every chunk carries (`containerKeys`).
 *
 * The strategy is exact only when the model covers every way to `view` a resource: a chunk readable by
 * the principal must carry at least one key the lookups return. For the bank's schema, `document.view`
 * is `direct_view` (grants on the document itself) or the view of the document's collection or customer;
 * a section narrows its document, so its chunks (which carry the document's keys) are covered too. The
 * relations that link a document to its collection and customer are written by ingest together with the
 * chunk metadata; `clearance grant` refuses them (see `metadataRelations`), and writes made to Permify
 * directly that add one make the strategy miss passages (never leak them: every candidate is checked).
 */

export interface ContainerLookup {
  /** The container entity type; ids `x` it returns become container keys `<entityType>:x`. */
  readonly entityType: string;
  readonly permission: string;
}

export interface ContainerModel {
  readonly lookups: readonly ContainerLookup[];
  /**
   * Relations (`entityType#relation`) mirrored in chunk metadata at ingest. Granting one outside ingest would
   * put a chunk in a container its metadata does not name, so the CLI refuses to.
   */
  readonly metadataRelations: readonly string[];
}

/** The model of fixtures/schema.perm (and of any schema with the same document, collection and customer). */
export const BANK_CONTAINER_MODEL: ContainerModel = {
  lookups: [
    { entityType: "document", permission: "direct_view" },
    { entityType: "collection", permission: "view" },
    { entityType: "customer", permission: "view" },
  ],
  metadataRelations: ["document#collection", "document#customer"],
};
