import assert from "node:assert/strict";
import fc from "fast-check";
import { TxnSequence } from "../../../src/core/TxnSequence";
import { fuzzParams } from "../../harness/fuzz";

describe("TxnSequence: a skipped homeserver transaction is asked for", () => {
  it("refuses the first id after a gap once, then takes the missing one and the refused one", () => {
    const s = new TxnSequence();
    assert.equal(s.skipsAhead("29"), false);
    assert.equal(s.skipsAhead("30"), false);
    assert.equal(s.skipsAhead("32"), true, "31 was skipped");
    assert.equal(s.skipsAhead("31"), false, "the homeserver's recovery sends 31 first");
    assert.equal(s.skipsAhead("32"), false, "then 32, taken now");
    assert.equal(s.skipsAhead("33"), false);
  });

  it("takes a refused id the second time even if the gap never fills", () => {
    const s = new TxnSequence();
    s.skipsAhead("5");
    assert.equal(s.skipsAhead("9"), true);
    assert.equal(s.skipsAhead("9"), false);
    assert.equal(s.skipsAhead("10"), false);
  });

  it("takes repeats, ids that go back (a restarted counter) and ids that are not numbers", () => {
    const s = new TxnSequence();
    for (const id of ["7", "7", "8", "1", "2", "abc", "2-x", "3", "3"])
      assert.equal(s.skipsAhead(id), false, id);
    assert.equal(s.lastSeen, "3");
  });

  it("the first id after a start is the baseline", () => {
    assert.equal(new TxnSequence().skipsAhead("1000"), false);
  });

  it("refuses at most once per id, and never when ids come one after another", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(50).map(String), fc.string({ maxLength: 5 })), { maxLength: 60 }),
        (ids) => {
          const s = new TxnSequence();
          const refused = new Map<string, number>();
          let previous: string | undefined;
          for (const id of ids) {
            if (s.skipsAhead(id)) {
              refused.set(id, (refused.get(id) ?? 0) + 1);
              assert.ok(previous === undefined || id !== previous);
              assert.equal(s.skipsAhead(id), false, "the same id again is taken");
            }
            previous = id;
          }
          const t = new TxnSequence();
          for (let i = 1; i <= 40; i++) assert.equal(t.skipsAhead(String(i)), false);
        },
      ),
      fuzzParams(200),
    );
  });
});
