import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const isText = (body: string) => (e: MatrixEvent) => e.type === "m.room.message" && e.content.body === body;
const texts = (alice: MatrixTestClient, room: string, prefix: string) =>
  alice
    .eventsIn(room)
    .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith(prefix))
    .map((e) => String(e.content.body));
const notices = (alice: MatrixTestClient, room: string) =>
  alice
    .eventsIn(room)
    .filter((e) => e.sender === BOT && /sending too fast/.test(String(e.content.body)))
    .map((e) => String(e.content.body));

/**
 * The flood brake as a platform user meets it. Bursts carry platform timestamps of two minutes
 * ago, so "a minute later" is a message sent now: no test waits out a mute.
 */
describe("flood brakes on platform messages (testnet stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let core: CoreRig;
  let alice: MatrixTestClient;

  before(async () => {
    core = await startCoreRig({
      sections: { flood: { ghost_per_minute: 5, chat_per_minute: 8, mute_seconds: 60 } },
    });
    alice = await user("alice");
    core.testnet.addChat({ id: "flood-a", name: "Flooded by one", kind: "group" });
    core.testnet.addChat({ id: "flood-b", name: "Flooded by many", kind: "group" });
    core.testnet.addUser({ id: "fl1", name: "Fast Fingers" });
    core.testnet.addUser({ id: "calm", name: "Calm Person" });
    for (const id of ["r1", "r2", "r3"]) core.testnet.addUser({ id, name: `Raider ${id}` });
  });
  after(async () => core?.stop());

  it("mutes a sender over ghost_per_minute with one notice, drops the rest, and lets them through once the minute is over", async () => {
    const base = Date.now() - 120_000;
    for (let i = 0; i < 8; i++)
      core.testnet.injectMessage({
        chat: "flood-a",
        sender: "fl1",
        text: `burst ${i}`,
        date: base + i * 100,
      });
    core.testnet.injectMessage({
      chat: "flood-a",
      sender: "calm",
      text: "calm in between",
      date: base + 900,
    });
    core.testnet.injectMessage({ chat: "flood-a", sender: "fl1", text: "a minute later" });
    const room = await portalRoomFor(alice, "flood-a");
    const later = await alice.waitFor((e) => e.room_id === room && isText("a minute later")(e));
    assert.equal(later.sender, ghostId("fl1"));
    await alice.waitFor((e) => e.room_id === room && isText("calm in between")(e));
    assert.deepEqual(texts(alice, room, "burst "), ["burst 0", "burst 1", "burst 2", "burst 3", "burst 4"]);
    assert.deepEqual(notices(alice, room), [
      "⏸️ Fast Fingers (testnet) is sending too fast: their messages are not bridged for 60 s.",
    ]);
    // Nothing of the muted burst reached the platform side either (the brake drops before Matrix).
    assert.equal(
      core.testnet.sent("flood-a").some((m) => /burst [5-7]/.test(m.text)),
      false,
    );
  });

  it("mutes a chat over chat_per_minute although no sender is over theirs, with one notice", async () => {
    const base = Date.now() - 120_000;
    let n = 0;
    for (let round = 0; round < 4; round++)
      for (const s of ["r1", "r2", "r3"])
        core.testnet.injectMessage({ chat: "flood-b", sender: s, text: `raid ${n}`, date: base + n++ * 50 });
    core.testnet.injectMessage({ chat: "flood-b", sender: "calm", text: "after the raid" });
    const room = await portalRoomFor(alice, "flood-b");
    await alice.waitFor((e) => e.room_id === room && isText("after the raid")(e));
    assert.deepEqual(
      texts(alice, room, "raid "),
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `raid ${i}`),
    );
    assert.deepEqual(notices(alice, room), [
      "⏸️ This testnet chat is sending too fast: its messages are not bridged for 60 s.",
    ]);
  });
});
