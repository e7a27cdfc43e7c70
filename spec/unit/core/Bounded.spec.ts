import assert from "node:assert/strict";
import fc from "fast-check";
import { BoundedMap, BoundedSet } from "../../../src/core/Bounded";
import { fuzzParams } from "../../harness/fuzz";

describe("BoundedMap / BoundedSet: caches that forget the least recently used", () => {
  it("forgets the least recently used entry past its bound; a lookup counts as a use", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2);
    assert.equal(m.get("a"), 1); // a is now newer than b
    m.set("c", 3);
    assert.deepEqual([...m.keys()], ["a", "c"]);
    assert.equal(m.get("b"), undefined);
  });

  it("a set keeps the members checked last", () => {
    const s = new BoundedSet<number>(3);
    for (const n of [1, 2, 3]) s.add(n);
    assert.equal(s.has(1), true);
    s.add(4);
    assert.deepEqual([...s].sort(), [1, 3, 4]);
    assert.equal(s.delete(3), true);
    assert.equal(s.size, 2);
  });

  it("refuses a bound below one", () => {
    assert.throws(() => new BoundedMap(0), /at least 1/);
  });

  it("behaves like a map of the most recently used keys, never larger than its bound (property)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.nat(20), value: fc.integer() }),
      fc.record({ kind: fc.constant("get" as const), key: fc.nat(20) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (max, ops) => {
        const m = new BoundedMap<number, number>(max);
        // Reference: an array of [key, value], most recently used last.
        let model: Array<[number, number]> = [];
        for (const o of ops) {
          const at = model.findIndex(([k]) => k === o.key);
          if (o.kind === "set") {
            m.set(o.key, o.value);
            if (at >= 0) model.splice(at, 1);
            model.push([o.key, o.value]);
            if (model.length > max) model = model.slice(1);
          } else if (o.kind === "get") {
            const want = at >= 0 ? model[at]![1] : undefined;
            assert.equal(m.get(o.key), want);
            if (at >= 0) model.push(...model.splice(at, 1));
          } else {
            assert.equal(m.delete(o.key), at >= 0);
            if (at >= 0) model.splice(at, 1);
          }
          assert.ok(m.size <= max);
          assert.deepEqual(
            [...m.keys()],
            model.map(([k]) => k),
          );
        }
      }),
      fuzzParams(300),
    );
  });
});
