import assert from "node:assert/strict";
import { THREAD_LOOKBACK_S } from "../../../../bridges/slack/history";
import { BridgeError } from "../../../../src/core/errors";
import {
  CHANNEL,
  harness,
  ofKind,
  outbound,
  TEAM,
  UGO,
  UMA,
  until,
  useSlackServer,
} from "../../../standins/slack/harness";

describe("SlackClient (bolt ↔ Slack stand-in, Socket Mode)", function () {
  this.timeout(60_000);
  const t = useSlackServer();

  it("connects over Socket Mode and emits a message with the sender's profile, acking after the emit", async () => {
    const h = harness(t.server(), [t.ws()]);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    h.onEmit = () => gate;
    await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    const ts = t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "hello *world*" });
    await new Promise((r) => setTimeout(r, 300));
    const d = t.server().deliveries.find((x) => (x.payload.event as { ts?: string }).ts === ts)!;
    assert.equal(d.acked, false, "not acknowledged while the core has not taken it");
    release();
    await until(() => h.events.length === 1, 15_000, "message");
    await t.server().until(() => d.acked, 15_000, "ack");
    const [m] = ofKind(h, "message");
    assert.equal(m!.id, ts);
    assert.equal(m!.chat.id, CHANNEL);
    assert.equal(m!.sender.id, `${TEAM}_${UMA}`.toLowerCase());
    assert.equal(m!.senderInfo?.displayName, "Uma");
    assert.match(m!.senderInfo?.avatar?.key ?? "", /\/avatars\/T0AAA\/U0UMA\.png$/);
    assert.equal(m!.html, "hello <strong>world</strong>");
  });

  it("drops an event delivered again with the same event id", async () => {
    const h = harness(t.server(), [t.ws()]);
    await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "once" });
    await until(() => h.events.length === 1, 15_000, "first delivery");
    const d = t.server().deliveries.at(-1)!;
    t.server().retry(d.eventId);
    t.server().injectMessage(TEAM, { channel: CHANNEL, user: UGO, text: "after" });
    await until(() => h.events.length === 2, 15_000, "second message");
    assert.deepEqual(
      ofKind(h, "message").map((m) => m.text),
      ["once", "after"],
    );
    assert.equal(d.attempts, 2);
  });

  it("logs and skips malformed events, then goes on", async () => {
    const h = harness(t.server(), [t.ws()]);
    await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    t.server().deliver(TEAM, { type: "message", text: "no channel, no ts" });
    t.server().deliver(TEAM, { type: "reaction_added", user: UMA });
    t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "fine" });
    await until(() => h.events.length === 1, 15_000, "good message");
    assert.equal(ofKind(h, "message")[0]!.text, "fine");
    assert.ok(h.log.warnings.filter((w) => w.includes("malformed")).length >= 2);
  });

  it("posts as the Matrix user with chat:write.customize, with a name prefix without it", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const sent = await client!.sendMessage(
      { id: CHANNEL },
      outbound("hi <b>there</b> & you", { html: "hi <b>there</b> &amp; you" }),
    );
    const call = t.server().ok("chat.postMessage")[0]!;
    assert.equal(call.params.text, "hi *there* &amp; you");
    assert.equal(call.params.username, "Alice");
    assert.equal(call.params.icon_url, "http://127.0.0.1:1/alice.png");
    assert.equal(sent.ids.length, 1);
    assert.equal(t.ws().message(CHANNEL, sent.ids[0]!)?.username, "Alice");
    await client!.disconnect();

    t.ws().scopes = t.ws().scopes.filter((s) => s !== "chat:write.customize");
    const h2 = harness(t.server(), [t.ws()]);
    const [plain] = await t.start(h2);
    await plain!.sendMessage({ id: CHANNEL }, outbound("plain"));
    const call2 = t.server().ok("chat.postMessage")[1]!;
    assert.equal(call2.params.text, "*Alice*: plain");
    assert.equal(call2.params.username, undefined);
  });

  it("never emits the bridge's own posts, edits, deletes or reactions", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    const sent = await client!.sendMessage({ id: CHANNEL }, outbound("mine"));
    const ts = sent.ids[0]!;
    await client!.editMessage({ id: CHANNEL }, ts, outbound("mine, edited"));
    await client!.sendReaction({ id: CHANNEL }, ts, "👍", outbound("").sender);
    await client!.deleteMessage({ id: CHANNEL }, ts);
    t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "marker" });
    await until(() => h.events.length >= 1, 15_000, "marker");
    // Four echoes (post, edit, reaction, delete) and the marker.
    await t
      .server()
      .until(
        () => t.server().deliveries.length === 5 && t.server().deliveries.every((d) => d.acked),
        15_000,
        "all acked",
      );
    assert.deepEqual(
      h.events.map((e) => e.kind),
      ["message"],
    );
    assert.equal(t.server().ok("reactions.add")[0]!.params.name, "+1");
  });

  it("maps edits, deletes, reactions (added and removed), membership and topic changes", async () => {
    const h = harness(t.server(), [t.ws()]);
    await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    const ts = t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "v1" });
    const d = (event: Record<string, unknown>) => t.server().deliver(TEAM, event);
    d({
      type: "message",
      subtype: "message_changed",
      channel: CHANNEL,
      ts: t.ws().nextTs(),
      message: { type: "message", user: UMA, text: "v2 _new_", ts },
      previous_message: { type: "message", user: UMA, text: "v1", ts },
    });
    d({
      type: "reaction_added",
      user: UGO,
      reaction: "tada",
      item: { type: "message", channel: CHANNEL, ts },
    });
    d({
      type: "reaction_removed",
      user: UGO,
      reaction: "tada",
      item: { type: "message", channel: CHANNEL, ts },
    });
    d({
      type: "reaction_added",
      user: UGO,
      reaction: "custom_party",
      item: { type: "message", channel: CHANNEL, ts },
    });
    d({ type: "member_joined_channel", user: UGO, channel: CHANNEL, channel_type: "C", inviter: UMA });
    d({ type: "member_left_channel", user: UGO, channel: CHANNEL, channel_type: "C" });
    d({
      type: "message",
      subtype: "channel_topic",
      channel: CHANNEL,
      user: UMA,
      topic: "new topic",
      ts: t.ws().nextTs(),
    });
    d({ type: "channel_rename", channel: { id: CHANNEL, name: "renamed", created: 1 } });
    d({
      type: "message",
      subtype: "message_deleted",
      channel: CHANNEL,
      ts: t.ws().nextTs(),
      deleted_ts: ts,
      previous_message: { type: "message", user: UMA, text: "v2", ts },
    });
    await until(() => h.events.length === 10, 15_000, "all events");
    assert.deepEqual(
      h.events.map((e) => e.kind),
      [
        "message",
        "edit",
        "reaction",
        "reaction-remove",
        "reaction",
        "member",
        "member",
        "chat-info",
        "chat-info",
        "delete",
      ],
    );
    const edit = ofKind(h, "edit")[0]!;
    assert.equal(edit.id, ts);
    assert.equal(edit.html, "v2 <em>new</em>");
    const [added, , custom] = h.events.slice(2, 5) as Array<{ key: string; target: string }>;
    assert.equal(added!.key, "🎉");
    assert.equal(added!.target, ts);
    assert.equal(custom!.key, ":custom_party:");
    const [join, leave] = ofKind(h, "member");
    assert.equal(join!.membership, "join");
    assert.equal(join!.target.id, `${TEAM}_${UGO}`.toLowerCase());
    assert.equal(join!.sender.id, `${TEAM}_${UMA}`.toLowerCase());
    assert.equal(leave!.membership, "leave");
    const [topic, rename] = ofKind(h, "chat-info");
    assert.equal(topic!.info.topic, "new topic");
    assert.equal(rename!.info.name, "renamed");
    assert.equal(ofKind(h, "delete")[0]!.id, ts);
  });

  it("uploads files with the three-step flow and downloads shared files with the bot token", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    const bytes = Buffer.from([0, 1, 2, 3, 250, 251, 252]);
    const sent = await client!.sendMessage(
      { id: CHANNEL },
      {
        ...outbound(""),
        attachment: { kind: "file", media: { data: bytes, mimetype: "application/x-thing", name: "a.bin" } },
      },
    );
    assert.deepEqual(
      t
        .server()
        .calls.filter((c) => /^files\.|UPLOAD/.test(c.method))
        .map((c) => c.method)
        .slice(0, 3),
      ["files.getUploadURLExternal", "UPLOAD", "files.completeUploadExternal"],
    );
    assert.ok(t.server().ok("UPLOAD")[0]!.body!.equals(bytes));
    assert.equal(t.ws().message(CHANNEL, sent.ids[0]!)?.files?.length, 1);

    t.server().injectMessage(TEAM, {
      channel: CHANNEL,
      user: UMA,
      text: "a file",
      files: [{ name: "p.png", data: Buffer.from("png-bytes"), mimetype: "image/png" }],
    });
    await until(() => h.events.length === 1, 15_000, "file message");
    const ref = ofKind(h, "message")[0]!.attachments![0]!;
    const media = await client!.fetchMedia(ref);
    assert.equal(media.data.toString(), "png-bytes");
    assert.equal(media.name, "p.png");
  });

  it("refuses files over max_file_bytes with a reason for the user", async () => {
    const h = harness(t.server(), [t.ws()], { max_file_bytes: 4 });
    const [client] = await t.start(h);
    await assert.rejects(
      client!.sendMessage(
        { id: CHANNEL },
        {
          ...outbound(""),
          attachment: { kind: "file", media: { data: Buffer.alloc(10), mimetype: "x/y", name: "big" } },
        },
      ),
      (err: unknown) => err instanceof BridgeError && /over the bridge's/.test(err.userMessage),
    );
  });

  it("turns a 429 into a retryable error with Retry-After, and a bot-forbidden delete into an explanation", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    t.server().rateLimit("chat.postMessage", { retryAfter: 3 });
    await assert.rejects(client!.sendMessage({ id: CHANNEL }, outbound("x")), (err: unknown) => {
      const e = err as { status?: number; retryAfterMs?: number };
      return e.status === 429 && e.retryAfterMs === 3000;
    });
    const ts = t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "not yours" });
    await assert.rejects(
      client!.deleteMessage({ id: CHANNEL }, ts),
      (err: unknown) => err instanceof BridgeError && /only its own messages/.test(err.userMessage),
    );
  });
});

