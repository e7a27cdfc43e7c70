import assert from "node:assert/strict";
import fc from "fast-check";
import { TxnGapWatch } from "../../../src/core/txnGaps";
import { fuzzParams } from "../../harness/fuzz";

describe("TxnGapWatch: transactions a recovering homeserver stranded", () => {
  let now = 0;
  const watch = (max = 3) => new TxnGapWatch(60_000, max, () => now);
  const refusals = (w: TxnGapWatch, ids: number[]) => ids.filter((id) => w.skips(String(id)));
  beforeEach(() => {
    now = 1_000_000;
  });

  it("refuses nothing while it is not watching", () => {
    const w = watch();
    assert.deepEqual(refusals(w, [1, 2, 5, 9, 10]), []);
  });

  it("refuses the first transaction that skips an id while watching; the skipped one then the refused one pass", () => {
    const w = watch();
    assert.deepEqual(refusals(w, [4, 5]), []);
    w.watch();
    assert.equal(w.skips("7"), true, "7 skips 6");
    assert.deepEqual(refusals(w, [6, 7, 8]), [], "the recovery sends 6, then 7, in order");
  });

  it("refuses a skip another appservice made once: the same transaction again passes", () => {
    const w = watch();
    w.skips("10");
    w.watch();
    assert.equal(w.skips("12"), true);
    assert.equal(w.skips("12"), false, "no 11 for this appservice: 12 again is taken");
    assert.equal(w.skips("13"), false);
  });

  it("refuses at most maxRefusals in one watch, and stops watching a minute after the last", () => {
    const w = watch(2);
    w.skips("1");
    w.watch();
    assert.deepEqual(refusals(w, [3, 3, 5, 5, 7, 7]), [3, 5], "two, then no more");
    const v = watch();
    v.skips("1");
    v.watch();
    now += 60_001;
    assert.equal(v.skips("3"), false, "the watch ended");
  });

  it("takes an id lower than the last as a restarted homeserver's sequence, and ids that are not numbers as not Synapse's", () => {
    const w = watch();
    w.skips("500");
    w.watch();
    assert.equal(w.skips("1"), false);
    assert.equal(w.skips("2"), false);
    assert.equal(w.skips("abc"), false);
    assert.equal(w.skips("4"), true, "counted from the restarted sequence");
  });

  it("whatever the ids and times: never throws, refuses an id at most once per watch and at most maxRefusals in it", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("txn" as const), id: fc.oneof(fc.nat(40).map(String), fc.string()) }),
      fc.record({ kind: fc.constant("watch" as const) }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.nat(90_000) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const w = watch(3);
        let episode: string[] = [];
        let lastActivity = Number.NEGATIVE_INFINITY;
        for (const s of steps) {
          if (s.kind === "wait") {
            now += s.ms;
            continue;
          }
          if (now > lastActivity + 60_000) episode = []; // a watch that ended starts afresh
          if (s.kind === "watch") {
            lastActivity = now;
            w.watch();
            continue;
          }
          if (w.skips(s.id)) {
            assert.ok(now <= lastActivity + 60_000, "refused outside a watch");
            assert.ok(!episode.includes(s.id), `${s.id} refused twice in one watch`);
            episode.push(s.id);
            assert.ok(episode.length <= 3, "more refusals than allowed");
            lastActivity = now;
          }
        }
      }),
      fuzzParams(300),
    );
  });

  it("tells of a homeserver restart when the ids start again lower, not on a gap or a repeat", () => {
    const w = new TxnGapWatch();
    let restarts = 0;
    w.onRestart = () => restarts++;
    for (const id of ["1", "2", "2", "5", "6"]) w.skips(id);
    assert.equal(restarts, 0);
    w.skips("1");
    assert.equal(restarts, 1);
    w.skips("2");
    w.skips("not-a-number");
    assert.equal(restarts, 1);
  });
});
