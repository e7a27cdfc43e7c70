import { strict as assert } from "node:assert";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { echoBackend, scriptedBackend } from "../../standins/llm/backend";
import { user } from "../core/coreRig";
import {
  AI,
  type AiRig,
  groupWithAi,
  isAnswer,
  isEditOf,
  isNoticeFromAi,
  lastContent,
  messagesOf,
  shownText,
  sleep,
  startAiRig,
  waitForShown,
} from "./aiRig";

const SYSTEM = "You are a helpful assistant taking part in a Matrix chat room. Answer concisely.";

describe("e2e: the AI puppet (real Synapse, model stand-ins)", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;
  let room: string;

  before(async function () {
    this.timeout(180_000);
    // dave, not bob: this suite renames him, and other suites on the shared homeserver assert bob's name.
    [alice, bob] = await Promise.all([user("alice"), user("dave")]);
    rig = await startAiRig({ redact: { email: true, phone: false, patterns: ["SECRET-\\d+"] } });
    await bob.setDisplayName("Bob Builder");
    room = await groupWithAi(alice, bob, "ai group");
  });

  after(async () => {
    await rig?.stop();
  });

  /** Sends `text` as `who` and returns the AI's first answer message replying to it. */
  async function ask(
    who: MatrixTestClient,
    roomId: string,
    text: string,
    extra: Record<string, unknown> = {},
  ) {
    const id = await who.sendText(roomId, text, extra);
    const answer = await alice.waitFor((e) => isAnswer(e, id), { roomId, timeoutMs: 30_000 });
    return { id, answer };
  }

  it("joins when a permitted user invites it and says hello", async () => {
    await alice.waitFor((e) => isNoticeFromAi(e, /Mention me/), { roomId: room });
    const members = await alice.members(room);
    assert.ok(members.some((m) => m.userId === AI && m.membership === "join"));
  });

  it("refuses invites from users below ai.invite_level with a notice, and leaves", async () => {
    const carol = await user("carol");
    const r = await carol.createRoom({ name: "carol's", invite: [AI] });
    await carol.waitFor(
      (e) =>
        isNoticeFromAi(e, /only join rooms when invited by users with the bridge permission level 'user'/),
      {
        roomId: r,
        timeoutMs: 30_000,
      },
    );
    await carol.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "leave",
      {
        roomId: r,
      },
    );
  });

  it("mention mode: answers a display-name mention as a reply, with names and the system prompt in the request", async () => {
    rig.openai.backend = scriptedBackend("Hi there, Bob.");
    await alice.sendText(room, "good morning everyone (no question)");
    const { answer } = await ask(bob, room, "hey AI, say hi");
    assert.deepEqual(answer.content["m.mentions"], { user_ids: [bob.userId] }, "the asker is notified");
    await waitForShown(alice, room, answer, "Hi there, Bob.");
    const req = await rig.openai.waitFor((r) => lastContent(r) === "Bob Builder: hey AI, say hi");
    const msgs = messagesOf(req);
    assert.deepEqual(msgs[0], { role: "system", content: SYSTEM });
    assert.deepEqual(msgs.slice(-2), [
      { role: "user", content: "alice: good morning everyone (no question)" },
      { role: "user", content: "Bob Builder: hey AI, say hi" },
    ]);
    assert.equal((req.body as { model?: string }).model, "standin-gpt");
    assert.ok(
      !rig.openai.chats().some((r) => lastContent(r).includes("good morning everyone")),
      "a message without a mention is not answered",
    );
  });

  it("pills, m.mentions and replies to the AI count as mentions; the AI's own messages never trigger", async () => {
    rig.openai.backend = scriptedBackend("Noted.");
    const pill = await ask(alice, room, "Robot: pill question", {
      format: "org.matrix.custom.html",
      formatted_body: `<a href="https://matrix.to/#/${AI}">Robot</a>: pill question`,
    });
    await waitForShown(alice, room, pill.answer, "Noted.");
    const mentioned = await ask(alice, room, "question by m.mentions", { "m.mentions": { user_ids: [AI] } });
    await waitForShown(alice, room, mentioned.answer, "Noted.");
    const reply = await ask(bob, room, "and a follow-up", {
      "m.relates_to": { "m.in_reply_to": { event_id: mentioned.answer.event_id } },
    });
    await waitForShown(alice, room, reply.answer, "Noted.");
    const before = rig.openai.chats().length;
    await sleep(2500);
    assert.equal(rig.openai.chats().length, before, "no request after its own answers");
  });

  it("in a DM it answers every message", async () => {
    rig.openai.backend = scriptedBackend("DM answer.");
    const dm = await alice.createDm(AI);
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
      {
        roomId: dm,
        timeoutMs: 30_000,
      },
    );
    const id = await alice.sendText(dm, "no mention in a dm");
    const answer = await alice.waitFor((e) => isAnswer(e) && e.room_id === dm, {
      roomId: dm,
      timeoutMs: 30_000,
    });
    assert.equal(
      (answer.content["m.relates_to"] as Record<string, unknown> | undefined)?.["m.in_reply_to"],
      undefined,
    );
    await waitForShown(alice, dm, answer, "DM answer.");
    assert.ok(
      rig.openai.chats().some((r) => lastContent(r) === "alice: no mention in a dm"),
      id,
    );
  });

  it("in a thread it answers in the thread, with the thread as context", async () => {
    rig.openai.backend = scriptedBackend("Thread answer.");
    const root = await alice.sendText(room, "thread root message");
    const inThread = {
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: root,
        is_falling_back: true,
        "m.in_reply_to": { event_id: root },
      },
    };
    await bob.sendText(room, "first thread reply", inThread);
    const id = await alice.sendText(room, "AI, summarise the thread", inThread);
    const answer = await alice.waitFor(
      (e) => isAnswer(e) && (e.content["m.relates_to"] as Record<string, unknown>)?.event_id === root,
      {
        roomId: room,
        timeoutMs: 30_000,
      },
    );
    const r = answer.content["m.relates_to"] as Record<string, unknown>;
    assert.equal(r.rel_type, "m.thread");
    assert.deepEqual(r["m.in_reply_to"], { event_id: id });
    const req = await rig.openai.waitFor((q) => lastContent(q) === "alice: AI, summarise the thread");
    assert.deepEqual(messagesOf(req).slice(1), [
      { role: "user", content: "alice: thread root message" },
      { role: "user", content: "Bob Builder: first thread reply" },
      { role: "user", content: "alice: AI, summarise the thread" },
    ]);
  });

  it("context: edits applied, redacted messages dropped, patterns redacted before the request leaves", async () => {
    rig.openai.backend = scriptedBackend("Ok.");
    const r = await groupWithAi(alice, bob, "context room");
    const typo = await alice.sendText(r, "the meeting is on mondya");
    await alice.edit(r, typo, "the meeting is on monday");
    const gone = await bob.sendText(r, "this will be deleted");
    await bob.redact(r, gone);
    await bob.sendText(r, "mail me at bob@example.org, code SECRET-1234");
    await ask(alice, r, "AI when is the meeting?");
    const req = await rig.openai.waitFor((q) => lastContent(q) === "alice: AI when is the meeting?");
    assert.deepEqual(messagesOf(req).slice(1), [
      { role: "user", content: "alice: the meeting is on monday" },
      { role: "user", content: "Bob Builder: mail me at [email], code [redacted]" },
      { role: "user", content: "alice: AI when is the meeting?" },
    ]);
    assert.doesNotMatch(req.raw, /bob@example\.org|SECRET-1234|deleted|mondya/);
  });

  it("context is trimmed oldest first to the token budget", async () => {
    rig.openai.backend = scriptedBackend("Ok.");
    const r = await groupWithAi(alice, bob, "budget room");
    for (let i = 0; i < 6; i++) await bob.sendText(r, `long message ${i} ${"lorem ipsum ".repeat(250)}`);
    await ask(alice, r, "AI short question");
    const req = await rig.openai.waitFor((q) => lastContent(q) === "alice: AI short question");
    const msgs = messagesOf(req);
    const tokens = msgs.reduce((n, m) => n + Math.ceil(m.content.length / 4) + 4, 0);
    assert.ok(tokens <= 3000, `request of ~${tokens} tokens exceeds the budget`);
    assert.ok(msgs.length < 8, "old messages were dropped");
    assert.match(msgs[msgs.length - 2]!.content, /^Bob Builder: long message 5 /);
    assert.ok(!msgs.some((m) => m.content.includes("long message 0 ")));
  });

  it("commands: mode, prompt, forget, model, provider, usage, help; refused for users without the level", async () => {
    const r = await groupWithAi(alice, bob, "command room");
    const mallory = await user("mallory");
    await alice.invite(r, mallory.userId);
    await mallory.join(r);
    const cmd = async (who: MatrixTestClient, line: string, expect: RegExp) => {
      const id = await who.sendText(r, line);
      await alice.waitFor(
        (e) =>
          isNoticeFromAi(e, expect) &&
          (e.content["m.relates_to"] as Record<string, unknown>)?.["m.in_reply_to"] !== undefined &&
          (e.content["m.relates_to"] as Record<string, { event_id?: string }>)["m.in_reply_to"]!.event_id ===
            id,
        { roomId: r, timeoutMs: 30_000 },
      );
    };
    await cmd(mallory, "!ai mode always", /only users with the bridge permission level 'user'/);
    // Help and usage are open to everyone; help lists only what the asker may run.
    await cmd(
      mallory,
      "!ai help",
      /^Commands:\n!ai usage — .*\n!ai help — this list\nThe other commands need/,
    );
    await cmd(mallory, "!ai usage", /^AI usage\n/);
    await cmd(alice, "!ai help", /!ai mode mention\|always\|off/);
    await cmd(alice, "!ai mode always", /Mode set to always/);
    rig.openai.backend = echoBackend("echo:");
    await ask(bob, r, "no mention needed now");
    await cmd(bob, "!ai prompt You are a pirate.", /System prompt set/);
    await cmd(alice, "!ai forget", /start fresh/);
    await cmd(alice, "!ai model tiny-model", /Model set to tiny-model/);
    await ask(bob, r, "ahoy");
    const req = await rig.openai.waitFor((q) => lastContent(q) === "Bob Builder: ahoy");
    assert.deepEqual(messagesOf(req), [
      { role: "system", content: "You are a pirate." },
      { role: "user", content: "Bob Builder: ahoy" },
    ]);
    assert.equal((req.body as { model?: string }).model, "tiny-model");
    await cmd(
      alice,
      "!ai provider nonsense",
      /There is no provider 'nonsense'\. Available: primary, backup, plain/,
    );
    await cmd(
      alice,
      "!ai usage",
      /\nthis room: tokens +[1-9][\d,]* +[1-9][\d,]*\nthis room: answers +[1-9]\d* +[1-9]\d*\n/,
    );
    const table = alice
      .eventsIn(r)
      .filter((e) => isNoticeFromAi(e, /^AI usage/))
      .pop()!;
    assert.equal(table.content.format, "org.matrix.custom.html");
    assert.match(String(table.content.formatted_body), /<table>.*<th>today \(UTC\)<\/th><th>total<\/th>/);
    await cmd(alice, "!ai mode off", /Mode set to off/);
    await alice.sendText(r, "AI are you there?");
    await cmd(alice, "!ai mode", /Mode here: off/);
    assert.ok(
      !rig.openai.chats().some((q) => lastContent(q) === "alice: AI are you there?"),
      "off: no answer",
    );
    assert.ok(
      !rig.openai.chats().some((q) => lastContent(q).includes("!ai")),
      "commands never reach the model",
    );
  });

  it("streams one message edited at most once per interval and at most max_edits times; the last edit is complete and formatted", async () => {
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
    const full = `**Bold** start ${words.join(" ")}`;
    rig.openai.backend = () => ({ chunks: full.match(/\s*\S+/g)!, delayMs: 150 });
    const r = await groupWithAi(alice, bob, "stream room");
    const typing = alice.waitForEphemeral(
      (e) => e.type === "m.typing" && (e.content.user_ids as string[]).includes(AI),
      {
        roomId: r,
        timeoutMs: 30_000,
      },
    );
    const { answer } = await ask(alice, r, "AI stream please");
    await typing;
    await waitForShown(alice, r, answer, full, 60_000);
    await sleep(1500);
    const edits = alice.eventsIn(r).filter((e) => isEditOf(e, answer.event_id!));
    assert.ok(edits.length >= 2 && edits.length <= 5, `${edits.length} edits`);
    const times = [answer, ...edits].map((e) => e.origin_server_ts!);
    for (let i = 1; i < times.length; i++)
      assert.ok(times[i]! - times[i - 1]! >= 900, `edit ${i} after ${times[i]! - times[i - 1]!} ms`);
    const final = edits[edits.length - 1]!.content["m.new_content"] as Record<string, unknown>;
    assert.equal(final.body, full);
    assert.equal(final.format, "org.matrix.custom.html");
    assert.match(String(final.formatted_body), /<strong>Bold<\/strong>/);
    await alice.waitForEphemeral(
      (e) => e.type === "m.typing" && !(e.content.user_ids as string[]).includes(AI),
      { roomId: r },
    );
  });

  it("a provider that does not stream gives one complete message and no edits", async () => {
    rig.openai.backend = scriptedBackend("One *whole* answer.");
    const r = await groupWithAi(alice, bob, "plain room");
    await alice.sendText(r, "!ai provider plain");
    await alice.waitFor((e) => isNoticeFromAi(e, /Provider set to plain/), { roomId: r });
    const { answer } = await ask(alice, r, "AI plain please");
    const req = await rig.openai.waitFor((q) => lastContent(q) === "alice: AI plain please");
    assert.equal((req.body as { stream?: boolean }).stream ?? false, false);
    assert.equal(answer.content.body, "One *whole* answer.");
    assert.match(String(answer.content.formatted_body), /<em>whole<\/em>/);
    await sleep(1500);
    assert.equal(alice.eventsIn(r).filter((e) => isEditOf(e, answer.event_id!)).length, 0);
  });

  it("fails over in order (primary, then backup) and logs which one answered", async () => {
    rig.ollama.backend = scriptedBackend("Backup here.");
    rig.openai.failNext(1, 500);
    const r = await groupWithAi(alice, bob, "failover room");
    const { answer } = await ask(alice, r, "AI failover test");
    await waitForShown(alice, r, answer, "Backup here.");
    const first = rig.openai.chats().findIndex((q) => lastContent(q) === "alice: AI failover test");
    const second = rig.ollama.chats().findIndex((q) => lastContent(q) === "alice: AI failover test");
    assert.ok(first >= 0 && second >= 0, "primary tried, then backup");
    assert.ok(rig.openai.chats()[first]!.time <= rig.ollama.chats()[second]!.time);
    assert.equal(rig.openai.chats()[first]!.status, 500);
  });

  it("when every provider fails: a short notice, typing cleared, and the bridge keeps answering", async () => {
    rig.openai.failNext(1, 500);
    rig.ollama.failNext(1, 503);
    const r = await groupWithAi(alice, bob, "error room");
    const id = await alice.sendText(r, "AI this will fail");
    await alice.waitFor(
      (e) => isNoticeFromAi(e, /The AI could not answer/) && JSON.stringify(e.content).includes(id),
      {
        roomId: r,
        timeoutMs: 30_000,
      },
    );
    await alice.waitForEphemeral(
      (e) => e.type === "m.typing" && !(e.content.user_ids as string[]).includes(AI),
      { roomId: r },
    );
    rig.openai.backend = scriptedBackend("Recovered.");
    const { answer } = await ask(alice, r, "AI try again");
    await waitForShown(alice, r, answer, "Recovered.");
  });

  it("a hung provider times out and fails over; other rooms are answered meanwhile", async () => {
    rig.openai.backend = scriptedBackend("Fast room.");
    rig.ollama.backend = scriptedBackend("After the timeout.");
    const slow = await groupWithAi(alice, bob, "hung room");
    const fast = await groupWithAi(alice, bob, "fast room");
    rig.openai.hangNext(1);
    const slowId = await alice.sendText(slow, "AI hang please");
    await rig.openai.waitFor((q) => lastContent(q) === "alice: AI hang please" && q.outcome === "hung");
    const t0 = Date.now();
    const quick = await ask(alice, fast, "AI are you quick?");
    assert.ok(Date.now() - t0 < 4500, "another room is not held up by the hung generation");
    await waitForShown(alice, fast, quick.answer, "Fast room.");
    const late = await alice.waitFor((e) => isAnswer(e, slowId), { roomId: slow, timeoutMs: 30_000 });
    await waitForShown(alice, slow, late, "After the timeout.");
  });

  it("long answers are split into messages under the Matrix event size limit", async () => {
    const long = `${"A long paragraph of text. ".repeat(600)}\n\n${"And more words here. ".repeat(600)}`;
    rig.openai.backend = () => ({ chunks: long.match(/[\s\S]{1,2000}/g)! });
    const r = await groupWithAi(alice, bob, "long room");
    const { answer } = await ask(alice, r, "AI write a lot");
    const parts = (): MatrixEvent[] =>
      alice
        .eventsIn(r)
        .filter(
          (e) =>
            e.sender === AI &&
            e.type === "m.room.message" &&
            e.content.msgtype === "m.text" &&
            e.event_id !== answer.event_id &&
            !isEditOf(e, answer.event_id!),
        );
    const shown = () =>
      shownText(alice, r, answer).length + parts().reduce((n, p) => n + String(p.content.body).length, 0);
    await alice.waitFor(() => shown() >= long.trim().length - 10, { roomId: r, timeoutMs: 60_000 });
    for (const e of [answer, ...alice.eventsIn(r).filter((x) => x.sender === AI)])
      assert.ok(Buffer.byteLength(JSON.stringify(e.content)) < 65_000);
    assert.ok(parts().length >= 1);
  });
});