describe("SlackClient.userInfo", function () {
  this.timeout(30_000);
  const t = useSlackServer();
  it("describes users from users.info, and one Slack does not know by their id", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const ugo = await client!.userInfo({ id: `${TEAM}_${UGO}`.toLowerCase() });
    assert.equal(ugo.displayName, "Ugo Real", "real name when there is no display name");
    assert.equal(ugo.avatar, undefined);
    const gone = await client!.userInfo({ id: `${TEAM}_U0GONE`.toLowerCase() });
    assert.deepEqual(gone, { displayName: "U0GONE" });
    t.server().rateLimit("users.info");
    await assert.rejects(
      client!.userInfo({ id: `${TEAM}_U0LATER`.toLowerCase() }),
      (err: unknown) => (err as { status?: number }).status === 429,
    );
  });
});

describe("SlackClient outbound text", function () {
  this.timeout(30_000);
  const t = useSlackServer();
  it("splits text over Slack's limit into several messages, and sends /me as an italic line", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const long = "x".repeat(80_000);
    const sent = await client!.sendMessage({ id: CHANNEL }, outbound(long));
    assert.equal(sent.ids.length, 3);
    assert.equal(
      t
        .server()
        .ok("chat.postMessage")
        .map((c) => String(c.params.text))
        .join(""),
      long,
    );
    await client!.sendMessage({ id: CHANNEL }, outbound("waves", { msgtype: "emote" }));
    const emote = t.server().ok("chat.postMessage").at(-1)!;
    assert.equal(emote.params.text, "_waves_");
    assert.equal(emote.params.username, "Alice");
  });
});

