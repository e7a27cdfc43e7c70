import assert from "node:assert/strict";
import { LatencyWindow } from "../../../src/http/LatencyWindow";

describe("LatencyWindow: the last hour of delivery latency, per minute", () => {
  it("keeps count, mean and max per minute and forgets minutes older than the window", () => {
    let now = 10 * 60_000 * 60; // on a minute boundary
    const w = new LatencyWindow(60, () => now);
    w.observe(0.1);
    w.observe(0.3);
    now += 60_000;
    w.observe(2);
    const recent = w.recent();
    assert.equal(recent.length, 60);
    assert.deepEqual(recent.at(-2), { minute: now - 60_000, count: 2, mean_ms: 200, max_ms: 300 });
    assert.deepEqual(recent.at(-1), { minute: now, count: 1, mean_ms: 2000, max_ms: 2000 });
    assert.equal(
      recent.slice(0, -2).reduce((n, m) => n + m.count, 0),
      0,
    );
    // An hour on, the same ring slots hold nothing of the old minutes.
    now += 60 * 60_000;
    assert.equal(
      w.recent().reduce((n, m) => n + m.count, 0),
      0,
    );
    w.observe(0.05);
    assert.equal(w.recent().at(-1)!.count, 1);
  });

  it("ignores values that are not a latency", () => {
    const w = new LatencyWindow(60, () => 0);
    for (const v of [Number.NaN, -1, Number.POSITIVE_INFINITY]) w.observe(v);
    assert.equal(
      w.recent().reduce((n, m) => n + m.count, 0),
      0,
    );
  });
});
