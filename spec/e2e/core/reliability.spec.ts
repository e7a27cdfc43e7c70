import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { bodies, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

async function waitForCount(
  alice: MatrixTestClient,
  room: string,
  prefix: string,
  n: number,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (bodies(alice.eventsIn(room), prefix).length < n) {
    if (Date.now() > deadline) {
      throw new Error(
        `only ${bodies(alice.eventsIn(room), prefix).length} of ${n} "${prefix}" messages arrived`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("durable, ordered delivery under faults (real Synapse, embedded PostgreSQL)", function () {
  this.timeout(180_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "burst", name: "Burst", kind: "group" });
    core.testnet.addUser({ id: "b1", name: "Burst Sender" });
    core.testnet.injectMessage({ chat: "burst", sender: "b1", text: "warm-up" });
    room = await portalRoomFor(alice, "burst");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "warm-up");
  });
  after(async () => core?.stop());

  it("delivers 200 messages exactly once, in order, across a SIGKILL mid-burst and a restart", async () => {
    const expected = Array.from({ length: 200 }, (_, i) => `kill-burst ${String(i).padStart(3, "0")}`);
    for (const text of expected) core.testnet.injectMessage({ chat: "burst", sender: "b1", text });
    await waitForCount(alice, room, "kill-burst", 30, 30_000);
    core.bridge.kill("SIGKILL");
    await core.bridge.waitForExit();
    const before = bodies(alice.eventsIn(room), "kill-burst").length;
    assert.ok(before < 200, `the kill happened mid-burst (${before} delivered before it)`);
    await core.restart("SIGKILL");
    await waitForCount(alice, room, "kill-burst", 200, 90_000);
    core.testnet.injectMessage({ chat: "burst", sender: "b1", text: "barrier after kill" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "barrier after kill");
    assert.deepEqual(bodies(alice.eventsIn(room), "kill-burst"), expected);
    assert.ok(
      alice
        .eventsIn(room)
        .filter((e) => e.content.body === "kill-burst 000")
        .every((e) => e.sender === ghostId("b1")),
    );
  });

  it("keeps a Matrix message that the platform rate-limits, and delivers it in order", async () => {
    core.testnet.failNext("POST /chats/burst/messages", { status: 429, retryAfter: 1, count: 2 });
    await alice.sendText(room, "rate limited first");
    await alice.sendText(room, "rate limited second");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "rate limited second",
      20_000,
    );
    const texts = core.testnet.sent("burst").map((m) => m.text);
    assert.deepEqual(
      texts.filter((t) => t.startsWith("rate limited")),
      ["rate limited first", "rate limited second"],
    );
  });
  it("catches up after a reconnect and across a restart: messages the platform never sent as updates arrive once, in order", async () => {
    // The poll fails twice (a disconnect); meanwhile a message lands that no update carries.
    core.testnet.failNext("/updates", { status: 500, count: 2 });
    core.testnet.injectMessage({ chat: "burst", sender: "b1", text: "missed 0", missed: true });
    await waitForCount(alice, room, "missed 0", 1, 60_000);
    await core.restart("SIGTERM", () => {
      for (let i = 1; i <= 6; i++)
        core.testnet.injectMessage({ chat: "burst", sender: "b1", text: `missed ${i}`, missed: i % 2 === 1 });
    });
    await waitForCount(alice, room, "missed ", 7, 90_000);
    core.testnet.injectMessage({ chat: "burst", sender: "b1", text: "barrier after catch-up" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "barrier after catch-up", {
      timeoutMs: 60_000,
    });
    assert.deepEqual(
      bodies(alice.eventsIn(room), "missed "),
      Array.from({ length: 7 }, (_, i) => `missed ${i}`),
    );
    assert.match(core.bridge.output(), /missed messages queued/);
  });

  it("resumes after the newest bridged message by the platform's order when many share a millisecond: nothing re-queued, nothing missed", async () => {
    const date = Date.now() - 60_000; // one millisecond for every message of this chat
    core.testnet.addChat({ id: "samems", name: "Same ms", kind: "group" });
    core.testnet.injectMessage({ chat: "samems", sender: "b1", text: "same-ms 00", date });
    const msRoom = await portalRoomFor(alice, "samems");
    const live = Array.from({ length: 12 }, (_, i) => `same-ms ${String(i + 1).padStart(2, "0")}`);
    for (const text of live) core.testnet.injectMessage({ chat: "samems", sender: "b1", text, date });
    await waitForCount(alice, msRoom, "same-ms ", 13, 60_000);
    const missed = ["same-ms 13", "same-ms 14", "same-ms 15"];
    await core.restart("SIGTERM", () => {
      for (const text of missed)
        core.testnet.injectMessage({ chat: "samems", sender: "b1", text, date, missed: true });
    });
    await waitForCount(alice, msRoom, "same-ms ", 16, 90_000);
    core.testnet.injectMessage({ chat: "samems", sender: "b1", text: "barrier after same-ms" });
    await alice.waitFor((e) => e.room_id === msRoom && e.content.body === "barrier after same-ms", {
      timeoutMs: 60_000,
    });
    assert.deepEqual(
      bodies(alice.eventsIn(msRoom), "same-ms "),
      Array.from({ length: 16 }, (_, i) => `same-ms ${String(i).padStart(2, "0")}`),
    );
    // What the restarted bridge queued from history: the three missed, none of the 13 bridged.
    const lines = core.bridge
      .output()
      .split("\n")
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    const queued = lines.filter((l) => l.message === "missed messages queued");
    assert.deepEqual(
      queued.map((l) => [l.chat, l.count]),
      [["samems", 3]],
    );
    const done = lines.filter((l) => l.message === "catch-up done" && l.platform === "testnet");
    assert.ok(done.length >= 1, "the catch-up ran and said so");
    assert.equal(
      done.reduce((n, l) => n + Number(l.messages), 0),
      3,
    );
  });

  it("delivers every message once, in order, when Synapse is down for ~10 s during a burst", async () => {
    const expected = Array.from({ length: 100 }, (_, i) => `hs-down ${String(i).padStart(3, "0")}`);
    const injector = (async () => {
      for (const text of expected) {
        core.testnet.injectMessage({ chat: "burst", sender: "b1", text });
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    await waitForCount(alice, room, "hs-down", 10, 30_000);
    await core.rig.synapse.stop();
    await new Promise((r) => setTimeout(r, 10_000));
    await core.rig.synapse.startAgain();
    await injector;
    await waitForCount(alice, room, "hs-down", 100, 90_000);
    core.testnet.injectMessage({ chat: "burst", sender: "b1", text: "barrier after hs restart" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "barrier after hs restart", {
      timeoutMs: 60_000,
    });
    assert.deepEqual(bodies(alice.eventsIn(room), "hs-down"), expected);
  });
});
