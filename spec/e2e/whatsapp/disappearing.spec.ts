import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dump, load } from "js-yaml";
import { baileys, loadBaileys } from "../../../bridges/whatsapp/baileys";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

/**
 * Disappearing messages end to end: the stand-in turns a chat's timer on (an EPHEMERAL_SETTING
 * protocol message) and sends messages with `contextInfo.expiration`; timers of a few seconds
 * keep the suite short (the bridge takes any positive number of seconds).
 */
const ME = "15550000031"; // numbers of its own: the suites share one Synapse (portal aliases)
const WANDA = "15551234531";
const CHAT = `${ME}_${WANDA}@s.whatsapp.net`;
const WAIT = { timeoutMs: 30_000 };
const TIMER = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WhatsApp disappearing messages end to end (baileys ↔ wire-level stand-in, real Synapse)", function () {
  this.timeout(240_000);
  let core: WaRig;
  let alice: MatrixTestClient;
  let room: string;

  const isText = (body: string) => (e: MatrixEvent) =>
    e.room_id === room && e.type === "m.room.message" && e.content.body === body;
  const redactionOf = (eventId: string) => (e: MatrixEvent) =>
    e.room_id === room && e.type === "m.room.redaction" && e.redacts === eventId;
  /** The redactions of `eventId` the homeserver has in the room (not what sync happened to show). */
  const redactionsOf = async (eventId: string) =>
    (await alice.messages(room, { limit: 500 })).filter(
      (e) => e.type === "m.room.redaction" && e.redacts === eventId,
    );
  const setTimer = (seconds: number) =>
    core.wa.sendMessage(WANDA, ME, {
      protocolMessage: {
        type: baileys().proto.Message.ProtocolMessage.Type.EPHEMERAL_SETTING,
        ephemeralExpiration: seconds,
      },
    });
  /** A message of the chat's timer (a message with another one would change the chat's). */
  const disappearingText = (text: string) =>
    core.wa.sendMessage(WANDA, ME, { extendedTextMessage: { text, contextInfo: { expiration: TIMER } } });
  const notice = (body: string) =>
    alice.waitFor(
      (e) =>
        e.room_id === room && e.sender === BOT && e.content.msgtype === "m.notice" && e.content.body === body,
      WAIT,
    );

  before(async () => {
    await loadBaileys();
    core = await startWaRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice M",
      setup: (wa) => {
        wa.contact(WANDA, "Wanda");
      },
    });
    alice = await user("alice");
    await core.wa.until(
      () => core.wa.keysUploaded(ME),
      30_000,
      "the bridge's device to log in and upload its keys",
    );
    await core.wa.sendText(WANDA, ME, "hello before the timer");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(CHAT)),
      30_000,
    );
    room = await alice.join(invite.roomId);
    await alice.waitFor(isText("hello before the timer"), WAIT);
  });
  after(async () => core?.stop());

  it("tells the room when the chat's timer is turned on", async () => {
    await setTimer(TIMER);
    await notice(`Disappearing messages are on in this chat: messages disappear after ${TIMER} seconds.`);
  });

  it("hostile timers (the largest uint32, far over a year) are ignored with a log; the message arrives and is kept", async () => {
    const huge = 2 ** 32 - 1;
    await setTimer(huge);
    await core.wa.sendMessage(WANDA, ME, {
      extendedTextMessage: { text: "a timer of 136 years", contextInfo: { expiration: huge } },
    });
    const msg = await alice.waitFor(isText("a timer of 136 years"), WAIT);
    // The setting went before the message in the chat's lane: a notice for it would show first.
    const notices = alice
      .eventsIn(room)
      .filter((e) => e.sender === BOT && String(e.content.body).startsWith("Disappearing messages"));
    assert.equal(notices.length, 1, "only the notice of the real timer");
    const tracked = await core.pool.query("SELECT 1 FROM disappearing_event WHERE event_id = $1", [
      msg.event_id,
    ]);
    assert.equal(tracked.rowCount, 0);
    assert.match(core.bridge.output(), /setting with a timer that is no number of seconds ignored/);
    assert.match(core.bridge.output(), /timer that is no number of seconds ignored; the message is kept/);
  });

  it("redacts a WhatsApp message with an expiration in Matrix once it expires, as its ghost", async () => {
    const sentAt = Date.now();
    await disappearingText("this will vanish");
    const msg = await alice.waitFor(isText("this will vanish"), WAIT);
    assert.equal(msg.sender, waGhost(WANDA));
    const redaction = await alice.waitFor(redactionOf(String(msg.event_id)), WAIT);
    assert.equal(redaction.sender, waGhost(WANDA));
    // WhatsApp's timestamps are whole seconds: the expiry is at most a second before TIMER after sending.
    assert.ok(Date.now() - sentAt >= (TIMER - 1) * 1000, "not redacted before it expired");
  });

  it("sends a Matrix message into the chat with the chat's timer, and redacts it in Matrix at expiry", async () => {
    const eventId = await alice.sendText(room, "matrix side vanishes");
    const got = await core.wa.waitFor(
      (m) => m.to === WANDA && m.text === "matrix side vanishes",
      30_000,
      "the relayed message",
    );
    assert.equal(got.expiration, TIMER, "sent disappearing on the phones too");
    const redaction = await alice.waitFor(redactionOf(eventId), WAIT);
    assert.equal(redaction.sender, BOT);
    // The message disappears on the phones by itself: no deletion is sent to WhatsApp for it.
    await sleep(500);
    assert.ok(
      !core.wa.sent.some((m) => m.message.protocolMessage?.key?.id === got.id),
      "no revoke of the message went to WhatsApp",
    );
  });

  it("kill -9 before the expiry, restart after it: the message is still redacted, exactly once, and none twice", async () => {
    const sentAt = Date.now();
    await disappearingText("survives a crash, then vanishes");
    const msg = await alice.waitFor(isText("survives a crash, then vanishes"), WAIT);
    // Killed once the expiry is stored and the message delivered (so no retried delivery
    // stores it again after the restart): the restarted bridge has only the table to go by.
    for (const end = Date.now() + 10_000; ; await sleep(50)) {
      const tracked = await core.pool.query("SELECT 1 FROM disappearing_event WHERE event_id = $1", [
        msg.event_id,
      ]);
      const queued = await core.pool.query("SELECT 1 FROM delivery_queue");
      if (tracked.rowCount === 1 && queued.rowCount === 0) break;
      assert.ok(Date.now() < end, "the expiry was never stored, or the delivery never finished");
    }
    core.bridge.kill("SIGKILL");
    await core.bridge.waitForExit();
    await sleep(Math.max(0, sentAt + (TIMER + 1) * 1000 - Date.now()));
    assert.equal(
      (await redactionsOf(String(msg.event_id))).length,
      0,
      "nothing redacted while the bridge was down",
    );
    await core.restart("SIGKILL");
    await alice.waitFor(redactionOf(String(msg.event_id)), WAIT);
    await sleep(2000);
    const earlier = (await alice.messages(room, { limit: 500 })).filter(
      (e) => e.type === "m.room.message" && typeof e.content.body !== "string" && e.sender !== BOT,
    );
    assert.ok(earlier.length >= 3, "the redacted messages are in the room, emptied");
    for (const e of earlier)
      assert.equal((await redactionsOf(String(e.event_id))).length, 1, `one redaction of ${e.event_id}`);
    const pending = await core.pool.query("SELECT count(*)::int AS n FROM disappearing_event");
    assert.equal(pending.rows[0].n, 0);
  });

  it("with disappearing.redact false nothing is redacted; messages from Matrix still go out disappearing", async () => {
    const config = load(readFileSync(core.configPath, "utf8")) as {
      platforms: { whatsapp: Record<string, unknown> };
    };
    config.platforms.whatsapp.disappearing = { redact: false };
    writeFileSync(core.configPath, dump(config));
    await core.restart();
    const sentAt = Date.now();
    await disappearingText("this one stays");
    const kept = await alice.waitFor(isText("this one stays"), WAIT);
    const eventId = await alice.sendText(room, "this one stays too");
    const got = await core.wa.waitFor((m) => m.text === "this one stays too", 30_000, "the relayed message");
    assert.equal(got.expiration, TIMER);
    await sleep(Math.max(0, sentAt + (TIMER + 2) * 1000 - Date.now()));
    assert.deepEqual(await redactionsOf(String(kept.event_id)), []);
    assert.deepEqual(await redactionsOf(eventId), []);
    const tracked = await core.pool.query("SELECT count(*)::int AS n FROM disappearing_event");
    assert.equal(tracked.rows[0].n, 0, "nothing waits to be redacted");
  });

  it("tells the room when the timer is turned off; messages from Matrix then go out without one", async () => {
    await setTimer(0);
    await notice("Disappearing messages are off in this chat.");
    await alice.sendText(room, "back to normal");
    const got = await core.wa.waitFor((m) => m.text === "back to normal", 30_000, "the relayed message");
    assert.equal(got.expiration, undefined);
  });

  it("a message sent with a timer the room was not told of (set on a phone before) tells it, once", async () => {
    const week = 7 * 24 * 3600;
    for (const text of ["from an older timer", "and another"])
      await core.wa.sendMessage(WANDA, ME, {
        extendedTextMessage: { text, contextInfo: { expiration: week } },
      });
    await alice.waitFor(isText("and another"), WAIT);
    const body = "Disappearing messages are on in this chat: messages disappear after 7 days.";
    await notice(body);
    await alice.sendText(room, "goes out with the week");
    const got = await core.wa.waitFor(
      (m) => m.text === "goes out with the week",
      30_000,
      "the relayed message",
    );
    assert.equal(got.expiration, week);
    const notices = (await alice.messages(room, { limit: 500 })).filter((e) => e.content.body === body);
    assert.equal(notices.length, 1);
  });
});
