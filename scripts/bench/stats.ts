/** Sample statistics for the benchmark tables. Pure functions, no I/O. */

/** Summary of a latency sample, in milliseconds. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of `sorted` (ascending), by linear interpolation between the two
 * nearest ranks (the "R-7" rule of most statistics packages). NaN for an empty sample.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted[sorted.length - 1]!;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** p50/p95/p99, mean, min and max of `values` (any order). */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n ? sorted.reduce((s, v) => s + v, 0) / n : Number.NaN;
  return {
    n,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    mean,
    min: n ? sorted[0]! : Number.NaN,
    max: n ? sorted[n - 1]! : Number.NaN,
  };
}

/**
 * Paired differences a[i] − b[i] of two samples taken on the same events (or interleaved runs),
 * skipping pairs where either side is missing.
 */
export function pairedDifferences(
  a: ReadonlyArray<number | undefined>,
  b: ReadonlyArray<number | undefined>,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined) out.push(x - y);
  }
  return out;
}

/** a / b, or NaN when b is 0 or either is not finite. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/** Rates of a geometric ramp from `start` while ≤ `max`, each `factor` times the last, rounded. */
export function ramp(start: number, factor: number, max: number): number[] {
  if (!(start > 0) || !(factor > 1)) throw new Error("ramp needs start > 0 and factor > 1");
  const out: number[] = [];
  for (let r = start; r <= max; r *= factor) {
    const v = Math.round(r);
    if (out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

/** One step of a throughput ramp: what was sent and what arrived in time. */
export interface StepResult {
  rate: number;
  sent: number;
  delivered: number;
  /** Send → seen latency of the delivered messages. */
  latency: Summary;
}

/**
 * Whether a step was sustained: nothing lost, and the slowest 1 % no later than `maxP99Ms`
 * (a queue that keeps growing shows up as a rising tail before anything is lost).
 */
export function sustained(step: StepResult, maxP99Ms: number): boolean {
  return step.sent > 0 && step.delivered === step.sent && step.latency.p99 <= maxP99Ms;
}

/** The highest rate among the steps that were sustained (0 when none was). */
export function highestSustained(steps: readonly StepResult[], maxP99Ms: number): number {
  let best = 0;
  for (const s of steps) if (sustained(s, maxP99Ms)) best = Math.max(best, s.rate);
  return best;
}

/** How much a sample `a` adds over a sample `b` taken interleaved with it, in milliseconds. */
export interface Comparison {
  a: Summary;
  b: Summary;
  /** Differences of the percentiles: a's p50 − b's p50, and so on. */
  added: { p50: number; p95: number; p99: number };
  /** Summary of the per-pair differences a[i] − b[i] (its p50 is the "paired p50"). */
  addedPaired: Summary;
}

/** Compares two interleaved samples (pairs where either side is missing are left out of the paired figure). */
export function compare(
  a: ReadonlyArray<number | undefined>,
  b: ReadonlyArray<number | undefined>,
): Comparison {
  const sa = summarize(a.filter((x): x is number => x !== undefined));
  const sb = summarize(b.filter((x): x is number => x !== undefined));
  return {
    a: sa,
    b: sb,
    added: { p50: sa.p50 - sb.p50, p95: sa.p95 - sb.p95, p99: sa.p99 - sb.p99 },
    addedPaired: summarize(pairedDifferences(a, b)),
  };
}

/**
 * The order of two arms in round `i` of an interleaved run: they take turns going first, so
 * neither always follows the pause between rounds (or always follows the other's work).
 */
export function armOrder<T>(i: number, first: T, second: T): [T, T] {
  return i % 2 === 0 ? [first, second] : [second, first];
}
