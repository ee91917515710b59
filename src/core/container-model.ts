/**
 * What the container pre-filter needs to know about a schema: which lookups list the containers a
 * principal reads through, and under which key each listed id is matched against the keys every chunk
 * carries (`containerKeys`). The model is derived from the schema in force (`deriveContainerModel` in
 * src/authz-schema), never assumed: a schema that does not make the strategy exact gets no model.
 *
 * The strategy is exact only when the model covers every way to `view` a resource: a chunk readable by
 * the principal must carry at least one key the lookups return. Chunks mirror, in their metadata, the
 * document's relations listed in `CHUNK_METADATA_RELATIONS` (ingest writes both together); `clearance
 * grant` refuses those relations, and writes made to Permify directly that add one make the strategy miss
 * passages (never leak them: every candidate is checked).
 */

export interface ContainerLookup {
  /** The entity type listed, e.g. `collection`, or `folder` in a schema that names it so. */
  readonly entityType: string;
  readonly permission: string;
  /**
   * The chunk key the listed ids become (`<key>:<id>`): `document` for grants on the document itself,
   * else the document relation the container is reached through (`collection`, `customer`).
   */
  readonly key: string;
}

export interface ContainerModel {
  readonly lookups: readonly ContainerLookup[];
}

/**
 * The relations of `document` that ingest mirrors in every chunk's metadata (the manifest fields of the
 * same names). Granting one outside ingest would put a chunk in a container its metadata does not name.
 */
export const CHUNK_METADATA_RELATIONS: readonly string[] = ["collection", "customer"];

/** The entity whose chunks carry container keys. */
export const DOCUMENT_ENTITY = "document";
