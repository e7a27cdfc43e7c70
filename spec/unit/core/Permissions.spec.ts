import assert from "node:assert/strict";
import { configFromObject } from "../../../src/config/Config";
import { bridgeUserMatcher, Permissions } from "../../../src/core/Permissions";

const configFor = () =>
  configFromObject({
    homeserver: { url: "http://127.0.0.1:8008", domain: "example.org" },
    platforms: { telegram: { enabled: true } },
  });

describe("Permissions", () => {
  const p = new Permissions({ "*": "relay", "example.org": "user", "@boss:example.org": "admin" });

  it("prefers the MXID over the server over *", () => {
    assert.equal(p.levelOf("@boss:example.org"), "admin");
    assert.equal(p.levelOf("@worker:example.org"), "user");
    assert.equal(p.levelOf("@guest:elsewhere.net"), "relay");
  });

  it("orders levels relay < user < admin", () => {
    assert.ok(p.allows("@boss:example.org", "user"));
    assert.ok(p.allows("@worker:example.org", "relay"));
    assert.ok(!p.allows("@worker:example.org", "admin"));
    assert.ok(!p.allows("@guest:elsewhere.net", "user"));
  });

  it("gives no level to anyone not listed when there is no *", () => {
    const strict = new Permissions({ "example.org": "user" });
    assert.equal(strict.levelOf("@x:other.org"), undefined);
    assert.ok(!strict.allows("@x:other.org", "relay"));
  });

  it("gives the bridge's own users no level, not even from their full MXID", () => {
    const own = bridgeUserMatcher(configFor());
    const q = new Permissions(
      {
        "*": "relay",
        "example.org": "admin",
        "@_telegram_7:example.org": "user",
        "@ai:example.org": "admin",
        "@clawbridge:example.org": "admin",
      },
      own,
    );
    for (const mxid of [
      "@_telegram_1:example.org",
      "@_telegram_7:example.org",
      "@ai:example.org",
      "@clawbridge:example.org",
    ]) {
      assert.equal(q.levelOf(mxid), undefined, mxid);
      assert.ok(!q.allows(mxid, "relay"), mxid);
      assert.ok(q.isGhost(mxid), mxid);
    }
    assert.equal(q.levelOf("@alice:example.org"), "admin");
    // The same localparts on another server are other people.
    assert.ok(!own("@ai:other.org"));
    assert.ok(!own("@_telegram_1:other.org"));
    assert.equal(q.levelOf("@ai:other.org"), "relay");
  });
});

describe("Permissions: users of other appservices", () => {
  const config = () =>
    configFromObject({
      homeserver: { url: "http://127.0.0.1:8008", domain: "example.org" },
      bridge: {
        permissions: { "example.org": "admin" },
        other_appservice_users: ["@_discord_.*:example\\.org", "@hookshot:example\\.org"],
      },
    });

  it("never gives them a level, even under a server-wide admin entry", () => {
    const c = config();
    const p = new Permissions(c.bridge.permissions, bridgeUserMatcher(c));
    assert.equal(p.levelOf("@_discord_123:example.org"), undefined);
    assert.equal(p.levelOf("@hookshot:example.org"), undefined);
    assert.equal(p.isGhost("@hookshot:example.org"), true);
    assert.equal(p.levelOf("@hookshot2:example.org"), "admin", "the whole id must match");
    assert.equal(p.levelOf("@alice:example.org"), "admin");
  });

  it("an invalid expression fails at load, naming the key", () => {
    assert.throws(
      () =>
        configFromObject({
          homeserver: { url: "http://127.0.0.1:8008", domain: "example.org" },
          bridge: { other_appservice_users: ["@_discord_(:example.org"] },
        }),
      /bridge\.other_appservice_users\[0\]: not a regular expression/,
    );
  });
});
