import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, startCoreRig, user } from "./coreRig";

describe("management room and commands (real Synapse)", function () {
  this.timeout(60_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let dm: string;

  const botSays = (c: MatrixTestClient, room: string, text: string | RegExp) =>
    c.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        (typeof text === "string"
          ? String(e.content.body).includes(text)
          : text.test(String(e.content.body))),
    );

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
  });
  after(async () => core?.stop());

  it("joins a DM from a permitted user and makes it their management room", async () => {
    dm = await alice.createDm(BOT);
    await botSays(alice, dm, "management room");
    assert.equal((await alice.profile(BOT)).displayname, "Clawbridge test bot");
  });

  it("answers help without a prefix in the management room", async () => {
    await alice.sendText(dm, "help");
    const help = await botSays(alice, dm, "Commands:");
    for (const name of ["help", "ping", "version", "status", "link", "unlink"]) {
      assert.match(String(help.content.body), new RegExp(`^${name}\\b`, "m"));
    }
    assert.equal(help.content.msgtype, "m.notice");
  });

  it("answers ping with the homeserver and each connector's state", async () => {
    await alice.sendText(dm, "ping");
    const pong = await botSays(alice, dm, "homeserver: ok");
    assert.match(String(pong.content.body), /testnet \(yours\): CONNECTED/);
  });

  it("answers version and status, also with the prefix", async () => {
    await alice.sendText(dm, "!cb version");
    await botSays(alice, dm, /^clawbridge \d+\.\d+\.\d+/);
    await alice.sendText(dm, "status");
    const status = await botSays(alice, dm, "queued deliveries:");
    assert.match(String(status.content.body), /connectors: testnet/);
  });

  it("says what to do for an unknown command", async () => {
    await alice.sendText(dm, "frobnicate");
    await botSays(alice, dm, "Unknown command `frobnicate`");
  });

  it("refuses a user without permission once, and then says nothing more", async () => {
    const mallory = await user("mallory");
    const room = await mallory.createDm(BOT);
    const refusal = await botSays(mallory, room, "not allowed to use this bridge");
    assert.ok(refusal);
    // The bot left after refusing; a second try gets no answer at all.
    await mallory.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "leave",
    );
    const again = await mallory.createDm(BOT);
    await mallory.sendText(again, "help");
    // alice's round trip through the bot proves the bridge processed everything before it.
    await alice.sendText(dm, "version");
    await botSays(alice, dm, /^clawbridge/);
    await new Promise((r) => setTimeout(r, 500));
    const botMessages = [...mallory.eventsIn(room), ...mallory.eventsIn(again)].filter(
      (e) => e.sender === BOT && e.type === "m.room.message",
    );
    assert.equal(botMessages.length, 1);
  });

  it("keeps refusing relay-level users for commands they may not run", async () => {
    const carol = await user("carol");
    const room = await carol.createDm(BOT);
    await botSays(carol, room, "management room");
    await carol.sendText(room, "status");
    await botSays(carol, room, "needs the bridge permission level 'user'");
  });
});
