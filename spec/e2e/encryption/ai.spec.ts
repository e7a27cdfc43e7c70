import assert from "node:assert/strict";
import { LIVE_KEY } from "../../../src/matrix/live";
import { E2eeClient, type E2eeEvent } from "../../harness/E2eeClient";
import { type LlmBackend, scriptedBackend, wordChunks } from "../../standins/llm/backend";
import { AI, type AiRig, lastContent, messagesOf, startAiRig } from "../ai/aiRig";
import { BOT, ghostId } from "../core/coreRig";

type Content = Record<string, unknown>;
const SYSTEM = "You are a helpful assistant taking part in a Matrix chat room. Answer concisely.";

const rel = (e: E2eeEvent) => (e.content["m.relates_to"] ?? {}) as Content;
const isEditOf = (e: E2eeEvent, id: string) =>
  e.sender === AI && rel(e).rel_type === "m.replace" && rel(e).event_id === id;
/** The AI's first message of an answer (decrypted), replying to `to` when given. */
const isAnswer = (to?: string) => (e: E2eeEvent) =>
  e.sender === AI &&
  e.type === "m.room.message" &&
  e.content.msgtype === "m.text" &&
  rel(e).rel_type !== "m.replace" &&
  (to === undefined || (rel(e)["m.in_reply_to"] as Content | undefined)?.event_id === to);
const newBody = (e: E2eeEvent) => (e.content["m.new_content"] as Content | undefined)?.body;
const user = (content: string) => ({ role: "user", content });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Streams `text` at once, then never ends (until the client goes away). */
function hangingBackend(text: string): LlmBackend {
  return (req) => ({
    chunks: (async function* () {
      for (const w of wordChunks(text)) yield w;
      await new Promise<void>((resolve) => req.signal.addEventListener("abort", () => resolve()));
    })(),
  });
}
const assistant = (content: string) => ({ role: "assistant", content });

/**
 * The AI user in encrypted rooms, end to end: gina and hank are real E2EE clients; the AI
 * decrypts what they say (and the room's history it reads for context) with a device of its own
 * and answers encrypted, also after the bridge is killed and started again.
 */
