import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const GROUP = -1001234567;
const UMA = 501;
const UGO = 502;
const tgGhost = (id: number) => `@_telegram_${id}:localhost`;
const isText = (body: string) => (e: MatrixEvent) => e.type === "m.room.message" && e.content.body === body;

describe("Telegram bridge end to end (grammy ↔ Bot API stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let tg: TelegramServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  let first: number;

  before(async () => {
    // As on Telegram, the token starts with the bot's user id.
    const botId = randomInt(100000, 999999);
    tg = await TelegramServer.start({
      token: `${botId}:${randomBytes(24).toString("base64url")}`,
      botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "clawbridge_e2e_bot" },
    });
    tg.addChat({ id: GROUP, type: "supergroup", title: "TG group", description: "A Telegram supergroup" });
    tg.addUser({ id: UMA, first_name: "Uma", last_name: "Gram" });
    tg.addUser({ id: UGO, first_name: "Ugo" });
    core = await startCoreRig({
      platforms: {
        telegram: {
          enabled: true,
          bot_token: tg.token,
          owner: "@alice:localhost",
          api_root: tg.url,
          poll_timeout_seconds: 1,
          backoff_initial_ms: 50,
          backoff_max_ms: 500,
          moderation: true,
        },
      },
    });
    alice = await user("alice");
  });
  after(async () => {
    await core?.stop();
    await tg?.close();
  });

  it("creates the portal with the chat's title and description; entities arrive as HTML from a named ghost", async () => {
    first = tg.injectMessage({
      chat: GROUP,
      from: UMA,
      text: "hello bold world",
      entities: [{ type: "bold", offset: 6, length: 4 }],
    });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    const msg = await alice.waitFor((e) => e.room_id === room && isText("hello bold world")(e));
    assert.equal(msg.sender, tgGhost(UMA));
    assert.equal(msg.content.formatted_body, "hello <strong>bold</strong> world");
    assert.equal((await alice.getState(room, "m.room.member", tgGhost(UMA))).displayname, "Uma Gram");
    assert.equal((await alice.getState(room, "m.room.name")).name, "TG group");
    assert.equal((await alice.getState(room, "m.room.topic")).topic, "A Telegram supergroup");
  });

  it("relays a formatted Matrix reply with the sender's name, as a Telegram reply in HTML", async () => {
    const original = (await alice.waitFor((e) => e.room_id === room && isText("hello bold world")(e)))
      .event_id!;
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.text",
      body: "yes *really*",
      format: "org.matrix.custom.html",
      formatted_body: "yes <em>really</em>",
      "m.relates_to": { "m.in_reply_to": { event_id: original } },
    });
    const call = await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("really"),
    );
    assert.equal(call.params.parse_mode, "HTML");
    assert.equal(call.params.text, "<b>alice</b>: yes <i>really</i>");
    const reply = call.params.reply_parameters as { message_id: number } | string;
    const replyTo = typeof reply === "string" ? (JSON.parse(reply) as { message_id: number }) : reply;
    assert.equal(Number(replyTo.message_id), first);
  });

  it("maps edits both ways", async () => {
    tg.injectEdit({ chat: GROUP, message_id: first, text: "hello edited world" });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        (e.content["m.new_content"] as { body?: string } | undefined)?.body === "hello edited world",
    );
    const mine = await alice.sendText(room, "matrix typo");
    const sent = await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("matrix typo"),
    );
    await alice.edit(room, mine, "matrix fixed");
    const edit = await tg.waitFor((c) => c.method === "editMessageText");
    assert.equal(Number(edit.params.message_id), (sent.result as { message_id: number }).message_id);
    assert.match(String(edit.params.text), /matrix fixed/);
  });

  it("maps reactions both ways", async () => {
    const target = (await alice.waitFor((e) => e.room_id === room && isText("hello bold world")(e)))
      .event_id!;
    tg.injectReaction({ chat: GROUP, user: UGO, message_id: first, old: [], new: ["👍"] });
    const r = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.reaction" && e.sender === tgGhost(UGO),
    );
    assert.deepEqual(r.content["m.relates_to"], { rel_type: "m.annotation", event_id: target, key: "👍" });
    tg.injectReaction({ chat: GROUP, user: UGO, message_id: first, old: ["👍"], new: [] });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === r.event_id,
    );
    await alice.react(room, target, "❤️");
    const set = await tg.waitFor((c) => c.method === "setMessageReaction");
    assert.equal(Number(set.params.message_id), first);
    assert.match(JSON.stringify(set.params.reaction), /❤/);
  });

  it("deletes on Telegram when a Matrix moderator redacts a ghost's message", async () => {
    const id = tg.injectMessage({ chat: GROUP, from: UGO, text: "spam spam" });
    const ev = await alice.waitFor((e) => e.room_id === room && isText("spam spam")(e));
    await alice.redact(room, ev.event_id!);
    const del = await tg.waitFor((c) => c.method === "deleteMessage");
    assert.equal(Number(del.params.message_id), id);
  });

  it("brings photos over byte for byte in both directions", async () => {
    const bytes = randomBytes(4096);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      caption: "a photo",
      photo: { data: bytes, mimetype: "image/jpeg" },
    });
    const img = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.image");
    const url = String(img.content.url);
    const [server, id] = url.slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);

    const upload = randomBytes(2048);
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=pic.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: upload,
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "pic.png",
      url: content_uri,
      info: { mimetype: "image/png", size: upload.length },
    });
    await tg.waitFor((c) => c.method === "sendPhoto");
    const sent = tg.sent(GROUP).find((m) => m.method === "sendPhoto");
    assert.ok(sent?.upload, "the photo was uploaded to Telegram");
    assert.deepEqual(sent.upload.data, upload);
  });

  it("brings documents and voice notes over, and replaces a file over 20 MB with a notice", async () => {
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      document: { data: randomBytes(1000), name: "report.pdf", mimetype: "application/pdf" },
    });
    const doc = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.file");
    assert.equal(doc.content.body, "report.pdf");
    tg.injectMessage({ chat: GROUP, from: UMA, voice: { data: randomBytes(500), mimetype: "audio/ogg" } });
    await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.audio");
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      caption: "the big one",
      document: { size: 25 * 1024 * 1024, name: "huge.iso", mimetype: "application/octet-stream" },
    });
    await alice.waitFor((e) => e.room_id === room && isText("the big one")(e));
    const notice = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.notice" && e.sender === tgGhost(UMA),
    );
    assert.match(String(notice.content.body), /huge\.iso could not be bridged: .*20 MB/);
  });

  it("shows Matrix typing on Telegram and mirrors a kick of a ghost as a ban+unban", async () => {
    await alice.setTyping(room, true);
    const action = await tg.waitFor((c) => c.method === "sendChatAction");
    assert.equal(action.params.action, "typing");
    await alice.setTyping(room, false);
    await alice.kick(room, tgGhost(UGO), "off-topic");
    const ban = await tg.waitFor((c) => c.method === "banChatMember");
    assert.equal(Number(ban.params.user_id), UGO);
    await tg.waitFor((c) => c.method === "unbanChatMember");
  });

  it("links an existing Matrix room to a Telegram chat by command", async () => {
    const OTHER = -1009876543;
    tg.addChat({ id: OTHER, type: "group", title: "Second TG group" });
    const linked = await alice.createRoom({ name: "Existing", invite: ["@clawbridge:localhost"] });
    await alice.waitFor(
      (e) =>
        e.room_id === linked &&
        e.type === "m.room.member" &&
        e.state_key === "@clawbridge:localhost" &&
        e.content.membership === "join",
    );
    await alice.sendText(linked, `!cb link telegram ${OTHER}`);
    await alice.waitFor(
      (e) => e.room_id === linked && String(e.content.body).startsWith("Linked this room to telegram"),
    );
    tg.injectMessage({ chat: OTHER, from: UMA, text: "into the linked room" });
    const m = await alice.waitFor((e) => e.room_id === linked && isText("into the linked room")(e));
    assert.equal(m.sender, tgGhost(UMA));
    await alice.sendText(linked, "back to telegram");
    const call = await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("back to telegram"),
      20_000,
    );
    assert.equal(Number(call.params.chat_id), OTHER);
  });

  it("gives ghosts the Telegram profile photo", async () => {
    const photo = randomBytes(3000);
    tg.addUser({ id: 503, first_name: "Pia", photos: [photo] });
    tg.injectMessage({ chat: GROUP, from: 503, text: "I have a face" });
    await alice.waitFor((e) => e.room_id === room && isText("I have a face")(e));
    const profile = await alice.profile(tgGhost(503));
    assert.equal(profile.displayname, "Pia");
    const [server, id] = String(profile.avatar_url).slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), photo);
  });

  it("bridges each forum topic into a room of its own", async () => {
    const FORUM = -1005550001;
    tg.addChat({ id: FORUM, type: "supergroup", title: "Forum", is_forum: true });
    tg.injectMessage({ chat: FORUM, from: UMA, text: "in topic seven", message_thread_id: 7 });
    const topicRoom = await portalRoomFor(alice, `${FORUM}/7`, "telegram");
    await alice.waitFor((e) => e.room_id === topicRoom && isText("in topic seven")(e));
    await alice.sendText(topicRoom, "answer in the topic");
    const call = await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("answer in the topic"),
    );
    assert.equal(Number(call.params.chat_id), FORUM);
    assert.equal(Number(call.params.message_thread_id), 7);
  });

  it("renames the Telegram chat and changes its description and photo when the room's change", async () => {
    await alice.sendState(room, "m.room.name", "", { name: "Renamed from Matrix" });
    const title = await tg.waitFor((c) => c.method === "setChatTitle");
    assert.equal(title.params.title, "Renamed from Matrix");
    assert.equal(Number(title.params.chat_id), GROUP);
    await alice.sendState(room, "m.room.topic", "", { topic: "New description" });
    const desc = await tg.waitFor((c) => c.method === "setChatDescription");
    assert.equal(desc.params.description, "New description");
    const picture = randomBytes(1500);
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=room.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: picture,
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendState(room, "m.room.avatar", "", { url: content_uri });
    await tg.waitFor((c) => c.method === "setChatPhoto");
    assert.deepEqual(tg.world.chat(GROUP).spec.photo, picture);
  });

  it("keeps order when Telegram answers 429 retry_after to a burst of 100 Matrix messages", async () => {
    tg.failNext("sendMessage", { error_code: 429, retry_after: 1, count: 3 });
    const texts = Array.from({ length: 100 }, (_, i) => `burst ${String(i).padStart(3, "0")}`);
    for (const t of texts) await alice.sendText(room, t);
    await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("burst 099") && !c.error,
      60_000,
    );
    const delivered = tg
      .sent(GROUP)
      .map((m) => /burst \d{3}/.exec(m.text ?? "")?.[0])
      .filter((t): t is string => !!t);
    assert.deepEqual(delivered, texts);
  });

  it("delivers updates that were not acknowledged before a SIGKILL exactly once after restart", async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `tg-kill ${String(i).padStart(2, "0")}`);
    for (const text of texts) tg.injectMessage({ chat: GROUP, from: UMA, text });
    await alice.waitFor((e) => e.room_id === room && isText("tg-kill 05")(e));
    await core.restart("SIGKILL");
    await alice.waitFor((e) => e.room_id === room && isText("tg-kill 39")(e), { timeoutMs: 60_000 });
    tg.injectMessage({ chat: GROUP, from: UMA, text: "tg barrier" });
    await alice.waitFor((e) => e.room_id === room && isText("tg barrier")(e));
    const got = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("tg-kill"))
      .map((e) => String(e.content.body));
    assert.deepEqual(got, texts);
  });

  it("answers ping with the Telegram login's state and logs no token", async () => {
    const dm = await alice.createDm("@clawbridge:localhost");
    await alice.waitFor((e) => e.room_id === dm && e.sender === "@clawbridge:localhost");
    await alice.sendText(dm, "ping");
    const pong = await alice.waitFor(
      (e) => e.room_id === dm && String(e.content.body).includes("homeserver: ok"),
    );
    assert.match(String(pong.content.body), /telegram \(yours\): CONNECTED/);
    assert.ok(!core.bridge.output().includes(tg.token.split(":")[1]));
  });

  it("logs a bot out and back in by token from the management room, refusing bad tokens", async () => {
    const dm = await alice.createDm("@clawbridge:localhost");
    await alice.waitFor((e) => e.room_id === dm && e.sender === "@clawbridge:localhost");
    const says = (text: string) =>
      alice.waitFor(
        (e) =>
          e.room_id === dm && e.sender === "@clawbridge:localhost" && String(e.content.body).includes(text),
      );
    await alice.sendText(dm, "logout telegram");
    await says("Logged out of telegram");
    await alice.sendText(dm, "ping");
    const pong = await says("homeserver: ok");
    assert.doesNotMatch(String(pong.content.body), /telegram/);

    const wrong = `${randomInt(100000, 999999)}:${randomBytes(24).toString("base64url")}`;
    const bad = await alice.sendText(dm, `login telegram ${wrong}`);
    await says("telegram refused the token: the token is not valid");
    await alice.waitFor((e) => e.room_id === dm && e.type === "m.room.redaction" && e.redacts === bad);

    await alice.sendText(dm, `login telegram ${tg.token}`);
    await says(`Logged in to telegram as ${tg.token.split(":")[0]}`);
    tg.injectMessage({ chat: GROUP, from: UMA, text: "after the new login" });
    await alice.waitFor((e) => e.room_id === room && isText("after the new login")(e));
    await alice.sendText(dm, "ping");
    await says("telegram (yours): CONNECTED");
    assert.ok(!core.bridge.output().includes(wrong.split(":")[1]), "the refused token is not logged");
  });
});
