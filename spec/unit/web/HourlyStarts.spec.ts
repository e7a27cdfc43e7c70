import { strict as assert } from "node:assert";
import { HourlyStarts } from "../../../src/web/HourlyStarts";

describe("HourlyStarts (starts per user and hour)", () => {
  it("allows `perHour` starts per user in any hour, says when the next one is allowed, and keeps users apart", () => {
    let now = 1_000_000;
    const starts = new HourlyStarts(2, () => now);
    assert.deepEqual(starts.take("@a:x"), { ok: true });
    now += 10 * 60_000;
    assert.deepEqual(starts.take("@a:x"), { ok: true });
    assert.deepEqual(starts.take("@a:x"), { ok: false, retryAfterMs: 50 * 60_000 });
    assert.deepEqual(starts.take("@b:x"), { ok: true }, "another user has their own count");
    now += 50 * 60_000; // the first start is an hour old
    assert.deepEqual(starts.take("@a:x"), { ok: true });
    assert.equal(starts.take("@a:x").ok, false);
  });
});
