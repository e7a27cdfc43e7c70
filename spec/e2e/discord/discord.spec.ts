import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { emojiImage } from "../../standins/discord/DiscordWorld";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { BOT, type CoreRig, portalRoomFor, startCoreRig, user } from "../core/coreRig";
import { outboundBurstAcrossKill } from "../core/outboundKill";

const dcGhost = (id: string) => `@_discord_${id}:localhost`;
const isText = (body: string) => (e: MatrixEvent) => e.type === "m.room.message" && e.content.body === body;
const relation = (e: MatrixEvent) => (e.content["m.relates_to"] ?? {}) as Record<string, unknown>;

async function upload(core: CoreRig, alice: MatrixTestClient, data: Buffer, type: string): Promise<string> {
  const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=f`, {
    method: "POST",
    headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": type },
    body: data,
  });
  return ((await up.json()) as { content_uri: string }).content_uri;
}

async function download(core: CoreRig, alice: MatrixTestClient, mxc: string): Promise<Buffer> {
  const [server, id] = mxc.slice("mxc://".length).split("/");
  const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
    headers: { Authorization: `Bearer ${alice.accessToken}` },
  });
  return Buffer.from(await res.arrayBuffer());
}

describe("Discord bridge end to end (discord.js ↔ Discord stand-in, real Synapse)", function () {
  this.timeout(180_000);
  let dc: DiscordServer;
  let ids: WorldIds;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  let first: string;
  let avatarMxc: string;
  let randomRoom: string;

  const webhookExecs = () => dc.sent("POST", /^\/webhooks\/\d+\/[^/]+$/);
  const lastExecOk = (text: string, timeoutMs: number) =>
    dc.waitFor(
      (c) =>
        c.method === "POST" &&
        /^\/webhooks\//.test(c.path) &&
        c.status === 200 &&
        String(c.body.json.content).includes(text),
      timeoutMs,
    );
  const lastExec = (text: string) =>
    dc.waitFor(
      (c) =>
        c.method === "POST" && /^\/webhooks\//.test(c.path) && String(c.body.json.content).includes(text),
      30_000,
    );

  /** Gives alice the name "Alice Matrix" and the test avatar in one room only. */
  async function roomProfile(roomId: string): Promise<void> {
    await alice.sendState(roomId, "m.room.member", alice.userId, {
      membership: "join",
      displayname: "Alice Matrix",
      avatar_url: avatarMxc,
    });
    await alice.waitFor(
      (e) =>
        e.room_id === roomId &&
        e.type === "m.room.member" &&
        e.state_key === alice.userId &&
        e.content.displayname === "Alice Matrix",
    );
  }

  before(async () => {
    ({ server: dc, ids } = await startWorld());
    core = await startCoreRig({
      platforms: {
        discord: discordSection(dc, [ids.guild], { moderation: true, max_upload_bytes: 200_000 }),
      },
    });
    alice = await user("alice");
    avatarMxc = await upload(core, alice, randomBytes(500), "image/png");
    // Events dispatched before the bridge's gateway session is up would be lost (there is no
    // last id to catch up from yet): wait for READY and GUILD_CREATE to have gone out.
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
  });
  after(async () => {
    if (process.env.DISCORD_E2E_LOG) writeFileSync(process.env.DISCORD_E2E_LOG, core?.bridge.output() ?? "");
    await core?.stop();
    await dc?.close();
  });

  it("creates the channel's portal with name and topic; markdown arrives as HTML from a ghost with the guild nickname", async () => {
    first = String(dc.postMessage(ids.general, ids.alice, "hello **bold** and ||secret||").id);
    room = await portalRoomFor(alice, ids.general, "discord");
    const msg = await alice.waitFor((e) => e.room_id === room && e.type === "m.room.message");
    assert.equal(msg.sender, dcGhost(ids.alice));
    assert.equal(msg.content.body, "hello bold and secret");
    assert.equal(
      msg.content.formatted_body,
      "hello <strong>bold</strong> and <span data-mx-spoiler>secret</span>",
    );
    assert.equal(
      (await alice.getState(room, "m.room.member", dcGhost(ids.alice))).displayname,
      "Ally (Discord)",
    );
    assert.equal((await alice.getState(room, "m.room.name")).name, "general");
    assert.equal((await alice.getState(room, "m.room.topic")).topic, "all things");
  });

  it("puts the guild's channel rooms into a Matrix space named after the guild", async () => {
    const link = await alice.waitFor((e) => e.room_id === room && e.type === "m.space.parent");
    assert.ok(link.state_key, "the portal names its space");
    const invite = await alice.waitForInvite((i) => i.roomId === link.state_key!);
    await alice.join(invite.roomId);
    assert.equal((await alice.getState(link.state_key!, "m.room.name")).name, "The Guild");
    assert.equal((await alice.getState(link.state_key!, "m.room.create")).type, "m.space");
    assert.deepEqual((await alice.getState(link.state_key!, "m.space.child", room)).via, ["localhost"]);
    // The login's personal space holds the guild's space (its parent), not its rooms one by one.
    const state = await alice.request<Array<{ type: string; state_key: string }>>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(link.state_key!)}/state`,
    );
    const personal = state.find((e) => e.type === "m.space.parent")?.state_key;
    assert.ok(personal, "the guild's space names the login's space as its parent");
    await alice.waitForInvite((i) => i.roomId === personal, 30_000);
    await alice.join(personal);
    assert.equal((await alice.getState(personal, "m.room.create")).type, "m.space");
    assert.deepEqual((await alice.getState(personal, "m.space.child", link.state_key!)).via, ["localhost"]);
    await assert.rejects(alice.getState(personal, "m.space.child", room), /404|M_NOT_FOUND/);
  });

  it("relays Matrix messages through one channel webhook with the sender's display name and avatar", async () => {
    // The name and avatar alice has in this room (her global profile is shared with other suites).
    await roomProfile(room);
    await alice.sendText(room, "from matrix one");
    await alice.sendText(room, "from matrix two");
    await lastExec("from matrix two");
    const execs = webhookExecs().filter((c) => String(c.body.json.content).startsWith("from matrix"));
    assert.equal(execs.length, 2);
    for (const c of execs) {
      assert.equal(c.body.json.username, "Alice Matrix");
      const [server, id] = avatarMxc.slice("mxc://".length).split("/");
      assert.equal(
        c.body.json.avatar_url,
        `${core.rig.synapse.url}/_matrix/media/v3/download/${server}/${id}`,
      );
    }
    assert.equal(dc.sent("POST", /^\/channels\/\d+\/webhooks$/).length, 1, "one webhook, reused");
    // The webhook's own messages come back on the gateway: none may reach Matrix again.
    dc.postMessage(ids.general, ids.bob, "barrier one");
    await alice.waitFor((e) => e.room_id === room && isText("barrier one")(e));
    const echoes = alice
      .eventsIn(room)
      .filter((e) => e.sender !== alice.userId && String(e.content.body).startsWith("from matrix"));
    assert.equal(echoes.length, 0);
  });

  it("converts mentions to pills and back, channel mentions to room links, roles to text and custom emoji to inline images", async () => {
    dc.postMessage(
      ids.general,
      ids.bob,
      `hi <@${ids.alice}> see <#${ids.random}> <@&${ids.role}> <:blob:${ids.emoji}>`,
    );
    const m = await alice.waitFor(
      (e) => e.room_id === room && e.sender === dcGhost(ids.bob) && String(e.content.body).startsWith("hi "),
    );
    assert.equal(m.content.body, "hi Ally see #random @mods :blob:");
    const html = String(m.content.formatted_body);
    const img = /<img data-mx-emoticon height="32" src="(mxc:\/\/[^"]+)" alt=":blob:" title=":blob:">$/.exec(
      html,
    );
    assert.ok(img, html);
    assert.equal(
      html.slice(0, img.index),
      `hi <a href="https://matrix.to/#/${encodeURIComponent(dcGhost(ids.alice))}">Ally</a> see <a href="https://matrix.to/#/${encodeURIComponent(`#_discord_${ids.random}:localhost`)}">#random</a> @mods `,
    );
    assert.ok(
      (await download(core, alice, img[1]!)).equals(emojiImage(ids.emoji)),
      "the emoji's picture from the CDN",
    );
    await alice.sendText(room, "Ally: ping", {
      format: "org.matrix.custom.html",
      formatted_body: `<a href="https://matrix.to/#/${dcGhost(ids.alice)}">Ally</a>: <b>ping</b> <code>x*y</code>`,
    });
    const c = await lastExec("ping");
    assert.equal(c.body.json.content, `<@${ids.alice}>: **ping** \`x*y\``);
    assert.deepEqual((c.body.json.allowed_mentions as { users: string[] }).users, [ids.alice]);
  });

  it("maps replies, edits and deletes both ways", async () => {
    const original = (
      await alice.waitFor((e) => e.room_id === room && e.content.body === "hello bold and secret")
    ).event_id!;
    dc.postMessage(ids.general, ids.bob, "a discord reply", {
      message_reference: { message_id: first, channel_id: ids.general },
      type: 19,
    });
    const reply = await alice.waitFor((e) => e.room_id === room && isText("a discord reply")(e));
    assert.deepEqual(relation(reply)["m.in_reply_to"], { event_id: original });

    await alice.reply(room, original, "a matrix reply");
    const quoted = await lastExec("a matrix reply");
    assert.match(
      String(quoted.body.json.content),
      /^> \*\*Ally\*\*: hello \*\*bold\*\* and \|\|secret\|\| \(\[↩\]\(<https:\/\/discord\.com\/channels\/\d+\/\d+\/\d+>\)\)\na matrix reply$/,
    );

    dc.editMessage(ids.general, first, "hello edited");
    await alice.waitFor(
      (e) => e.room_id === room && (e.content["m.new_content"] as { body?: string })?.body === "hello edited",
    );

    const mine = await alice.sendText(room, "matrix typo");
    const sent = await lastExec("matrix typo");
    await alice.edit(room, mine, "matrix fixed");
    const edit = await dc.waitFor(
      (c) => c.method === "PATCH" && /^\/webhooks\/\d+\/[^/]+\/messages\//.test(c.path),
    );
    assert.equal(edit.path.split("/").pop(), (sent.response as { id: string }).id);
    assert.equal(edit.body.json.content, "matrix fixed");

    const doomed = String(dc.postMessage(ids.general, ids.bob, "delete me").id);
    const ev = await alice.waitFor((e) => e.room_id === room && isText("delete me")(e));
    dc.deleteMessage(ids.general, doomed);
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === ev.event_id,
    );

    // A Discord moderator deletes a relayed Matrix message: the bot redacts it in Matrix.
    const relayed = await alice.sendText(room, "moderated on discord");
    const relayedCall = await lastExec("moderated on discord");
    dc.deleteMessage(ids.general, (relayedCall.response as { id: string }).id);
    const redaction = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === relayed,
    );
    assert.equal(redaction.sender, "@clawbridge:localhost");

    const mine2 = await alice.sendText(room, "matrix regret");
    const sent2 = await lastExec("matrix regret");
    await alice.redact(room, mine2);
    const del = await dc.waitFor(
      (c) => c.method === "DELETE" && c.path.endsWith(`/messages/${(sent2.response as { id: string }).id}`),
    );
    assert.equal(del.status, 204);
  });

  it("maps unicode and custom reactions both ways, including removal", async () => {
    const target = (
      await alice.waitFor((e) => e.room_id === room && e.content.body === "hello bold and secret")
    ).event_id!;
    dc.react(ids.general, first, ids.bob, "👍");
    const r = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.reaction" && e.sender === dcGhost(ids.bob),
    );
    assert.deepEqual(r.content["m.relates_to"], { rel_type: "m.annotation", event_id: target, key: "👍" });
    dc.react(ids.general, first, ids.bob, { id: ids.emoji, name: "blob" });
    // A custom emoji reacts with its picture (MSC4027): the key is its mxc URI, the name its shortcode.
    const blob = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.reaction" && String(relation(e).key).startsWith("mxc://"),
    );
    assert.equal(blob.content["com.beeper.reaction.shortcode"], ":blob:");
    assert.ok((await download(core, alice, String(relation(blob).key))).equals(emojiImage(ids.emoji)));
    // Clicking that reaction in a client reacts with the same picture: it goes out by its shortcode.
    const before = dc.sent("PUT", new RegExp(`/messages/${first}/reactions/`)).length;
    await alice.sendEvent(room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: target, key: relation(blob).key },
      "com.beeper.reaction.shortcode": ":blob:",
    });
    await until(
      () =>
        dc.sent(
          "PUT",
          new RegExp(`/messages/${first}/reactions/${encodeURIComponent(`blob:${ids.emoji}`)}/@me`),
        ).length > 0 && dc.sent("PUT", new RegExp(`/messages/${first}/reactions/`)).length > before,
      30_000,
      "the image reaction to reach Discord",
    );
    dc.react(ids.general, first, ids.bob, "👍", true);
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === r.event_id,
    );

    const heart = await alice.react(room, target, "❤️");
    await dc.waitFor(
      (c) =>
        c.method === "PUT" &&
        c.path === `/channels/${ids.general}/messages/${first}/reactions/${encodeURIComponent("❤️")}/@me`,
    );
    await alice.react(room, target, ":blob:");
    await dc.waitFor((c) => c.method === "PUT" && c.path.includes(encodeURIComponent(`blob:${ids.emoji}`)));
    await alice.redact(room, heart);
    await dc.waitFor(
      (c) => c.method === "DELETE" && c.path.includes(`/reactions/${encodeURIComponent("❤️")}/@me`),
    );
  });

  it("brings attachments over byte for byte both ways, and refuses a file over the size limit with a notice", async () => {
    const bytes = randomBytes(4096);
    dc.postMessage(ids.general, ids.alice, "a picture", {
      files: [{ name: "pic.png", data: bytes, contentType: "image/png" }],
    });
    const img = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.image");
    assert.deepEqual(await download(core, alice, String(img.content.url)), bytes);

    const out = randomBytes(3000);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.file",
      body: "notes.bin",
      url: await upload(core, alice, out, "application/octet-stream"),
      info: { mimetype: "application/octet-stream", size: out.length },
    });
    const call = await dc.waitFor((c) => /^\/webhooks\//.test(c.path) && c.body.files.length > 0);
    assert.equal(call.body.files[0].name, "notes.bin");
    assert.ok(call.body.files[0].data.equals(out));

    dc.postMessage(ids.general, ids.alice, "", {
      files: [
        { name: "voice-message.ogg", data: randomBytes(700), contentType: "audio/ogg" },
        { name: "clip.mp4", data: randomBytes(900), contentType: "video/mp4" },
      ],
      flags: 8192,
    });
    await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.audio" && e.content.body === "voice-message.ogg",
    );
    await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.video" && e.content.body === "clip.mp4",
    );
    const voice = randomBytes(800);
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.audio",
      body: "note.ogg",
      url: await upload(core, alice, voice, "audio/ogg"),
      info: { mimetype: "audio/ogg", size: voice.length, duration: 2000 },
    });
    const audio = await dc.waitFor(
      (c) => /^\/webhooks\//.test(c.path) && c.body.files[0]?.name === "note.ogg",
    );
    assert.ok(audio.body.files[0].data.equals(voice));

    const big = randomBytes(300_000);
    const bigEvent = await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.file",
      body: "big.bin",
      url: await upload(core, alice, big, "application/octet-stream"),
      info: { size: big.length },
    });
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.content.msgtype === "m.notice" &&
        (relation(e)["m.in_reply_to"] as { event_id?: string })?.event_id === bigEvent,
      { timeoutMs: 60_000 },
    );
    assert.match(String(notice.content.body), /big\.bin is 0\.3 MB, over Discord's 0\.2 MB upload limit/);
  });

  it("turns embeds into text and stickers into images", async () => {
    dc.world.putFile(`/cdn/stickers/${ids.emoji}`, { data: randomBytes(900), contentType: "image/png" });
    dc.postMessage(ids.general, ids.bob, "", {
      embeds: [{ type: "rich", title: "Release", url: "https://example.org/r", description: "v2 is out" }],
    });
    const embed = await alice.waitFor(
      (e) => e.room_id === room && String(e.content.body).includes("Release"),
    );
    assert.equal(embed.content.body, "> Release (https://example.org/r)\n> v2 is out");
    dc.postMessage(ids.general, ids.bob, "", {
      sticker_items: [{ id: ids.emoji, name: "wave", format_type: 1 }],
    });
    const sticker = await alice.waitFor(
      (e) => e.room_id === room && e.content.msgtype === "m.image" && e.content.body === "wave.png",
    );
    assert.ok(sticker.content.url);
  });

  it("shows typing both ways", async () => {
    dc.typing(ids.general, ids.bob);
    await alice.waitForEphemeral(
      (e) =>
        e.room_id === room &&
        e.type === "m.typing" &&
        (e.content.user_ids as string[]).includes(dcGhost(ids.bob)),
    );
    await alice.setTyping(room, true);
    await dc.waitFor((c) => c.method === "POST" && c.path === `/channels/${ids.general}/typing`);
    await alice.setTyping(room, false);
  });

  it("puts Discord thread messages into the Matrix thread of their starter message, and back", async () => {
    const starter = String(dc.postMessage(ids.general, ids.alice, "thread starter").id);
    const root = await alice.waitFor((e) => e.room_id === room && isText("thread starter")(e));
    const thread = dc.createThread(ids.general, "a thread", starter);
    dc.postMessage(thread, ids.bob, "inside the thread");
    const inThread = await alice.waitFor((e) => e.room_id === room && isText("inside the thread")(e));
    assert.equal(relation(inThread).rel_type, "m.thread");
    assert.equal(relation(inThread).event_id, root.event_id);

    await alice.sendText(room, "matrix in thread", {
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: root.event_id,
        is_falling_back: true,
        "m.in_reply_to": { event_id: inThread.event_id },
      },
    });
    const c = await lastExec("matrix in thread");
    assert.equal(c.query.get("thread_id"), thread);
    assert.ok(dc.world.history.get(thread)?.some((m) => m.data.content === "matrix in thread"));

    // Edits inside the thread, both ways.
    const mineInThread = (await alice.waitFor((e) => e.room_id === room && isText("matrix in thread")(e)))
      .event_id!;
    await alice.edit(room, mineInThread, "matrix in thread, edited");
    const patch = await dc.waitFor(
      (x) => x.method === "PATCH" && x.path.endsWith(`/messages/${(c.response as { id: string }).id}`),
    );
    assert.equal(patch.query.get("thread_id"), thread);
    const theirs = dc.world.history.get(thread)!.find((m) => m.data.content === "inside the thread")!;
    dc.editMessage(thread, String(theirs.data.id), "inside the thread, edited");
    const edited = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        (e.content["m.new_content"] as { body?: string })?.body === "inside the thread, edited",
    );
    assert.equal(relation(edited).event_id, inThread.event_id);
  });

  it("starts a Discord thread when a Matrix user opens one, and roots standalone Discord threads", async () => {
    const rootId = String(dc.postMessage(ids.general, ids.alice, "root for matrix").id);
    const root = await alice.waitFor((e) => e.room_id === room && isText("root for matrix")(e));
    await alice.sendText(room, "opening a thread", {
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: root.event_id,
        is_falling_back: true,
        "m.in_reply_to": { event_id: root.event_id },
      },
    });
    const started = await dc.waitFor(
      (c) => c.method === "POST" && c.path === `/channels/${ids.general}/messages/${rootId}/threads`,
    );
    assert.equal(started.body.json.name, "root for matrix");
    const c = await lastExec("opening a thread");
    assert.equal(c.query.get("thread_id"), rootId);

    const standalone = dc.createThread(ids.general, "standalone talk");
    const header = await alice.waitFor((e) => e.room_id === room && e.content.body === "🧵 standalone talk");
    dc.postMessage(standalone, ids.bob, "in the standalone thread");
    const inside = await alice.waitFor((e) => e.room_id === room && isText("in the standalone thread")(e));
    assert.equal(relation(inside).rel_type, "m.thread");
    assert.equal(relation(inside).event_id, header.event_id);
  });

  it("gives ghosts their per-guild avatar", async () => {
    const face = randomBytes(1200);
    dc.setAvatar(ids.bob, face, ids.guild);
    dc.addUser({ id: "1300000000000000001", username: "dora", global_name: "Dora" });
    dc.world.guilds
      .get(ids.guild)
      ?.members?.push({ user: "1300000000000000001", nick: "Dora the guild one" });
    const own = randomBytes(1100);
    dc.setAvatar("1300000000000000001", own, ids.guild);
    dc.postMessage(ids.general, "1300000000000000001", "I have a face");
    await alice.waitFor((e) => e.room_id === room && isText("I have a face")(e));
    const profile = await alice.profile(dcGhost("1300000000000000001"));
    assert.equal(profile.displayname, "Dora the guild one (Discord)");
    assert.deepEqual(await download(core, alice, String(profile.avatar_url)), own);
  });

  it("falls back to prefixed bot messages with one notice when webhooks are refused", async () => {
    dc.world.noWebhooks.add(ids.random);
    dc.postMessage(ids.random, ids.bob, "in random");
    randomRoom = await portalRoomFor(alice, ids.random, "discord");
    await roomProfile(randomRoom);
    await alice.waitFor((e) => e.room_id === randomRoom && isText("in random")(e));
    await alice.sendText(randomRoom, "no hook 1");
    await alice.sendText(randomRoom, "no hook 2");
    await dc.waitFor(
      (c) =>
        c.method === "POST" &&
        c.path === `/channels/${ids.random}/messages` &&
        String(c.body.json.content).includes("no hook 2"),
    );
    const posts = dc
      .sent("POST", new RegExp(`^/channels/${ids.random}/messages$`))
      .map((c) => c.body.json.content);
    assert.deepEqual(posts, ["**Alice Matrix**: no hook 1", "**Alice Matrix**: no hook 2"]);
    const notices = await alice.waitFor((e) => e.room_id === randomRoom && e.content.msgtype === "m.notice");
    assert.match(String(notices.content.body), /Manage Webhooks/);
    dc.postMessage(ids.random, ids.bob, "random barrier");
    await alice.waitFor((e) => e.room_id === randomRoom && isText("random barrier")(e));
    assert.equal(alice.eventsIn(randomRoom).filter((e) => e.content.msgtype === "m.notice").length, 1);
    assert.equal(
      alice.eventsIn(randomRoom).filter((e) => String(e.content.body).includes("no hook")).length,
      2,
      "bot echoes not bridged",
    );
  });

  it("catches up on 20 messages posted while the gateway was down, in order and once", async () => {
    dc.holdGateway(true);
    dc.dropGateway({ resumable: false });
    const texts = Array.from({ length: 20 }, (_, i) => `missed ${String(i).padStart(2, "0")}`);
    for (const t of texts) dc.postMessage(ids.general, ids.bob, t);
    dc.holdGateway(false);
    await alice.waitFor((e) => e.room_id === room && isText("missed 19")(e), { timeoutMs: 90_000 });
    dc.postMessage(ids.general, ids.bob, "after catch-up");
    await alice.waitFor((e) => e.room_id === room && isText("after catch-up")(e), { timeoutMs: 30_000 });
    const got = alice
      .eventsIn(room)
      .map((e) => String(e.content.body))
      .filter((b) => b.startsWith("missed "));
    assert.deepEqual(got, texts);
  });

  it("resumes a dropped gateway session and gets the events Discord replays, once", async () => {
    dc.dropGateway();
    const texts = Array.from({ length: 5 }, (_, i) => `replayed ${i}`);
    for (const t of texts) dc.postMessage(ids.general, ids.bob, t);
    await alice.waitFor((e) => e.room_id === room && isText("replayed 4")(e), { timeoutMs: 60_000 });
    dc.postMessage(ids.general, ids.bob, "replay barrier");
    await alice.waitFor((e) => e.room_id === room && isText("replay barrier")(e), { timeoutMs: 30_000 });
    const got = alice
      .eventsIn(room)
      .map((e) => String(e.content.body))
      .filter((b) => b.startsWith("replayed "));
    assert.deepEqual(got, texts);
    assert.ok(dc.gatewayOps.some((o) => o.op === 6));
  });

  it("delivers messages posted while the bridge was stopped after its restart, once", async () => {
    await core.bridge.stop();
    const texts = Array.from({ length: 5 }, (_, i) => `while stopped ${i}`);
    for (const t of texts) dc.postMessage(ids.general, ids.bob, t);
    await core.restart();
    await alice.waitFor((e) => e.room_id === room && isText("while stopped 4")(e), { timeoutMs: 90_000 });
    dc.postMessage(ids.general, ids.bob, "restart barrier");
    await alice.waitFor((e) => e.room_id === room && isText("restart barrier")(e), { timeoutMs: 30_000 });
    const got = alice
      .eventsIn(room)
      .map((e) => String(e.content.body))
      .filter((b) => b.startsWith("while stopped"));
    assert.deepEqual(got, texts);
  });

  it("delivers a burst cut by a SIGKILL of the bridge exactly once, in order, after restart", async () => {
    const texts = Array.from({ length: 60 }, (_, i) => `dc-kill ${String(i).padStart(2, "0")}`);
    for (const t of texts) dc.postMessage(ids.general, ids.bob, t);
    await alice.waitFor((e) => e.room_id === room && isText("dc-kill 03")(e), { timeoutMs: 30_000 });
    await core.restart("SIGKILL");
    await alice.waitFor((e) => e.room_id === room && isText("dc-kill 59")(e), { timeoutMs: 90_000 });
    dc.postMessage(ids.general, ids.bob, "kill barrier");
    await alice.waitFor((e) => e.room_id === room && isText("kill barrier")(e), { timeoutMs: 30_000 });
    const got = alice
      .eventsIn(room)
      .map((e) => String(e.content.body))
      .filter((b) => b.startsWith("dc-kill"));
    assert.deepEqual(got, texts);
  });

  it("posts 30 Matrix messages exactly once, in order, when the bridge is SIGKILLed right after Discord took one", async () => {
    // Discord takes the fifth but its answer never comes: the kill lands in that window.
    dc.holdAnswer(
      (c) => c.method === "POST" && /^\/webhooks\//.test(c.path) && c.body.json.content === "dc-out 04",
    );
    const posted = (text: string) =>
      dc.world.messagesAfter(ids.general, undefined, 100_000).some((m) => String(m.content) === text);
    const { expected, got, atKill } = await outboundBurstAcrossKill({
      alice,
      room,
      prefix: "dc-out",
      restart: (signal) => core.restart(signal),
      arrived: async (text, timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        while (!posted(text)) {
          if (Date.now() > deadline) assert.fail(`"${text}" never posted on Discord`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      held: (prefix) =>
        dc.world
          .messagesAfter(ids.general, undefined, 100_000)
          .reverse()
          .map((m) => String(m.content))
          .filter((t) => t.startsWith(prefix)),
    });
    assert.ok(atKill >= 5 && atKill < 30, `killed mid-burst (${atKill} posted)`);
    assert.deepEqual(got, expected);
    assert.match(core.bridge.output(), /message found already posted, not sent again/);
  });

  it("posts a message once when Discord answers 500 after it posted it (no blind retry of a webhook execution)", async () => {
    dc.holdAnswer(
      (c) =>
        c.method === "POST" && /^\/webhooks\//.test(c.path) && c.body.json.content === "posted, then 500",
      {
        status: 500,
      },
    );
    const lookups = () => core.bridge.output().split("message found already posted, not sent again").length;
    const before = lookups();
    await alice.sendText(room, "posted, then 500");
    await alice.sendText(room, "after the 500");
    await lastExecOk("after the 500", 30_000);
    const copies = dc.world
      .messagesAfter(ids.general, undefined, 100_000)
      .filter((m) => String(m.content) === "posted, then 500");
    assert.equal(copies.length, 1, "one copy on Discord");
    assert.equal(dc.heldCalls.filter((c) => c.body.json.content === "posted, then 500").length, 1);
    assert.equal(lookups(), before + 1, "the bridge's retry found it posted");
  });

  it("keeps order when Discord answers 429 retry_after during a burst", async () => {
    dc.failNext((c) => c.method === "POST" && /^\/webhooks\//.test(c.path), { retryAfter: 1, count: 3 });
    const texts = Array.from({ length: 20 }, (_, i) => `burst ${String(i).padStart(2, "0")}`);
    for (const t of texts) await alice.sendText(room, t);
    await lastExec("burst 19");
    const got = webhookExecs()
      .map((c) => String(c.body.json.content))
      .filter((t) => t.startsWith("burst "));
    assert.deepEqual(got, texts);
    assert.ok(dc.calls.some((c) => c.status === 429));
  });

  it("has no echo loop after 100 round trips", async () => {
    const before = webhookExecs().length;
    for (let i = 0; i < 100; i++) {
      await alice.sendText(room, `rt matrix ${i}`);
      dc.postMessage(ids.general, ids.bob, `rt discord ${i}`);
    }
    await lastExec("rt matrix 99");
    await alice.waitFor((e) => e.room_id === room && isText("rt discord 99")(e), { timeoutMs: 60_000 });
    dc.postMessage(ids.general, ids.bob, "rt barrier");
    await alice.waitFor((e) => e.room_id === room && isText("rt barrier")(e));
    await new Promise((r) => setTimeout(r, 1000));
    const execs = webhookExecs()
      .slice(before)
      .map((c) => String(c.body.json.content));
    assert.equal(execs.length, 100, "only the Matrix messages went to Discord");
    assert.ok(execs.every((t) => t.startsWith("rt matrix")));
    const inMatrix = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("rt "));
    assert.equal(inMatrix.filter((e) => String(e.content.body).startsWith("rt discord")).length, 100);
    assert.equal(
      inMatrix.filter((e) => String(e.content.body).startsWith("rt matrix")).length,
      100,
      "no webhook echo in Matrix",
    );
  });

  it("skips a malformed dispatch", async () => {
    dc.sendRaw((s) =>
      JSON.stringify({
        op: 0,
        t: "MESSAGE_CREATE",
        s,
        d: { id: "1", channel_id: ids.general, author: null },
      }),
    );
    dc.postMessage(ids.general, ids.bob, "after the malformed one");
    await alice.waitFor((e) => e.room_id === room && isText("after the malformed one")(e), {
      timeoutMs: 30_000,
    });
  });

  it("mirrors moderation: redaction deletes, kick and ban of a ghost, Discord ban and leave", async () => {
    const spam = String(dc.postMessage(ids.general, ids.bob, "spam spam").id);
    const ev = await alice.waitFor((e) => e.room_id === room && isText("spam spam")(e));
    await alice.redact(room, ev.event_id!);
    await dc.waitFor((c) => c.method === "DELETE" && c.path === `/channels/${ids.general}/messages/${spam}`);

    await alice.kick(room, dcGhost(ids.bob), "off-topic");
    await dc.waitFor((c) => c.method === "DELETE" && c.path === `/guilds/${ids.guild}/members/${ids.bob}`);

    dc.addUser({ id: "1100000000000000001", username: "carl" });
    dc.world.guilds.get(ids.guild)?.members?.push({ user: "1100000000000000001" });
    dc.postMessage(ids.general, "1100000000000000001", "carl was here");
    await alice.waitFor((e) => e.room_id === room && isText("carl was here")(e));
    await alice.ban(room, dcGhost("1100000000000000001"), "rude");
    await dc.waitFor((c) => c.method === "PUT" && c.path === `/guilds/${ids.guild}/bans/1100000000000000001`);

    // Not permitted on Discord (403): the room is told, nothing breaks.
    dc.addUser({ id: "1100000000000000004", username: "gus" });
    dc.world.guilds.get(ids.guild)?.members?.push({ user: "1100000000000000004" });
    dc.postMessage(ids.general, "1100000000000000004", "gus was here");
    await alice.waitFor((e) => e.room_id === room && isText("gus was here")(e));
    dc.failNext(
      (c) => c.method === "DELETE" && c.path === `/guilds/${ids.guild}/members/1100000000000000004`,
      {
        status: 403,
        message: "Missing Permissions",
        code: 50013,
      },
    );
    await alice.kick(room, dcGhost("1100000000000000004"));
    const refused = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.content.msgtype === "m.notice" &&
        String(e.content.body).startsWith("Could not kick them on discord"),
    );
    assert.match(String(refused.content.body), /403/);

    // Discord-side: a ban of a ghost that is in the room bans it in Matrix.
    dc.addUser({ id: "1100000000000000002", username: "eve" });
    dc.world.guilds.get(ids.guild)?.members?.push({ user: "1100000000000000002" });
    dc.postMessage(ids.general, "1100000000000000002", "eve was here");
    await alice.waitFor((e) => e.room_id === room && isText("eve was here")(e));
    dc.world.bans.add(`${ids.guild}/1100000000000000002`);
    dc.dispatch("GUILD_BAN_ADD", { guild_id: ids.guild, user: dc.world.userObject("1100000000000000002") });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === dcGhost("1100000000000000002") &&
        e.content.membership === "ban",
    );

    // Discord-side: a moderator kicks carl's friend → the ghost is kicked, with the reason.
    dc.addUser({ id: "1100000000000000003", username: "finn" });
    dc.world.guilds.get(ids.guild)?.members?.push({ user: "1100000000000000003" });
    dc.postMessage(ids.general, "1100000000000000003", "finn was here");
    await alice.waitFor((e) => e.room_id === room && isText("finn was here")(e));
    dc.kickMember(ids.guild, "1100000000000000003", ids.alice, "spamming");
    const kicked = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === dcGhost("1100000000000000003") &&
        e.content.membership === "leave",
    );
    assert.equal(kicked.sender, "@clawbridge:localhost");
    assert.equal(kicked.content.reason, "spamming");
    // The kick reaches every channel portal of the guild; where the ghost never was, nothing happens.
    dc.postMessage(ids.random, ids.alice, "random after the kick");
    await alice.waitFor((e) => e.room_id === randomRoom && isText("random after the kick")(e));
    assert.ok(
      !alice.eventsIn(randomRoom).some((e) => String(e.content.body).includes("could not be bridged")),
    );

    // Discord-side: alice leaves the guild → her ghost leaves the room.
    const g = dc.world.guilds.get(ids.guild)!;
    g.members = g.members?.filter((m) => m.user !== ids.alice);
    dc.dispatch("GUILD_MEMBER_REMOVE", { guild_id: ids.guild, user: dc.world.userObject(ids.alice) });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === dcGhost(ids.alice) &&
        e.content.membership === "leave",
    );
  });

  it("links an existing Matrix room to a channel by command", async () => {
    const third = "1200000000000000001";
    dc.world.guilds.get(ids.guild)?.channels.push({ id: third, name: "third" });
    dc.world.channels.set(third, dc.world.channelObject(ids.guild, { id: third, name: "third" }));
    dc.dispatch("CHANNEL_CREATE", dc.world.channels.get(third)!);
    const linked = await alice.createRoom({ name: "Existing", invite: ["@clawbridge:localhost"] });
    await alice.waitFor(
      (e) =>
        e.room_id === linked &&
        e.type === "m.room.member" &&
        e.state_key === "@clawbridge:localhost" &&
        e.content.membership === "join",
    );
    await alice.sendText(linked, `!cb link discord ${third}`);
    await alice.waitFor(
      (e) => e.room_id === linked && String(e.content.body).startsWith("Linked this room to discord"),
    );
    dc.postMessage(third, ids.bob, "into the linked room");
    await alice.waitFor((e) => e.room_id === linked && isText("into the linked room")(e));
    await alice.sendText(linked, "back to discord");
    const c = await lastExec("back to discord");
    assert.equal(dc.world.webhooks.get(c.path.split("/")[2])?.channel_id, third);
  });

  it("syncs channel name and topic both ways", async () => {
    const c = dc.world.channels.get(ids.general)!;
    dc.dispatch("CHANNEL_UPDATE", { ...c, name: "general-renamed", topic: "new topic" });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.name" && e.content.name === "general-renamed",
    );
    await alice.sendState(room, "m.room.topic", "", { topic: "topic from matrix" });
    const patch = await dc.waitFor((x) => x.method === "PATCH" && x.path === `/channels/${ids.general}`);
    assert.equal(patch.body.json.topic, "topic from matrix");
  });

  it("bridges DMs to the bot into a DM portal", async () => {
    const dm = dc.openDm(ids.bob);
    dc.postMessage(dm, ids.bob, "psst, bridge");
    const dmRoom = await portalRoomFor(alice, dm, "discord");
    await alice.waitFor((e) => e.room_id === dmRoom && isText("psst, bridge")(e));
    await alice.sendText(dmRoom, "psst back");
    const c = await dc.waitFor((x) => x.method === "POST" && x.path === `/channels/${dm}/messages`);
    assert.equal(c.body.json.content, "psst back");
  });

  it("starts a DM with a Discord user from Matrix (`pm discord <@id>`), both ways; an unknown user is refused", async () => {
    await alice.sendText(room, `!cb pm discord <@${ids.alice}>`);
    const answer = await alice.waitFor(
      (e) =>
        e.room_id === room && e.sender === BOT && /^Started a direct chat with/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    const dmRoom = /matrix\.to\/#\/(![^\s)]+)/.exec(String(answer.content.body))?.[1];
    assert.ok(dmRoom, String(answer.content.body));
    const dm = [...dc.world.channels.values()].find(
      (c) => c.type === 1 && (c.recipients as Array<{ id: string }>)[0]?.id === ids.alice,
    );
    assert.ok(dm, "the DM channel was opened on Discord");
    await alice.waitForInvite((i) => i.roomId === dmRoom, 30_000);
    await alice.join(dmRoom!);
    await alice.sendText(dmRoom!, "hello from Matrix, Ally");
    const sent = await dc.waitFor((x) => x.method === "POST" && x.path === `/channels/${dm!.id}/messages`);
    assert.equal(sent.body.json.content, "hello from Matrix, Ally");
    dc.postMessage(String(dm!.id), ids.alice, "hello back from Discord");
    await alice.waitFor((e) => e.room_id === dmRoom && isText("hello back from Discord")(e), {
      timeoutMs: 30_000,
    });

    await alice.sendText(room, `!cb pm discord <@${ids.alice}>`);
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        String(e.content.body).startsWith("Your direct chat with") &&
        String(e.content.body).includes(dmRoom!),
      { timeoutMs: 30_000 },
    );
    await alice.sendText(room, "!cb pm discord 12345678901234567");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /Discord knows no user/.test(String(e.content.body)),
      {
        timeoutMs: 30_000,
      },
    );
  });

  it("a Discord poll arrives as an MSC3381 poll start; a voice message as a voice bubble", async () => {
    dc.postMessage(ids.general, ids.bob, "", {
      poll: {
        question: { text: "Ship on Friday?" },
        answers: [
          { answer_id: 1, poll_media: { text: "Yes" } },
          { answer_id: 2, poll_media: { text: "No", emoji: { name: "🙅" } } },
        ],
        allow_multiselect: false,
        expiry: new Date(Date.now() + 86_400_000).toISOString(),
        layout_type: 1,
      },
    });
    const poll = await alice.waitFor(
      (e) => e.room_id === room && e.type === "org.matrix.msc3381.poll.start",
      {
        timeoutMs: 30_000,
      },
    );
    const start = poll.content["org.matrix.msc3381.poll.start"] as {
      question: Record<string, string>;
      answers: Array<Record<string, string>>;
      max_selections: number;
    };
    assert.equal(start.question["org.matrix.msc1767.text"], "Ship on Friday?");
    assert.deepEqual(
      start.answers.map((a) => [a.id, a["org.matrix.msc1767.text"]]),
      [
        ["1", "Yes"],
        ["2", "🙅 No"],
      ],
    );
    assert.equal(start.max_selections, 1);
    assert.equal(poll.sender, dcGhost(ids.bob));

    const ogg = Buffer.concat([Buffer.from("OggS"), randomBytes(600)]);
    dc.postMessage(ids.general, ids.bob, "", {
      flags: 1 << 13,
      files: [
        {
          name: "voice-message.ogg",
          data: ogg,
          contentType: "audio/ogg",
          waveform: Buffer.from([0, 128, 255]).toString("base64"),
          durationSecs: 2.5,
        },
      ],
    });
    const voice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.content.msgtype === "m.audio" &&
        (e.content.info as { size?: number } | undefined)?.size === ogg.length,
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(voice.content["org.matrix.msc3245.voice"], {});
    assert.deepEqual(voice.content["org.matrix.msc1767.audio"], { duration: 2500, waveform: [0, 514, 1024] });
  });

  it("logs neither the bot token nor webhook tokens", async () => {
    const out = core.bridge.output();
    assert.ok(out.length > 0);
    assert.ok(!out.includes(dc.token), "bot token");
    assert.ok(!out.includes(dc.token.split(".")[2]), "bot token secret part");
    for (const w of dc.world.webhooks.values()) assert.ok(!out.includes(w.token), "webhook token");
  });
});