describe("SlackClient Matrix replies", function () {
  this.timeout(30_000);
  const t = useSlackServer();
  it("go into the thread of the message they answer (its root when it is a thread reply), also shown in the channel", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    const root = t.server().injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "root" });
    const inThread = t
      .server()
      .injectMessage(TEAM, { channel: CHANNEL, user: UGO, text: "reply", thread_ts: root });
    await until(() => h.events.length === 2, 15_000, "both messages");
    await client!.sendMessage({ id: CHANNEL }, outbound("to the root", { replyTo: root }));
    await client!.sendMessage({ id: CHANNEL }, outbound("to the reply", { replyTo: inThread }));
    await client!.sendMessage({ id: CHANNEL }, outbound("in the thread", { threadRoot: root }));
    const calls = t
      .server()
      .ok("chat.postMessage")
      .map((c) => [c.params.text, c.params.thread_ts, c.params.reply_broadcast]);
    assert.deepEqual(calls, [
      ["to the root", root, "true"],
      ["to the reply", root, "true"],
      ["in the thread", root, undefined],
    ]);
  });
});

describe("SlackClient catch-up and profile changes", function () {
  this.timeout(30_000);
  const t = useSlackServer();

  it("fetchMessagesAfter gives the messages after a ts, oldest first, up to the limit", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const s = t.server();
    const ts = ["zero", "one", "two", "three"].map((text) =>
      s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text }),
    );
    const got = await client!.fetchMessagesAfter({ id: CHANNEL }, ts[0], 2);
    assert.deepEqual(
      got.map((m) => [m.id, m.text, m.sender.id, m.senderInfo?.displayName]),
      [
        [ts[1], "one", `${TEAM}_${UMA}`.toLowerCase(), "Uma"],
        [ts[2], "two", `${TEAM}_${UMA}`.toLowerCase(), "Uma"],
      ],
    );
    // Read from a day before, to find older thread parents with new replies.
    const history = s.ok("conversations.history").at(-1)!;
    assert.equal(history.params.oldest, `${Number(ts[0]!.split(".")[0]) - THREAD_LOOKBACK_S}.000000`);
    assert.deepEqual(
      (await client!.fetchMessagesAfter({ id: CHANNEL }, ts[3], 10)).map((m) => m.id),
      [],
    );
  });

  it("fetchMessagesAfter orders by the exact ts (one millisecond, distinct microseconds) and pages history", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const s = t.server();
    // 450 messages: three history pages of 200; all in a few seconds, so many share a millisecond.
    const ts = Array.from({ length: 450 }, (_, i) =>
      s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: `m${i}` }),
    );
    const got = await client!.fetchMessagesAfter({ id: CHANNEL }, ts[0], 1000);
    assert.deepEqual(
      got.map((m) => m.id),
      ts.slice(1),
    );
    const mid = await client!.fetchMessagesAfter({ id: CHANNEL }, ts[299], 100);
    assert.deepEqual(
      mid.map((m) => m.id),
      ts.slice(300, 400),
    );
    assert.ok(
      s.ok("conversations.history").some((c) => c.params.cursor),
      "history read past its first page",
    );
    assert.deepEqual(await client!.fetchMessagesAfter({ id: CHANNEL }, "not a ts", 10), []);
  });

  it("fetchMessagesAfter brings thread replies sent after the ts, in order, each after its parent", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const s = t.server();
    const old = s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "old parent" });
    s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "old reply", thread_ts: old });
    const quiet = s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "old parent, no new reply" });
    s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "reply bridged before", thread_ts: quiet });
    const mark = s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "last bridged" });
    const r1 = s.missedMessage(TEAM, {
      channel: CHANNEL,
      user: UGO,
      text: "new reply to old",
      thread_ts: old,
    });
    const p2 = s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "new parent" });
    // 210 replies: two conversations.replies pages.
    const many = Array.from({ length: 210 }, (_, i) =>
      s.missedMessage(TEAM, { channel: CHANNEL, user: UGO, text: `r${i}`, thread_ts: p2 }),
    );
    const r2 = s.missedMessage(TEAM, {
      channel: CHANNEL,
      user: UGO,
      text: "second new reply to old",
      thread_ts: old,
    });
    const tail = s.missedMessage(TEAM, { channel: CHANNEL, user: UMA, text: "channel again" });
    const got = await client!.fetchMessagesAfter({ id: CHANNEL }, mark, 1000);
    assert.deepEqual(
      got.map((m) => [m.id, m.threadRoot]),
      [[r1, old], [p2, undefined], ...many.map((id) => [id, p2]), [r2, old], [tail, undefined]],
    );
    // The core pages on with the last id it took: a reply's ts works as well as a parent's.
    const rest = await client!.fetchMessagesAfter({ id: CHANNEL }, many[104]!, 1000);
    assert.deepEqual(
      rest.map((m) => m.id),
      [...many.slice(105), r2, tail],
    );
    // Only threads with a reply newer than the mark were read.
    const asked = new Set(s.ok("conversations.replies").map((c) => c.params.ts));
    assert.ok(!asked.has(quiet), "a thread without new replies is not read");
  });

  it("emits a chatless profile event on user_change", async () => {
    const h = harness(t.server(), [t.ws()]);
    await t.start(h);
    await t.server().until(() => t.server().connected(TEAM), 15_000, "socket");
    t.ws().addUser({ id: UGO, name: "ugo", real_name: "Ugo Real", display_name: "Ugo New" });
    t.server().deliver(TEAM, { type: "user_change", user: t.ws().userObject(UGO, t.server().baseUrl)! });
    await until(() => ofKind(h, "profile").length === 1, 15_000, "profile event");
    const [p] = ofKind(h, "profile");
    assert.equal(p!.chat, undefined);
    assert.equal(p!.sender.id, `${TEAM}_${UGO}`.toLowerCase());
    assert.equal(p!.info.displayName, "Ugo New");
  });
});

