import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { BaileysEventMap, WAMessage } from "@whiskeysockets/baileys";
import fc from "fast-check";
import { loadBaileys } from "../../../../bridges/whatsapp/baileys";
import { mapMessage } from "../../../../bridges/whatsapp/inbound";
import { mapSideEvents } from "../../../../bridges/whatsapp/sideEvents";
import type { RemoteEvent } from "../../../../src/core/connector";
import { fuzzParams } from "../../../harness/fuzz";

const FIXTURES = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../../fixtures/whatsapp/seam-events.json"), "utf8"),
) as Record<string, unknown>;
const fixture = <T>(name: string): T => structuredClone(FIXTURES[name]) as T;
const GROUP = "120363000000000001@g.us";
const ctx = { ownNumber: "15550000001", sentByBridge: (id: string) => id === "BRIDGE1" };

describe("WhatsApp events → RemoteEvents", () => {
  before(async () => {
    await loadBaileys();
  });

  it("a group text: chat is the group, sender the participant, push name and HTML", () => {
    const [ev] = mapMessage(ctx, fixture<WAMessage>("groupText"));
    assert.equal(ev.kind, "message");
    assert.deepEqual(ev.chat, { id: GROUP });
    assert.deepEqual(ev.sender, { id: "15552220001" });
    assert.equal(ev.senderInfo?.displayName, "Gus");
    assert.equal(ev.timestamp, 1796190000 * 1000);
    if (ev.kind !== "message") return;
    assert.equal(ev.html, "<strong>hello</strong> group, <del>old</del> news");
  });

  it("a DM is keyed by the account and the contact; a privacy id (@lid) gives way to the phone number", () => {
    const m = fixture<WAMessage>("groupText");
    m.key = {
      remoteJid: "99887766@lid",
      remoteJidAlt: "15551234567@s.whatsapp.net",
      fromMe: false,
      id: "X1",
    };
    const [ev] = mapMessage(ctx, m);
    assert.deepEqual(ev.chat, { id: "15550000001_15551234567@s.whatsapp.net" });
    assert.deepEqual(ev.sender, { id: "15551234567" });
  });

  it("replies, edits, reactions, removals and revokes", () => {
    const [reply] = mapMessage(ctx, fixture<WAMessage>("groupReply"));
    assert.equal(reply.kind === "message" && reply.replyTo, "3EB0A1000000000001");
    const [edit] = mapMessage(ctx, fixture<WAMessage>("groupEdit"));
    assert.equal(edit.kind, "edit");
    assert.equal(edit.kind === "edit" && edit.id, "3EB0A1000000000001");
    assert.equal(edit.kind === "edit" && edit.html, "hello group, <em>fresh</em> news");
    const [react] = mapMessage(ctx, fixture<WAMessage>("groupReaction"));
    assert.deepEqual(react.kind === "reaction" && [react.target, react.key], ["3EB0A1000000000001", "👍"]);
    const [unreact] = mapMessage(ctx, fixture<WAMessage>("groupReactionRemove"));
    assert.equal(unreact.kind, "reaction-remove");
    const [revoke] = mapMessage(ctx, fixture<WAMessage>("groupRevoke"));
    assert.deepEqual(revoke.kind === "delete" && revoke.id, "3EB0A1000000000002");
  });

  it("media: a MediaRef per message, voice notes named so, captions as text", () => {
    const media = (name: string) => {
      const m = fixture<WAMessage & { message: Record<string, Record<string, unknown>> }>(name);
      delete Object.values(m.message)[0].$MEDIA;
      return mapMessage(ctx, m)[0];
    };
    const image = media("groupImage");
    assert.equal(image.kind === "message" && image.text, "a *photo*");
    assert.deepEqual(image.kind === "message" && image.attachments, [
      {
        key: "msg:3EB0A1000000000010",
        mimetype: "image/jpeg",
        name: "image.jpg",
        size: undefined,
        width: 2,
        height: 2,
      },
    ]);
    const voice = media("groupVoice");
    assert.equal(voice.kind === "message" && voice.attachments?.[0].mimetype, "audio/ogg");
    assert.equal(voice.kind === "message" && voice.attachments?.[0].name, "voice.ogg");
    const doc = media("groupDocument");
    assert.equal(doc.kind === "message" && doc.attachments?.[0].name, "minutes.pdf");
  });

  it("messages from the phone are the account's own; the bridge's echoes are marked fromSelf", () => {
    const [phone] = mapMessage(ctx, fixture<WAMessage>("fromPhone"));
    assert.deepEqual(phone.sender, { id: "15550000001" });
    assert.notEqual(phone.fromSelf, true);
    const echo = fixture<WAMessage>("fromPhone");
    echo.key.id = "BRIDGE1";
    assert.equal(mapMessage(ctx, echo)[0].fromSelf, true);
  });

  it("places, venues, live locations, contacts and polls in their Matrix form; other kinds a notice naming them", () => {
    const as = (message: WAMessage["message"]) => {
      const m = fixture<WAMessage>("groupText");
      m.message = message;
      const [ev] = mapMessage(ctx, m);
      assert.equal(ev?.kind, "message");
      return ev as Extract<RemoteEvent, { kind: "message" }>;
    };
    const pin = as({
      locationMessage: { degreesLatitude: 52.52, degreesLongitude: 13.405, accuracyInMeters: 20 },
    });
    assert.deepEqual(pin.location, { lat: 52.52, lon: 13.405, accuracyM: 20 });
    assert.equal(pin.text, "Location: 52.52, 13.405");
    const venue = as({
      locationMessage: { degreesLatitude: 1, degreesLongitude: 2, name: "Café", address: "Main St 1" },
    });
    assert.equal(venue.location?.description, "Café, Main St 1");
    assert.match(venue.text, /^Venue: Café, Main St 1/);
    const live = as({
      liveLocationMessage: { degreesLatitude: 1, degreesLongitude: 2, caption: "on my way" },
    });
    assert.equal(live.text, "Live location: 1, 2 (on my way)");
    const bad = as({ locationMessage: { degreesLatitude: 200, degreesLongitude: 2 } });
    assert.equal(bad.msgtype, "notice", "a place that is not one is said, not dropped");
    const card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nEND:VCARD";
    const contact = as({ contactMessage: { displayName: "Ada", vcard: card } });
    assert.equal(contact.text, "Contact: Ada");
    assert.equal(contact.attachments?.[0]?.inline, `${card}\r\n`);
    assert.equal(contact.attachments?.[0]?.name, "contact.vcf");
    const two = as({
      contactsArrayMessage: { contacts: [{ displayName: "Ada", vcard: card }, { displayName: "Bo" }] },
    });
    assert.equal(two.text, "Contacts: Ada, Bo");
    const poll = as({
      pollCreationMessageV3: {
        name: "Lunch?",
        options: [{ optionName: "Pizza" }, { optionName: "Soup" }],
        selectableOptionsCount: 1,
      },
    });
    assert.deepEqual(poll.poll, {
      question: "Lunch?",
      answers: [
        { id: "0", text: "Pizza" },
        { id: "1", text: "Soup" },
      ],
      disclosed: true,
      maxSelections: 1,
    });
    assert.equal(poll.text, "Poll: Lunch?\n1. Pizza\n2. Soup");
    const event = as({ eventMessage: { name: "Party" } });
    assert.equal(event.msgtype, "notice");
    assert.equal(event.text, "Gus sent an event, which the bridge cannot show");
    const status = fixture<WAMessage>("groupText");
    status.key.remoteJid = "status@broadcast";
    assert.deepEqual(mapMessage(ctx, status), []);
    const empty = fixture<WAMessage>("groupText");
    empty.message = null;
    assert.deepEqual(mapMessage(ctx, empty), []);
  });

  it("a voice note's waveform (64 samples of 0–100) becomes Matrix's 0–1024", () => {
    const m = fixture<WAMessage>("groupText");
    m.message = {
      audioMessage: {
        mimetype: "audio/ogg; codecs=opus",
        ptt: true,
        seconds: 3,
        waveform: new Uint8Array([0, 50, 100, 250]),
      },
    };
    const [ev] = mapMessage(ctx, m);
    const ref = ev?.kind === "message" ? ev.attachments?.[0] : undefined;
    assert.equal(ref?.voice, true);
    assert.deepEqual(ref?.waveform, [0, 512, 1024, 1024]);
    assert.equal(ref?.durationMs, 3000);
  });

  it("view-once media is told as a notice and never fetched, unless view_once: bridge", () => {
    const once = fixture<WAMessage>("groupText");
    once.message = {
      viewOnceMessageV2: {
        message: { imageMessage: { mimetype: "image/jpeg", caption: "just once", viewOnce: true } },
      },
    };
    const [told] = mapMessage(ctx, once);
    assert.equal(told?.kind === "message" && told.msgtype, "notice");
    assert.equal(told?.kind === "message" && told.attachments, undefined, "nothing to fetch");
    assert.match(
      told?.kind === "message" ? told.text : "",
      /^Gus sent a view-once photo: open it on the phone/,
    );
    const flagged = fixture<WAMessage>("groupText");
    flagged.message = { audioMessage: { mimetype: "audio/ogg", ptt: true, viewOnce: true } };
    assert.match(
      mapMessage(ctx, flagged)[0]?.kind === "message"
        ? (mapMessage(ctx, flagged)[0] as { text: string }).text
        : "",
      /view-once voice message/,
    );
    const [bridged] = mapMessage({ ...ctx, viewOnce: "bridge" }, once);
    assert.equal(bridged?.kind === "message" && bridged.attachments?.length, 1);
  });

  it("mentions (mentionedJid) become pills of the ghosts; unmentioned numbers stay text", () => {
    const m = fixture<WAMessage>("groupText");
    m.message = {
      extendedTextMessage: {
        text: "@15552220002 and *@15552220003* meet @15550009999",
        contextInfo: { mentionedJid: ["15552220002@s.whatsapp.net", "15552220003@s.whatsapp.net"] },
      },
    };
    const ghosts = { ...ctx, ghostUserId: (n: string) => `@_whatsapp_${n}:localhost` };
    const [ev] = mapMessage(ghosts, m);
    assert.equal(ev?.kind === "message" && ev.text, "@15552220002 and *@15552220003* meet @15550009999");
    assert.equal(
      ev?.kind === "message" && ev.html,
      '<a href="https://matrix.to/#/@_whatsapp_15552220002:localhost">@15552220002</a> and <strong><a href="https://matrix.to/#/@_whatsapp_15552220003:localhost">@15552220003</a></strong> meet @15550009999',
    );
  });

  it("fuzz: any message content maps to events or nothing, never an exception", () => {
    fc.assert(
      fc.property(
        fc.object({ maxDepth: 3 }),
        fc.constantFrom(
          "locationMessage",
          "liveLocationMessage",
          "contactMessage",
          "contactsArrayMessage",
          "pollCreationMessage",
          "pollCreationMessageV3",
          "extendedTextMessage",
          "eventMessage",
        ),
        (inner, type) => {
          const m = fixture<WAMessage>("groupText");
          m.message = { [type]: inner } as WAMessage["message"];
          const out = mapMessage({ ...ctx, ghostUserId: (n: string) => `@_whatsapp_${n}:x` }, m);
          for (const e of out) if (e.kind === "message") assert.equal(typeof e.text, "string");
        },
      ),
      fuzzParams(300),
    );
  });

  it("group, participant, receipt and presence events", () => {
    const info = mapSideEvents.groups(ctx, fixture<BaileysEventMap["groups.update"]>("groupsUpdate"));
    assert.deepEqual(
      info.map((e) => e.kind === "chat-info" && e.info),
      [{ name: "Renamed group" }, { topic: "New description" }],
    );
    const [join] = mapSideEvents.participants(
      ctx,
      fixture<BaileysEventMap["group-participants.update"]>("participantAdd"),
    );
    assert.deepEqual(join.kind === "member" && [join.target.id, join.membership], ["15552220003", "join"]);
    const [leave] = mapSideEvents.participants(
      ctx,
      fixture<BaileysEventMap["group-participants.update"]>("participantLeave"),
    );
    assert.equal(leave.kind === "member" && leave.membership, "leave");
    const kicked = fixture<BaileysEventMap["group-participants.update"]>("participantLeave");
    kicked.author = "15552220001@s.whatsapp.net";
    assert.equal((mapSideEvents.participants(ctx, kicked)[0] as { membership: string }).membership, "kick");
    const [read] = mapSideEvents.receipts(
      ctx,
      fixture<BaileysEventMap["message-receipt.update"]>("readReceipt"),
    );
    assert.deepEqual(read.kind === "read" && [read.sender.id, read.upTo], ["15552220002", "$OWN"]);
    const [typing] = mapSideEvents.presence(ctx, fixture<BaileysEventMap["presence.update"]>("composing"));
    assert.equal(typing.kind === "typing" && typing.typing, true);
    const [paused] = mapSideEvents.presence(ctx, fixture<BaileysEventMap["presence.update"]>("paused"));
    assert.equal(paused.kind === "typing" && paused.typing, false);
  });
});
