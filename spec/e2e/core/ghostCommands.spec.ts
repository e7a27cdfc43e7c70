import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

describe("platform users and bridge commands (real Synapse)", function () {
  this.timeout(90_000);
  let core: CoreRig;
  let alice: MatrixTestClient;

  before(async () => {
    // The whole server is admin, as a small team might set it: ghosts live on that server too.
    core = await startCoreRig({ permissions: { localhost: "admin" } });
    alice = await user("alice");
  });
  after(async () => core?.stop());

  it("never runs a platform user's `!cb` command, however wide the server's permission", async () => {
    const { testnet } = core;
    testnet.addChat({ id: "cmdchat", name: "Commands", kind: "group" });
    testnet.addUser({ id: "pat", name: "Pat Platform" });
    testnet.injectMessage({ chat: "cmdchat", sender: "pat", text: "hi" });
    const room = await portalRoomFor(alice, "cmdchat");
    testnet.injectMessage({ chat: "cmdchat", sender: "pat", text: "!cb status" });
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === ghostId("pat") && e.content.body === "!cb status",
    );
    // Alice's command comes after the ghost's in the room's queue: once it is answered, the
    // ghost's has been handled too.
    await alice.sendText(room, "!cb version");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /^clawbridge \d/.test(String(e.content.body)),
    );
    const fromBot = alice.eventsIn(room).filter((e) => e.sender === BOT && e.type === "m.room.message");
    assert.ok(
      !fromBot.some((e) => /queued deliveries|not allowed|permission/.test(String(e.content.body))),
      `the bot answered the platform user: ${fromBot.map((e) => e.content.body).join(" | ")}`,
    );
  });
});
