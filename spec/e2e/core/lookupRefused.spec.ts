import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

/**
 * A platform that refuses to describe a chat or a user (a 4xx on the lookup) when the first
 * message comes: the message is bridged anyway, into a room named after the chat id, from a
 * ghost with what the event says of its sender, and the details are filled in when the
 * platform answers.
 */
describe("lookups refused at portal creation (real Synapse, embedded PostgreSQL)", function () {
  this.timeout(120_000);
  let core: CoreRig;
  let alice: MatrixTestClient;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
  });
  after(async () => core?.stop());

  const memberName = async (room: string, mxid: string) =>
    String((await alice.getState(room, "m.room.member", mxid)).displayname ?? "");
  const roomName = async (room: string) => String((await alice.getState(room, "m.room.name")).name ?? "");

  it("bridges the first message with the ids as names, then fills in the details", async () => {
    core.testnet.addChat({ id: "secretive", name: "Secretive Group", kind: "group" });
    const avatar = core.testnet.addFile("shy.png", Buffer.from("not really a png"), "image/png");
    core.testnet.addUser({ id: "shy", name: "Shy Person", avatar_url: avatar });
    core.testnet.failNext("GET /chats/secretive", { status: 403, count: 1 });
    core.testnet.failNext("GET /users/shy", { status: 404, count: 1 });
    core.testnet.injectMessage({ chat: "secretive", sender: "shy", text: "first, undescribed" });
    const room = await portalRoomFor(alice, "secretive");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "first, undescribed");
    assert.equal(await roomName(room), "secretive");
    // The event names its sender; the rest of the profile (the avatar) waits for the lookup.
    assert.ok((await memberName(room, ghostId("shy"))).startsWith("Shy Person"));
    assert.equal((await alice.getState(room, "m.room.member", ghostId("shy"))).avatar_url, undefined);

    // The details are asked for again a few seconds later, when the chat speaks again.
    await new Promise((r) => setTimeout(r, 5_500));
    core.testnet.injectMessage({ chat: "secretive", sender: "shy", text: "second" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "second");
    assert.equal(await roomName(room), "Secretive Group");
    const member = await alice.getState(room, "m.room.member", ghostId("shy"));
    assert.match(String(member.avatar_url), /^mxc:\/\//, "the profile lookup answered: the avatar is set");
  });

  it("holds the message while the platform is unreachable for the lookup (an outage), then bridges it", async () => {
    core.testnet.addChat({ id: "flaky", name: "Flaky Group", kind: "group" });
    core.testnet.failNext("GET /chats/flaky", { status: 503, count: 2 });
    core.testnet.injectMessage({ chat: "flaky", sender: "b1", text: "after the outage" });
    const room = await portalRoomFor(alice, "flaky");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "after the outage");
    assert.equal(await roomName(room), "Flaky Group", "an outage is waited out, not papered over");
  });
});
