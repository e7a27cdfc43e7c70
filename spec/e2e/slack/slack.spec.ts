import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { SlackServer, Workspace } from "../../standins/slack/SlackServer";
import { type CoreRig, user } from "../core/coreRig";
import { BOT, ghost, isText, type SlackRig, startSlackRig, UGO, UMA } from "./slackRig";

describe("Slack bridge end to end (bolt ↔ Slack stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let r: SlackRig;
  let slack: SlackServer;
  let wa: Workspace;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let A: string;
  let CH: string;
  let room: string;
  let first: string;
  let firstEvent: string;
  const portal = (channel: string) => r.portal(channel);
  const posted = (team: string, pred: (text: string) => boolean) => r.posted(team, pred);

  before(async () => {
    r = await startSlackRig("M");
    ({ slack, wa, core, alice, A, CH } = r);
  });
  after(async () => {
    await r?.stop();
  });

  it("creates the portal on the first message, with a named ghost (avatar too) and mrkdwn as HTML", async () => {
    first = slack.injectMessage(A, {
      channel: CH,
      user: UMA,
      text: "hello *bold* `code` &lt;tag&gt; :tada:",
    });
    room = await portal(CH);
    const msg = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.message" && e.sender === ghost(A, UMA),
    );
    firstEvent = msg.event_id!;
    assert.equal(msg.content.body, "hello bold code <tag> 🎉");
    assert.equal(msg.content.formatted_body, "hello <strong>bold</strong> <code>code</code> &lt;tag&gt; 🎉");
    assert.equal((await alice.getState(room, "m.room.name")).name, "general");
    assert.equal((await alice.getState(room, "m.room.topic")).topic, "All things Acme");
    const profile = await alice.profile(ghost(A, UMA));
    assert.equal(profile.displayname, "Uma (Slack)");
    assert.match(String(profile.avatar_url), /^mxc:\/\//);
  });

  it("relays Matrix messages under the sender's name as mrkdwn, and never echoes the bridge's own post", async () => {
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.text",
      body: "**yes** & <no>",
      format: "org.matrix.custom.html",
      formatted_body: `<strong>yes</strong> &amp; &lt;no&gt; <a href="https://matrix.to/#/${ghost(A, UMA)}">Uma</a>`,
    });
    const call = await posted(A, (t) => t.startsWith("*yes*"));
    assert.equal(call.params.text, `*yes* &amp; &lt;no&gt; <@${UMA}>`);
    assert.equal(call.params.username, "alice");
    slack.injectMessage(A, { channel: CH, user: UGO, text: "barrier 1" });
    await alice.waitFor((e) => e.room_id === room && isText("barrier 1")(e));
    const echoes = alice
      .eventsIn(room)
      .filter((e) => e.sender !== "@alice:localhost" && String(e.content.body).includes("yes"));
    assert.deepEqual(echoes, []);
  });

  it("maps edits both ways", async () => {
    slack.deliver(A, {
      type: "message",
      subtype: "message_changed",
      channel: CH,
      ts: wa.nextTs(),
      message: { type: "message", user: UMA, text: "hello _edited_", ts: first },
      previous_message: { type: "message", user: UMA, text: "hello", ts: first },
    });
    const edit = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        (e.content["m.new_content"] as { body?: string } | undefined)?.body === "hello edited",
    );
    assert.equal((edit.content["m.relates_to"] as { rel_type: string }).rel_type, "m.replace");
    const mine = await alice.sendText(room, "matrix typo");
    const sent = await posted(A, (t) => t === "matrix typo");
    const ts = wa.messages.find((m) => m.text === "matrix typo")!.ts;
    assert.ok(sent);
    await alice.edit(room, mine, "matrix fixed");
    const upd = await slack.waitFor((c) => c.method === "chat.update" && !c.error, 30_000);
    assert.equal(upd.params.ts, ts);
    assert.equal(upd.params.text, "matrix fixed");
  });

  it("maps reactions both ways, removal included", async () => {
    const target = firstEvent;
    slack.deliver(A, {
      type: "reaction_added",
      user: UGO,
      reaction: "+1",
      item: { type: "message", channel: CH, ts: first },
    });
    const r = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.reaction" && e.sender === ghost(A, UGO),
    );
    assert.deepEqual(r.content["m.relates_to"], { rel_type: "m.annotation", event_id: target, key: "👍" });
    slack.deliver(A, {
      type: "reaction_removed",
      user: UGO,
      reaction: "+1",
      item: { type: "message", channel: CH, ts: first },
    });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === r.event_id,
    );
    const mine = await alice.react(room, target, "🎉");
    const add = await slack.waitFor((c) => c.method === "reactions.add" && !c.error, 30_000);
    assert.deepEqual([add.params.name, add.params.timestamp, add.params.channel], ["tada", first, CH]);
    await alice.redact(room, mine);
    const rm = await slack.waitFor((c) => c.method === "reactions.remove" && !c.error, 30_000);
    assert.deepEqual([rm.params.name, rm.params.timestamp], ["tada", first]);
  });

  it("maps deletes both ways, and explains that the bot may not delete other people's messages", async () => {
    const ts = slack.injectMessage(A, { channel: CH, user: UGO, text: "to be deleted on slack" });
    const ev = await alice.waitFor((e) => e.room_id === room && isText("to be deleted on slack")(e));
    slack.deliver(A, {
      type: "message",
      subtype: "message_deleted",
      channel: CH,
      ts: wa.nextTs(),
      deleted_ts: ts,
      previous_message: { type: "message", user: UGO, text: "to be deleted on slack", ts },
    });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === ev.event_id,
    );

    const mine = await alice.sendText(room, "regret this");
    await posted(A, (t) => t === "regret this");
    const myTs = wa.messages.find((m) => m.text === "regret this")!.ts;
    await alice.redact(room, mine);
    const del = await slack.waitFor((c) => c.method === "chat.delete" && !c.error, 30_000);
    assert.equal(del.params.ts, myTs);

    // A moderator's redaction of a Slack user's message: Slack refuses the bot, the room is told why.
    const spam = slack.injectMessage(A, { channel: CH, user: UGO, text: "spam spam" });
    const spamEv = await alice.waitFor((e) => e.room_id === room && isText("spam spam")(e));
    await alice.redact(room, spamEv.event_id!);
    const refused = await slack.waitFor(
      (c) => c.method === "chat.delete" && c.error === "cant_delete_message",
      30_000,
    );
    assert.equal(refused.params.ts, spam);
    const notice = await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /only its own messages/.test(String(e.content.body)),
      { timeoutMs: 60_000 },
    );
    assert.equal(notice.content.msgtype, "m.notice");
  });

  it("bridges threads both ways as m.thread with a reply fallback", async () => {
    const root = firstEvent;
    slack.injectMessage(A, { channel: CH, user: UGO, text: "in the thread", thread_ts: first });
    const reply = await alice.waitFor((e) => e.room_id === room && isText("in the thread")(e));
    assert.deepEqual(reply.content["m.relates_to"], {
      rel_type: "m.thread",
      event_id: root,
      is_falling_back: true,
      "m.in_reply_to": { event_id: root },
    });
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.text",
      body: "matrix in thread",
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: root,
        is_falling_back: true,
        "m.in_reply_to": { event_id: root },
      },
    });
    const call = await posted(A, (t) => t === "matrix in thread");
    assert.equal(call.params.thread_ts, first);
    assert.equal(call.params.reply_broadcast, undefined);
    // A plain Matrix reply: Slack has only threads, so it joins the thread and shows in the channel.
    await alice.reply(room, root, "a plain reply");
    const reply2 = await posted(A, (t) => t === "a plain reply");
    assert.deepEqual([reply2.params.thread_ts, reply2.params.reply_broadcast], [first, "true"]);
  });

  it("brings files over byte for byte both ways, and a file over max_file_bytes becomes a notice", async () => {
    const bytes = randomBytes(5000);
    slack.injectMessage(A, {
      channel: CH,
      user: UMA,
      text: "",
      files: [{ name: "pic.png", data: bytes, mimetype: "image/png" }],
    });
    const img = await alice.waitFor((e) => e.room_id === room && e.content.msgtype === "m.image");
    const [server, id] = String(img.content.url).slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { Authorization: `Bearer ${alice.accessToken}` },
    });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    assert.ok(slack.calls.some((c) => c.method === "DOWNLOAD" && c.team === A));

    const upload = randomBytes(3000);
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=doc.bin`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "application/octet-stream" },
      body: upload,
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.file",
      body: "doc.bin",
      url: content_uri,
      info: { mimetype: "application/octet-stream", size: upload.length },
    });
    const done = await slack.waitFor((c) => c.method === "files.completeUploadExternal" && !c.error, 30_000);
    assert.equal(done.params.channel_id, CH);
    assert.equal(
      done.params.initial_comment,
      "*alice*:",
      "uploads carry no username, so the comment names the sender",
    );
    const stored = [...wa.files.values()].find((f) => f.name === "doc.bin");
    assert.ok(stored?.data.equals(upload), "Slack holds the same bytes");

    slack.injectMessage(A, {
      channel: CH,
      user: UMA,
      text: "the big one",
      files: [
        { name: "huge.iso", data: Buffer.alloc(2 * 1024 * 1024), mimetype: "application/octet-stream" },
      ],
    });
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.content.msgtype === "m.notice" &&
        /huge\.iso could not be bridged/.test(String(e.content.body)),
    );
    assert.match(String(notice.content.body), /1\.0 MB limit/);
  });

  it("mirrors member_joined/left_channel as ghost membership, and channel name and topic both ways", async () => {
    wa.addUser({ id: "U0NEW", name: "newbie", real_name: "New Person" });
    slack.deliver(A, { type: "member_joined_channel", user: "U0NEW", channel: CH, channel_type: "C" });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghost(A, "U0NEW") &&
        e.content.membership === "join",
    );
    slack.deliver(A, { type: "member_left_channel", user: "U0NEW", channel: CH, channel_type: "C" });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghost(A, "U0NEW") &&
        e.content.membership === "leave",
    );
    slack.deliver(A, { type: "channel_rename", channel: { id: CH, name: "renamed-on-slack", created: 1 } });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.name" && e.content.name === "renamed-on-slack",
    );
    slack.deliver(A, {
      type: "message",
      subtype: "channel_topic",
      channel: CH,
      user: UMA,
      topic: "Slack topic",
      ts: wa.nextTs(),
    });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.topic" && e.content.topic === "Slack topic",
    );

    await alice.sendState(room, "m.room.name", "", { name: "From Matrix" });
    const rename = await slack.waitFor((c) => c.method === "conversations.rename" && !c.error, 30_000);
    assert.equal(rename.params.name, "From Matrix");
    assert.equal(wa.channels.get(CH)?.name, "from-matrix");
    await alice.sendState(room, "m.room.topic", "", { topic: "Matrix topic" });
    await slack.waitFor(
      (c) => c.method === "conversations.setTopic" && c.params.topic === "Matrix topic",
      30_000,
    );
  });

  it("refreshes a ghost's name on user_change, before the user writes again", async () => {
    wa.addUser({ id: UGO, name: "ugo", real_name: "Ugo Real", display_name: "Ugo Renamed" });
    slack.deliver(A, { type: "user_change", user: wa.userObject(UGO, slack.baseUrl)! });
    // No further message from ugo: the profile change alone renames the ghost in the room.
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghost(A, UGO) &&
        e.content.displayname === "Ugo Renamed (Slack)",
    );
    assert.equal((await alice.profile(ghost(A, UGO))).displayname, "Ugo Renamed (Slack)");
    slack.injectMessage(A, { channel: CH, user: UGO, text: "new name" });
    const m = await alice.waitFor((e) => e.room_id === room && isText("new name")(e));
    assert.equal(m.sender, ghost(A, UGO));
  });

  it("bridges a DM with the bot and a group DM, each into its own room", async () => {
    wa.addChannel({ id: "D0UMA", kind: "im", user: UMA, members: [UMA, wa.botUserId] });
    wa.addChannel({
      id: "G0MPIM",
      kind: "mpim",
      name: "mpdm-uma--ugo--bridge-1",
      members: [UMA, UGO, wa.botUserId],
    });
    slack.injectMessage(A, { channel: "D0UMA", user: UMA, text: "psst, bot" });
    const dm = await portal("D0UMA");
    const m = await alice.waitFor((e) => e.room_id === dm && isText("psst, bot")(e));
    assert.equal(m.sender, ghost(A, UMA));
    await alice.sendText(dm, "dm answer");
    assert.equal((await posted(A, (t) => t === "dm answer")).params.channel, "D0UMA");
    slack.injectMessage(A, { channel: "G0MPIM", user: UGO, text: "group dm" });
    const group = await portal("G0MPIM");
    await alice.waitFor((e) => e.room_id === group && isText("group dm")(e));
    assert.equal((await alice.getState(group, "m.room.name")).name, "Uma, Ugo Renamed");
  });

  it("explains in the room what Slack does not let a bot do (kick, room picture) and relays unknown reactions as text", async () => {
    await alice.kick(room, ghost(A, UGO), "off-topic");
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /does not let the bridge remove people/.test(String(e.content.body)),
    );
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=a.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: randomBytes(100),
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendState(room, "m.room.avatar", "", { url: content_uri });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /Slack channels have no picture/.test(String(e.content.body)),
    );
    // A reaction key that is no emoji (Matrix allows any text) has no Slack name.
    await alice.react(room, firstEvent, "+1 nice");
    const text = await posted(A, (t) => t.includes("reacted with +1 nice"));
    assert.equal(text.params.thread_ts, first);
  });

  it("lets a Matrix moderator's redaction delete a relayed message of another Matrix user", async () => {
    const bob = await user("bob");
    // Bob has an avatar: Slack shows it as the message's icon (icon_url).
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=bob.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bob.accessToken}`, "Content-Type": "image/png" },
      body: randomBytes(64),
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await bob.request("PUT", `/profile/${encodeURIComponent(bob.userId)}/avatar_url`, {
      avatar_url: content_uri,
    });
    await alice.invite(room, "@bob:localhost");
    await bob.join(room);
    const ev = await bob.sendText(room, "bob says something regrettable");
    const call = await posted(A, (t) => t === "bob says something regrettable");
    assert.equal(call.params.username, "bob");
    const mxc = content_uri.slice("mxc://".length);
    assert.equal(call.params.icon_url, `${core.rig.synapse.url}/_matrix/media/v3/download/${mxc}`);
    const ts = wa.messages.find((m) => m.text === "bob says something regrettable")!.ts;
    await alice.redact(room, ev);
    await slack.waitFor((c) => c.method === "chat.delete" && c.params.ts === ts && !c.error, 30_000);
    assert.equal(wa.message(CH, ts)?.deleted, true);
  });

  it("tells the Matrix sender when a file is over max_file_bytes", async () => {
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=big.bin`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "application/octet-stream" },
      body: randomBytes(1536 * 1024),
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    const ev = await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.file",
      body: "big.bin",
      url: content_uri,
    });
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /big\.bin is 1\.5 MB, over the bridge's 1\.0 MB limit/.test(String(e.content.body)),
      { timeoutMs: 60_000 },
    );
    assert.equal(
      (notice.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } })["m.in_reply_to"]
        ?.event_id,
      ev,
    );
  });

  it("starts a DM with a Slack member from Matrix (`pm slack <@id>`), both ways; an unknown member is refused", async () => {
    await alice.sendText(room, `!cb pm slack <@${UGO}>`);
    const answer = await alice.waitFor(
      (e) =>
        e.room_id === room && e.sender === BOT && /^Started a direct chat with/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    const dmRoom = /matrix\.to\/#\/(![^\s)]+)/.exec(String(answer.content.body))?.[1];
    assert.ok(dmRoom, String(answer.content.body));
    const im = [...wa.channels.values()].find((c) => c.kind === "im" && c.user === UGO);
    assert.ok(im, "the IM was opened on Slack (conversations.open)");
    await alice.waitForInvite((i) => i.roomId === dmRoom, 30_000);
    await alice.join(dmRoom!);
    await alice.sendText(dmRoom!, "hello from Matrix, Ugo");
    const sent = await posted(A, (t) => t === "hello from Matrix, Ugo");
    assert.equal(sent.params.channel, im!.id);
    slack.injectMessage(A, { channel: im!.id, user: UGO, text: "hello back from Slack" });
    await alice.waitFor((e) => e.room_id === dmRoom && isText("hello back from Slack")(e), {
      timeoutMs: 30_000,
    });

    await alice.sendText(room, "!cb pm slack U0NOBODY1");
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /has an active member U0NOBODY1/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    await alice.sendText(room, "!cb pm slack general");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /Slack member id/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
  });

  it("custom workspace emoji arrive as inline images (aliases followed) and as image reactions", async () => {
    const PARROT = Buffer.concat([
      Buffer.from(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
        "base64",
      ),
      Buffer.from("party parrot"),
    ]);
    wa.emoji.set("party_parrot", PARROT);
    wa.emoji.set("pp", "alias:party_parrot");
    slack.deliver(A, { type: "emoji_changed", subtype: "add", name: "party_parrot", event_ts: wa.nextTs() });
    const ts = slack.injectMessage(A, { channel: CH, user: UMA, text: "ship it :party_parrot: :pp: :tada:" });
    const m = await alice.waitFor((e) => e.room_id === room && String(e.content.body).startsWith("ship it"), {
      timeoutMs: 30_000,
    });
    assert.equal(m.content.body, "ship it :party_parrot: :pp: 🎉");
    const srcs = [
      ...String(m.content.formatted_body).matchAll(
        /<img data-mx-emoticon height="32" src="(mxc:\/\/[^"]+)" alt="(:[a-z_]+:)"/g,
      ),
    ];
    assert.deepEqual(
      srcs.map((x) => x[2]),
      [":party_parrot:", ":pp:"],
      String(m.content.formatted_body),
    );
    const download = async (mxc: string) => {
      const [server, id] = mxc.slice("mxc://".length).split("/");
      const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
        headers: { Authorization: `Bearer ${alice.accessToken}` },
      });
      return Buffer.from(await res.arrayBuffer());
    };
    assert.ok((await download(srcs[0]![1]!)).equals(PARROT), "the emoji's picture");
    assert.equal(srcs[0]![1], srcs[1]![1], "an alias is the same picture, uploaded once");

    slack.deliver(A, {
      type: "reaction_added",
      user: UGO,
      reaction: "party_parrot",
      item: { type: "message", channel: CH, ts },
    });
    const r = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.reaction" &&
        e.content["com.beeper.reaction.shortcode"] === ":party_parrot:",
      { timeoutMs: 30_000 },
    );
    assert.equal((r.content["m.relates_to"] as { key?: string }).key, srcs[0]![1]);
  });

  it("never logs a token or signing secret", () => {
    const out = core.bridge.output();
    for (const secret of [wa.botToken, wa.appToken, r.wb.botToken, r.wb.signingSecret])
      assert.ok(!out.includes(secret));
  });
});
