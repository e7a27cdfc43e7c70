import assert from "node:assert/strict";
import type { WAMessage } from "@whiskeysockets/baileys";
import fc from "fast-check";
import { baileys, loadBaileys } from "../../../../bridges/whatsapp/baileys";
import { ephemeralSeconds, type MapperContext, mapMessage } from "../../../../bridges/whatsapp/inbound";
import { fuzzParams } from "../../../harness/fuzz";

const DM = "15551234567@s.whatsapp.net";
const CHAT = "15550000001_15551234567@s.whatsapp.net";

function context(redact = true): MapperContext & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    ownNumber: "15550000001",
    sentByBridge: () => false,
    redactDisappearing: redact,
    warn: (text) => warnings.push(text),
    warnings,
  };
}

const wa = (message: unknown, id = "M1"): WAMessage =>
  ({
    key: { remoteJid: DM, fromMe: false, id },
    messageTimestamp: 1796190000,
    pushName: "Wanda",
    message,
  }) as WAMessage;

const setting = (ephemeralExpiration: unknown) =>
  wa({
    protocolMessage: {
      type: baileys().proto.Message.ProtocolMessage.Type.EPHEMERAL_SETTING,
      ephemeralExpiration,
    },
  });

const text = (expiration: unknown, body = "poof") =>
  wa({ extendedTextMessage: { text: body, contextInfo: { expiration } } });

describe("WhatsApp disappearing messages → RemoteEvents", () => {
  before(async () => {
    await loadBaileys();
  });

  it("an EPHEMERAL_SETTING protocol message is the chat's timer; 0 or none turns it off", () => {
    for (const [value, seconds] of [
      [604800, 604800],
      [86400, 86400],
      [7776000, 7776000],
      [5, 5],
      [0, 0],
      [undefined, 0],
      [null, 0],
    ] as const) {
      const ctx = context();
      const events = mapMessage(ctx, setting(value));
      assert.equal(events.length, 1, String(value));
      const [ev] = events;
      assert.equal(ev.kind, "disappearing");
      if (ev.kind !== "disappearing") return;
      assert.equal(ev.seconds, seconds);
      assert.deepEqual(ev.chat, { id: CHAT });
      assert.deepEqual(ev.sender, { id: "15551234567" });
      assert.deepEqual(ctx.warnings, []);
    }
  });

  it("the setting inside an ephemeral wrapper, and a group's (baileys' form of its notification)", () => {
    const P = baileys().proto.Message.ProtocolMessage.Type;
    const wrapped = wa({
      ephemeralMessage: {
        message: { protocolMessage: { type: P.EPHEMERAL_SETTING, ephemeralExpiration: 86400 } },
      },
    });
    const [ev] = mapMessage(context(), wrapped);
    assert.equal(ev.kind === "disappearing" && ev.seconds, 86400);
    const group = setting(604800);
    group.key = { remoteJid: "120363000000000001@g.us", participant: DM, fromMe: false, id: "G1" };
    const [gev] = mapMessage(context(), group);
    assert.deepEqual(gev.chat, { id: "120363000000000001@g.us" });
    assert.equal(gev.kind === "disappearing" && gev.seconds, 604800);
  });

  it("a message with contextInfo.expiration carries it; any positive seconds value is taken", () => {
    for (const seconds of [604800, 3, 1]) {
      const [ev] = mapMessage(context(), text(seconds));
      assert.equal(ev.kind, "message");
      assert.equal(ev.kind === "message" && ev.text, "poof");
      assert.equal(ev.kind === "message" && ev.expiresInSeconds, seconds);
    }
    const media = wa({
      imageMessage: { mimetype: "image/jpeg", caption: "pic", contextInfo: { expiration: 86400 } },
    });
    const [img] = mapMessage(context(), media);
    assert.equal(img.kind === "message" && img.expiresInSeconds, 86400);
  });

  it("with disappearing.redact false the message carries no expiry (its Matrix copy stays); the setting still comes", () => {
    const [ev] = mapMessage(context(false), text(604800));
    assert.equal(ev.kind, "message");
    assert.equal(ev.kind === "message" && ev.expiresInSeconds, undefined);
    const [s] = mapMessage(context(false), setting(604800));
    assert.equal(s.kind, "disappearing");
  });

  it("a message without a timer, or with 0, carries none", () => {
    for (const message of [
      { conversation: "plain" },
      { extendedTextMessage: { text: "x", contextInfo: { expiration: 0 } } },
    ]) {
      const ctx = context();
      const [ev] = mapMessage(ctx, wa(message));
      assert.equal(ev.kind === "message" && ev.expiresInSeconds, undefined);
      assert.deepEqual(ctx.warnings, []);
    }
  });

  it("timers that are no number of seconds: the setting is ignored, the message kept without one, each logged", () => {
    for (const bad of [
      -1,
      -604800,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 53,
      10 ** 12,
      "604800",
      "7d",
      {},
      [],
      true,
    ]) {
      const ctx = context();
      assert.deepEqual(mapMessage(ctx, setting(bad)), [], String(bad));
      assert.equal(ctx.warnings.length, 1, String(bad));
      assert.match(ctx.warnings[0], /no number of seconds ignored/);
      const msg = context();
      const [ev] = mapMessage(msg, text(bad, "still here"));
      assert.equal(ev.kind === "message" && ev.text, "still here", String(bad));
      assert.equal(ev.kind === "message" && ev.expiresInSeconds, undefined);
      assert.equal(msg.warnings.length, 1, String(bad));
    }
  });

  it("ephemeralSeconds: whole seconds from 0 to a year, Long values read, nothing else", () => {
    assert.equal(ephemeralSeconds(0), 0);
    assert.equal(ephemeralSeconds(604800), 604800);
    assert.equal(ephemeralSeconds({ toNumber: () => 86400 }), 86400);
    assert.equal(ephemeralSeconds(366 * 86400), 366 * 86400);
    assert.equal(ephemeralSeconds(366 * 86400 + 1), undefined);
    assert.equal(ephemeralSeconds({ toNumber: () => "x" }), undefined);
    assert.equal(ephemeralSeconds(-0.5), undefined);
  });

  it("fuzz: any expiration value never throws, never loses the message, never yields a bad timer", () => {
    const anyValue = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.constantFrom(Number.NaN, -1, 0, 2 ** 32, 2 ** 53 + 2, Number.MAX_VALUE, -Number.MAX_VALUE),
      fc.string({ maxLength: 12 }),
      fc.constantFrom("\u0000", "\uD800", "1e9", " 5 "),
      fc.anything({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(anyValue, anyValue, fc.string({ maxLength: 20 }), (a, b, body) => {
        const ok = (n: unknown) =>
          typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= 366 * 86400;
        const s = mapMessage(context(), setting(a));
        assert.ok(s.length <= 1);
        if (s[0]) assert.ok(s[0].kind === "disappearing" && ok(s[0].seconds));
        const [ev] = mapMessage(context(), text(b, body || "x"));
        assert.equal(ev.kind, "message");
        if (ev.kind !== "message") return;
        assert.equal(ev.text, body || "x");
        if (ev.expiresInSeconds !== undefined) assert.ok(ok(ev.expiresInSeconds) && ev.expiresInSeconds > 0);
        // A protocol message of another type is never taken for a setting.
        const revoke = wa({ protocolMessage: { type: 0, key: { id: "T" }, ephemeralExpiration: a } });
        assert.ok(mapMessage(context(), revoke).every((e) => e.kind !== "disappearing"));
      }),
      fuzzParams(300),
    );
  });
});
