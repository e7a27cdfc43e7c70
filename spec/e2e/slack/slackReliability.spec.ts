import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { SlackServer, Workspace } from "../../standins/slack/SlackServer";
import type { CoreRig } from "../core/coreRig";
import { outboundBurstAcrossKill } from "../core/outboundKill";
import { BEA, BOT, ghost, isText, type SlackRig, startSlackRig, UGO, UMA } from "./slackRig";

describe("Slack bridge reliability end to end (two workspaces, retries, 429, reconnects, SIGKILL)", function () {
  this.timeout(120_000);
  let r: SlackRig;
  let slack: SlackServer;
  let wa: Workspace;
  let wb: Workspace;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let A: string;
  let B: string;
  let CH: string;
  let CH_B: string;
  let CH_LINK: string;
  let httpUrl: string;
  let room: string;
  let roomB: string;
  let first: string;
  const portal = (channel: string) => r.portal(channel);
  const posted = (team: string, pred: (text: string) => boolean) => r.posted(team, pred);

  before(async () => {
    r = await startSlackRig("R");
    ({ slack, wa, wb, core, alice, A, B, CH, CH_B, CH_LINK, httpUrl } = r);
    first = slack.injectMessage(A, { channel: CH, user: UMA, text: "first of the reliability run" });
    room = await portal(CH);
    await alice.waitFor((e) => e.room_id === room && isText("first of the reliability run")(e));
  });
  after(async () => {
    await r?.stop();
  });

  it("bridges a retried Slack event once (same event id)", async () => {
    slack.injectMessage(A, { channel: CH, user: UGO, text: "retried message" });
    const msgEvent = slack.deliveries.at(-1)!.eventId;
    await alice.waitFor((e) => e.room_id === room && isText("retried message")(e));
    slack.deliver(A, {
      type: "reaction_added",
      user: UMA,
      reaction: "eyes",
      item: { type: "message", channel: CH, ts: first },
    });
    const reactionEvent = slack.deliveries.at(-1)!.eventId;
    await alice.waitFor((e) => e.room_id === room && e.type === "m.reaction" && e.sender === ghost(A, UMA));
    slack.retry(msgEvent);
    slack.retry(reactionEvent);
    slack.injectMessage(A, { channel: CH, user: UGO, text: "barrier 2" });
    await alice.waitFor((e) => e.room_id === room && isText("barrier 2")(e));
    const events = alice.eventsIn(room);
    assert.equal(events.filter(isText("retried message")).length, 1);
    assert.equal(events.filter((e) => e.type === "m.reaction" && e.sender === ghost(A, UMA)).length, 1);
  });

  it("runs a second workspace over the Events API: signed events bridged, forged or stale ones refused with 401", async () => {
    slack.injectMessage(B, { channel: CH_B, user: BEA, text: "hello from beta" });
    roomB = await portal(CH_B);
    const msg = await alice.waitFor((e) => e.room_id === roomB && isText("hello from beta")(e));
    assert.equal(msg.sender, ghost(B, BEA));
    assert.equal((await alice.getState(roomB, "m.room.topic")).topic, "Beta's purpose");
    assert.deepEqual(slack.deliveries.at(-1)!.statuses, [200]);

    const forged = (text: string) =>
      JSON.stringify({
        type: "event_callback",
        team_id: B,
        event_id: `EvForged${text.length}`,
        event: { type: "message", channel: CH_B, user: BEA, text, ts: wb.nextTs() },
      });
    assert.equal(await slack.postSigned(httpUrl, forged("forged message"), "not-the-secret"), 401);
    const stale = Math.floor(Date.now() / 1000) - 600;
    assert.equal(
      await slack.postSigned(httpUrl, forged("stale message!"), wb.signingSecret, { timestamp: stale }),
      401,
    );

    await alice.sendText(roomB, "to beta");
    const call = await posted(B, (t) => t.endsWith("to beta"));
    assert.equal(call.params.channel, CH_B);
    assert.equal(call.params.text, "*alice*: to beta");
    assert.equal(call.params.username, undefined);
    slack.injectMessage(B, { channel: CH_B, user: BEA, text: "beta barrier" });
    await alice.waitFor((e) => e.room_id === roomB && isText("beta barrier")(e));
    const bodies = alice.eventsIn(roomB).map((e) => String(e.content.body));
    assert.ok(!bodies.includes("forged message") && !bodies.includes("stale message!"));
  });

  it("links an existing room to a channel of the second workspace by command, and unlinks it", async () => {
    const linked = await alice.createRoom({ name: "Existing", invite: [BOT] });
    await alice.waitFor(
      (e) =>
        e.room_id === linked &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
    );
    await alice.sendText(linked, `!cb link slack ${CH_LINK}`);
    await alice.waitFor(
      (e) => e.room_id === linked && String(e.content.body).startsWith("Linked this room to slack"),
    );
    slack.injectMessage(B, { channel: CH_LINK, user: BEA, text: "into the linked room" });
    const m = await alice.waitFor((e) => e.room_id === linked && isText("into the linked room")(e));
    assert.equal(m.sender, ghost(B, BEA));
    await alice.sendText(linked, "back to beta");
    const call = await posted(B, (t) => t.endsWith("back to beta"));
    assert.equal(call.params.channel, CH_LINK);
    await alice.sendText(linked, "!cb unlink slack");
    await alice.waitFor((e) => e.room_id === linked && String(e.content.body).startsWith("Unlinked"));
  });

  it("keeps order per channel when Slack answers 429 Retry-After to a burst, while another channel goes on", async () => {
    slack.rateLimit("chat.postMessage", { count: 2, retryAfter: 1, channel: CH });
    const texts = Array.from({ length: 8 }, (_, i) => `burst ${i}`);
    for (const t of texts) await alice.sendText(room, t);
    await alice.sendText(roomB, "beta not blocked");
    await posted(B, (t) => t.endsWith("beta not blocked"));
    await slack.until(
      () => wa.messages.filter((m) => m.text.startsWith("burst ")).length === texts.length,
      60_000,
      "burst",
    );
    assert.deepEqual(
      wa.messages.filter((m) => m.text.startsWith("burst ")).map((m) => m.text),
      texts,
    );
    const limited = slack.calls.filter((c) => c.error === "ratelimited");
    assert.equal(limited.length, 2);
    const after = slack.calls.find(
      (c) => c.method === "chat.postMessage" && !c.error && c.time > limited[1]!.time,
    );
    assert.ok(after && after.time - limited[0]!.time >= 1000, "the retry waited for Retry-After");
  });

  it("reconnects Socket Mode after a forced disconnect and loses nothing sent meanwhile", async () => {
    const before = slack.connections(A);
    slack.disconnect(A, "terminate");
    const texts = Array.from({ length: 5 }, (_, i) => `while away ${i}`);
    for (const text of texts) slack.injectMessage(A, { channel: CH, user: UMA, text });
    await alice.waitFor((e) => e.room_id === room && isText("while away 4")(e), { timeoutMs: 60_000 });
    assert.ok(slack.connections(A) > before, "a new socket was opened");
    slack.disconnect(A, "refresh");
    slack.injectMessage(A, { channel: CH, user: UMA, text: "after refresh" });
    await alice.waitFor((e) => e.room_id === room && isText("after refresh")(e), { timeoutMs: 60_000 });
    const got = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("while away"))
      .map((e) => String(e.content.body));
    assert.deepEqual(got, texts);
  });

  it("catches up on messages posted while the bridge was stopped, each once and in order, with or without their events", async () => {
    const texts = Array.from({ length: 6 }, (_, i) => `while stopped ${i}`);
    const t0 = Date.now();
    await core.restart("SIGTERM", () => {
      // Even ones: Slack still holds their events and sends them on reconnect. Odd ones: it gave
      // up, and only conversations.history has them.
      texts.forEach((text, i) => {
        if (i % 2 === 0) slack.injectMessage(A, { channel: CH, user: UMA, text });
        else slack.missedMessage(A, { channel: CH, user: UGO, text });
      });
    });
    await slack.until(() => slack.connected(A), 60_000, "socket after restart");
    const history = await slack.waitFor(
      (c) =>
        c.time >= t0 &&
        c.method === "conversations.history" &&
        (c.params as { channel?: string }).channel === CH,
      60_000,
    );
    assert.ok(
      (history.params as { oldest?: string }).oldest,
      "asked for what came after the last bridged message",
    );
    slack.injectMessage(A, { channel: CH, user: UMA, text: "after catch-up" });
    await alice.waitFor((e) => e.room_id === room && isText("after catch-up")(e), { timeoutMs: 60_000 });
    const got = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("while stopped"))
      .map((e) => `${e.content.body} ${e.sender}`);
    assert.deepEqual(
      got,
      texts.map((t, i) => `${t} ${ghost(A, i % 2 === 0 ? UMA : UGO)}`),
    );
  });

  it("resumes by the exact ts after a restart: messages of one millisecond are not queued again, and a thread reply sent while away arrives in its thread", async () => {
    // Consecutive stand-in ts of one second: many share a millisecond, apart by microseconds.
    const live = Array.from({ length: 10 }, (_, i) => `same ms ${i}`);
    const parentText = "same ms thread parent";
    const parent = slack.injectMessage(A, { channel: CH, user: UMA, text: parentText });
    for (const text of live) slack.injectMessage(A, { channel: CH, user: UMA, text });
    const parentEvent = await alice.waitFor((e) => e.room_id === room && isText(parentText)(e));
    await alice.waitFor((e) => e.room_id === room && isText(live.at(-1)!)(e), { timeoutMs: 60_000 });
    await core.restart("SIGTERM", () => {
      slack.missedMessage(A, { channel: CH, user: UGO, text: "reply while away", thread_ts: parent });
      slack.missedMessage(A, { channel: CH, user: UGO, text: "channel while away" });
    });
    await slack.until(() => slack.connected(A), 60_000, "socket after restart");
    const reply = await alice.waitFor((e) => e.room_id === room && isText("reply while away")(e), {
      timeoutMs: 60_000,
    });
    assert.deepEqual(reply.content["m.relates_to"], {
      rel_type: "m.thread",
      event_id: parentEvent.event_id,
      is_falling_back: true,
      "m.in_reply_to": { event_id: parentEvent.event_id },
    });
    assert.equal(reply.sender, ghost(A, UGO));
    await alice.waitFor((e) => e.room_id === room && isText("channel while away")(e), { timeoutMs: 60_000 });
    const texts = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message")
      .map((e) => String(e.content.body));
    for (const text of [...live, parentText, "reply while away", "channel while away"])
      assert.equal(texts.filter((t) => t === text).length, 1, `${text} once`);
    assert.ok(texts.indexOf("reply while away") < texts.indexOf("channel while away"), "in Slack's order");
    // The restarted bridge queued from history the two missed messages of this channel, nothing else.
    const queued = core.bridge
      .output()
      .split("\n")
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter((l) => l.message === "missed messages queued" && l.chat === CH);
    assert.deepEqual(
      queued.map((l) => l.count),
      [2],
    );
  });

  it("logs and skips malformed events and goes on", async () => {
    slack.deliver(A, { type: "message", text: "no channel" });
    slack.deliver(A, { type: "reaction_added", user: UMA, reaction: "x" });
    slack.injectMessage(A, { channel: CH, user: UMA, text: "after the bad ones" });
    await alice.waitFor((e) => e.room_id === room && isText("after the bad ones")(e));
    assert.match(core.bridge.output(), /malformed event skipped/);
  });

  it("bridges every event exactly once when the bridge is killed mid-burst (unacknowledged envelopes come again)", async () => {
    const texts = Array.from({ length: 150 }, (_, i) => `sl-kill ${String(i).padStart(3, "0")}`);
    const isKill = (d: { payload: Record<string, unknown> }) =>
      String((d.payload.event as { text?: string }).text).startsWith("sl-kill");
    for (const text of texts) slack.injectMessage(A, { channel: CH, user: UMA, text });
    // Kill as soon as the bridge has taken the first envelopes: the rest are still unacknowledged.
    await slack.until(() => slack.deliveries.some((d) => isKill(d) && d.acked), 30_000, "first acks");
    await core.restart("SIGKILL");
    await slack.until(() => slack.connected(A), 60_000, "socket after restart");
    await alice.waitFor((e) => e.room_id === room && isText("sl-kill 149")(e), { timeoutMs: 90_000 });
    slack.injectMessage(A, { channel: CH, user: UMA, text: "kill barrier" });
    await alice.waitFor((e) => e.room_id === room && isText("kill barrier")(e), { timeoutMs: 60_000 });
    const got = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("sl-kill"))
      .map((e) => String(e.content.body));
    assert.deepEqual(got, texts);
    const again = slack.deliveries.filter((d) => isKill(d) && d.attempts > 1);
    assert.ok(again.length > 0, "the kill landed mid-burst: some envelopes were never acknowledged");
  });

  it("posts 30 Matrix messages exactly once, in order, when the bridge is SIGKILLed right after Slack took one", async () => {
    const burst = /sl-out (\d\d|barrier)/;
    const { expected, got, atKill } = await outboundBurstAcrossKill({
      alice,
      room,
      prefix: "sl-out",
      restart: (signal) => core.restart(signal),
      arrived: (text, timeoutMs) =>
        slack.answered(
          (c) => c.method === "chat.postMessage" && c.team === A && String(c.params.text).includes(text),
          timeoutMs,
        ),
      held: () =>
        wa.messages
          .filter((m) => m.channel === CH && !m.deleted)
          .map((m) => burst.exec(m.text)?.[0])
          .filter((t): t is string => !!t),
    });
    assert.ok(atKill >= 5 && atKill < 30, `killed mid-burst (${atKill} posted)`);
    assert.deepEqual(got, expected);
    const looked = slack.calls.filter(
      (c) => c.method === "conversations.history" && c.params.include_all_metadata !== undefined,
    );
    assert.ok(looked.length >= 1, "the repeated send looked for what was posted before the kill");
  });

  it("never logs a token or signing secret", () => {
    const out = core.bridge.output();
    for (const secret of [wa.botToken, wa.appToken, wb.botToken, wb.signingSecret])
      assert.ok(!out.includes(secret));
  });
});
