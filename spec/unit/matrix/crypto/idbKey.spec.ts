import assert from "node:assert/strict";
import * as fake from "fake-indexeddb";
import fc from "fast-check";
import { decodeKey, encodeKey } from "../../../../src/matrix/crypto/idbKey";
import { fuzzParams } from "../../../harness/fuzz";

const factory = new fake.IDBFactory() as { cmp(a: unknown, b: unknown): number };

// Valid IndexedDB keys, with the awkward ones: -0, infinities, lone surrogates, empty binary
// views of a larger buffer, nested arrays.
const leaf = fc.oneof(
  fc.double({ noNaN: true }),
  fc.constantFrom(-0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.date({ noInvalidDate: true }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom("\uD800", "\uDC00x", ""),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => a.buffer),
  fc.uint8Array({ minLength: 3, maxLength: 8 }).map((a) => a.subarray(1, 3)),
);
const key = fc.letrec((tie) => ({
  key: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("key"), { maxLength: 3 })),
})).key;

describe("matrix/crypto/idbKey: IndexedDB keys as bytes", () => {
  it("property: decoding gives back a key IndexedDB holds equal", () => {
    fc.assert(
      fc.property(key, (k) => {
        assert.equal(factory.cmp(decodeKey(encodeKey(k)), k), 0);
      }),
      fuzzParams(500),
    );
  });

  it("property: two keys encode to the same bytes exactly when IndexedDB holds them equal", () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        assert.equal(encodeKey(a).equals(encodeKey(b)), factory.cmp(a, b) === 0);
      }),
      fuzzParams(500),
    );
    assert.ok(encodeKey(-0).equals(encodeKey(0)));
    assert.ok(encodeKey(new Uint8Array([1, 2])).equals(encodeKey(new Uint8Array([1, 2]).buffer)));
    assert.ok(!encodeKey("1").equals(encodeKey(1)));
    assert.ok(!encodeKey(new Date(1)).equals(encodeKey(1)));
  });

  it("refuses what is not a key, and bytes it did not write", () => {
    for (const bad of [Number.NaN, new Date(Number.NaN), {}, null, undefined, true, [{}]]) {
      assert.throws(() => encodeKey(bad), TypeError, String(bad));
    }
    assert.throws(() => decodeKey(Buffer.of(9)), /unknown type tag/);
    assert.throws(() => decodeKey(Buffer.concat([encodeKey("ab"), Buffer.of(1)])), /trailing bytes/);
    assert.throws(() => decodeKey(encodeKey("abc").subarray(0, 7)), /truncated/);
    assert.throws(() => decodeKey(Buffer.alloc(0)), RangeError);
  });
});
