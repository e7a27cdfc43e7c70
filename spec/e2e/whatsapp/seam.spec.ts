import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { BaileysEventMap, MediaType, WAMessage } from "@whiskeysockets/baileys";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { user } from "../core/coreRig";
import { type SeamRig, startSeamRig } from "./seamRig";
import { waAlias, waGhost } from "./waRig";

const ME = "15550000001";
const GUS = "15552220001";
const HANA = "15552220002";
const IVO = "15552220003";
const GROUP = "120363000000000001@g.us";
const WAIT = { timeoutMs: 30_000 };
const FIXTURES = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../fixtures/whatsapp/seam-events.json"), "utf8"),
) as Record<string, unknown>;
const fixture = <T>(name: string): T => structuredClone(FIXTURES[name]) as T;
const JPEG = Buffer.from("ffd8ffe000104a46494600010100000100010000ffd9", "hex");

describe("WhatsApp at the seam of baileys' events and sendMessage (recorded payloads → real connector → real core → Synapse)", function () {
  this.timeout(180_000);
  let core: SeamRig;
  let alice: MatrixTestClient;
  let room: string;
  const ev = (pred: (e: MatrixEvent) => boolean) => alice.waitFor((e) => e.room_id === room && pred(e), WAIT);
  const upsert = (...names: string[]) =>
    core.seam.emit("messages.upsert", { messages: names.map((n) => fixture<WAMessage>(n)), type: "notify" });
  const eventOf = (body: string) => ev((e) => e.type === "m.room.message" && e.content.body === body);
  const download = async (mxc: string) => {
    const [server, id] = mxc.slice("mxc://".length).split("/");
    const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    assert.equal(res.status, 200);
    return Buffer.from(await res.arrayBuffer());
  };

  before(async () => {
    core = await startSeamRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice M",
      setup: (wa, media) => {
        wa.group(GROUP, { subject: "Family", desc: "Our group", participants: [ME, GUS, HANA] });
        wa.picture(GROUP, media.plain(JPEG));
        wa.picture(`${GUS}@s.whatsapp.net`, media.plain(JPEG));
      },
    });
    alice = await user("alice");
  });
  after(async () => core?.stop());

  it("a group message creates the portal with the group's subject, description, picture and members", async () => {
    upsert("groupText");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    room = await alice.join(invite.roomId);
    const msg = await eventOf("*hello* group, ~old~ news");
    assert.equal(msg.sender, waGhost(GUS));
    assert.equal(msg.content.formatted_body, "<strong>hello</strong> group, <del>old</del> news");
    assert.equal((await alice.getState(room, "m.room.name")).name, "Family");
    assert.equal((await alice.getState(room, "m.room.topic")).topic, "Our group");
    assert.ok(String((await alice.getState(room, "m.room.avatar")).url).startsWith("mxc://"));
    const gus = await alice.getState(room, "m.room.member", waGhost(GUS));
    assert.equal(gus.displayname, "Gus (WhatsApp)");
    assert.ok(String(gus.avatar_url).startsWith("mxc://"), "the ghost has the profile picture");
  });

  it("quoted replies become m.in_reply_to; edits m.replace; reactions and their removal; revokes redactions", async () => {
    const original = await eventOf("*hello* group, ~old~ news");
    upsert("groupReply");
    const reply = await eventOf("replying to Gus");
    assert.equal(reply.sender, waGhost(HANA));
    assert.deepEqual(reply.content["m.relates_to"], { "m.in_reply_to": { event_id: original.event_id } });

    upsert("groupEdit");
    const edit = await ev(
      (e) => (e.content["m.relates_to"] as { rel_type?: string } | undefined)?.rel_type === "m.replace",
    );
    assert.equal((edit.content["m.relates_to"] as { event_id: string }).event_id, original.event_id);
    assert.equal((edit.content["m.new_content"] as { body: string }).body, "hello group, _fresh_ news");
    assert.equal(edit.sender, waGhost(GUS));

    upsert("groupReaction");
    const reaction = await ev((e) => e.type === "m.reaction");
    assert.equal(reaction.sender, waGhost(HANA));
    assert.deepEqual(reaction.content["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: original.event_id,
      key: "👍",
    });
    upsert("groupReactionRemove");
    await ev((e) => e.type === "m.room.redaction" && e.redacts === reaction.event_id);

    upsert("groupRevoke");
    await ev((e) => e.type === "m.room.redaction" && e.redacts === reply.event_id);
  });

  it("media of every kind arrives decrypted from the media server, with captions", async () => {
    const kinds: Array<[string, MediaType, string, string]> = [
      ["groupImage", "image", "m.image", "image/jpeg"],
      ["groupVideo", "video", "m.video", "video/mp4"],
      ["groupVoice", "audio", "m.audio", "audio/ogg"],
      ["groupAudio", "audio", "m.audio", "audio/mpeg"],
      ["groupDocument", "document", "m.file", "application/pdf"],
      ["groupSticker", "sticker", "m.image", "image/webp"],
    ];
    for (const [name, type, msgtype, mimetype] of kinds) {
      const data = randomBytes(3000);
      const m = fixture<WAMessage & { message: Record<string, Record<string, unknown>> }>(name);
      const inner = Object.values(m.message)[0];
      delete inner.$MEDIA;
      Object.assign(inner, await core.media.encrypted(data, type));
      core.seam.emit("messages.upsert", { messages: [m], type: "notify" });
      const file = await ev(
        (e) =>
          e.type === "m.room.message" &&
          e.content.msgtype === msgtype &&
          (e.content.info as { mimetype?: string })?.mimetype === mimetype,
      );
      assert.ok((await download(String(file.content.url))).equals(data), `${name}: the bytes survive`);
      const caption = inner.caption as string | undefined;
      if (caption) await ev((e) => e.type === "m.room.message" && e.content.body === caption);
      if (name === "groupVoice") {
        assert.match(String(file.content.body), /^voice\./);
        // A voice note is a voice bubble in Matrix clients (MSC3245); a music file is not.
        assert.deepEqual(file.content["org.matrix.msc3245.voice"], {});
      }
      if (name === "groupAudio") assert.equal(file.content["org.matrix.msc3245.voice"], undefined);
      if (name === "groupDocument") assert.equal(file.content.body, "minutes.pdf");
    }
  });

  it("subject, description and picture changes both ways; participants joining and leaving move ghosts", async () => {
    core.seam.emit("groups.update", fixture<BaileysEventMap["groups.update"]>("groupsUpdate"));
    await ev((e) => e.type === "m.room.name" && e.content.name === "Renamed group");
    await ev((e) => e.type === "m.room.topic" && e.content.topic === "New description");
    const before = (await alice.getState(room, "m.room.avatar")).url;
    core.wa.picture(GROUP, core.media.plain(Buffer.concat([JPEG, Buffer.from("new")])));
    core.seam.emit("contacts.update", [{ id: GROUP, imgUrl: "changed" }]);
    const avatar = await ev((e) => e.type === "m.room.avatar" && e.content.url !== before);
    assert.ok(String(avatar.content.url).startsWith("mxc://"));

    // From Matrix: the owner's changes go to WhatsApp (the bridge's own changes above do not).
    await alice.sendState(room, "m.room.name", "", { name: "Named in Matrix" });
    await alice.sendState(room, "m.room.topic", "", { topic: "Described in Matrix" });
    const deadline = Date.now() + 30_000;
    while (core.seam.groupChanges.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(core.seam.groupChanges, [
      { call: "groupUpdateSubject", jid: GROUP, value: "Named in Matrix" },
      { call: "groupUpdateDescription", jid: GROUP, value: "Described in Matrix" },
    ]);

    core.seam.emit(
      "group-participants.update",
      fixture<BaileysEventMap["group-participants.update"]>("participantAdd"),
    );
    await ev(
      (e) => e.type === "m.room.member" && e.state_key === waGhost(IVO) && e.content.membership === "join",
    );
    core.seam.emit(
      "group-participants.update",
      fixture<BaileysEventMap["group-participants.update"]>("participantLeave"),
    );
    await ev(
      (e) => e.type === "m.room.member" && e.state_key === waGhost(IVO) && e.content.membership === "leave",
    );
  });

  it("a contact's new name and new picture reach their ghost at once, with no message from them", async () => {
    const hana = `${HANA}@s.whatsapp.net`;
    core.seam.emit("contacts.update", [{ id: hana, notify: "Hana Renamed" }]);
    await ev(
      (e) =>
        e.type === "m.room.member" &&
        e.state_key === waGhost(HANA) &&
        e.content.displayname === "Hana Renamed (WhatsApp)",
    );
    const before = (await alice.profile(waGhost(HANA))).avatar_url;
    core.wa.picture(hana, core.media.plain(Buffer.concat([JPEG, Buffer.from("hana")])));
    core.seam.emit("contacts.update", [{ id: hana, imgUrl: "changed" }]);
    const changed = await ev(
      (e) =>
        e.type === "m.room.member" &&
        e.state_key === waGhost(HANA) &&
        typeof e.content.avatar_url === "string" &&
        e.content.avatar_url !== before,
    );
    // A picture-only change keeps the name.
    assert.equal(changed.content.displayname, "Hana Renamed (WhatsApp)");
  });

  it("typing and read receipts from WhatsApp show in Matrix", async () => {
    core.seam.emit("presence.update", fixture<BaileysEventMap["presence.update"]>("composing"));
    await alice.waitForEphemeral(
      (e) => e.type === "m.typing" && ((e.content.user_ids as string[]) ?? []).includes(waGhost(GUS)),
      { ...WAIT, roomId: room },
    );
    core.seam.emit("presence.update", fixture<BaileysEventMap["presence.update"]>("paused"));
    await alice.waitForEphemeral(
      (e) => e.type === "m.typing" && !((e.content.user_ids as string[]) ?? []).includes(waGhost(GUS)),
      { ...WAIT, roomId: room },
    );
    const mine = await alice.sendText(room, "did you read this?");
    const sent = await core.seam.waitSent(
      (c) => (c.content as { text?: string }).text === "did you read this?",
    );
    const receipt = fixture<BaileysEventMap["message-receipt.update"]>("readReceipt");
    receipt[0].key.id = sent.options?.messageId;
    core.seam.emit("message-receipt.update", receipt);
    await alice.waitForEphemeral(
      (e) => e.type === "m.receipt" && JSON.stringify(e.content[mine] ?? {}).includes(waGhost(HANA)),
      { ...WAIT, roomId: room },
    );
  });

  it("a message the user typed on the phone appears as the user's own ghost", async () => {
    upsert("fromPhone");
    const msg = await eventOf("typed on the phone");
    assert.equal(msg.sender, waGhost(ME));
  });

  it("Matrix replies, media, edits, reactions, redactions and typing go to sendMessage as WhatsApp content", async () => {
    const original = await eventOf("*hello* group, ~old~ news");
    await alice.reply(room, original.event_id!, "a reply from Matrix");
    const reply = await core.seam.waitSent(
      (c) => (c.content as { text?: string }).text === "a reply from Matrix",
    );
    assert.equal(reply.jid, GROUP);
    assert.equal(reply.options?.quoted?.key.id, "3EB0A1000000000001");

    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=pic.jpg`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.accessToken}`, "content-type": "image/jpeg" },
      body: JPEG,
    });
    const { content_uri } = (await up.json()) as { content_uri: string };
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.image",
      body: "look at this",
      filename: "pic.jpg",
      url: content_uri,
      info: { mimetype: "image/jpeg", w: 2, h: 2 },
    });
    const image = await core.seam.waitSent((c) => "image" in c.content);
    const img = image.content as { image: Buffer; caption?: string; mimetype?: string };
    assert.ok(Buffer.from(img.image).equals(JPEG));
    assert.equal(img.caption, "look at this");
    assert.equal(img.mimetype, "image/jpeg");

    // The other media kinds, as Matrix clients send them.
    const kinds: Array<[Record<string, unknown>, string, (c: Record<string, unknown>) => void]> = [
      [
        { msgtype: "m.video", body: "clip.mp4", info: { mimetype: "video/mp4", duration: 3000 } },
        "video",
        (c) => assert.equal(c.mimetype, "video/mp4"),
      ],
      [
        {
          msgtype: "m.audio",
          body: "voice.ogg",
          info: { mimetype: "audio/ogg", duration: 2000 },
          "org.matrix.msc3245.voice": {},
        },
        "audio",
        (c) => assert.equal(c.ptt, true),
      ],
      [
        { msgtype: "m.file", body: "notes", filename: "notes.pdf", info: { mimetype: "application/pdf" } },
        "document",
        (c) => {
          assert.equal(c.fileName, "notes.pdf");
          assert.equal(c.caption, "notes");
        },
      ],
    ];
    for (const [content, key, check] of kinds) {
      const data = randomBytes(500);
      const upload = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${alice.accessToken}`,
          "content-type": String((content.info as { mimetype: string }).mimetype),
        },
        body: data,
      });
      const url = ((await upload.json()) as { content_uri: string }).content_uri;
      await alice.sendEvent(room, "m.room.message", { ...content, url });
      const sent = await core.seam.waitSent((c) => key in c.content);
      const c = sent.content as Record<string, unknown>;
      assert.ok(Buffer.from(c[key] as Buffer).equals(data), `${key}: the bytes go out`);
      check(c);
    }
    await alice.sendEvent(room, "m.sticker", {
      body: "a sticker",
      url: content_uri,
      info: { mimetype: "image/webp" },
    });
    const sticker = await core.seam.waitSent((c) => "sticker" in c.content);
    assert.ok(Buffer.from((sticker.content as { sticker: Buffer }).sticker).equals(JPEG));

    await alice.sendState(room, "m.room.avatar", "", { url: content_uri });
    const pic = await (async () => {
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const hit = core.seam.groupChanges.find((c) => c.call === "updateProfilePicture");
        if (hit) return hit;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.fail("the room avatar did not become the group picture");
    })();
    assert.equal(pic.jid, GROUP);
    assert.ok(Buffer.from(pic.value as Buffer).equals(JPEG));

    const typo = await alice.sendText(room, "tpyo");
    const typoSent = await core.seam.waitSent((c) => (c.content as { text?: string }).text === "tpyo");
    await alice.edit(room, typo, "typo");
    const edit = await core.seam.waitSent((c) => "edit" in c.content);
    assert.equal((edit.content as { text: string }).text, "typo");
    assert.equal((edit.content as { edit: { id: string } }).edit.id, typoSent.options?.messageId);

    const r = await alice.react(room, original.event_id!, "❤️");
    const react = await core.seam.waitSent(
      (c) => "react" in c.content && (c.content as { react: { text: string } }).react.text === "❤️",
    );
    assert.equal((react.content as { react: { key: { id: string } } }).react.key.id, "3EB0A1000000000001");
    await alice.redact(room, r);
    await core.seam.waitSent(
      (c) => "react" in c.content && (c.content as { react: { text: string } }).react.text === "",
    );

    await alice.redact(room, typo);
    const del = await core.seam.waitSent((c) => "delete" in c.content);
    assert.equal((del.content as { delete: { id: string } }).delete.id, typoSent.options?.messageId);

    // Someone else typing in the portal does not make the account look as if it typed.
    const bob = await user("bob");
    await alice.invite(room, bob.userId);
    await bob.join(room);
    await bob.setTyping(room, true);
    await new Promise((res) => setTimeout(res, 1500));
    assert.ok(!core.seam.presence.some((p) => p.type === "composing" && p.jid === GROUP));
    await alice.setTyping(room, true);
    const deadline = Date.now() + 30_000;
    while (
      !core.seam.presence.some((p) => p.type === "composing" && p.jid === GROUP) &&
      Date.now() < deadline
    )
      await new Promise((res) => setTimeout(res, 50));
    assert.ok(core.seam.presence.some((p) => p.type === "composing" && p.jid === GROUP));
    await alice.setTyping(room, false);
    // Bob reading does not make the account send blue ticks; alice (the owner) reading does.
    const hello = await eventOf("*hello* group, ~old~ news");
    const receipt = (who: MatrixTestClient) =>
      who.request(
        "POST",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(hello.event_id!)}`,
        {},
      );
    await receipt(bob);
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(core.seam.reads.length, 0);
    await receipt(alice);
    const until = Date.now() + 30_000;
    while (!core.seam.reads.length && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(
      core.seam.reads.map((k) => [k.remoteJid, k.id]),
      [[GROUP, "3EB0A1000000000001"]],
    );
    await bob.setTyping(room, false);
    await bob.leave(room);
  });

  it("mentions both ways, and places, contacts and polls from WhatsApp in their Matrix form", async () => {
    const base = fixture<WAMessage>("groupText");
    const send = (id: string, message: WAMessage["message"]) =>
      core.seam.emit("messages.upsert", {
        messages: [{ ...base, key: { ...base.key, id }, message }],
        type: "notify",
      });
    send("3EB0A1000000000071", {
      extendedTextMessage: {
        text: "@15552220002 can you check?",
        contextInfo: { mentionedJid: [`${HANA}@s.whatsapp.net`] },
      },
    });
    const mention = await eventOf("@15552220002 can you check?");
    assert.equal(
      mention.content.formatted_body,
      `<a href="https://matrix.to/#/${waGhost(HANA)}">@15552220002</a> can you check?`,
    );

    await alice.sendText(room, "Hana (WhatsApp): please do", {
      format: "org.matrix.custom.html",
      formatted_body: `<a href="https://matrix.to/#/${waGhost(HANA)}">Hana (WhatsApp)</a>: please do`,
    });
    const out = await core.seam.waitSent(
      (c) => (c.content as { text?: string }).text === "@15552220002: please do",
    );
    assert.deepEqual((out.content as { mentions?: string[] }).mentions, [`${HANA}@s.whatsapp.net`]);

    send("3EB0A1000000000072", {
      locationMessage: {
        degreesLatitude: 48.8584,
        degreesLongitude: 2.2945,
        name: "Tour Eiffel",
        address: "Paris",
      },
    });
    const place = await ev((e) => e.content.msgtype === "m.location");
    assert.equal(place.content.geo_uri, "geo:48.8584,2.2945");
    assert.match(String(place.content.body), /^Venue: Tour Eiffel, Paris/);

    send("3EB0A1000000000073", {
      contactMessage: {
        displayName: "Ada",
        vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nTEL:+15550001111\nEND:VCARD",
      },
    });
    await eventOf("Contact: Ada");
    const vcf = await ev((e) => e.content.msgtype === "m.file" && e.content.body === "contact.vcf");
    assert.match((await download(String(vcf.content.url))).toString(), /FN:Ada/);

    send("3EB0A1000000000074", {
      pollCreationMessageV3: {
        name: "Dinner?",
        options: [{ optionName: "Pasta" }, { optionName: "Curry" }],
        selectableOptionsCount: 1,
      },
    });
    const poll = await ev((e) => e.type === "org.matrix.msc3381.poll.start");
    const start = poll.content["org.matrix.msc3381.poll.start"] as {
      question: Record<string, string>;
      answers: unknown[];
    };
    assert.equal(start.question["org.matrix.msc1767.text"], "Dinner?");
    assert.equal(start.answers.length, 2);
  });
});
