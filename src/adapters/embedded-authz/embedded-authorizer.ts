import type { Authorizer } from "../../ports/authorizer.ts";

export interface EmbeddedAuthorizerOptions {
  /** Where the schema, relationships and attributes persist; omitted means memory only. */
  readonly dataDir?: string;
  /** Nested evaluations allowed per check, as Permify's `metadata.depth` (default 50). */
  readonly maxDepth?: number;
}

export async function createEmbeddedAuthorizer(_options: EmbeddedAuthorizerOptions = {}): Promise<Authorizer> {
  throw new Error("not implemented yet");
}