describe("e2e: the AI answers in encrypted rooms (real E2EE clients, real Synapse, model stand-ins)", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let gina: E2eeClient;
  let hank: E2eeClient;
  let dm: string;
  let group: string;
  let ginaPassword: string;

  before(async function () {
    this.timeout(180_000);
    rig = await startAiRig(
      {},
      {
        permissions: { "@gina:localhost": "admin", "@hank:localhost": "user" },
        encryption: { allow: true, key_wait_seconds: 4 },
      },
    );
    const g = await rig.core.rig.synapse.registerUser("gina");
    ginaPassword = g.password;
    gina = await E2eeClient.login(rig.core.rig.synapse.url, g.userId, g.password);
    hank = await E2eeClient.register(rig.core.rig.synapse, "hank");
  });

  after(async () => {
    await gina?.stop();
    await hank?.stop();
    await rig?.stop();
  });

  /** Waits for the AI to join `roomId`, as `client` sees it. */
  const aiJoined = (client: E2eeClient, roomId: string) =>
    client.waitForEvent(
      roomId,
      (e) => e.type === "m.room.member" && e.stateKey === AI && e.content.membership === "join",
      30_000,
    );

  /** Everything the AI sent into the room, as the homeserver holds it: ciphertext only. */
  function assertAiSentOnlyCiphertext(client: E2eeClient, roomId: string): void {
    const sent = client.timeline(roomId).filter((e) => e.sender === AI && e.stateKey === undefined);
    assert.ok(sent.length > 0, "the AI sent something");
    for (const e of sent) {
      assert.equal(e.raw.type, "m.room.encrypted", `${e.eventId} went out in the clear`);
      assert.equal(e.utd, undefined, `${e.eventId} does not decrypt: ${JSON.stringify(e.utd)}`);
    }
  }

  it("in an encrypted group room: answers a mention encrypted, streamed edits too, with earlier messages decrypted as context", async () => {
    const room = await gina.createEncryptedRoom({ name: "encrypted ai group", invite: [hank.userId, AI] });
    group = room;
    await hank.waitForInvite((i) => i.roomId === room, 30_000);
    await hank.join(room);
    await aiJoined(gina, room);
    const hello = await gina.waitForEvent(
      room,
      (e) => e.sender === AI && e.content.msgtype === "m.notice" && /Mention me/.test(String(e.content.body)),
      30_000,
    );
    assert.equal(hello.encrypted, true, "the AI's greeting is encrypted");

    const full = "The code is tangerine, as Gina said and Hank confirmed.";
    rig.openai.backend = scriptedBackend(full, 250);
    await gina.sendText(room, "the launch code is tangerine");
    await hank.sendText(room, "noted, tangerine it is");
    const ask = await gina.sendText(room, "AI, what is the code?");
    const answer = await gina.waitForEvent(room, isAnswer(ask), 30_000);
    assert.equal(answer.encrypted, true);
    assert.deepEqual(answer.content["m.mentions"], { user_ids: [gina.userId] }, "the asker is notified");
    const final = await gina.waitForEvent(
      room,
      (e) => isEditOf(e, answer.eventId) && newBody(e) === full,
      30_000,
    );
    assert.equal(final.encrypted, true);
    // hank, the other member, decrypts the answer and its final edit as well.
    await hank.waitForEvent(room, (e) => isEditOf(e, answer.eventId) && newBody(e) === full, 30_000);
    const edits = gina.timeline(room).filter((e) => isEditOf(e, answer.eventId));
    assert.ok(edits.length >= 2, `streamed in edits (${edits.length})`);

    const req = await rig.openai.waitFor((r) => lastContent(r) === "gina: AI, what is the code?");
    assert.deepEqual(messagesOf(req), [
      { role: "system", content: SYSTEM },
      user("gina: the launch code is tangerine"),
      user("hank: noted, tangerine it is"),
      user("gina: AI, what is the code?"),
    ]);
    assert.equal(
      rig.openai.chats().filter((r) => lastContent(r).includes("tangerine")).length,
      0,
      "messages without a mention are not answered",
    );
    assertAiSentOnlyCiphertext(gina, room);
  });

  it("in an encrypted DM (the bridge bot not in it): answers every message encrypted, its own earlier answers in context", async () => {
    dm = await gina.createEncryptedRoom({ isDirect: true, invite: [AI] });
    await aiJoined(gina, dm);
    rig.openai.backend = scriptedBackend("Teal noted.");
    await gina.sendText(dm, "my favourite colour is teal");
    const a1 = await gina.waitForEvent(dm, isAnswer(), 30_000);
    assert.equal(a1.encrypted, true);
    assert.equal(rel(a1)["m.in_reply_to"], undefined, "a DM answer is no reply");
    assert.equal(a1.content.body, "Teal noted.");
    await rig.openai.waitFor((r) => lastContent(r) === "gina: my favourite colour is teal");

    rig.openai.backend = scriptedBackend("It is teal.");
    await gina.sendText(dm, "what is my favourite colour?");
    const a2 = await gina.waitForEvent(dm, (e) => isAnswer()(e) && e.eventId !== a1.eventId, 30_000);
    assert.equal(a2.content.body, "It is teal.");
    const req = await rig.openai.waitFor((r) => lastContent(r) === "gina: what is my favourite colour?");
    assert.deepEqual(messagesOf(req).slice(1), [
      user("gina: my favourite colour is teal"),
      assistant("Teal noted."),
      user("gina: what is my favourite colour?"),
    ]);
    assert.deepEqual((await gina.members(dm)).map((m) => m.userId).sort(), [AI, gina.userId].sort());
    assert.ok(!gina.roomMembers(dm).includes(BOT));
    assertAiSentOnlyCiphertext(gina, dm);
  });

  it("a long answer heavy in markup arrives whole: every encrypted part stays under the event size limit", async () => {
    const room = await hank.createEncryptedRoom({ isDirect: true, invite: [AI] });
    await aiJoined(hank, room);
    // A JSON code block: quotes double in the body's JSON and become `&quot;` in the HTML, and
    // encryption adds a third on top (base64).
    const line = `  {"id": "${"a".repeat(6)}", "key": "${"v".repeat(9)}"},\n`;
    const long = `\`\`\`json\n[\n${line.repeat(900)}]\n\`\`\``;
    // Streamed, so the first part's final, formatted edit carries its text twice plus its HTML.
    rig.openai.backend = () => ({ chunks: long.match(/[\s\S]{1,2000}/g)!, delayMs: 100 });
    await hank.sendText(room, "list the records as JSON");
    const first = await hank.waitForEvent(room, isAnswer(), 30_000);
    assert.equal(first.encrypted, true);
    const parts = () =>
      hank
        .timeline(room)
        .filter((e) => isAnswer()(e) && e.eventId !== first.eventId)
        .map((e) => String(e.content.body));
    const finalEdit = () =>
      hank.timeline(room).filter((e) => isEditOf(e, first.eventId) && e.content[LIVE_KEY] === undefined);
    const shown = () => [String(newBody(finalEdit().at(-1)!) ?? first.content.body), ...parts()].join("");
    const flat = (s: string) => s.replace(/\s/g, "");
    await hank.waitForEvent(room, () => finalEdit().length > 0 && flat(shown()) === flat(long), 60_000);
    assert.ok(parts().length >= 2, `${parts().length} follow-up parts`);
    assert.equal(
      hank.timeline(room).filter((e) => e.sender === AI && e.content.msgtype === "m.notice").length,
      1,
      "no failure notice (only the greeting)",
    );
    for (const e of hank.timeline(room).filter((x) => x.sender === AI && x.stateKey === undefined))
      assert.ok(Buffer.byteLength(JSON.stringify(e.raw)) < 65_000, `${e.eventId} is within the limit`);
  });

  it("after SIGKILL: still answers in the encrypted DM, with the messages from before the restart decrypted from its key store", async () => {
    await rig.core.restart("SIGKILL");
    rig.openai.backend = scriptedBackend("Still teal.");
    const before = gina.timeline(dm).filter(isAnswer()).length;
    await gina.sendText(dm, "after the restart: which colour was it?");
    const a3 = await gina.waitForEvent(dm, (e) => isAnswer()(e) && e.content.body === "Still teal.", 60_000);
    assert.equal(a3.encrypted, true);
    assert.equal(a3.utd, undefined);
    const req = await rig.openai.waitFor(
      (r) => lastContent(r) === "gina: after the restart: which colour was it?",
    );
    assert.deepEqual(messagesOf(req).slice(1), [
      user("gina: my favourite colour is teal"),
      assistant("Teal noted."),
      user("gina: what is my favourite colour?"),
      assistant("It is teal."),
      user("gina: after the restart: which colour was it?"),
    ]);
    assert.equal(gina.timeline(dm).filter(isAnswer()).length, before + 1, "answered once");
    assertAiSentOnlyCiphertext(gina, dm);
  });

  it("a mention whose room key reaches the bridge after it is answered once the key is there", async () => {
    rig.openai.backend = scriptedBackend("Late but here.");
    const id = await gina.sendEncrypted(
      group,
      "m.room.message",
      { msgtype: "m.text", body: "AI, did the key come late?" },
      { beforeKeys: () => new Promise((r) => setTimeout(r, 1500)) },
    );
    const answer = await gina.waitForEvent(group, isAnswer(id), 30_000);
    assert.equal(answer.encrypted, true);
    // Not streamed (the whole answer came at once): the first message is the answer.
    assert.equal(answer.content.body, "Late but here.");
    assert.equal(
      rig.openai.chats().filter((r) => lastContent(r) === "gina: AI, did the key come late?").length,
      1,
      "asked once",
    );
  });

  it("commands work encrypted: `!ai mode always` is answered encrypted and takes effect", async () => {
    const id = await hank.sendText(group, "!ai mode always");
    const ok = await hank.waitForEvent(
      group,
      (e) =>
        e.sender === AI &&
        e.content.msgtype === "m.notice" &&
        (rel(e)["m.in_reply_to"] as Content)?.event_id === id,
      30_000,
    );
    assert.match(String(ok.content.body), /Mode set to always/);
    assert.equal(ok.encrypted, true);
    rig.openai.backend = scriptedBackend("Always listening.");
    const plain = await hank.sendText(group, "no mention needed now");
    const answer = await hank.waitForEvent(group, isAnswer(plain), 30_000);
    assert.equal(answer.encrypted, true);
    assert.ok(!rig.openai.chats().some((r) => messagesOf(r).some((m) => m.content.includes("!ai"))));
  });

  it("a message nobody can decrypt, in the DM without the bot: the AI says so, encrypted, and answers the next one", async () => {
    const lost = await gina.sendUndecryptable(dm, "you will never read this");
    const notice = await gina.waitForEvent(
      dm,
      (e) =>
        e.content.msgtype === "m.notice" &&
        /could not be decrypted/.test(String(e.content.body)) &&
        (rel(e)["m.in_reply_to"] as Content | undefined)?.event_id === lost,
      30_000,
    );
    assert.equal(notice.sender, AI, "the AI speaks where the bot is not");
    assert.equal(notice.encrypted, true);
    rig.openai.backend = scriptedBackend("Readable again.");
    await gina.sendText(dm, "and this one?");
    await gina.waitForEvent(dm, (e) => isAnswer()(e) && e.content.body === "Readable again.", 30_000);
    const req = await rig.openai.waitFor((r) => lastContent(r) === "gina: and this one?");
    assert.ok(!req.raw.includes("you will never read this"));
  });

  it("a device gina logs in with later decrypts the AI's next answer", async () => {
    const phone = await E2eeClient.login(rig.core.rig.synapse.url, gina.userId, ginaPassword);
    try {
      rig.openai.backend = scriptedBackend("Hello, new device.");
      await gina.sendText(dm, "I have a new phone");
      const seen = await phone.waitForEvent(
        dm,
        (e) => isAnswer()(e) && e.content.body === "Hello, new device.",
        30_000,
      );
      assert.equal(seen.encrypted, true);
      assert.equal(seen.utd, undefined);
    } finally {
      await phone.stop();
    }
  });

  it("an answer half streamed when the bridge is SIGKILLed is finished after the restart by an encrypted edit of the same message", async () => {
    const room = await hank.createEncryptedRoom({ isDirect: true, invite: [AI] });
    await aiJoined(hank, room);
    rig.openai.backend = hangingBackend("The first half of");
    await hank.sendText(room, "stream something long, please");
    const first = await hank.waitForEvent(room, isAnswer(), 30_000);
    assert.match(String(first.content.body), /^The first half/);
    await sleep(1000); // the first message's id reaches the pending trigger
    rig.openai.backend = scriptedBackend("A **complete** answer after the restart.");
    await rig.core.restart("SIGKILL");
    const done = await hank.waitForEvent(
      room,
      (e) =>
        isEditOf(e, first.eventId) &&
        (e.content["m.new_content"] as Content).formatted_body ===
          "<p>A <strong>complete</strong> answer after the restart.</p>",
      60_000,
    );
    assert.equal(done.encrypted, true);
    await sleep(3000);
    assert.equal(hank.timeline(room).filter(isAnswer()).length, 1, "one answer, never a second one");
    assert.equal(
      rig.openai.chats().filter((r) => lastContent(r) === "hank: stream something long, please").length,
      2,
    );
    assertAiSentOnlyCiphertext(hank, room);
  });

  it("in an encrypted room linked to a platform chat: a platform user's mention is answered, encrypted in Matrix and relayed in the clear to the platform", async () => {
    const { testnet } = rig.core;
    testnet.addChat({ id: "secretai", name: "Secret AI chat", kind: "group" });
    testnet.addUser({ id: "p1", name: "Paula Platform" });
    const room = await gina.createEncryptedRoom({ name: "encrypted portal with the AI", invite: [BOT, AI] });
    await gina.waitForEvent(
      room,
      (e) => e.type === "m.room.member" && e.stateKey === BOT && e.content.membership === "join",
      30_000,
    );
    await aiJoined(gina, room);
    await gina.sendText(room, "!cb link testnet secretai");
    await gina.waitForEvent(
      room,
      (e) => e.sender === BOT && String(e.content.body).startsWith("Linked this room"),
      30_000,
    );
    rig.openai.backend = scriptedBackend("Hello Paula, in secret.", 200);
    testnet.injectMessage({ chat: "secretai", sender: "p1", text: "AI, can you hear me?" });
    const asked = await gina.waitForEvent(
      room,
      (e) => e.sender === ghostId("p1") && e.content.body === "AI, can you hear me?",
      30_000,
    );
    assert.equal(asked.encrypted, true, "the ghost speaks encrypted");
    const answer = await gina.waitForEvent(room, isAnswer(asked.eventId), 30_000);
    assert.equal(answer.encrypted, true);
    await rig.openai.waitFor((r) => lastContent(r) === "Paula Platform (Testnet): AI, can you hear me?");
    // The platform gets the first message, then the final edit: its message ends as the whole answer.
    const relayed = () =>
      testnet.sent("secretai").find((m) => m.sender_mxid === AI && m.text === "Hello Paula, in secret.");
    const deadline = Date.now() + 30_000;
    while (!relayed() && Date.now() < deadline) await sleep(200);
    assert.ok(relayed(), `the answer reached the platform: ${JSON.stringify(testnet.sent("secretai"))}`);
    assertAiSentOnlyCiphertext(gina, room);
  });
});
