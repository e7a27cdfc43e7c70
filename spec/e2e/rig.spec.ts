import assert from "node:assert/strict";
import net from "node:net";
import { MatrixTestClient } from "../harness/MatrixTestClient";
import { type SharedRig, sharedRig } from "../harness/synapse";

describe("e2e rig", function () {
  this.timeout(120_000);
  let rig: SharedRig;
  const clients: MatrixTestClient[] = [];

  before(async () => {
    rig = await sharedRig();
  });

  after(() => {
    for (const c of clients) c.stop();
  });

  it("runs a real Synapse on 127.0.0.1 that answers /health and /versions", async () => {
    assert.match(rig.synapse.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(rig.synapse.serverName, "localhost");
    const health = await fetch(`${rig.synapse.url}/health`);
    assert.equal(health.status, 200);
    const versions = (await (await fetch(`${rig.synapse.url}/_matrix/client/versions`)).json()) as {
      versions: string[];
    };
    assert.ok(versions.versions.length > 0);
  });

  it("returns the same rig on every call", async () => {
    assert.equal(await sharedRig(), rig);
  });

  it("registers a user who creates a room, sends a message and sees it in its own /sync", async () => {
    const alice = await MatrixTestClient.register(rig.synapse, `rigalice${Date.now()}`);
    clients.push(alice);
    assert.match(alice.userId, /^@rigalice\d+:localhost$/);
    const roomId = await alice.createRoom({ name: "rig smoke" });
    const eventId = await alice.sendText(roomId, "hello rig");
    const seen = await alice.waitFor((e) => e.event_id === eventId, { roomId, timeoutMs: 10_000 });
    assert.equal(seen.type, "m.room.message");
    assert.equal(seen.content.body, "hello rig");
    assert.equal(seen.sender, alice.userId);
    assert.equal(seen.room_id, roomId);
    assert.ok(alice.eventsIn(roomId).some((e) => e.type === "m.room.create"));
  });

  it("delivers invites, joins, replies, edits and reactions between two users", async () => {
    const alice = await MatrixTestClient.register(rig.synapse, `rigalice2${Date.now()}`);
    const bob = await MatrixTestClient.register(rig.synapse, `rigbob${Date.now()}`);
    clients.push(alice, bob);
    const roomId = await alice.createDm(bob.userId);
    const invite = await bob.waitForInvite((i) => i.roomId === roomId);
    assert.equal(invite.inviter, alice.userId);
    await bob.join(roomId);
    const first = await bob.sendText(roomId, "hi alice");
    await alice.waitFor((e) => e.event_id === first, { roomId });
    const reply = await alice.reply(roomId, first, "hi bob");
    const edit = await alice.edit(roomId, reply, "hi bob!");
    const reaction = await bob.react(roomId, reply, "👍");
    const seenEdit = await bob.waitFor((e) => e.event_id === edit, { roomId });
    assert.deepEqual(seenEdit.content["m.relates_to"], { rel_type: "m.replace", event_id: reply });
    await alice.waitFor((e) => e.event_id === reaction, { roomId });
    const members = await alice.members(roomId);
    assert.deepEqual(members.map((m) => m.membership).sort(), ["join", "join"]);
  });

  it("rejects waitFor on timeout with what it saw in the room", async () => {
    const carol = await MatrixTestClient.register(rig.synapse, `rigcarol${Date.now()}`);
    clients.push(carol);
    const roomId = await carol.createRoom({});
    await carol.waitFor((e) => e.type === "m.room.create", { roomId });
    await assert.rejects(
      carol.waitFor((e) => e.type === "never.seen", { roomId, timeoutMs: 300 }),
      /no matching event within 300 ms; seen:\n.*m\.room\.create/s,
    );
  });

  it("restarts Synapse on the same port; a syncing client carries on afterwards", async () => {
    const dave = await MatrixTestClient.register(rig.synapse, `rigdave${Date.now()}`);
    clients.push(dave);
    const roomId = await dave.createRoom({});
    const url = rig.synapse.url;
    await rig.synapse.restart();
    assert.equal(rig.synapse.url, url);
    const eventId = await dave.sendText(roomId, "after restart");
    await dave.waitFor((e) => e.event_id === eventId, { roomId, timeoutMs: 20_000 });
  });

  it("refuses TCP connects to non-loopback hosts in the test process", async () => {
    assert.throws(
      () => net.connect(80, "10.255.255.1"),
      /test tried to reach non-loopback host 10\.255\.255\.1/,
    );
    assert.throws(
      () => net.connect({ host: "example.org", port: 443 }),
      /test tried to reach non-loopback host example\.org/,
    );
    await assert.rejects(fetch("http://10.255.255.1/"), (err: Error) =>
      /non-loopback host 10\.255\.255\.1/.test(String((err as { cause?: unknown }).cause ?? err)),
    );
    // Unix sockets are not affected: connecting to a missing socket fails with ENOENT, not with the guard.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ path: "/nonexistent/clawbridge.sock" });
      s.once("error", (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? resolve() : reject(err)));
      s.once("connect", () => reject(new Error("unexpected connect")));
    });
  });
});
