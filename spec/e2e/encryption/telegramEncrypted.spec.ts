import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { E2eeClient, type E2eeEvent } from "../../harness/E2eeClient";
import type { TelegramServer } from "../../standins/telegram/TelegramServer";
import type { CoreRig } from "../core/coreRig";
import { outboundBurstAcrossKill } from "../core/outboundKill";
import { startTelegramRig, type TelegramRig, tgGhost } from "../telegram/telegramRig";

const GROUP = -1009876543;
const UMA = 601;
const ERIN = "@erin:localhost";

/** The event an event replies to. */
const inReplyTo = (e: E2eeEvent): string | undefined =>
  (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]
    ?.event_id;

const text = (body: string) => (e: E2eeEvent) => e.type === "m.room.message" && e.content.body === body;

/**
 * An encrypted portal, end to end: the bridge's ghosts and bot encrypt and decrypt with devices
 * of their own; erin (and frank, who joins later) are real E2EE clients on the same Synapse.
 */
describe("Encrypted portal with Telegram (real E2EE clients, real Synapse)", function () {
  this.timeout(180_000);
  let rig: TelegramRig;
  let tg: TelegramServer;
  let core: CoreRig;
  let erin: E2eeClient;
  let room: string;
  let first: number;

  before(async () => {
    rig = await startTelegramRig(
      "clawbridge_e2ee_bot",
      { poll_timeout_seconds: 1 },
      (t) => {
        t.addChat({ id: GROUP, type: "supergroup", title: "Secret group" });
        t.addUser({ id: UMA, first_name: "Uma" });
      },
      {},
      {
        owner: ERIN,
        permissions: { [ERIN]: "admin" },
        encryption: { allow: true, default: true, key_wait_seconds: 4 },
      },
    );
    ({ tg, core } = rig);
    erin = await E2eeClient.register(core.rig.synapse, "erin");
  });
  after(async () => {
    await erin?.stop();
    await rig?.stop();
  });

  it("creates the portal encrypted; the ghost's messages arrive encrypted and decrypt", async () => {
    first = tg.injectMessage({ chat: GROUP, from: UMA, text: "hello secret world" });
    const invite = await erin.waitForInvite(
      (i) =>
        i.events.some(
          (e) => e.type === "m.room.canonical_alias" && String(e.content.alias).includes(String(GROUP)),
        ),
      30_000,
    );
    room = await erin.join(invite.roomId);
    const msg = await erin.waitForEvent(room, text("hello secret world"), 30_000);
    assert.equal(msg.sender, tgGhost(UMA));
    assert.equal(msg.encrypted, true, "sent encrypted");
    assert.equal(msg.utd, undefined);
    assert.ok(erin.isEncrypted(room));
    // The ghost encrypts with a device of its own (a sender's device must be its own).
    const device = await erin.deviceInfo(tgGhost(UMA), String(msg.senderDevice));
    assert.ok(device, "the ghost's device is known");
    assert.equal(device.crossSignedByOwner, true, "the ghost's device is signed by its own identity");
  });

  it("relays erin's encrypted text, reply and edit to Telegram", async () => {
    const from = rig.from();
    const original = (await erin.waitForEvent(room, text("hello secret world"))).eventId;
    await erin.reply(room, original, "a secret answer");
    const sent = await tg.waitFor(
      (c) => from(c) && c.method === "sendMessage" && String(c.params.text).includes("a secret answer"),
    );
    const replyTo = sent.params.reply_parameters as { message_id: number } | string;
    const parsed = typeof replyTo === "string" ? (JSON.parse(replyTo) as { message_id: number }) : replyTo;
    assert.equal(Number(parsed.message_id), first);
    const mine = await erin.sendText(room, "secret typo");
    const typo = await tg.waitFor(
      (c) => from(c) && c.method === "sendMessage" && String(c.params.text).includes("secret typo"),
    );
    await erin.edit(room, mine, "secret fixed");
    const edit = await tg.waitFor((c) => from(c) && c.method === "editMessageText");
    assert.equal(Number(edit.params.message_id), (typo.result as { message_id: number }).message_id);
    assert.match(String(edit.params.text), /secret fixed/);
  });

  it("brings a Telegram edit and reply over encrypted", async () => {
    tg.injectEdit({ chat: GROUP, message_id: first, text: "hello edited secret" });
    const edit = await erin.waitForEvent(
      room,
      (e) => (e.content["m.new_content"] as { body?: string } | undefined)?.body === "hello edited secret",
    );
    assert.equal(edit.encrypted, true);
    const original = (await erin.waitForEvent(room, text("hello secret world"))).eventId;
    assert.deepEqual((edit.content["m.relates_to"] as { event_id?: string }).event_id, original);
    tg.injectMessage({ chat: GROUP, from: UMA, text: "replying in secret", reply_to_message_id: first });
    const reply = await erin.waitForEvent(room, text("replying in secret"));
    assert.equal(inReplyTo(reply), original);
  });

  it("brings images over encrypted, byte for byte, both ways", async () => {
    const bytes = randomBytes(4096);
    tg.injectMessage({
      chat: GROUP,
      from: UMA,
      caption: "a secret photo",
      photo: { data: bytes, mimetype: "image/jpeg" },
    });
    const img = await erin.waitForEvent(
      room,
      (e) => e.content.msgtype === "m.image" && e.sender === tgGhost(UMA),
    );
    assert.equal(img.encrypted, true);
    assert.equal(img.content.url, undefined, "no unencrypted copy is linked");
    const file = img.content.file as { url: string };
    assert.ok(file?.url, "the image is an encrypted file");
    assert.deepEqual(Buffer.from(await erin.downloadDecrypted(file as never)), bytes);
    assert.notDeepEqual(
      Buffer.from(await erin.downloadRaw(file.url)),
      bytes,
      "the media store holds ciphertext",
    );

    const upload = randomBytes(2048);
    const from = rig.from();
    await erin.sendEncryptedImage(room, upload, "image/png", { size: upload.length }, "pic.png");
    await tg.waitFor((c) => from(c) && c.method === "sendPhoto");
    const photo = tg.sent(GROUP).findLast((m) => m.method === "sendPhoto");
    assert.ok(photo?.upload, "uploaded to Telegram");
    assert.deepEqual(photo.upload.data, upload);
  });

  it("a member who joins later decrypts what is said from then on", async () => {
    const frank = await E2eeClient.register(core.rig.synapse, "frank");
    try {
      await erin.invite(room, frank.userId);
      await frank.waitForInvite((i) => i.roomId === room, 30_000);
      await frank.join(room);
      tg.injectMessage({ chat: GROUP, from: UMA, text: "welcome frank" });
      const seen = await frank.waitForEvent(room, text("welcome frank"), 30_000);
      assert.equal(seen.encrypted, true);
      assert.equal(seen.utd, undefined);
    } finally {
      await frank.stop();
    }
  });

  it("links an existing encrypted room by an encrypted command; the answer and the bridged messages are encrypted", async () => {
    const OTHER = -1001112223;
    tg.addChat({ id: OTHER, type: "group", title: "Linked secret group" });
    const linked = await erin.createEncryptedRoom({
      name: "Existing secret",
      invite: ["@clawbridge:localhost"],
    });
    await erin.waitForEvent(
      linked,
      (e) =>
        e.type === "m.room.member" &&
        e.stateKey === "@clawbridge:localhost" &&
        e.content.membership === "join",
      30_000,
    );
    await erin.sendText(linked, `!cb link telegram ${OTHER}`);
    const answer = await erin.waitForEvent(linked, (e) =>
      String(e.content.body).startsWith("Linked this room to telegram"),
    );
    assert.equal(answer.encrypted, true);
    tg.injectMessage({ chat: OTHER, from: UMA, text: "into the linked secret room" });
    const m = await erin.waitForEvent(linked, text("into the linked secret room"), 30_000);
    assert.equal(m.sender, tgGhost(UMA));
    assert.equal(m.encrypted, true);
    const from = rig.from();
    await erin.sendText(linked, "back to the linked group");
    const call = await tg.waitFor(
      (c) =>
        from(c) && c.method === "sendMessage" && String(c.params.text).includes("back to the linked group"),
    );
    assert.equal(Number(call.params.chat_id), OTHER);
  });

  it("tells the room about a message it could never decrypt, and bridges the next one", async () => {
    const from = rig.from();
    const lost = await erin.sendUndecryptable(room);
    const notice = await erin.waitForEvent(
      room,
      (e) =>
        e.content.msgtype === "m.notice" &&
        /could not be decrypted/.test(String(e.content.body)) &&
        inReplyTo(e) === lost,
      30_000,
    );
    assert.equal(notice.encrypted, true, "the notice is encrypted too");
    await erin.sendText(room, "after the lost one");
    await tg.waitFor(
      (c) => from(c) && c.method === "sendMessage" && String(c.params.text).includes("after the lost one"),
    );
  });

  it("tells each hostile encrypted envelope once, parks none it cannot hold, and bridges what follows", async () => {
    const from = rig.from();
    const megolm = "m.megolm.v1.aes-sha2";
    const b64 = (n: number) => randomBytes(n).toString("base64").replace(/=+$/, "");
    const hostile: Record<string, Record<string, unknown>> = {
      empty: {},
      "no ciphertext": { algorithm: megolm, session_id: "abcdef" },
      "ciphertext not a string": { algorithm: megolm, ciphertext: { a: 1 }, session_id: "abcdef" },
      "session id a number": { algorithm: megolm, ciphertext: b64(64), session_id: 42 },
      "20 KB session id": { algorithm: megolm, ciphertext: b64(64), session_id: b64(15_000) },
      // A well-formed Megolm message of an unknown session would wait for its key: with a session id no
      // index can hold, it must be told at once rather than retried for ever.
      "sound ciphertext, 20 KB session id": {
        ...(await erin.undecryptableContent(room)),
        session_id: b64(15_000),
      },
      "sound ciphertext, unknown session": await erin.undecryptableContent(
        room,
        "waits for a key that never comes",
      ),
      "olm in a room event": {
        algorithm: "m.olm.v1.curve25519-aes-sha2",
        ciphertext: { x: { type: 0, body: "b" } },
      },
      "48 KB ciphertext, unknown session": {
        algorithm: megolm,
        ciphertext: b64(36_000),
        session_id: b64(32),
        sender_key: 7,
        device_id: ["D"],
      },
      "ciphertext not base64": { algorithm: megolm, ciphertext: "not base64 at all!", session_id: b64(32) },
    };
    const ids = new Map<string, string>();
    for (const [name, content] of Object.entries(hostile))
      ids.set(await erin.sendRawEncrypted(room, content), name);
    const told = new Map<string, number>();
    const notices = () =>
      erin
        .timeline(room)
        .filter(
          (e) => e.content.msgtype === "m.notice" && /could not be decrypted/.test(String(e.content.body)),
        );
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline) {
      told.clear();
      for (const n of notices()) {
        const to = inReplyTo(n);
        if (to && ids.has(to)) told.set(to, (told.get(to) ?? 0) + 1);
      }
      if (told.size === ids.size) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const untold = [...ids].filter(([id]) => !told.has(id)).map(([, name]) => name);
    assert.deepEqual(untold, [], "every hostile envelope is told to the room");
    await erin.sendText(room, "after the hostile envelopes");
    await tg.waitFor(
      (c) =>
        from(c) &&
        c.method === "sendMessage" &&
        String(c.params.text).includes("after the hostile envelopes"),
    );
    const twice = [...told].filter(([, n]) => n > 1).map(([id]) => ids.get(id));
    assert.deepEqual(twice, [], "each is told once");
    assert.equal(
      tg.calls.filter(
        (c) => from(c) && c.method === "sendMessage" && /hostile|could not/.test(String(c.params.text)),
      ).length,
      1,
      "only the genuine message reached Telegram",
    );
  });

  it("bridges a message whose key arrives after it", async () => {
    const from = rig.from();
    await erin.sendEncrypted(
      room,
      "m.room.message",
      { msgtype: "m.text", body: "key comes later" },
      { beforeKeys: () => new Promise((r) => setTimeout(r, 1500)) },
    );
    await tg.waitFor(
      (c) => from(c) && c.method === "sendMessage" && String(c.params.text).includes("key comes later"),
    );
  });

  it("says which message it could not bridge when its key was dropped while the bridge was down; a new session works", async () => {
    let lost = "";
    await core.restart("SIGKILL", async () => {
      // A new session: its key goes to the bridge's devices as to-device messages, which the
      // homeserver does not keep for an appservice it cannot reach.
      await erin.rotateRoomKey(room);
      lost = await erin.sendText(room, "said while the bridge was down");
    });
    await erin.waitForEvent(
      room,
      (e) =>
        e.content.msgtype === "m.notice" &&
        /could not be decrypted/.test(String(e.content.body)) &&
        inReplyTo(e) === lost,
      30_000,
    );
    const from = rig.from();
    await erin.rotateRoomKey(room);
    await erin.sendText(room, "a new session after the outage");
    await tg.waitFor(
      (c) =>
        from(c) &&
        c.method === "sendMessage" &&
        String(c.params.text).includes("a new session after the outage"),
      30_000,
    );
  });

  it("a burst of 30 encrypted Matrix messages across a SIGKILL: none lost, in order, all decrypted", async () => {
    const burst = /enc-out (\d\d|barrier)/;
    const { expected, got, atKill } = await outboundBurstAcrossKill({
      alice: erin,
      room,
      prefix: "enc-out",
      restart: (signal) => core.restart(signal),
      arrived: (t, timeoutMs) =>
        tg.waitFor(
          (c) => c.method === "sendMessage" && !c.error && String(c.params.text).includes(t),
          timeoutMs,
        ),
      held: () =>
        tg
          .sent(GROUP)
          .map((m) => burst.exec(m.text ?? "")?.[0])
          .filter((t): t is string => !!t),
    });
    assert.ok(atKill >= 5 && atKill < 30, `killed mid-burst (${atKill} posted)`);
    assert.deepEqual([...new Set(got)], expected, "none lost, order kept");
    const doubled = got.filter((t, i) => got.indexOf(t) !== i);
    assert.ok(
      doubled.length <= 1 && doubled.every((t) => t === expected[4]),
      `only the message in flight at the kill may be doubled (Bot API): ${doubled.join(", ")}`,
    );
  });

  it("a burst of 30 Telegram messages across a SIGKILL arrives encrypted exactly once, in order, all decryptable", async () => {
    const texts = Array.from({ length: 30 }, (_, i) => `enc-in ${String(i).padStart(2, "0")}`);
    for (const t of texts) tg.injectMessage({ chat: GROUP, from: UMA, text: t });
    await erin.waitForEvent(room, text("enc-in 04"), 30_000);
    await core.restart("SIGKILL");
    await erin.waitForEvent(room, text("enc-in 29"), 60_000);
    tg.injectMessage({ chat: GROUP, from: UMA, text: "enc-in barrier" });
    await erin.waitForEvent(room, text("enc-in barrier"), 30_000);
    const seen = erin.timeline(room).filter((e) => e.sender === tgGhost(UMA));
    assert.deepEqual(
      seen.filter((e) => e.utd).map((e) => e.eventId),
      [],
      "every message from the ghost decrypts",
    );
    const got = seen
      .map((e) => String(e.content.body))
      .filter((b) => b.startsWith("enc-in ") && b !== "enc-in barrier");
    assert.deepEqual(got, texts);
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`still decrypts and encrypts both ways after ${signal}`, async () => {
      await erin.sendText(room, `before ${signal}`);
      await tg.waitFor(
        (c) => c.method === "sendMessage" && String(c.params.text).includes(`before ${signal}`),
      );
      await core.restart(signal);
      const from = rig.from();
      await erin.sendText(room, `after ${signal} from matrix`);
      await tg.waitFor(
        (c) =>
          from(c) &&
          c.method === "sendMessage" &&
          String(c.params.text).includes(`after ${signal} from matrix`),
        30_000,
      );
      tg.injectMessage({ chat: GROUP, from: UMA, text: `after ${signal} from telegram` });
      const back = await erin.waitForEvent(room, text(`after ${signal} from telegram`), 30_000);
      assert.equal(back.encrypted, true);
      assert.equal(back.utd, undefined);
    });
  }
});
