import { strict as assert } from "node:assert";
import { configFromObject } from "../../../src/config/Config";
import {
  chatIdFromAlias,
  escapeLocalpart,
  ghostUserId,
  portalAlias,
  remoteIdFromGhost,
  unescapeLocalpart,
} from "../../../src/config/ids";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:8008", domain: "example.org:8448" },
  platforms: {
    telegram: { enabled: true },
    slack: { enabled: true, ghost_prefix: "_sl_", alias_prefix: "_slk_" },
  },
});

const AWKWARD = [
  "123456789",
  "Alice",
  "+4915112345678",
  "T0123ABCD_U0456EFGH",
  "with space",
  "émile",
  "名前",
  "👍🏽 emoji",
  "a=b",
  "=41",
  "dots.and-dashes/slash",
  "colon:and@at#hash",
  "_",
];

describe("config: ghost ids and portal aliases", () => {
  it("escapes into the localpart character set only", () => {
    for (const id of AWKWARD) {
      assert.match(escapeLocalpart(id), /^[a-z0-9._=\-/]+$/, id);
    }
    assert.equal(escapeLocalpart("Alice+1"), "=41lice=2b1");
    assert.equal(escapeLocalpart("a b"), "a=20b");
    assert.equal(escapeLocalpart("é"), "=c3=a9");
    assert.equal(escapeLocalpart("a=b"), "a=3db");
  });

  it("round-trips awkward ids through the ghost user id", () => {
    for (const id of AWKWARD) {
      const mxid = ghostUserId(config, "telegram", id);
      assert.ok(mxid.startsWith("@_telegram_") && mxid.endsWith(":example.org:8448"), mxid);
      assert.deepEqual(remoteIdFromGhost(config, mxid), { platform: "telegram", remoteId: id }, id);
    }
    const slack = ghostUserId(config, "slack", "U0456EFGH");
    assert.equal(slack, "@_sl_=550456=45=46=47=48:example.org:8448");
    assert.deepEqual(remoteIdFromGhost(config, slack), { platform: "slack", remoteId: "U0456EFGH" });
  });

  it("round-trips portal aliases", () => {
    const alias = portalAlias(config, "slack", "C012AB/thread");
    assert.equal(alias, "#_slk_=43012=41=42/thread:example.org:8448");
    assert.deepEqual(chatIdFromAlias(config, alias), { platform: "slack", chatId: "C012AB/thread" });
  });

  it("does not claim ids that are not ghosts", () => {
    for (const mxid of [
      "@clawbridge:example.org:8448",
      "@ai:example.org:8448",
      "@_telegram_alice:other.org",
      "@_telegram_:example.org:8448",
      "@_telegram_Alice:example.org:8448",
      "@_telegram_=4:example.org:8448",
      "@_telegram_=41=:example.org:8448",
      "@_telegram_=3D:example.org:8448",
      "@_telegram_=ff:example.org:8448",
      "#_telegram_1:example.org:8448",
      "not an id",
    ]) {
      assert.equal(remoteIdFromGhost(config, mxid), undefined, mxid);
    }
  });

  it("rejects non-canonical escapes so one remote id has one ghost", () => {
    // `=61` is an escaped "a", which is always written literally.
    assert.equal(unescapeLocalpart("=61"), undefined);
    assert.equal(unescapeLocalpart("a"), "a");
  });

  it("refuses empty remote ids", () => {
    assert.throws(() => ghostUserId(config, "telegram", ""), /must not be empty/);
    assert.throws(() => portalAlias(config, "telegram", ""), /must not be empty/);
  });
});
