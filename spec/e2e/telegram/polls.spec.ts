import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { sharedRig } from "../../harness/synapse";
import { HomeserverProxy, type ProxiedCall } from "../../standins/homeserver/HomeserverProxy";
import { poll } from "../../standins/telegram/richKinds";
import type { TelegramServer } from "../../standins/telegram/TelegramServer";
import { portalRoomFor } from "../core/coreRig";
import { isText, startTelegramRig, type TelegramRig, tgGhost } from "./telegramRig";

const GROUP = -1008643001;
const VERA = 8651;
const VIGO = 8652;

const POLL_START = "org.matrix.msc3381.poll.start";
const POLL_RESPONSE = "org.matrix.msc3381.poll.response";
const POLL_END = "org.matrix.msc3381.poll.end";
const TEXT = "org.matrix.msc1767.text";

const pollContent = (question: string, answers: string[], max = 1): Record<string, unknown> => ({
  [POLL_START]: {
    question: { [TEXT]: question },
    kind: "org.matrix.msc3381.poll.disclosed",
    max_selections: max,
    answers: answers.map((a, i) => ({ id: `ans-${i}`, [TEXT]: a })),
  },
  [TEXT]: `${question}\n${answers.join("\n")}`,
  body: `${question}\n${answers.join("\n")}`,
});

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const refersTo = (e: MatrixEvent, id: string): boolean =>
  (e.content["m.relates_to"] as { event_id?: string } | undefined)?.event_id === id;