describe("SlackClient history for a new portal (conversations.history and .replies against the stand-in)", function () {
  this.timeout(60_000);
  const t = useSlackServer();

  it("gives the newest messages with their thread replies, oldest first, with Slack's times and senders", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const s = t.server();
    const t0 = Date.now() - 86_400_000;
    const old = Array.from({ length: 30 }, (_, i) =>
      s.pastMessage(TEAM, { channel: CHANNEL, user: UMA, text: `old ${i}`, at: t0 + i * 1000 }),
    );
    const parent = s.pastMessage(TEAM, { channel: CHANNEL, user: UMA, text: "parent", at: t0 + 40_000 });
    const r1 = s.pastMessage(TEAM, {
      channel: CHANNEL,
      user: UGO,
      text: "reply 1",
      thread_ts: parent,
      at: t0 + 41_000,
    });
    const mid = s.pastMessage(TEAM, { channel: CHANNEL, user: UGO, text: "between", at: t0 + 42_000 });
    const r2 = s.pastMessage(TEAM, {
      channel: CHANNEL,
      user: UMA,
      text: "reply 2",
      thread_ts: parent,
      at: t0 + 43_000,
    });
    const got = await client!.history({ id: CHANNEL }, 7);
    assert.deepEqual(
      got.map((m) => [m.id, m.text, m.threadRoot]),
      [
        [old[27], "old 27", undefined],
        [old[28], "old 28", undefined],
        [old[29], "old 29", undefined],
        [parent, "parent", undefined],
        [r1, "reply 1", parent],
        [mid, "between", undefined],
        [r2, "reply 2", parent],
      ],
    );
    assert.deepEqual(
      got.map((m) => m.timestamp),
      [t0 + 27_000, t0 + 28_000, t0 + 29_000, t0 + 40_000, t0 + 41_000, t0 + 42_000, t0 + 43_000],
    );
    assert.equal(got[4]!.sender.id, `${TEAM}_${UGO}`.toLowerCase());
    assert.ok(s.ok("conversations.history").every((c) => Number(c.params.limit) === 7));
    assert.deepEqual(await client!.history({ id: CHANNEL }, 0), []);
  });

  it("pages history for a limit beyond one page and keeps exactly the newest", async () => {
    const h = harness(t.server(), [t.ws()]);
    const [client] = await t.start(h);
    const s = t.server();
    const t0 = Date.now() - 86_400_000;
    const all = Array.from({ length: 450 }, (_, i) =>
      s.pastMessage(TEAM, { channel: CHANNEL, user: UMA, text: `m${i}`, at: t0 + i }),
    );
    const got = await client!.history({ id: CHANNEL }, 300);
    assert.deepEqual(
      got.map((m) => m.id),
      all.slice(-300),
    );
    assert.equal(s.ok("conversations.history").length, 2);
  });
});
