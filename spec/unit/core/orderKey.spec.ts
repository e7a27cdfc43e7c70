import assert from "node:assert/strict";
import fc from "fast-check";
import { DiscordClient } from "../../../bridges/discord/DiscordClient";
import { SlackClient } from "../../../bridges/slack/SlackClient";
import { TelegramClient } from "../../../bridges/telegram/TelegramClient";
import { integerOrderKey, orderKeyOf, slackTsOrderKey } from "../../../src/core/orderKey";
import { fuzzParams } from "../../harness/fuzz";
import { TestnetClient } from "../../standins/testnet/TestnetConnector";

// Byte order, as PostgreSQL's collation "C" compares the stored keys.
const cmpText = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)) as -1 | 0 | 1;
const cmpBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** Integers of any size up to 64 bits and beyond, so ids of different lengths meet. */
const anyId = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 10n ** 6n }),
  fc.bigInt({ min: 0n, max: 10n ** 30n }),
);

describe("order keys: text order is the platform's order", () => {
  it("integer ids (Discord snowflakes, Telegram ids): key order is numeric order, at any length", () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        const ka = integerOrderKey(a.toString());
        const kb = integerOrderKey(b.toString());
        assert.ok(ka && kb);
        assert.equal(cmpText(ka, kb), cmpBig(a, b));
      }),
      fuzzParams(500),
    );
  });

  it("integer ids with leading zeros keep their value", () => {
    fc.assert(
      fc.property(anyId, fc.nat({ max: 5 }), (a, zeros) => {
        assert.equal(integerOrderKey("0".repeat(zeros) + a.toString()), integerOrderKey(a.toString()));
      }),
      fuzzParams(200),
    );
  });

  it("Slack ts: key order is the order of seconds and then microseconds, exactly (no float rounding)", () => {
    const ts = fc.record({
      s: fc.oneof(
        fc.bigInt({ min: 0n, max: 9_999_999_999n }),
        fc.bigInt({ min: 1_700_000_000n, max: 1_700_000_002n }),
      ),
      us: fc.oneof(fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 123_000, max: 123_999 })),
    });
    const text = (t: { s: bigint; us: number }) => `${t.s}.${String(t.us).padStart(6, "0")}`;
    const value = (t: { s: bigint; us: number }) => t.s * 1_000_000n + BigInt(t.us);
    fc.assert(
      fc.property(ts, ts, (a, b) => {
        const ka = slackTsOrderKey(text(a));
        const kb = slackTsOrderKey(text(b));
        assert.ok(ka && kb);
        assert.equal(cmpText(ka, kb), cmpBig(value(a), value(b)));
      }),
      fuzzParams(500),
    );
    // The same millisecond, one microsecond apart: equal as floats in a millisecond clock, not here.
    assert.equal(cmpText(slackTsOrderKey("1700000000.123456")!, slackTsOrderKey("1700000000.123457")!), -1);
    assert.equal(cmpText(slackTsOrderKey("999999999.999999")!, slackTsOrderKey("1000000000.000000")!), -1);
  });

  it("refuses what is not an id of that form, and a client's throwing or odd key is no key", () => {
    for (const bad of ["", "-1", "1.5", "1e9", " 1", "١٢", "12a", "9".repeat(100)])
      assert.equal(integerOrderKey(bad), undefined, bad);
    for (const bad of [
      "",
      "1700000000",
      "1700000000.",
      ".123456",
      "1700000000.1234567890",
      "1.2.3",
      "-1.000001",
    ])
      assert.equal(slackTsOrderKey(bad), undefined, bad);
    const client = (orderKey: (id: string) => unknown) => ({ orderKey }) as never;
    assert.equal(
      orderKeyOf(
        client(() => {
          throw new Error("hostile id");
        }),
        "x",
      ),
      undefined,
    );
    assert.equal(
      orderKeyOf(
        client(() => 42),
        "x",
      ),
      undefined,
    );
    assert.equal(
      orderKeyOf(
        client(() => "k".repeat(300)),
        "x",
      ),
      undefined,
    );
    assert.equal(
      orderKeyOf(
        client((id) => integerOrderKey(id)),
        "7",
      ),
      "017",
    );
    assert.equal(orderKeyOf({} as never, "7"), undefined);
  });

  it("each connector's orderKey sorts its ids in the platform's order (WhatsApp's random ids have no order: timestamps stay)", () => {
    const numeric = { discord: DiscordClient, telegram: TelegramClient, testnet: TestnetClient };
    for (const [name, cls] of Object.entries(numeric)) {
      const key = (id: string) => cls.prototype.orderKey.call(undefined as never, id);
      fc.assert(
        fc.property(anyId, anyId, (a, b) => {
          assert.equal(cmpText(key(a.toString())!, key(b.toString())!), cmpBig(a, b), name);
        }),
        fuzzParams(200),
      );
    }
    const slackKey = (id: string) => SlackClient.prototype.orderKey.call(undefined as never, id);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 16n - 1n }),
        fc.bigInt({ min: 0n, max: 10n ** 16n - 1n }),
        (a, b) => {
          const ts = (v: bigint) => `${v / 1_000_000n}.${String(v % 1_000_000n).padStart(6, "0")}`;
          assert.equal(cmpText(slackKey(ts(a))!, slackKey(ts(b))!), cmpBig(a, b));
        },
      ),
      fuzzParams(300),
    );
  });
});