describe("Telegram polls both ways end to end (real Synapse)", function () {
  this.timeout(120_000);
  let rig: TelegramRig;
  let proxy: HomeserverProxy;
  let tg: TelegramServer;
  let alice: MatrixTestClient;
  let room: string;
  const inRoom =
    (p: (e: MatrixEvent) => boolean) =>
    (e: MatrixEvent): boolean =>
      e.room_id === room && p(e);

  before(async () => {
    // The bridge reaches Synapse through a proxy that can hold its sends (the kill tests).
    proxy = await HomeserverProxy.start({ target: (await sharedRig()).synapse.url });
    rig = await startTelegramRig(
      "clawbridge_polls_bot",
      { poll_timeout_seconds: 1 },
      (t) => {
        t.addChat({ id: GROUP, type: "supergroup", title: "TG polls" });
        t.addUser({ id: VERA, first_name: "Vera" });
        t.addUser({ id: VIGO, first_name: "Vigo" });
      },
      {},
      { homeserverUrl: proxy.url },
    );
    ({ tg, alice } = rig);
    tg.injectMessage({ chat: GROUP, from: VERA, text: "polls start" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    await alice.waitFor(inRoom(isText("polls start")));
  });
  after(async () => {
    await rig?.stop();
    await proxy?.close();
  });

  let start: string;
  let messageId: number;

  it("a Matrix poll goes out as a native Telegram poll with visible voters", async () => {
    const calls = rig.from();
    start = await alice.sendEvent(room, POLL_START, pollContent("Lunch?", ["Pizza", "Soup", "Salad"], 2));
    const call = await tg.waitFor((c) => calls(c) && c.method === "sendPoll" && c.result !== undefined);
    const sent = tg.sent(GROUP).find((s) => s.method === "sendPoll");
    assert.ok(sent?.poll, "the stand-in recorded a poll");
    assert.match(sent.poll.question, /^alice: Lunch\?$/);
    assert.deepEqual(sent.poll.options, ["Pizza", "Soup", "Salad"]);
    assert.equal(sent.poll.is_anonymous, false);
    assert.equal(sent.poll.allows_multiple_answers, true);
    assert.equal(call.error, undefined);
    messageId = sent.message_id;
  });

  it("a Telegram user's vote comes back as their ghost's poll response; a new choice replaces it", async () => {
    tg.injectVote({ chat: GROUP, message_id: messageId, from: VIGO, options: [0, 2] });
    const first = await alice.waitFor(inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, start)));
    assert.equal(first.sender, tgGhost(VIGO));
    assert.deepEqual(first.content["m.relates_to"], { rel_type: "m.reference", event_id: start });
    assert.deepEqual(first.content[POLL_RESPONSE], { answers: ["ans-0", "ans-2"] });
    tg.injectVote({ chat: GROUP, message_id: messageId, from: VIGO, options: [1] });
    await alice.waitFor(
      inRoom(
        (e) =>
          e.type === POLL_RESPONSE &&
          refersTo(e, start) &&
          JSON.stringify(e.content[POLL_RESPONSE]) === JSON.stringify({ answers: ["ans-1"] }),
      ),
    );
  });

  it("a vote taken back arrives as an empty poll response", async () => {
    tg.injectVote({ chat: GROUP, message_id: messageId, from: VIGO, options: [] });
    const ev = await alice.waitFor(
      inRoom(
        (e) =>
          e.type === POLL_RESPONSE &&
          e.sender === tgGhost(VIGO) &&
          JSON.stringify(e.content[POLL_RESPONSE]) === JSON.stringify({ answers: [] }),
      ),
    );
    assert.ok(refersTo(ev, start));
  });

  it("the poll's creator ending it in Matrix stops the Telegram poll, with no end echoed back", async () => {
    const calls = rig.from();
    const end = await alice.sendEvent(room, POLL_END, {
      "m.relates_to": { rel_type: "m.reference", event_id: start },
      [POLL_END]: {},
      [TEXT]: "Ended",
      body: "Ended",
    });
    const call = await tg.waitFor((c) => calls(c) && c.method === "stopPoll" && c.result !== undefined);
    assert.equal(Number(call.params.message_id), messageId);
    assert.equal(tg.sent(GROUP).find((s) => s.message_id === messageId)?.poll?.closed, true);
    // The closed poll's update came back: a marker afterwards shows nothing else was sent for it.
    tg.injectMessage({ chat: GROUP, from: VERA, text: "after the stop" });
    await alice.waitFor(inRoom(isText("after the stop")));
    const ends = (await alice.messages(room, { limit: 30 })).filter((e) => e.type === POLL_END);
    assert.deepEqual(
      ends.map((e) => e.event_id),
      [end],
    );
  });

  it("a Matrix poll Telegram cannot take (13 answers) goes out as text", async () => {
    const calls = rig.from();
    const answers = Array.from({ length: 13 }, (_, i) => `Option ${i + 1}`);
    await alice.sendEvent(room, POLL_START, pollContent("Too many?", answers));
    const call = await tg.waitFor((c) => calls(c) && c.method === "sendMessage" && c.result !== undefined);
    assert.match(String(call.params.text), /Poll: Too many\?/);
    assert.match(String(call.params.text), /13\. Option 13/);
    assert.equal(
      tg.calls.filter((c) => calls(c) && c.method === "sendPoll").length,
      0,
      "no sendPoll for a poll over Telegram's limits",
    );
  });

  it("a Telegram user's poll closed by hand ends the Matrix poll as its creator's ghost", async () => {
    const id = tg.injectMessage({
      chat: GROUP,
      from: VERA,
      extra: poll({ question: "Tea or coffee?", options: ["Tea", "Coffee"] }),
    });
    const startEv = await alice.waitFor(inRoom((e) => e.type === POLL_START && e.sender === tgGhost(VERA)));
    const msg = tg.messageIn(GROUP, id) as { poll: Record<string, unknown> };
    tg.injectUpdate({ poll: { ...msg.poll, is_closed: true } });
    const end = await alice.waitFor(inRoom((e) => e.type === POLL_END && refersTo(e, startEv.event_id!)));
    assert.equal(end.sender, tgGhost(VERA));
    assert.deepEqual(end.content["m.relates_to"], { rel_type: "m.reference", event_id: startEv.event_id });
    assert.equal(typeof end.content[TEXT], "string");
  });

  it("malformed poll updates are dropped and the next message still arrives", async () => {
    tg.injectUpdate({ poll_answer: { poll_id: "nope", user: { id: VIGO, is_bot: false, first_name: "V" } } });
    tg.injectUpdate({ poll_answer: null });
    tg.injectUpdate({ poll: { id: { evil: true }, is_closed: true } });
    tg.injectUpdate({ poll_answer: { poll_id: "\u0000", option_ids: ["x"] } });
    tg.injectMessage({ chat: GROUP, from: VERA, text: "after the junk" });
    await alice.waitFor(inRoom(isText("after the junk")));
  });

  /** A new Matrix poll (three answers, two may be picked), sent as a Telegram poll: its event and message. */
  async function newPoll(question: string): Promise<{ start: string; message: number }> {
    const calls = rig.from();
    const start = await alice.sendEvent(room, POLL_START, pollContent(question, ["Red", "Green", "Blue"], 2));
    const call = await tg.waitFor((c) => calls(c) && c.method === "sendPoll" && c.result !== undefined);
    // The room's messages go out one after another, each once the one before it is recorded:
    // a message sent after the poll shows the bridge has the poll's record and message-map row.
    // (Killed before that, the bridge sends the poll again: the Bot API has no idempotency key.)
    const after = `after ${question}`;
    await alice.sendText(room, after);
    await tg.waitFor((c) => calls(c) && c.method === "sendMessage" && String(c.params.text).endsWith(after));
    return { start, message: (call.result as { message_id: number }).message_id };
  }

  /** The poll responses to `start` as [voter, answers], oldest first, once a marker after them is in. */
  async function votesOn(start: string, marker: string): Promise<Array<[string, unknown]>> {
    tg.injectMessage({ chat: GROUP, from: VERA, text: marker });
    await alice.waitFor(inRoom(isText(marker)), { timeoutMs: 60_000 });
    return (await alice.messages(room, { limit: 100 }))
      .filter((e) => e.type === POLL_RESPONSE && refersTo(e, start))
      .reverse()
      .map((e) => [e.sender, (e.content[POLL_RESPONSE] as { answers?: unknown } | undefined)?.answers]);
  }

  it("votes cast while the bridge is killed (SIGKILL) arrive once each after the restart, each the voter's whole choice, in order", async () => {
    const { start, message } = await newPoll("Colour while down?");
    await rig.core.restart("SIGKILL", () => {
      tg.injectVote({ chat: GROUP, message_id: message, from: VIGO, options: [0] });
      tg.injectVote({ chat: GROUP, message_id: message, from: VERA, options: [1, 2] });
      tg.injectVote({ chat: GROUP, message_id: message, from: VIGO, options: [] });
      // The same choice as the first vote, taken again: a vote of its own, not a repeat.
      tg.injectVote({ chat: GROUP, message_id: message, from: VIGO, options: [0] });
      tg.injectVote({ chat: GROUP, message_id: message, from: VERA, options: [2] });
    });
    assert.deepEqual(await votesOn(start, "after the votes cast while down"), [
      [tgGhost(VIGO), ["ans-0"]],
      [tgGhost(VERA), ["ans-1", "ans-2"]],
      [tgGhost(VIGO), []],
      [tgGhost(VIGO), ["ans-0"]],
      [tgGhost(VERA), ["ans-2"]],
    ]);
  });

  it("a vote the bridge took but was killed (SIGKILL) while relaying, its send reaching Synapse only after the kill, shows once after the restart, before the votes after it", async () => {
    const { start, message } = await newPoll("Colour at the crash?");
    const isVoteSend = (c: ProxiedCall): boolean =>
      c.method === "PUT" && c.path.includes(`/send/${encodeURIComponent(POLL_RESPONSE)}/`);
    const release = proxy.hold(isVoteSend);
    const before = proxy.calls.length;
    try {
      tg.injectVote({ chat: GROUP, message_id: message, from: VIGO, options: [1] });
      await waitUntil(() => release.held() === 1, "the first vote's send to Synapse, held");
      const held = proxy.calls.slice(before).find(isVoteSend)!;
      // A second vote queued behind it: taken (Telegram's offset is past it), not relayed yet.
      const second = tg.injectVote({ chat: GROUP, message_id: message, from: VERA, options: [0, 2] });
      await waitUntil(() => tg.confirmedOffset > second, "the second vote taken by the bridge");
      await rig.core.restart("SIGKILL", async () => {
        // The send the bridge was waiting on reaches Synapse after all: the bridge never learns.
        release();
        await waitUntil(() => held.status !== undefined, "Synapse's answer to the held send");
        assert.equal(held.status, 200, "Synapse stored the vote the killed bridge sent");
        tg.injectVote({ chat: GROUP, message_id: message, from: VIGO, options: [0, 1] });
      });
    } finally {
      release();
    }
    assert.deepEqual(await votesOn(start, "after the vote relayed across the kill"), [
      [tgGhost(VIGO), ["ans-1"]],
      [tgGhost(VERA), ["ans-0", "ans-2"]],
      [tgGhost(VIGO), ["ans-0", "ans-1"]],
    ]);
  });
});
