import assert from "node:assert/strict";
import { readWhatsAppConfig } from "../../../../bridges/whatsapp/config";
import { chatIdOf, jidOfChat, ownerNumberOfChat, userIdOf } from "../../../../bridges/whatsapp/jids";
import { parsePhone } from "../../../../bridges/whatsapp/LoginSession";
import { outboundContent } from "../../../../bridges/whatsapp/outbound";
import type { OutboundMessage } from "../../../../src/core/connector";

const msg = (m: Partial<OutboundMessage>): OutboundMessage => ({
  sender: { mxid: "@a:hs", displayName: "A" },
  text: "",
  msgtype: "text",
  ...m,
});
const media = (mimetype: string) => ({ data: Buffer.from("x"), mimetype, name: "f.bin" });

describe("WhatsApp outbound content, ids and config", () => {
  it("a pill of a WhatsApp user's ghost becomes @number with mentionedJid; other pills keep their name", () => {
    const numberOf = (mxid: string) => /^@_whatsapp_(\d+):hs$/.exec(mxid)?.[1];
    const html =
      '<a href="https://matrix.to/#/@_whatsapp_15552220002:hs">Hana (WhatsApp)</a>, ask <a href="https://matrix.to/#/@bob:hs">Bob</a>';
    assert.deepEqual(outboundContent(msg({ text: "Hana (WhatsApp), ask Bob", html }), "", numberOf), {
      text: "@15552220002, ask Bob",
      linkPreview: null,
      mentions: ["15552220002@s.whatsapp.net"],
    });
    const image = outboundContent(
      msg({ text: "look", html, attachment: { kind: "image", media: media("image/png") } }),
      "",
      numberOf,
    );
    assert.deepEqual("mentions" in image && image.mentions, ["15552220002@s.whatsapp.net"]);
  });

  it("text in WhatsApp formatting, relay prefix, emotes", () => {
    assert.deepEqual(outboundContent(msg({ text: "hi", html: "<b>hi</b>" }), ""), {
      text: "*hi*",
      linkPreview: null,
    });
    assert.deepEqual(outboundContent(msg({ text: "hi" }), "*Bob*: "), {
      text: "*Bob*: hi",
      linkPreview: null,
    });
    assert.deepEqual(outboundContent(msg({ text: "waves", msgtype: "emote" }), ""), {
      text: "_waves_",
      linkPreview: null,
    });
  });

  it("media kinds: Opus audio as a voice note, files as documents with their name", () => {
    const voice = outboundContent(
      msg({ attachment: { kind: "audio", media: media("audio/ogg"), durationMs: 2500 } }),
      "",
    );
    assert.equal((voice as { ptt?: boolean }).ptt, true);
    assert.equal((voice as { seconds?: number }).seconds, 3);
    const mp3 = outboundContent(msg({ attachment: { kind: "audio", media: media("audio/mpeg") } }), "");
    assert.equal((mp3 as { ptt?: boolean }).ptt, false);
    const doc = outboundContent(
      msg({ text: "see", attachment: { kind: "file", media: media("application/pdf") } }),
      "",
    );
    assert.equal((doc as { fileName?: string }).fileName, "f.bin");
    assert.equal((doc as { caption?: string }).caption, "see");
    assert.ok(
      "sticker" in outboundContent(msg({ attachment: { kind: "sticker", media: media("image/webp") } }), ""),
    );
    assert.ok(
      "video" in outboundContent(msg({ attachment: { kind: "video", media: media("video/mp4") } }), ""),
    );
  });

  it("chat ids: groups shared, DMs per account; users by number", () => {
    assert.equal(chatIdOf("1555", "120363@g.us"), "120363@g.us");
    assert.equal(chatIdOf("1555", "1666:3@s.whatsapp.net"), "1555_1666@s.whatsapp.net");
    assert.equal(jidOfChat("1555_1666@s.whatsapp.net"), "1666@s.whatsapp.net");
    assert.equal(jidOfChat("120363@g.us"), "120363@g.us");
    assert.equal(ownerNumberOfChat("1555_1666@s.whatsapp.net"), "1555");
    assert.equal(userIdOf("1666:3@s.whatsapp.net"), "1666");
    assert.equal(userIdOf("998877@lid"), "998877@lid");
  });

  it("config: defaults, and errors that name the key", () => {
    const cfg = readWhatsAppConfig({});
    assert.equal(cfg.websocketUrl, "wss://web.whatsapp.com/ws/chat");
    assert.equal(cfg.relayTemplate, "*{name}*: ");
    assert.throws(
      () => readWhatsAppConfig({ websocket_url: "http://x" }),
      /platforms\.whatsapp\.websocket_url: must be a ws\(s\):\/\/ URL/,
    );
    assert.throws(
      () => readWhatsAppConfig({ relay_template: "x" }),
      /platforms\.whatsapp\.relay_template: must be a template containing \{name\}/,
    );
    assert.throws(
      () => readWhatsAppConfig({ backoff_initial_ms: 10, backoff_max_ms: 5 }),
      /platforms\.whatsapp\.backoff_max_ms: must be at least backoff_initial_ms \(10\)/,
    );
  });

  it("pairing-code phone numbers", () => {
    assert.equal(parsePhone("+1 (555) 123-4567"), "15551234567");
    assert.equal(parsePhone(undefined), undefined);
    assert.throws(() => parsePhone("call me"), /not a phone number/);
  });
});
