import assert from "node:assert/strict";
import { ChatTimers } from "../../../../bridges/whatsapp/chatTimers";
import type { RemoteEvent } from "../../../../src/core/connector";

const chat = { id: "15550000001_15551234567@s.whatsapp.net" };
const sender = { id: "15551234567" };
const message = (id: string, fromSelf = false): RemoteEvent => ({
  kind: "message",
  chat,
  sender,
  timestamp: 1000,
  id,
  text: "x",
  fromSelf,
});
const setting = (seconds: number): RemoteEvent => ({
  kind: "disappearing",
  chat,
  sender,
  timestamp: 1000,
  seconds,
});

describe("WhatsApp: chat timers seen in messages", () => {
  it("a message's timer that is news becomes a setting event after it, once", () => {
    const t = new ChatTimers();
    const first = t.afterMessage([message("a")], 604800);
    assert.deepEqual(first, { kind: "disappearing", chat, sender, timestamp: 1000, seconds: 604800 });
    assert.equal(t.afterMessage([message("b")], 604800), undefined);
    assert.equal(t.afterMessage([message("c")], 86400)?.seconds, 86400);
  });

  it("a setting event is noted; messages without a timer, echoes and setting-less events imply nothing", () => {
    const t = new ChatTimers();
    assert.equal(t.afterMessage([setting(86400)], undefined), undefined);
    assert.equal(t.afterMessage([message("a")], 86400), undefined, "already known from the setting");
    assert.equal(t.afterMessage([message("b")], undefined), undefined, "no timer: not taken as off");
    assert.equal(t.afterMessage([message("c", true)], 604800), undefined, "the bridge's own echo");
    assert.equal(t.afterMessage([], 604800), undefined);
  });

  it("a group's metadata timer is news once", () => {
    const t = new ChatTimers();
    assert.equal(t.changed("g@g.us", 604800, sender, 5)?.seconds, 604800);
    assert.equal(t.changed("g@g.us", 604800, sender, 6), undefined);
  });
});
