import assert from "node:assert/strict";
import { Permissions } from "../../../src/core/Permissions";

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

  it("gives ghosts a level only from their full MXID, never from the server name or *", () => {
    const isGhost = (mxid: string) => mxid.startsWith("@_telegram_");
    const q = new Permissions(
      { "*": "relay", "example.org": "admin", "@_telegram_7:example.org": "user" },
      isGhost,
    );
    assert.equal(q.levelOf("@_telegram_1:example.org"), undefined);
    assert.ok(!q.allows("@_telegram_1:example.org", "relay"));
    assert.equal(q.levelOf("@_telegram_7:example.org"), "user");
    assert.equal(q.levelOf("@alice:example.org"), "admin");
    assert.ok(q.isGhost("@_telegram_1:example.org"));
  });
});
