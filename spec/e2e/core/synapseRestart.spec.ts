import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, bodies, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

const N = 100;

/** The room's whole timeline from the homeserver (sync may skip events after a gap; this does not). */
async function history(client: MatrixTestClient, room: string): Promise<MatrixEvent[]> {
  const out: MatrixEvent[] = [];
  let from: string | undefined;
  while (true) {
    const q = new URLSearchParams({ dir: "b", limit: "1000" });
    if (from) q.set("from", from);
    const res = await client.request<{ chunk: MatrixEvent[]; end?: string }>(
      "GET",
      `/rooms/${encodeURIComponent(room)}/messages?${q}`,
    );
    out.push(...res.chunk.map((e) => ({ ...e, room_id: room })));
    if (!res.end || res.chunk.length === 0) return out.reverse();
    from = res.end;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A Matrix user's send that survives the homeserver going away: the same client transaction
 * id on every try, so Synapse (which keeps those ids in its database) stores the message once.
 */
async function sendOnce(client: MatrixTestClient, room: string, body: string): Promise<void> {
  const path = `/rooms/${encodeURIComponent(room)}/send/m.room.message/r${randomBytes(8).toString("hex")}`;
  const deadline = Date.now() + 90_000;
  while (true) {
    try {
      await client.request("PUT", path, { msgtype: "m.text", body });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

describe("a SQLite Synapse restarted mid-conversation (it reuses appservice transaction ids)", function () {
  this.timeout(240_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "hsrestart", name: "Restart", kind: "group" });
    core.testnet.addUser({ id: "r1", name: "Restart Sender" });
    core.testnet.injectMessage({ chat: "hsrestart", sender: "r1", text: "restart warm-up" });
    room = await portalRoomFor(alice, "hsrestart");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "restart warm-up", {
      timeoutMs: 30_000,
    });
  });
  after(async () => {
    // Later suites share this Synapse: leave it running whatever happened here.
    if (!core?.rig.synapse.running) await core?.rig.synapse.startAgain();
    await core?.stop();
  });

  it("loses and duplicates nothing in either direction, in order, across restarts during both bursts; the bot answers after them", async () => {
    const out = Array.from({ length: N }, (_, i) => `to-testnet ${String(i).padStart(3, "0")}`);
    const inb = Array.from({ length: N }, (_, i) => `to-matrix ${String(i).padStart(3, "0")}`);
    const relayedOut = () => core.testnet.sent("hsrestart").filter((m) => m.text.startsWith("to-testnet "));
    const arrivedIn = () => bodies(alice.eventsIn(room), "to-matrix ").length;
    // Both bursts pause at PAUSE_AT until released: Synapse then has no appservice transaction
    // in flight, so (on SQLite) it starts its transaction ids again from 1 after the restart.
    const PAUSE_AT = 40;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let sentOut = 0;
    const matrixSide = (async () => {
      for (const [i, body] of out.entries()) {
        if (i === PAUSE_AT) await gate;
        await sendOnce(alice, room, body);
        sentOut++;
        await sleep(20);
      }
    })();
    const platformSide = (async () => {
      for (const [i, text] of inb.entries()) {
        if (i === PAUSE_AT) await gate;
        core.testnet.injectMessage({ chat: "hsrestart", sender: "r1", text });
        await sleep(60);
      }
    })();
    const until = async (what: string, done: () => boolean, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!done()) {
        if (Date.now() > deadline)
          throw new Error(`${what} (testnet got ${relayedOut().length}, Matrix ${arrivedIn()})`);
        await sleep(50);
      }
    };

    // 1. A restart while both bursts pause with everything so far delivered (the quiet case).
    await until(
      "the first part of both bursts was not delivered",
      () => relayedOut().length >= PAUSE_AT && arrivedIn() >= PAUSE_AT,
    );
    await sleep(1000);
    await core.rig.synapse.restart();
    release();
    // 2. A restart with both bursts in full flow. Synapse 1.163 may stop between creating an
    // appservice transaction and sending it; with the appservice marked up it never resends that
    // one by itself (only its recoverer, started by a failed send, does), so a message can be
    // stranded in Synapse unless the bridge makes it resend (e.g. on a gap in transaction ids).
    await until(
      "the bursts did not go on after the first restart",
      () => relayedOut().length >= PAUSE_AT + 15 && arrivedIn() >= PAUSE_AT + 15,
    );
    const before = { out: relayedOut().length, in: arrivedIn() };
    await core.rig.synapse.restart();
    assert.ok(
      sentOut < N && before.out < N && before.in < N,
      `the second restart fell inside both bursts (${sentOut} sent; ${before.out} relayed, ${before.in} arrived)`,
    );
    await Promise.all([matrixSide, platformSide]);

    const deadline = Date.now() + 60_000;
    let timeline = await history(alice, room);
    while (relayedOut().length < N || bodies(timeline, "to-matrix ").length < N) {
      if (Date.now() > deadline) {
        const gotOut = new Set(relayedOut().map((m) => m.text));
        const gotIn = new Set(bodies(timeline, "to-matrix "));
        throw new Error(
          `after the restarts: ${gotOut.size} of ${N} Matrix messages reached testnet ` +
            `(missing: ${out.filter((b) => !gotOut.has(b)).join(", ") || "none"}), ` +
            `${gotIn.size} of ${N} testnet messages reached Matrix ` +
            `(missing: ${inb.filter((b) => !gotIn.has(b)).join(", ") || "none"})`,
        );
      }
      await sleep(500);
      timeline = await history(alice, room);
    }
    // Barriers both ways: anything duplicated late would be in by now.
    await alice.sendText(room, "barrier to testnet");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "barrier to testnet",
      60_000,
    );
    core.testnet.injectMessage({ chat: "hsrestart", sender: "r1", text: "barrier to matrix" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "barrier to matrix", {
      timeoutMs: 60_000,
    });

    assert.deepEqual(
      relayedOut().map((m) => m.text),
      out,
    );
    timeline = await history(alice, room);
    assert.deepEqual(bodies(timeline, "to-matrix "), inb);
    assert.ok(
      timeline
        .filter((e) => String(e.content.body).startsWith("to-matrix "))
        .every((e) => e.sender === ghostId("r1")),
    );

    const command = await alice.sendText(room, "!cb ping");
    const pong = await alice.waitFor(
      (e) => {
        if (e.sender !== BOT || !String(e.content.body).startsWith("bridge: ok")) return false;
        const events = alice.eventsIn(room);
        return (
          events.findIndex((x) => x.event_id === e.event_id) > events.findIndex((x) => x.event_id === command)
        );
      },
      { roomId: room, timeoutMs: 60_000 },
    );
    assert.match(String(pong.content.body), /homeserver: ok/);
    assert.equal(core.rig.synapse.running, true);
  });

  it("gets the Matrix messages Synapse held only in memory when it stopped (queued behind a transaction in flight)", async () => {
    // Synapse queues a room's events for an appservice in memory while a transaction to it is in
    // flight, and records them as handed over: stopped then, it never sends them. Here the bridge
    // is paused (SIGSTOP) so the first message's transaction hangs and the next ones queue.
    const held = ["held 1", "held 2", "held 3", "held 4"];
    core.bridge.kill("SIGSTOP");
    try {
      await alice.sendText(room, held[0]);
      await sleep(500); // its transaction is now on its way to the paused bridge
      for (const body of held.slice(1)) await alice.sendText(room, body);
      await sleep(500);
      core.rig.synapse.kill(); // a crash: nothing of its memory is kept
      while (core.rig.synapse.running) await sleep(50);
    } finally {
      core.bridge.kill("SIGCONT");
    }
    await sleep(1000);
    await core.rig.synapse.startAgain();
    const deadline = Date.now() + 60_000;
    const got = () => core.testnet.sent("hsrestart").filter((m) => m.text.startsWith("held "));
    while (got().length < held.length) {
      if (Date.now() > deadline)
        throw new Error(
          `only ${
            got()
              .map((m) => m.text)
              .join(", ") || "none"
          } reached testnet`,
        );
      await sleep(200);
    }
    await alice.sendText(room, "barrier after held");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "barrier after held",
      60_000,
    );
    assert.deepEqual(
      got().map((m) => m.text),
      held,
    );
  });
});
