import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ArgError,
  checkDuration,
  humanDuration,
  MAX_DURATION_MS,
  MIN_DURATION_MS,
  parseCount,
  parseDuration,
  parseTarget,
  reasonAfter,
} from "../../../src/commands/moderationArgs";
import { fuzzParams } from "../../harness/fuzz";

/** Strings with the characters hostile input brings: NUL, lone surrogates, RTL marks, markup. */
const hostile = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constantFrom(
    "",
    "\0",
    "\uD800",
    "@",
    "@:",
    "@a:",
    "@\u202Eevil:hs",
    "@a b:hs",
    "telegram:",
    ":123",
    "TELEGRAM:1",
    "1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d",
    "99999999999999999999m",
    "-5m",
    "1.5h",
    "0",
    "1e3",
    "0x10",
    "Infinity",
    "NaN",
    `<a href="https://matrix.to/#/%">x</a>`,
    `<a href="https://matrix.to/#/%40%E0%A4%A">x</a>`,
    `<a href="https://matrix.to/#/%40a%00b%3Ahs">x</a>`,
    `@${"a".repeat(300)}:hs`,
  ),
);

describe("moderation command arguments", () => {
  describe("parseTarget", () => {
    it("takes Matrix ids, platform:id and the first pill", () => {
      assert.deepEqual(parseTarget("@bob:localhost"), { kind: "mxid", mxid: "@bob:localhost" });
      assert.deepEqual(parseTarget("@_telegram_42:hs.example:8448"), {
        kind: "mxid",
        mxid: "@_telegram_42:hs.example:8448",
      });
      assert.deepEqual(parseTarget("telegram:-1001"), {
        kind: "remote",
        platform: "telegram",
        remoteId: "-1001",
      });
      assert.deepEqual(parseTarget("bob", '<a href="https://matrix.to/#/%40bob%3Alocalhost">bob</a>: spam'), {
        kind: "mxid",
        mxid: "@bob:localhost",
      });
      assert.deepEqual(parseTarget("bob", '<a href="https://matrix.to/#/@bob:localhost">bob</a>'), {
        kind: "mxid",
        mxid: "@bob:localhost",
      });
    });

    it("refuses what is not a person, saying what is expected", () => {
      for (const bad of [
        undefined,
        "",
        "bob",
        "@bob",
        "@:hs",
        "@a b:hs",
        "Telegram:1",
        "telegram:",
        "@a:hs\u0000",
      ]) {
        assert.throws(
          () => parseTarget(bad),
          (e: unknown) => e instanceof ArgError && /Matrix id/.test(e.message),
          String(bad),
        );
      }
      assert.throws(() => parseTarget(`@${"a".repeat(300)}:hs`), ArgError, "longer than 255");
    });

    it("property: any word and HTML give a well-formed id or an ArgError, never anything else", () => {
      fc.assert(
        fc.property(hostile, fc.option(hostile, { nil: undefined }), (word, html) => {
          let t: ReturnType<typeof parseTarget>;
          try {
            t = parseTarget(word, html);
          } catch (err) {
            assert.ok(err instanceof ArgError, `not an ArgError: ${String(err)}`);
            return;
          }
          if (t.kind === "mxid") {
            assert.ok(t.mxid.length <= 255);
            assert.match(t.mxid, /^@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.:[\]-]+$/);
          } else {
            assert.match(t.platform, /^[a-z][a-z0-9_]{0,31}$/);
            assert.match(t.remoteId, /^[\x21-\x7e]{1,200}$/);
          }
        }),
        fuzzParams(500),
      );
    });
  });

  describe("durations", () => {
    it("reads 30s, 10m, 2h, 1d, 1w and sums; refuses the rest", () => {
      assert.equal(parseDuration("10m"), 600_000);
      assert.equal(parseDuration("2h"), 7_200_000);
      assert.equal(parseDuration("1d"), 86_400_000);
      assert.equal(parseDuration("1w"), 604_800_000);
      assert.equal(parseDuration("1h30m"), 5_400_000);
      assert.equal(parseDuration("2H"), 7_200_000);
      for (const bad of [
        "",
        "10",
        "m",
        "-5m",
        "1.5h",
        "1y",
        "10 m",
        "1e3m",
        "0x10m",
        "1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d",
      ])
        assert.equal(parseDuration(bad), undefined, bad);
      assert.throws(() => checkDuration(30_000), /at least a minute/);
      assert.throws(() => checkDuration(400 * 86_400_000), /at most 366 days/);
      assert.equal(checkDuration(60_000), 60_000);
      assert.equal(humanDuration(5_400_000), "1 hour 30 minutes");
      assert.equal(humanDuration(86_400_000), "1 day");
    });

    it("property: a duration is either undefined or a whole number of seconds that checkDuration bounds", () => {
      const words = fc.oneof(
        hostile,
        fc
          .array(
            fc.tuple(fc.nat({ max: 999_999 }), fc.constantFrom("s", "m", "h", "d", "w", "S", "M", "x", "")),
            {
              maxLength: 6,
            },
          )
          .map((parts) => parts.map(([n, u]) => `${n}${u}`).join("")),
      );
      fc.assert(
        fc.property(words, (w) => {
          const ms = parseDuration(w);
          if (ms === undefined) return;
          assert.ok(Number.isSafeInteger(ms) && ms >= 0 && ms % 1000 === 0, `${w} → ${ms}`);
          try {
            const ok = checkDuration(ms);
            assert.ok(ok >= MIN_DURATION_MS && ok <= MAX_DURATION_MS);
          } catch (err) {
            assert.ok(err instanceof ArgError);
          }
        }),
        fuzzParams(500),
      );
    });
  });

  describe("counts and reasons", () => {
    it("reads a count within its range, the fallback when absent, refuses the rest", () => {
      assert.equal(parseCount(undefined, 10, 200), 10);
      assert.equal(parseCount("5", 10, 200), 5);
      assert.equal(parseCount("200", 10, 200), 200);
      for (const bad of ["0", "201", "-1", "1.5", "1e2", " 5", "0x5", "五", ""])
        assert.throws(() => parseCount(bad, 10, 200), /whole number from 1 to 200/, bad);
    });

    it("property: a count is an integer in [1, max] or an ArgError", () => {
      fc.assert(
        fc.property(hostile, fc.integer({ min: 1, max: 10_000 }), (w, max) => {
          try {
            const n = parseCount(w, 1, max);
            assert.ok(Number.isInteger(n) && n >= 1 && n <= max);
          } catch (err) {
            assert.ok(err instanceof ArgError);
          }
        }),
        fuzzParams(500),
      );
    });

    it("a reason is the rest of the words, capped at 300 characters", () => {
      assert.equal(reasonAfter(["@x:hs", "spam", "and", "abuse"], 1), "spam and abuse");
      assert.equal(reasonAfter(["@x:hs"], 1), undefined);
      assert.equal([...(reasonAfter(["@x:hs", "😀".repeat(400)], 1) ?? "")].length, 300);
    });
  });
});
