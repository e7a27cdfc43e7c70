import assert from "node:assert/strict";
import { E2eeClient, type E2eeEvent } from "../../harness/E2eeClient";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { AI, type AiRig, startAiRig } from "../ai/aiRig";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const IVY = "@ivy:localhost";
const JILL = "@jill:localhost";
const KIM = "@kim:localhost";
const CANNOT_READ =
  "🔒 This room is encrypted, and this bridge is not set up to take part in encrypted rooms: what is said here is not bridged and the AI cannot read it. A bridge admin can set `encryption.allow: true` in its config (see the README).";
const REQUIRE_TEXT =
  "This bridge links only encrypted rooms. Turn on encryption in the room's settings (it cannot be turned off again), then link.";

const isCannotRead = (e: E2eeEvent) => e.type === "m.room.message" && e.content.body === CANNOT_READ;
const joined = (who: string) => (e: E2eeEvent) =>
  e.type === "m.room.member" && e.stateKey === who && e.content.membership === "join";
const inReplyTo = (e: E2eeEvent) =>
  (e.content["m.relates_to"] as Record<string, { event_id?: string }> | undefined)?.["m.in_reply_to"]
    ?.event_id;

/**
 * A bridge whose config does not allow encryption, in encrypted rooms: it says once per room,
 * in the clear, that it cannot read them (and remembers it across restarts). And a bridge that
 * requires encryption: it links only encrypted rooms and makes its portals encrypted.
 */
describe("e2e: encryption not allowed (default config), with a real E2EE client", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let ivy: E2eeClient;
  let barriers = 0;

  before(async function () {
    this.timeout(180_000);
    rig = await startAiRig({}, { permissions: { [IVY]: "user" } });
    ivy = await E2eeClient.register(rig.core.rig.synapse, "ivy");
  });
  after(async () => {
    await ivy?.stop();
    await rig?.stop();
  });

  /**
   * A plain `!cb` command after everything sent so far: the bot's answer to it means the room's
   * earlier events have all been handled (one room's events are delivered in order).
   */
  async function botBarrier(roomId: string): Promise<void> {
    const word = `barrier${++barriers}`;
    await ivy.sendPlain(roomId, "m.room.message", { msgtype: "m.text", body: `!cb ${word}` });
    await ivy.waitForEvent(
      roomId,
      (e) => e.sender === BOT && String(e.content.body).startsWith(`Unknown command \`${word}\``),
      30_000,
    );
  }

  /** Like {@link botBarrier}, answered by the AI user (`!ai help`) in a room without the bot. */
  async function aiBarrier(roomId: string): Promise<void> {
    const id = await ivy.sendPlain(roomId, "m.room.message", { msgtype: "m.text", body: "!ai help" });
    await ivy.waitForEvent(roomId, (e) => e.sender === AI && inReplyTo(e) === id, 30_000);
  }

  const noticesIn = (roomId: string) => ivy.timeline(roomId).filter(isCannotRead);

  let withBot: string;
  let aiOnly: string;

  it("an encrypted room with the bot and the AI: one plain notice from the bot as it joins, however many encrypted messages follow", async () => {
    withBot = await ivy.createEncryptedRoom({ name: "encrypted, unreadable", invite: [BOT, AI] });
    await ivy.waitForEvent(withBot, joined(BOT), 30_000);
    await ivy.waitForEvent(withBot, joined(AI), 30_000);
    // Before anyone writes: nobody waits for an answer that cannot come.
    const notice = await ivy.waitForEvent(withBot, isCannotRead, 30_000);
    await ivy.sendText(withBot, "first secret");
    await ivy.sendText(withBot, "AI, can you read this?");
    await ivy.sendText(withBot, "third secret");
    assert.equal(notice.sender, BOT);
    assert.equal(notice.encrypted, false, "said in the clear: the bridge has no keys");
    assert.equal(notice.content.msgtype, "m.notice");
    await botBarrier(withBot);
    assert.equal(noticesIn(withBot).length, 1);
    assert.equal(rig.openai.chats().length, 0, "nothing reached the model");
    assert.ok(
      !ivy.timeline(withBot).some((e) => e.sender === AI && /Mention me/.test(String(e.content.body))),
      "the AI does not greet promising answers",
    );
  });

  it("an encrypted DM with only the AI: the AI says it once, as it joins", async () => {
    aiOnly = await ivy.createEncryptedRoom({ isDirect: true, invite: [AI] });
    await ivy.waitForEvent(aiOnly, joined(AI), 30_000);
    const notice = await ivy.waitForEvent(aiOnly, isCannotRead, 30_000);
    for (const text of ["dm one", "dm two", "dm three"]) await ivy.sendText(aiOnly, text);
    assert.equal(notice.sender, AI);
    assert.equal(notice.encrypted, false);
    await aiBarrier(aiOnly);
    assert.equal(noticesIn(aiOnly).length, 1);
    assert.ok(!ivy.roomMembers(aiOnly).includes(BOT));
    assert.ok(
      !ivy.timeline(aiOnly).some((e) => /Mention me/.test(String(e.content.body))),
      "no greeting promising answers",
    );
    assert.equal(rig.openai.chats().length, 0, "nothing reached the model");
  });

  it("a room that turns encryption on while the bot is in it: told at once, and only once", async () => {
    const room = await ivy.createRoom({ name: "encrypted later", invite: [BOT] });
    await ivy.waitForEvent(room, joined(BOT), 30_000);
    await botBarrier(room);
    assert.equal(noticesIn(room).length, 0, "a plain room gets no notice");
    await ivy.enableEncryption(room);
    await ivy.waitForEvent(room, isCannotRead, 30_000);
    await ivy.sendText(room, "now encrypted");
    await botBarrier(room);
    assert.equal(noticesIn(room).length, 1);
  });

  it("after a restart (SIGKILL), no room is told again", async () => {
    await rig.core.restart("SIGKILL");
    for (const text of ["after one", "after two", "after three"]) await ivy.sendText(withBot, text);
    for (const text of ["dm after one", "dm after two", "dm after three"]) await ivy.sendText(aiOnly, text);
    await botBarrier(withBot);
    await aiBarrier(aiOnly);
    assert.equal(noticesIn(withBot).length, 1);
    assert.equal(noticesIn(aiOnly).length, 1);
    assert.equal(rig.openai.chats().length, 0, "nothing reached the model");
  });
});

