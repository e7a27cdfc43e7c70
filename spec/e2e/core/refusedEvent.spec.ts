import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { sharedRig } from "../../harness/synapse";
import { HomeserverProxy, type ProxiedCall } from "../../standins/homeserver/HomeserverProxy";
import { BOT, bodies, type CoreRig, portalRoomFor, startCoreRig, user } from "./coreRig";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A ghost's send of the message whose body is `body` (what the proxy refuses). */
const sendOf =
  (body: string) =>
  (c: ProxiedCall): boolean =>
    c.method === "PUT" &&
    /\/rooms\/[^/]+\/send\/m\.room\.message\//.test(c.path) &&
    (c.body as { body?: unknown } | undefined)?.body === body;

/**
 * The bridge reaches Synapse through a proxy that refuses chosen sends: an event the homeserver
 * refuses again and again is given up after a bounded number of attempts, with a notice on both
 * sides, and the chat's lane moves on; a homeserver that cannot be reached holds the lane instead.
 */
describe("an event the homeserver refuses (proxy in front of the real Synapse)", function () {
  this.timeout(180_000);
  let core: CoreRig;
  let proxy: HomeserverProxy;
  let alice: MatrixTestClient;
  let room: string;

  before(async () => {
    const rig = await sharedRig();
    proxy = await HomeserverProxy.start({ target: rig.synapse.url });
    // Small backoff: with the default of 5 attempts, a refused event is given up in seconds.
    core = await startCoreRig({
      homeserverUrl: proxy.url,
      delivery: { initial_backoff_ms: 100, max_backoff_ms: 800, give_up_after_seconds: 3600 },
    });
    alice = await user("alice");
    core.testnet.addChat({ id: "refused", name: "Refused", kind: "group" });
    core.testnet.addUser({ id: "f1", name: "Refused Sender" });
    core.testnet.injectMessage({ chat: "refused", sender: "f1", text: "refused warm-up" });
    room = await portalRoomFor(alice, "refused");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "refused warm-up", {
      timeoutMs: 30_000,
    });
  });
  after(async () => {
    if (!core?.rig.synapse.running) await core?.rig.synapse.startAgain();
    await core?.stop();
    await proxy?.close();
  });

  for (const refusal of [
    { name: "500", status: 500, errcode: "M_UNKNOWN" },
    { name: "400 M_UNKNOWN", status: 400, errcode: "M_UNKNOWN" },
  ]) {
    it(`gives up a message the homeserver answers ${refusal.name} to, tells both sides, and delivers the rest of the chat in order`, async () => {
      const tag = `r${refusal.status}`;
      const poison = `${tag} poison`;
      const stop = proxy.refuse(sendOf(poison), { status: refusal.status, errcode: refusal.errcode });
      try {
        const started = Date.now();
        core.testnet.injectMessage({ chat: "refused", sender: "f1", text: `${tag} before` });
        const poisonId = core.testnet.injectMessage({ chat: "refused", sender: "f1", text: poison });
        for (let i = 1; i <= 3; i++)
          core.testnet.injectMessage({ chat: "refused", sender: "f1", text: `${tag} after ${i}` });
        await alice.waitFor((e) => e.room_id === room && e.content.body === `${tag} after 3`, {
          timeoutMs: 60_000,
        });
        const took = Date.now() - started;
        assert.ok(took < 30_000, `the lane moved on after ${took} ms`);
        assert.deepEqual(bodies(alice.eventsIn(room), `${tag} `), [
          `${tag} before`,
          `${tag} after 1`,
          `${tag} after 2`,
          `${tag} after 3`,
        ]);
        const attempts = stop.hits();
        assert.ok(attempts >= 1 && attempts <= 10, `the refused send was tried ${attempts} times (bounded)`);
        // The room is told, by the bot…
        const notice = await alice.waitFor(
          (e) => {
            if (e.sender !== BOT || e.type !== "m.room.message") return false;
            const events = alice.eventsIn(room);
            const before = events.findIndex((x) => x.content.body === `${tag} before`);
            return before >= 0 && events.findIndex((x) => x.event_id === e.event_id) > before;
          },
          { roomId: room, timeoutMs: 15_000 },
        );
        assert.match(String(notice.content.body), /f1|Refused Sender/);
        // …and so is the sender on the platform, in reply to their message.
        const told = await core.testnet.waitFor(
          (c) =>
            c.method === "POST" &&
            c.path === "/chats/refused/messages" &&
            (c.body as { reply_to?: unknown }).reply_to === poisonId,
          15_000,
        );
        assert.equal((told.body as { msgtype?: unknown }).msgtype, "notice");
        // Given up means given up: no more attempts later.
        await sleep(3000);
        assert.equal(stop.hits(), attempts, "no attempts after giving up");
      } finally {
        stop();
      }
    });
  }

  it("holds the lane (never gives up) while the homeserver cannot be reached, and delivers in order once it is back", async () => {
    const notices = core.testnet.sent("refused").filter((m) => m.msgtype === "notice").length;
    await proxy.stopListening();
    try {
      for (let i = 1; i <= 3; i++)
        core.testnet.injectMessage({ chat: "refused", sender: "f1", text: `unreachable ${i}` });
      await sleep(10_000); // far longer than 5 attempts with these backoffs
    } finally {
      await proxy.listenAgain();
    }
    await alice.waitFor((e) => e.room_id === room && e.content.body === "unreachable 3", {
      timeoutMs: 60_000,
    });
    assert.deepEqual(bodies(alice.eventsIn(room), "unreachable "), [
      "unreachable 1",
      "unreachable 2",
      "unreachable 3",
    ]);
    const gaveUp = core.testnet.sent("refused").filter((m) => m.msgtype === "notice").length;
    assert.equal(gaveUp, notices, "nothing was given up while the homeserver could not be reached");
  });

  it("holds the lane while the homeserver behind the proxy is stopped (502 for everything), and delivers once it is back", async () => {
    const notices = core.testnet.sent("refused").filter((m) => m.msgtype === "notice").length;
    await core.rig.synapse.stop();
    try {
      for (let i = 1; i <= 3; i++)
        core.testnet.injectMessage({ chat: "refused", sender: "f1", text: `stopped ${i}` });
      await sleep(10_000);
    } finally {
      await core.rig.synapse.startAgain();
    }
    await alice.waitFor((e) => e.room_id === room && e.content.body === "stopped 3", { timeoutMs: 90_000 });
    assert.deepEqual(bodies(alice.eventsIn(room), "stopped "), ["stopped 1", "stopped 2", "stopped 3"]);
    assert.ok(
      proxy.calls.some((c) => c.status === 502),
      "the proxy answered 502 while Synapse was down (the bridge did try)",
    );
    const gaveUp = core.testnet.sent("refused").filter((m) => m.msgtype === "notice").length;
    assert.equal(gaveUp, notices, "nothing was given up while the homeserver was down");
  });
});
