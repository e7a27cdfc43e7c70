import type fc from "fast-check";

/**
 * Run parameters for every property-based test: a fixed seed and a small count in `npm test`,
 * so a failure reproduces; `FUZZ_RUNS=N` (and `FUZZ_SEED=S`) for longer or different runs.
 * A failure prints the seed and path that fast-check needs to replay it.
 */
export function fuzzParams<T>(defaultRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  const runs = Number(process.env.FUZZ_RUNS);
  const seed = Number(process.env.FUZZ_SEED);
  return {
    seed: Number.isFinite(seed) && process.env.FUZZ_SEED ? seed : 0x5eed,
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...extra,
  };
}

/** How long a fuzz loop against a running process may take, scaled with `FUZZ_RUNS`. */
export function fuzzRuns(defaultRuns: number): number {
  const runs = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(runs) && runs > 0 ? runs : defaultRuns;
}
