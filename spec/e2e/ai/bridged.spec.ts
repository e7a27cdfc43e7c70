import { strict as assert } from "node:assert";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { ghostId, portalRoomFor, user } from "../core/coreRig";
import {
  AI,
  type AiRig,
  groupWithAi,
  isAnswer,
  isNoticeFromAi,
  lastContent,
  messagesOf,
  shownText,
  sleep,
  startAiRig,
  waitForShown,
} from "./aiRig";

describe("e2e: the AI puppet in a bridged room, across restarts, and its limits", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;
  let portal: string;

  before(async function () {
    this.timeout(180_000);
    [alice, bob] = await Promise.all([user("alice"), user("bob")]);
    rig = await startAiRig({ streaming: { edit_interval_ms: 500, max_edits: 3 } });
  });

  after(async () => {
    await rig?.stop();
  });

  it("answers a platform user in a portal room; the answer reaches the platform; platform bots are never answered", async () => {
    const { testnet } = rig.core;
    testnet.addChat({ id: "aichat", name: "AI chat", kind: "group" });
    testnet.addUser({ id: "p1", name: "Paula Platform" });
    testnet.addUser({ id: "robo", name: "Robo Helper", is_bot: true });
    testnet.injectMessage({ chat: "aichat", sender: "p1", text: "hello bridge" });
    portal = await portalRoomFor(alice, "aichat");
    await alice.invite(portal, AI);
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
      {
        roomId: portal,
        timeoutMs: 30_000,
      },
    );
    // Slow enough that the answer streams in Matrix with live edits before the final one.
    rig.openai.backend = scriptedBackend("Hello Paula, the **AI** here.", 300);
    testnet.injectMessage({ chat: "aichat", sender: "robo", text: "AI, I am a bot talking" });
    testnet.injectMessage({ chat: "aichat", sender: "p1", text: "AI, can you hear me?" });
    const asked = await alice.waitFor(
      (e) => e.sender === ghostId("p1") && e.content.body === "AI, can you hear me?",
      {
        roomId: portal,
        timeoutMs: 30_000,
      },
    );
    const answer = await alice.waitFor((e) => isAnswer(e, asked.event_id), {
      roomId: portal,
      timeoutMs: 30_000,
    });
    await waitForShown(alice, portal, answer, "Hello Paula, the **AI** here.");
    const req = await rig.openai.waitFor(
      (q) => lastContent(q) === "Paula Platform (Testnet): AI, can you hear me?",
    );
    assert.ok(
      messagesOf(req).some((m) => m.content === "Robo Helper (Testnet): AI, I am a bot talking"),
      "bot messages are context",
    );
    assert.ok(
      !rig.openai.chats().some((q) => lastContent(q).startsWith("Robo Helper (Testnet):")),
      "but never answered",
    );
    const deadline = Date.now() + 30_000;
    const find = () => testnet.sent("aichat").find((m) => m.sender_mxid === AI && m.text.includes("Paula"));
    let sent = find();
    while (sent?.text !== "Hello Paula, the **AI** here." && Date.now() < deadline) {
      await sleep(200);
      sent = find();
    }
    assert.ok(sent, "the AI's answer reached the platform");
    assert.equal(sent.text, "Hello Paula, the **AI** here.");
    const edits = alice
      .eventsIn(portal)
      .filter(
        (e) => (e.content["m.relates_to"] as { event_id?: string } | undefined)?.event_id === answer.event_id,
      );
    const live = edits.filter((e) => e.content["org.matrix.msc4357.live"] !== undefined);
    assert.ok(live.length >= 1, `the answer streamed with live edits in Matrix (${edits.length} edits)`);
    assert.equal(sent.edits.length, 1, "the platform gets the final edit only, not every streamed one");
  });

  it("a platform user's reply to the AI's relayed answer is a reply to the AI in Matrix, and is answered", async () => {
    const { testnet } = rig.core;
    const relayed = testnet.sent("aichat").find((m) => m.sender_mxid === AI && m.text.includes("Paula"));
    assert.ok(relayed, "the earlier answer is on the platform");
    const answer = alice
      .eventsIn(portal)
      .find((e) => isAnswer(e) && shownText(alice, portal, e).startsWith("Hello Paula"));
    assert.ok(answer);
    rig.openai.backend = scriptedBackend("Yes, replies count.");
    // No mention of the AI: only the reply makes it a trigger.
    testnet.injectMessage({
      chat: "aichat",
      sender: "p1",
      text: "does this reply reach you?",
      replyTo: relayed.id,
    });
    const reply = await alice.waitFor(
      (e) => e.sender === ghostId("p1") && String(e.content.body).includes("does this reply reach you?"),
      { roomId: portal, timeoutMs: 30_000 },
    );
    const inReplyTo = (
      reply.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined
    )?.["m.in_reply_to"]?.event_id;
    assert.equal(inReplyTo, answer.event_id, "the platform reply points at the AI's Matrix event");
    const second = await alice.waitFor((e) => isAnswer(e, reply.event_id), {
      roomId: portal,
      timeoutMs: 30_000,
    });
    await waitForShown(alice, portal, second, "Yes, replies count.");
    const req = await rig.openai.waitFor((q) => lastContent(q).endsWith("does this reply reach you?"));
    assert.equal(
      lastContent(req),
      "Paula Platform (Testnet): does this reply reach you?",
      "the reply quote is stripped",
    );
    const deadline = Date.now() + 30_000;
    while (!testnet.sent("aichat").some((m) => m.sender_mxid === AI && m.text === "Yes, replies count.")) {
      assert.ok(Date.now() < deadline, "the second answer reached the platform");
      await sleep(200);
    }
  });

  it("a slow answer never holds up the room's delivery to the platform; AI commands stay in Matrix", async () => {
    const { testnet } = rig.core;
    rig.ollama.backend = scriptedBackend("Late but here.");
    rig.openai.hangNext(1);
    const asked = await alice.sendText(portal, "AI, take your time");
    await rig.openai.waitFor((q) => lastContent(q) === "alice: AI, take your time" && q.outcome === "hung");
    const t0 = Date.now();
    await alice.sendText(portal, "meanwhile, a normal message");
    await testnet.waitFor(
      (c) => c.method === "POST" && (c.body as { text?: string }).text === "meanwhile, a normal message",
    );
    assert.ok(Date.now() - t0 < 4000, "relayed while the model is still silent");
    await alice.sendText(portal, "!ai mode");
    await alice.waitFor((e) => isNoticeFromAi(e, /Mode here:/), { roomId: portal });
    const late = await alice.waitFor((e) => isAnswer(e, asked), { roomId: portal, timeoutMs: 30_000 });
    await waitForShown(alice, portal, late, "Late but here.");
    assert.ok(!testnet.sent("aichat").some((m) => m.text.startsWith("!ai")), "commands are not relayed");
  });

  it("settings and rooms survive a restart; limits and budgets from config get a polite notice", async () => {
    const r = await groupWithAi(alice, bob, "restart room");
    await alice.sendText(r, "!ai mode always");
    await alice.waitFor((e) => isNoticeFromAi(e, /Mode set to always/), { roomId: r });
    await alice.sendText(r, "!ai prompt Speak like a poet.");
    await alice.waitFor((e) => isNoticeFromAi(e, /System prompt set/), { roomId: r });
    await rig.reconfigure({
      limits: { user_per_minute: 2, room_per_minute: 0, user_daily_tokens: 0, room_daily_tokens: 0 },
    });
    rig.openai.backend = scriptedBackend("Roses are red.");
    const a1 = await bob.sendText(r, "first after restart");
    const ans = await alice.waitFor((e) => isAnswer(e, a1), { roomId: r, timeoutMs: 30_000 });
    await waitForShown(alice, r, ans, "Roses are red.");
    const req = await rig.openai.waitFor((q) => lastContent(q).endsWith(": first after restart"));
    assert.equal(messagesOf(req)[0]!.content, "Speak like a poet.");
    const a2 = await bob.sendText(r, "second");
    await alice.waitFor((e) => isAnswer(e, a2), { roomId: r, timeoutMs: 30_000 });
    const a3 = await bob.sendText(r, "third, over the limit");
    await alice.waitFor(
      (e) => isNoticeFromAi(e, /limit of 2 AI answers per minute/) && JSON.stringify(e.content).includes(a3),
      {
        roomId: r,
        timeoutMs: 30_000,
      },
    );
    assert.ok(!rig.openai.chats().some((q) => lastContent(q).endsWith(": third, over the limit")));
    // The room's tokens so far exceed a tiny daily budget: the next one is refused.
    await rig.reconfigure({
      limits: { user_per_minute: 0, room_per_minute: 0, user_daily_tokens: 0, room_daily_tokens: 5 },
      ignore_users: ["^@mallory:"],
    });
    const mallory = await user("mallory");
    await alice.invite(r, mallory.userId);
    await mallory.join(r);
    const ignored = await mallory.sendText(r, "AI, answer an ignored user?");
    const a4 = await alice.sendText(r, "over the budget");
    await alice.waitFor(
      (e) => isNoticeFromAi(e, /daily AI budget of 5 tokens/) && JSON.stringify(e.content).includes(a4),
      { roomId: r, timeoutMs: 30_000 },
    );
    assert.ok(
      !alice.eventsIn(r).some((e) => e.sender === AI && JSON.stringify(e.content).includes(ignored)),
      "users in ai.ignore_users get neither an answer nor a notice",
    );
  });

  it("leaves when asked and when kicked, and stays out", async () => {
    const r = await groupWithAi(alice, bob, "leave room");
    await alice.sendText(r, "!ai leave");
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "leave",
      {
        roomId: r,
        timeoutMs: 30_000,
      },
    );
    const k = await groupWithAi(alice, bob, "kick room");
    await alice.kick(k, AI, "enough");
    const before = rig.openai.chats().length;
    await alice.sendText(k, "AI are you gone?");
    await sleep(2500);
    assert.equal(rig.openai.chats().length, before, "no answer after the kick");
  });
});
