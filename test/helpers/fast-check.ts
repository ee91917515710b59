/**
 * fast-check parameters for a property: `numRuns` unless the environment says otherwise.
 * FC_SEED=<seed> FC_PATH=<path> replay a reported failure; FC_NUM_RUNS=<n> runs a longer soak.
 */
import type fc from "fast-check";

export function runParameters(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  const runs = process.env.FC_NUM_RUNS;
  return {
    numRuns: runs ? Number(runs) : numRuns,
    ...(seed ? { seed: Number(seed) } : {}),
    ...(path ? { path } : {}),
  };
}
