/**
 * Turns text into vectors. The same text always gives the same vector for a given embedder and model.
 *
 * Fail-closed contract: a failure or timeout throws an `AppError` (`UPSTREAM_UNAVAILABLE` for a remote
 * model); it never returns fewer vectors than texts, nor vectors of another dimension.
 */
export interface Embedder {
  /** A stable name of the model and its settings, stored with the vectors so that a mismatch is caught. */
  readonly model: string;
  readonly dimensions: number;
  /** One vector per text, in order, each of `dimensions` length and unit norm. */
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
}
