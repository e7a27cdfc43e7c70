import assert from "node:assert/strict";
import fc from "fast-check";
import { durationText, MAX_TIMER_SECONDS, timerNotice, timerSeconds } from "../../../src/core/Disappearing";
import { fuzzParams } from "../../harness/fuzz";

describe("Disappearing: timers as connectors report them", () => {
  it("takes whole positive seconds up to a year, and nothing else", () => {
    for (const ok of [1, 5, 86400, 604800, 7776000, MAX_TIMER_SECONDS]) assert.equal(timerSeconds(ok), ok);
    for (const bad of [
      0,
      -1,
      1.5,
      Number.NaN,
      Infinity,
      MAX_TIMER_SECONDS + 1,
      2 ** 53,
      "60",
      null,
      undefined,
      {},
      [5],
      true,
    ])
      assert.equal(timerSeconds(bad), undefined, String(bad));
  });

  it("fuzz: any value is a valid timer or refused; a valid one always reads as a sentence", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.anything({ maxDepth: 2 })), (v) => {
        const s = timerSeconds(v);
        if (s === undefined) return;
        assert.ok(Number.isSafeInteger(s) && s > 0 && s <= MAX_TIMER_SECONDS);
        assert.match(
          timerNotice(s),
          /^Disappearing messages are on in this chat: messages disappear after \d+ (day|hour|minute|second)s?\.$/,
        );
      }),
      fuzzParams(500),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_TIMER_SECONDS }), (s) => {
        const [n, unit] = durationText(s).split(" ");
        const per = { day: 86400, hour: 3600, minute: 60, second: 1 }[unit.replace(/s$/, "")]!;
        assert.equal(Number(n) * per, s, "the text says the same number of seconds");
      }),
      fuzzParams(500),
    );
  });
});