describe("e2e: encryption required (`encryption: { allow: true, require: true }`)", function () {
  this.timeout(180_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let jill: E2eeClient;
  let plainRoom: string;
  let linked: string;
  let ghostMessage: { eventId: string; remoteId: string };

  before(async function () {
    this.timeout(180_000);
    core = await startCoreRig({
      encryption: { allow: true, require: true },
      permissions: { [JILL]: "admin", [KIM]: "user" },
    });
    alice = await user("alice");
    jill = await E2eeClient.register(core.rig.synapse, "jill");
    core.testnet.addChat({ id: "plainchat", name: "Plain chat", kind: "group" });
    core.testnet.addChat({ id: "secretchat", name: "Secret chat", kind: "group" });
    core.testnet.addUser({ id: "u1", name: "Uma Remote" });
  });
  after(async () => {
    await jill?.stop();
    await core?.stop();
  });

  it("refuses to link an unencrypted room, saying how to fix it", async () => {
    plainRoom = await alice.createRoom({ name: "plain, to link", invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: plainRoom, timeoutMs: 30_000 },
    );
    await alice.sendText(plainRoom, "!cb link testnet plainchat");
    const reply = await alice.waitFor((e) => e.sender === BOT && e.content.body === REQUIRE_TEXT, {
      roomId: plainRoom,
      timeoutMs: 30_000,
    });
    assert.equal(reply.type, "m.room.message", "said in the clear, as the room is");
  });

  it("links an encrypted room, answering encrypted", async () => {
    const room = await jill.createEncryptedRoom({ name: "encrypted, to link", invite: [BOT] });
    linked = room;
    await jill.waitForEvent(room, joined(BOT), 30_000);
    await jill.sendText(room, "!cb link testnet secretchat");
    const reply = await jill.waitForEvent(
      room,
      (e) => e.sender === BOT && String(e.content.body).startsWith("Linked this room"),
      30_000,
    );
    assert.equal(reply.encrypted, true);
    // The bot has power level 0 in jill's room: linked, without the bridge info clients read.
    assert.match(
      String(reply.content.body),
      /^Linked this room to testnet chat "Secret chat" \(secretchat\)\. Clients will not show the room as bridged/,
    );
    const remoteId = core.testnet.injectMessage({
      chat: "secretchat",
      sender: "u1",
      text: "into the encrypted room",
    });
    const msg = await jill.waitForEvent(room, (e) => e.content.body === "into the encrypted room", 30_000);
    assert.equal(msg.sender, ghostId("u1"));
    assert.equal(msg.encrypted, true);
    ghostMessage = { eventId: msg.eventId, remoteId };
  });

  it("a redaction hidden in an encrypted event (which no server checks) deletes nothing on the platform; a real one does", async () => {
    const kim = await E2eeClient.register(core.rig.synapse, "kim");
    try {
      await jill.invite(linked, KIM);
      await kim.waitForInvite((i) => i.roomId === linked, 30_000);
      await kim.join(linked);
      // kim (power level 0) may not redact others' messages; as ciphertext the server cannot tell.
      await kim.sendEncrypted(linked, "m.room.redaction", { redacts: ghostMessage.eventId });
      await kim.sendText(linked, "after the hidden redaction");
      await core.testnet.waitFor(
        (c) => (c.body as { text?: string } | undefined)?.text === "after the hidden redaction",
        30_000,
      );
      assert.ok(
        !core.testnet.calls.some((c) => c.method === "DELETE"),
        `the platform was asked to delete: ${JSON.stringify(core.testnet.calls.filter((c) => c.method === "DELETE"))}`,
      );
      assert.match(core.bridge.output(), /redaction inside an encrypted event ignored/);
      // A redaction in the clear, by someone allowed to make it, still deletes.
      await jill.redact(linked, ghostMessage.eventId);
      await core.testnet.waitFor(
        (c) => c.method === "DELETE" && c.path === `/chats/secretchat/messages/${ghostMessage.remoteId}`,
        30_000,
      );
    } finally {
      await kim.stop();
    }
  });

  it("makes the portal of a new remote chat encrypted (so the refused chat got a portal of its own)", async () => {
    core.testnet.injectMessage({ chat: "plainchat", sender: "u1", text: "hello from the plain chat" });
    const portal = await portalRoomFor(alice, "plainchat");
    assert.notEqual(portal, plainRoom);
    assert.deepEqual(await alice.getState(portal, "m.room.encryption"), {
      algorithm: "m.megolm.v1.aes-sha2",
    });
    // alice has no E2EE device: the ghost's message reaches her as ciphertext.
    const msg = await alice.waitFor((e) => e.sender === ghostId("u1") && e.type === "m.room.encrypted", {
      roomId: portal,
      timeoutMs: 30_000,
    });
    assert.equal(msg.content.algorithm, "m.megolm.v1.aes-sha2");
    assert.ok(
      !alice.eventsIn(plainRoom).some((e) => e.sender === ghostId("u1")),
      "nothing reached the room whose link was refused",
    );
  });
});
