import assert from "node:assert/strict";
import {
  armOrder,
  compare,
  highestSustained,
  pairedDifferences,
  quantile,
  ramp,
  type StepResult,
  summarize,
  sustained,
} from "../../../scripts/bench/stats";

describe("bench statistics", () => {
  it("interpolates quantiles between ranks (R-7)", () => {
    const xs = [10, 20, 30, 40, 50];
    assert.equal(quantile(xs, 0.5), 30);
    assert.equal(quantile(xs, 0.25), 20);
    assert.equal(quantile(xs, 0.9), 46);
    assert.equal(quantile(xs, 0), 10);
    assert.equal(quantile(xs, 1), 50);
    assert.equal(quantile([7], 0.99), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it("summarizes an unsorted sample without changing it", () => {
    const xs = [5, 1, 4, 2, 3];
    const s = summarize(xs);
    assert.deepEqual(xs, [5, 1, 4, 2, 3]);
    assert.equal(s.n, 5);
    assert.equal(s.p50, 3);
    assert.equal(s.min, 1);
    assert.equal(s.max, 5);
    assert.equal(s.mean, 3);
    assert.ok(Math.abs(s.p99 - 4.96) < 1e-9);
    assert.equal(summarize([]).n, 0);
  });

  it("pairs differences and skips missing sides", () => {
    assert.deepEqual(pairedDifferences([10, undefined, 30, 40], [8, 5, undefined, 41]), [2, -1]);
  });

  it("ramps geometrically without repeating a rounded rate", () => {
    assert.deepEqual(ramp(10, 1.5, 60), [10, 15, 23, 34, 51]);
    assert.deepEqual(ramp(1, 1.2, 3), [1, 2, 3]);
    assert.throws(() => ramp(10, 1, 100), /factor > 1/);
  });

  it("counts a step as sustained only with zero loss and a p99 within the limit", () => {
    const step = (rate: number, delivered: number, p99: number): StepResult => ({
      rate,
      sent: rate * 3,
      delivered,
      latency: { ...summarize([1]), p99 },
    });
    assert.equal(sustained(step(10, 30, 100), 1000), true);
    assert.equal(sustained(step(10, 29, 100), 1000), false);
    assert.equal(sustained(step(10, 30, 1001), 1000), false);
    const steps = [step(10, 30, 50), step(20, 60, 80), step(40, 119, 900), step(30, 90, 400)];
    assert.equal(highestSustained(steps, 1000), 30);
    assert.equal(highestSustained([step(10, 0, 0)], 1000), 0);
  });

  it("compares interleaved samples: percentile differences and the paired median", () => {
    // b is a steady 10; a is 12 except one slow outlier and one missing sample.
    const a = [12, 12, 12, 40, undefined, 12];
    const b = [10, 10, 10, 10, 10, 11];
    const c = compare(a, b);
    assert.equal(c.a.n, 5);
    assert.equal(c.b.n, 6);
    assert.equal(c.added.p50, 12 - 10);
    assert.ok(c.added.p99 > 20, "the outlier shows in the tail");
    assert.deepEqual(
      [c.addedPaired.n, c.addedPaired.p50, c.addedPaired.min, c.addedPaired.max],
      [5, 2, 1, 30],
    );
    // Slower b: the added figures go negative, not clamped.
    assert.equal(compare([5, 5], [7, 7]).added.p50, -2);
    assert.ok(Number.isNaN(compare([], [1]).added.p50));
  });

  it("alternates which arm goes first", () => {
    assert.deepEqual(armOrder(0, "x", "y"), ["x", "y"]);
    assert.deepEqual(armOrder(1, "x", "y"), ["y", "x"]);
    assert.deepEqual(armOrder(2, "x", "y"), ["x", "y"]);
    const firsts = Array.from({ length: 100 }, (_, i) => armOrder(i, "x", "y")[0]);
    assert.equal(firsts.filter((f) => f === "x").length, 50);
  });
});
