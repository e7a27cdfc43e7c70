import assert from "node:assert/strict";
import fc from "fast-check";
import { cryptoPartsOf, hasCryptoParts } from "../../../../src/matrix/crypto/transaction";
import { fuzzParams } from "../../../harness/fuzz";

describe("cryptoPartsOf (encryption parts of an appservice transaction)", () => {
  const message = {
    type: "m.room.encrypted",
    sender: "@alice:hs",
    content: { algorithm: "m.olm.v1.curve25519-aes-sha2", ciphertext: {} },
    to_user_id: "@_tg_1:hs",
    to_device_id: "CBDEV",
  };

  it("reads what Synapse sends under the MSC2409 and MSC3202 names", () => {
    const p = cryptoPartsOf({
      events: [],
      "de.sorunome.msc2409.to_device": [message],
      "org.matrix.msc3202.device_lists": { changed: ["@alice:hs", "@alice:hs"], left: ["@bob:hs"] },
      "org.matrix.msc3202.device_one_time_keys_count": { "@bot:hs": { CBDEV: { signed_curve25519: 12 } } },
      "org.matrix.msc3202.device_unused_fallback_key_types": { "@bot:hs": { CBDEV: ["signed_curve25519"] } },
    });
    assert.deepEqual(p.toDevice, [message]);
    assert.deepEqual(p.changed, ["@alice:hs"]);
    assert.deepEqual(p.left, ["@bob:hs"]);
    assert.equal(p.keyCounts.get("@bot:hs")?.get("CBDEV")?.get("signed_curve25519"), 12);
    assert.deepEqual(p.fallbackTypes.get("@bot:hs")?.get("CBDEV"), ["signed_curve25519"]);
    assert.equal(hasCryptoParts(p), true);
  });

  it("prefers the stable names when both are present", () => {
    const p = cryptoPartsOf({
      to_device: [],
      "de.sorunome.msc2409.to_device": [message],
      device_lists: { changed: ["@carol:hs"] },
      "org.matrix.msc3202.device_lists": { changed: ["@alice:hs"] },
    });
    assert.deepEqual(p.toDevice, []);
    assert.deepEqual(p.changed, ["@carol:hs"]);
  });

  it("leaves out malformed entries and keeps the good ones", () => {
    const p = cryptoPartsOf({
      "de.sorunome.msc2409.to_device": [
        null,
        { ...message, to_device_id: "" },
        { ...message, to_user_id: "not-a-user" },
        { ...message, content: "text" },
        message,
      ],
      "org.matrix.msc3202.device_lists": { changed: "@alice:hs", left: [1, "@bob:hs"] },
      "org.matrix.msc3202.device_one_time_keys_count": {
        "@bot:hs": { CBDEV: { signed_curve25519: -1, curve25519: 1.5, other: 3 } },
        nobody: { X: { a: 1 } },
      },
    });
    assert.deepEqual(p.toDevice, [message]);
    assert.deepEqual(p.changed, []);
    assert.deepEqual(p.left, ["@bob:hs"]);
    assert.deepEqual([...(p.keyCounts.get("@bot:hs")?.get("CBDEV") ?? [])], [["other", 3]]);
    assert.equal(p.keyCounts.has("nobody"), false);
  });

  it("an ordinary transaction has nothing for the crypto", () => {
    assert.equal(hasCryptoParts(cryptoPartsOf({ events: [{ type: "m.room.message" }] })), false);
  });

  it("never throws and returns only well-formed entries, whatever the transaction holds", () => {
    const userId = fc.oneof(fc.constantFrom("@a:hs", "@b:hs"), fc.string());
    const anyJson = fc.anything({ withNullPrototype: true, withObjectString: true });
    const toDevice = fc.record(
      {
        type: fc.oneof(fc.string(), anyJson),
        sender: fc.oneof(userId, anyJson),
        content: fc.oneof(fc.object(), anyJson),
        to_user_id: fc.oneof(userId, anyJson),
        to_device_id: fc.oneof(fc.string(), anyJson),
      },
      { requiredKeys: [] },
    );
    const txn = fc.oneof(
      anyJson,
      fc.record(
        {
          "de.sorunome.msc2409.to_device": fc.oneof(fc.array(fc.oneof(toDevice, anyJson)), anyJson),
          "org.matrix.msc3202.device_lists": fc.oneof(
            fc.record({ changed: fc.array(fc.oneof(userId, anyJson)), left: anyJson }, { requiredKeys: [] }),
            anyJson,
          ),
          "org.matrix.msc3202.device_one_time_keys_count": fc.oneof(
            fc.dictionary(
              userId,
              fc.dictionary(fc.string(), fc.dictionary(fc.string(), fc.oneof(fc.integer(), anyJson))),
            ),
            anyJson,
          ),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(txn, (t) => {
        const p = cryptoPartsOf(t);
        for (const m of p.toDevice) {
          assert.equal(typeof m.type, "string");
          assert.match(m.to_user_id, /^@[^:]+:.+$/);
          assert.ok(m.to_device_id.length > 0);
          assert.equal(typeof m.content, "object");
        }
        for (const u of [...p.changed, ...p.left]) assert.match(u, /^@[^:]+:.+$/);
        for (const devices of p.keyCounts.values())
          for (const counts of devices.values())
            for (const n of counts.values()) assert.ok(Number.isSafeInteger(n) && n >= 0);
      }),
      fuzzParams(300),
    );
  });
});
