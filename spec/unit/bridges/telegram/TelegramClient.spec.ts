import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { ConnectionState } from "../../../../src/core/connector";
import {
  ALICE,
  BOB,
  GROUP,
  harness,
  ofKind,
  outbound,
  until,
  useTelegramServer,
} from "../../../standins/telegram/harness";

describe("Telegram connector (grammy against the Bot API stand-in)", () => {
  const tg = useTelegramServer();
  const start = tg.start;

  describe("inbound", () => {
    it("a text with entities arrives as a RemoteMessage with html and sender info", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      const id = tg.server().injectMessage({
        chat: GROUP,
        from: ALICE,
        text: "hello bold world",
        entities: [{ type: "bold", offset: 6, length: 4 }],
      });
      await until(() => h.events.length === 1);
      const m = ofKind(h, "message")[0]!;
      assert.equal(m.id, String(id));
      assert.deepEqual(m.chat, { id: String(GROUP) });
      assert.deepEqual(m.sender, { id: String(ALICE) });
      assert.equal(m.text, "hello bold world");
      assert.ok(m.html?.includes("<strong>bold</strong>"), m.html);
      assert.equal(m.senderInfo?.displayName, "Alice Liddell");
      assert.equal(m.fromSelf, undefined);
      assert.equal(typeof m.timestamp, "number");
      assert.equal(client.state(), ConnectionState.Connected);
      const poll = await tg.server().waitFor((c) => c.method === "getUpdates");
      assert.ok((poll.params.allowed_updates as string[]).includes("message_reaction"));
    });

    it("maps replies, edits and the reaction diff", async () => {
      const h = harness(tg.server());
      await start(h);
      const root = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "root" });
      const reply = tg
        .server()
        .injectMessage({ chat: GROUP, from: BOB, text: "re", reply_to_message_id: root });
      tg.server().injectEdit({
        chat: GROUP,
        message_id: reply,
        text: "re edited",
        entities: [{ type: "italic", offset: 0, length: 2 }],
      });
      tg.server().injectReaction({ chat: GROUP, user: ALICE, message_id: root, old: [], new: ["👍"] });
      tg.server().injectReaction({ chat: GROUP, user: ALICE, message_id: root, old: ["👍"], new: ["🔥"] });
      await until(() => h.events.length === 6, 5000, "six events");
      assert.deepEqual(
        h.events.map((e) => e.kind),
        ["message", "message", "edit", "reaction", "reaction-remove", "reaction"],
      );
      assert.equal(ofKind(h, "message")[1]!.replyTo, String(root));
      const edit = ofKind(h, "edit")[0]!;
      assert.equal(edit.id, String(reply));
      assert.equal(edit.text, "re edited");
      assert.ok(edit.html?.includes("<em>re</em>"));
      const [add, remove, add2] = h.events.slice(3);
      assert.ok(add?.kind === "reaction" && add.key === "👍" && add.target === String(root));
      assert.ok(remove?.kind === "reaction-remove" && remove.key === "👍");
      assert.ok(add2?.kind === "reaction" && add2.key === "🔥" && add2.sender.id === String(ALICE));
    });

    it("maps joins, leaves, kicks and title changes, once per change", async () => {
      const h = harness(tg.server());
      await start(h);
      tg.server().injectMember({ chat: GROUP, user: BOB, change: "join" });
      tg.server().injectMember({ chat: GROUP, user: BOB, change: "join", via: "chat_member" }); // same join again
      tg.server().injectMember({ chat: GROUP, user: BOB, change: "leave" });
      tg.server().injectMember({ chat: GROUP, user: ALICE, change: "join", via: "chat_member" });
      tg.server().injectMember({ chat: GROUP, user: ALICE, change: "kick", by: BOB, via: "chat_member" });
      tg.server().injectMember({ chat: GROUP, user: ALICE, change: "join", via: "chat_member" });
      tg.server().injectMember({ chat: GROUP, user: ALICE, change: "ban", by: BOB, via: "chat_member" });
      tg.server().injectChatTitle({ chat: GROUP, title: "Renamed", from: ALICE });
      await until(() => h.events.some((e) => e.kind === "chat-info"), 5000, "chat-info");
      const members = ofKind(h, "member").map((m) => `${m.target.id}:${m.membership}:${m.sender.id}`);
      assert.deepEqual(members, [
        `${BOB}:join:${BOB}`,
        `${BOB}:leave:${BOB}`,
        `${ALICE}:join:${ALICE}`,
        `${ALICE}:kick:${BOB}`,
        `${ALICE}:join:${ALICE}`,
        `${ALICE}:ban:${BOB}`,
      ]);
      const info = ofKind(h, "chat-info")[0]!;
      assert.deepEqual(info.info, { name: "Renamed" });
    });

    it("a photo arrives as an attachment and fetchMedia returns its bytes; over 20 MB is refused", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      const bytes = randomBytes(3000);
      tg.server().injectMessage({ chat: GROUP, from: ALICE, caption: "look", photo: bytes });
      tg.server().injectMessage({
        chat: GROUP,
        from: ALICE,
        document: { size: 25 * 1024 * 1024, name: "big.iso", mimetype: "application/x-iso9660-image" },
      });
      await until(() => h.events.length === 2);
      const [photo, doc] = ofKind(h, "message");
      assert.equal(photo!.text, "look");
      const ref = photo!.attachments![0]!;
      assert.equal(ref.mimetype, "image/jpeg");
      const media = await client.fetchMedia(ref);
      assert.ok(media.data.equals(bytes));
      const big = doc!.attachments![0]!;
      assert.equal(big.name, "big.iso");
      await assert.rejects(client.fetchMedia(big), (err: Error & { status?: number }) => {
        assert.equal(err.status, 413);
        assert.match(err.message, /larger than the 20 MB a Telegram bot may download/);
        return true;
      });
      await assert.rejects(client.fetchMedia({ key: big.key }), { status: 413 }); // size unknown: getFile says so
    });

    it("puts forum topics in threadId and keeps General in the chat", async () => {
      const forum = -1009999;
      tg.server().addChat({ id: forum, type: "supergroup", title: "Forum", is_forum: true });
      const h = harness(tg.server());
      await start(h);
      tg.server().injectMessage({ chat: forum, from: ALICE, text: "general" });
      tg.server().injectMessage({ chat: forum, from: ALICE, text: "in topic", message_thread_id: 77 });
      await until(() => h.events.length === 2);
      const [general, topic] = ofKind(h, "message");
      assert.deepEqual(general!.chat, { id: String(forum) });
      assert.deepEqual(topic!.chat, { id: String(forum), threadId: "77" });
      assert.equal(topic!.replyTo, undefined);
    });

    it("stores the offset only after emit resolved, and a restart resumes without loss or duplicates", async () => {
      const kv = new Map<string, string>();
      const h1 = harness(tg.server(), {}, kv);
      const c1 = await start(h1);
      const a = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "a" });
      await until(() => h1.events.length === 1);
      const key = `offset:${tg.server().botId}`;
      await until(() => kv.get(key) !== undefined);
      const afterA = kv.get(key);
      let stuck = false;
      h1.onEmit = () => {
        stuck = true;
        return new Promise<void>(() => {}); // the process "dies" inside emit
      };
      const b = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "b" });
      await until(() => stuck, 5000, "stuck in emit");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(kv.get(key), afterA, "offset must not move while emit is pending");
      assert.ok(tg.server().confirmedOffset <= tg.server().latestUpdateId);
      await c1.disconnect();
      const c = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "c" });

      const h2 = harness(tg.server(), {}, kv);
      await start(h2);
      await until(() => h2.events.length === 2, 5000, "redelivery");
      assert.deepEqual(
        ofKind(h1, "message").map((m) => m.id),
        [String(a)],
      );
      assert.deepEqual(
        ofKind(h2, "message").map((m) => m.id),
        [String(b), String(c)],
      );
      await until(() => kv.get(key) === String(tg.server().latestUpdateId + 1));
    });

    it("skips a malformed update with a warning and keeps going", async () => {
      const h = harness(tg.server());
      await start(h);
      tg.server().injectUpdate({ message: { message_id: 5, text: "no chat" } });
      tg.server().injectUpdate({ poll: { id: "x" } }); // a type the bridge does not handle: skipped quietly
      const ok = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "fine" });
      await until(() => h.events.length === 1);
      assert.equal(ofKind(h, "message")[0]!.id, String(ok));
      assert.equal(h.log.warnings.filter((w) => w.includes("malformed")).length, 1);
    });

    it("marks the bot's own messages fromSelf and honours deny_chats", async () => {
      const denied = -100555;
      tg.server().addChat({ id: denied, type: "group", title: "Denied" });
      const h = harness(tg.server(), { deny_chats: [denied] });
      const client = await start(h);
      await client.sendMessage({ id: String(GROUP) }, outbound("hi"));
      tg.server().injectMessage({ chat: denied, from: ALICE, text: "hidden" });
      tg.server().injectMessage({ chat: GROUP, from: tg.server().botId, text: "echo" });
      await until(() => h.events.length === 1);
      assert.equal(ofKind(h, "message")[0]!.fromSelf, true);
    });
  });

  describe("outbound", () => {
    it("sends relayed HTML with parse_mode, replies and splits long text", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      const root = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "root" });
      const sent = await client.sendMessage(
        { id: String(GROUP) },
        outbound("hi *there* <x>", { html: "hi <strong>there</strong> &lt;x&gt;", replyTo: String(root) }),
      );
      const msg = tg.server().sent(GROUP)[0]!;
      assert.deepEqual(sent.ids, [String(msg.message_id)]);
      assert.equal(msg.parse_mode, "HTML");
      assert.equal(msg.plain, "Alice: hi there <x>");
      assert.ok(msg.text!.includes("<b>there</b>"), msg.text);
      assert.equal(msg.reply_to_message_id, root);
      const call = await tg.server().waitFor((c) => c.method === "sendMessage");
      assert.deepEqual(call.params.reply_parameters, { message_id: root, allow_sending_without_reply: true });
      const long = await client.sendMessage({ id: String(GROUP) }, outbound("x".repeat(9000)));
      assert.equal(long.ids.length, 3);
      const emote = await client.sendMessage({ id: String(GROUP) }, outbound("waves", { msgtype: "emote" }));
      assert.equal(
        tg
          .server()
          .sent(GROUP)
          .find((m) => String(m.message_id) === emote.ids[0])!.plain,
        "* Alice waves",
      );
    });

    it("uploads a photo with the caption, the bytes unchanged; edits caption and text; deletes", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      const data = randomBytes(5000);
      const photo = await client.sendMessage(
        { id: String(GROUP) },
        outbound("a cat", {
          attachment: { kind: "image", media: { data, mimetype: "image/png", name: "cat.png" } },
        }),
      );
      const doc = await client.sendMessage(
        { id: String(GROUP) },
        outbound("notes.txt", {
          attachment: {
            kind: "file",
            media: { data: Buffer.from("notes"), mimetype: "text/plain", name: "notes.txt" },
          },
        }),
      );
      const [p, d] = tg.server().sent(GROUP);
      assert.equal(p!.method, "sendPhoto");
      assert.ok(p!.upload!.data.equals(data));
      assert.equal(p!.upload!.name, "cat.png");
      assert.equal(p!.plain, "Alice: a cat");
      assert.equal(d!.method, "sendDocument");
      assert.equal(d!.plain, "Alice:");
      assert.deepEqual(photo.ids, [String(p!.message_id)]);
      const text = await client.sendMessage({ id: String(GROUP) }, outbound("typo"));
      await client.editMessage({ id: String(GROUP) }, text.ids[0]!, outbound("fixed"));
      await client.editMessage({ id: String(GROUP) }, text.ids[0]!, outbound("fixed")); // not modified: fine
      await client.editMessage({ id: String(GROUP) }, photo.ids[0]!, outbound("a dog"));
      await client.deleteMessage({ id: String(GROUP) }, doc.ids[0]!);
      const after = tg.server().sent(GROUP);
      assert.equal(after[2]!.plain, "Alice: fixed");
      assert.equal(after[0]!.plain, "Alice: a dog");
      assert.equal(after[1]!.deleted, true);
      await assert.rejects(client.deleteMessage({ id: String(GROUP) }, "99999"), { status: 400 });
    });

    it("reacts with allowed emoji, falls back to a text reply, removes; shows typing", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      const target = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "react to me" });
      const sender = outbound("").sender;
      await client.sendReaction({ id: String(GROUP) }, String(target), "❤️", sender); // VS16 stripped
      const entry = tg.server().world.message(tg.server().world.chat(GROUP), target)!;
      assert.deepEqual(entry.botReactions, ["❤"]);
      await client.removeReaction({ id: String(GROUP) }, String(target), "❤️", sender);
      assert.deepEqual(entry.botReactions, []);
      await client.sendReaction({ id: String(GROUP) }, String(target), "🦜", sender);
      const fallback = tg.server().sent(GROUP).at(-1)!;
      assert.equal(fallback.plain, "Alice reacted with 🦜");
      assert.equal(fallback.reply_to_message_id, target);
      await client.setTyping({ id: String(GROUP) }, true);
      await client.setTyping({ id: String(GROUP) }, false);
      const actions = tg.server().calls.filter((c) => c.method === "sendChatAction");
      assert.equal(actions.length, 1);
      assert.equal(actions[0]!.params.action, "typing");
    });

    it("kicks only with moderation on", async () => {
      const off = await start(harness(tg.server()));
      await assert.rejects(
        off.kick({ id: String(GROUP) }, { id: String(BOB) }),
        /moderation is off .*platforms\.telegram\.moderation: true/,
      );
      assert.equal(tg.server().calls.filter((c) => c.method === "banChatMember").length, 0);
      tg.server().injectMember({ chat: GROUP, user: BOB, change: "join" });
      const on = await start(harness(tg.server(), { moderation: true }));
      await on.kick({ id: String(GROUP) }, { id: String(BOB) });
      const chat = tg.server().world.chat(GROUP);
      assert.equal(tg.server().world.member(chat, BOB), "left"); // removed, not banned
      const unban = await tg.server().waitFor((c) => c.method === "unbanChatMember");
      assert.equal(unban.params.only_if_banned, true);
      await on.ban({ id: String(GROUP) }, { id: String(BOB) });
      assert.equal(tg.server().world.member(chat, BOB), "kicked");
    });

    it("maps 429 to status and retryAfterMs, and recovers a poll after it", async () => {
      const h = harness(tg.server());
      const client = await start(h);
      tg.server().failNext("sendMessage", { error_code: 429, retry_after: 7 });
      await assert.rejects(client.sendMessage({ id: String(GROUP) }, outbound("x")), (err: unknown) => {
        const e = err as Error & { status?: number; retryAfterMs?: number };
        assert.equal(e.status, 429);
        assert.equal(e.retryAfterMs, 7000);
        assert.match(e.message, /Too Many Requests: retry after 7/);
        return true;
      });
      tg.server().failNext("getUpdates", { error_code: 502, description: "Bad Gateway", count: 2 });
      const id = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "after faults" });
      await until(() => h.events.length === 1, 5000, "event after faults");
      assert.equal(ofKind(h, "message")[0]!.id, String(id));
      assert.ok(h.states.includes(ConnectionState.TransientDisconnect));
      assert.equal(h.states.at(-1), ConnectionState.Connected);
    });
  });

  describe("the chat a person names for link", () => {
    it("looks a public group up by @name (any case) and takes ids and links as they are", async () => {
      tg.server().addChat({
        id: -1001900000077,
        type: "supergroup",
        title: "Public",
        username: "PublicFolk",
      });
      const client = await start(harness(tg.server()));
      assert.equal(await client.resolveChatId("@publicfolk"), "-1001900000077");
      assert.equal(await client.resolveChatId("https://t.me/PublicFolk/12"), "-1001900000077");
      assert.equal(await client.resolveChatId(" https://t.me/c/1900000077/5 "), "-1001900000077");
      const asked = tg
        .server()
        .calls.filter((c) => c.method === "getChat")
        .map((c) => c.params.chat_id);
      assert.deepEqual(asked, ["@publicfolk", "@publicfolk"], "ids and private links need no lookup");
      await assert.rejects(client.resolveChatId("@nobody_here"), (err: Error & { userMessage?: string }) =>
        /knows no public group or channel @nobody_here.*give the chat's id/.test(err.userMessage ?? ""),
      );
    });
  });
});
