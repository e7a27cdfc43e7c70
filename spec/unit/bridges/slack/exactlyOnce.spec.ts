import assert from "node:assert/strict";
import { MAX_TEXT, RELAY_EVENT_TYPE } from "../../../../bridges/slack/SlackSender";
import { CHANNEL, harness, outbound, UMA, useSlackServer } from "../../../standins/slack/harness";

describe("Slack sends exactly once (event id in message metadata, looked up before a repeat)", function () {
  this.timeout(60_000);
  const t = useSlackServer();
  const posts = () => t.server().ok("chat.postMessage");
  const stored = (text: string) => t.ws().messages.filter((m) => m.text === text && !m.deleted);

  it("each relayed message carries its Matrix event and part in its metadata", async () => {
    const [client] = await t.start(harness(t.server(), [t.ws()]));
    const sent = await client!.sendMessage(
      { id: CHANNEL },
      outbound("tagged", { eventId: "$tag:hs.test", eventTs: Date.now() }),
    );
    const [m] = stored("tagged");
    assert.equal(m!.ts, sent.ids[0]);
    assert.deepEqual(m!.metadata, {
      event_type: RELAY_EVENT_TYPE,
      event_payload: { event_id: "$tag:hs.test", part: 0 },
    });
  });

  it("a repeat after a crash finds the message already posted and posts nothing; another event's same text is posted", async () => {
    const [client] = await t.start(harness(t.server(), [t.ws()]));
    const msg = outbound("posted before the crash", { eventId: "$crash:hs.test", eventTs: Date.now() });
    const first = await client!.sendMessage({ id: CHANNEL }, msg);
    const count = posts().length;
    const again = await client!.sendMessage({ id: CHANNEL }, { ...msg, again: true });
    assert.deepEqual(again.ids, first.ids);
    assert.equal(posts().length, count, "nothing posted again");
    assert.equal(stored("posted before the crash").length, 1);
    const other = await client!.sendMessage(
      { id: CHANNEL },
      { ...msg, eventId: "$another:hs.test", again: true },
    );
    assert.notEqual(other.ids[0], first.ids[0]);
    assert.equal(stored("posted before the crash").length, 2);
  });

  it("a long message cut by a crash after its first part: the repeat posts only the rest", async () => {
    const [client] = await t.start(harness(t.server(), [t.ws()]));
    const text = "a".repeat(MAX_TEXT) + "b".repeat(100);
    const msg = outbound(text, { eventId: "$long:hs.test", eventTs: Date.now() });
    // What the crashed attempt left: the first part only (same event, part 0).
    const cut = await client!.sendMessage({ id: CHANNEL }, { ...msg, text: "a".repeat(MAX_TEXT) });
    const resumed = await client!.sendMessage({ id: CHANNEL }, { ...msg, again: true });
    assert.equal(resumed.ids.length, 2);
    assert.equal(resumed.ids[0], cut.ids[0], "the first part is reused");
    assert.equal(t.ws().messages.filter((m) => m.text.startsWith("a")).length, 1);
    assert.equal(t.ws().messages.filter((m) => m.text.startsWith("b")).length, 1);
  });

  it("looks in the thread for a threaded message", async () => {
    const [client] = await t.start(harness(t.server(), [t.ws()]));
    const root = t.server().injectMessage(t.ws().team, { channel: CHANNEL, user: UMA, text: "root" });
    const msg = outbound("in the thread", { eventId: "$thr:hs.test", eventTs: Date.now(), threadRoot: root });
    const first = await client!.sendMessage({ id: CHANNEL }, msg);
    const again = await client!.sendMessage({ id: CHANNEL }, { ...msg, again: true });
    assert.deepEqual(again.ids, first.ids);
    assert.equal(stored("in the thread").length, 1);
    assert.ok(t.server().ok("conversations.replies").length >= 1);
  });
});
