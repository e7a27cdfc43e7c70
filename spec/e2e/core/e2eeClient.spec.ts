import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { E2eeClient, type E2eeEvent } from "../../harness/E2eeClient";
import { decryptAttachment } from "../../harness/encryptedMedia";
import { type SharedRig, sharedRig } from "../../harness/synapse";
import { HomeserverProxy } from "../../standins/homeserver/HomeserverProxy";

/**
 * The test suites' end-to-end-encrypted Matrix user (spec/harness/E2eeClient.ts), proven against the real
 * Synapse before the bridge's encryption is tested with it: two such users talk in an encrypted room, a third
 * one joins later, keys arrive late, a key never arrives, the sync connection fails for a while.
 */
describe("E2eeClient: real end-to-end-encrypted test users (real Synapse)", function () {
  this.timeout(120_000);
  const tag = randomBytes(3).toString("hex");
  let rig: SharedRig;
  let alice: E2eeClient;
  let bob: E2eeClient;
  let carol: E2eeClient | undefined;
  let room: string;

  const byId = (id: string) => (e: E2eeEvent) => e.eventId === id;
  const decrypted = (id: string) => (e: E2eeEvent) => e.eventId === id && e.encrypted && !e.utd;

  /** The event as the server holds it: encrypted, and the plaintext nowhere in it. */
  async function assertCiphertextOnServer(client: E2eeClient, id: string, secret: string): Promise<void> {
    const raw = (await client.messages(room, { limit: 50 })).find((e) => e.event_id === id);
    assert.ok(raw, `event ${id} not in /messages`);
    assert.equal(raw.type, "m.room.encrypted");
    assert.equal(raw.content.algorithm, "m.megolm.v1.aes-sha2");
    assert.equal(typeof raw.content.ciphertext, "string");
    assert.ok(!JSON.stringify(raw).includes(secret), "plaintext reached the server");
  }

  before(async () => {
    rig = await sharedRig();
    [alice, bob] = await Promise.all([
      E2eeClient.register(rig.synapse, `e2ee_alice_${tag}`),
      E2eeClient.register(rig.synapse, `e2ee_bob_${tag}`),
    ]);
    room = await alice.createEncryptedRoom({ invite: [bob.userId], name: "e2ee client" });
    await bob.waitForInvite((i) => i.roomId === room);
    await bob.join(room);
    await alice.waitForEvent(
      room,
      (e) => e.type === "m.room.member" && e.stateKey === bob.userId && e.content.membership === "join",
    );
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop(), carol?.stop()]);
  });

  it("creates a megolm room, and each device has published its keys", async () => {
    assert.deepEqual(await alice.getState(room, "m.room.encryption"), { algorithm: "m.megolm.v1.aes-sha2" });
    await bob.waitForEvent(room, (e) => e.type === "m.room.encryption");
    assert.ok(bob.isEncrypted(room));
    assert.ok(!bob.isEncrypted(await bob.createRoom({})));
    const keys = await alice.request<{
      device_keys: Record<string, Record<string, { keys: Record<string, string> }>>;
    }>("POST", "/keys/query", { device_keys: { [bob.userId]: [] } });
    const device = keys.device_keys[bob.userId]?.[bob.deviceId];
    assert.ok(device, `bob's device ${bob.deviceId} not in /keys/query`);
    assert.equal(device.keys[`curve25519:${bob.deviceId}`], bob.curve25519Key);
    assert.equal(device.keys[`ed25519:${bob.deviceId}`], bob.ed25519Key);
  });

  it("a cross-signed device is seen as signed by its owner, a device without cross-signing is not", async () => {
    const erin = await E2eeClient.register(rig.synapse, `e2ee_erin_${tag}`, { crossSigning: true });
    try {
      const keys = await alice.request<{ master_keys?: Record<string, unknown> }>("POST", "/keys/query", {
        device_keys: { [erin.userId]: [] },
      });
      assert.ok(keys.master_keys?.[erin.userId], "erin's master key is not on the server");
      assert.deepEqual(await alice.deviceInfo(erin.userId, erin.deviceId), {
        crossSignedByOwner: true,
        verified: false,
        curve25519: erin.curve25519Key,
      });
      assert.equal((await alice.deviceInfo(bob.userId, bob.deviceId))?.crossSignedByOwner, false);
      assert.equal(await alice.deviceInfo(erin.userId, "NOSUCHDEVICE"), undefined);
    } finally {
      await erin.stop();
    }
  });

  it("text, reply, edit and reaction arrive decrypted both ways, as ciphertext on the server", async () => {
    const hello = `hello bob ${tag}`;
    const helloId = await alice.sendText(room, hello);
    const got = await bob.waitForEvent(room, decrypted(helloId));
    assert.equal(got.type, "m.room.message");
    assert.deepEqual(got.content, { msgtype: "m.text", body: hello });
    assert.equal(got.sender, alice.userId);
    assert.equal(got.senderDevice, alice.deviceId);
    assert.equal(got.raw.type, "m.room.encrypted");
    await assertCiphertextOnServer(bob, helloId, hello);
    assert.ok(
      bob.toDevice.some(
        (t) => t.kind === "decrypted" && t.type === "m.room_key" && t.sender === alice.userId,
      ),
    );

    const replyId = await bob.reply(room, helloId, "hi alice");
    const reply = await alice.waitForEvent(room, decrypted(replyId));
    assert.deepEqual(reply.content, {
      msgtype: "m.text",
      body: "hi alice",
      "m.relates_to": { "m.in_reply_to": { event_id: helloId } },
    });
    await assertCiphertextOnServer(alice, replyId, "hi alice");

    const editId = await alice.edit(room, helloId, `hello again ${tag}`);
    const edit = await bob.waitForEvent(room, decrypted(editId));
    assert.deepEqual(edit.content["m.new_content"], { msgtype: "m.text", body: `hello again ${tag}` });
    assert.deepEqual(edit.content["m.relates_to"], { rel_type: "m.replace", event_id: helloId });
    // The relation also travels in the clear, so the server can aggregate edits.
    assert.deepEqual(edit.raw.content["m.relates_to"], { rel_type: "m.replace", event_id: helloId });

    const reactionId = await bob.react(room, helloId, "👍");
    const reaction = await alice.waitForEvent(room, decrypted(reactionId));
    assert.equal(reaction.type, "m.reaction");
    assert.equal(reaction.raw.type, "m.room.encrypted");
    assert.deepEqual(reaction.content["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: helloId,
      key: "👍",
    });
  });

  it("a direct chat created encrypted, and a plain room encrypted later, carry encrypted messages", async () => {
    const dm = await bob.createEncryptedRoom({ invite: [alice.userId], isDirect: true });
    const invite = await alice.waitForInvite((i) => i.roomId === dm);
    const own = invite.events.find((e) => e.type === "m.room.member" && e.state_key === alice.userId);
    assert.equal(own?.content.is_direct, true);
    await alice.join(dm);
    const dmId = await alice.sendText(dm, `dm ${tag}`);
    assert.deepEqual((await bob.waitForEvent(dm, decrypted(dmId))).content, {
      msgtype: "m.text",
      body: `dm ${tag}`,
    });

    const later = await bob.createRoom({ invite: [alice.userId], preset: "private_chat" });
    await alice.waitForInvite((i) => i.roomId === later);
    await alice.join(later);
    const plainId = await bob.sendPlain(later, "m.room.message", { msgtype: "m.text", body: "in the clear" });
    const plain = await alice.waitForEvent(later, byId(plainId));
    assert.equal(plain.encrypted, false);
    assert.equal(plain.content.body, "in the clear");
    await bob.enableEncryption(later);
    await alice.waitForEvent(later, (e) => e.type === "m.room.encryption");
    assert.ok(alice.isEncrypted(later));
    const secretId = await bob.sendText(later, `now encrypted ${tag}`);
    const secret = await alice.waitForEvent(later, decrypted(secretId));
    assert.equal(secret.raw.type, "m.room.encrypted");
    assert.equal(secret.content.body, `now encrypted ${tag}`);
  });

  it("an encrypted image: the stored media is ciphertext, the download decrypts byte-equal, a flipped byte fails", async () => {
    const png = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), randomBytes(4000)]);
    const sent = await alice.sendEncryptedImage(room, png, "image/png", { w: 16, h: 16 }, "pic.png");
    const got = await bob.waitForEvent(room, decrypted(sent.eventId));
    assert.equal(got.content.msgtype, "m.image");
    assert.equal(got.content.url, undefined, "an encrypted image carries `file`, not `url`");
    assert.deepEqual(got.content.info, { mimetype: "image/png", size: png.length, w: 16, h: 16 });
    const file = got.content.file as typeof sent.file;
    assert.deepEqual(file, sent.file);
    assert.equal(file.v, "v2");
    assert.match(file.url, /^mxc:\/\//);

    const stored = await bob.downloadRaw(file.url);
    assert.equal(stored.length, png.length);
    assert.ok(!Buffer.from(stored).equals(png), "the media repository holds the plaintext");
    assert.ok(Buffer.from(await bob.downloadDecrypted(file)).equals(png));

    stored[100] ^= 0xff;
    assert.throws(() => decryptAttachment(stored, file));
  });

  it("a member who joins later decrypts new messages, not the ones sent before", async () => {
    const c = await E2eeClient.register(rig.synapse, `e2ee_carol_${tag}`);
    carol = c;
    const early = `before carol ${tag}`;
    const earlyId = await alice.sendText(room, early);
    await bob.waitForEvent(room, decrypted(earlyId));

    await alice.invite(room, c.userId);
    await c.waitForInvite((i) => i.roomId === room);
    await c.join(room);
    const late = `after carol ${tag}`;
    const lateId = await alice.sendText(room, late);
    assert.deepEqual((await c.waitForEvent(room, decrypted(lateId))).content, {
      msgtype: "m.text",
      body: late,
    });
    // A session carol holds is shared again by bob: her undecryptable events are retried once more.
    const bobLateId = await bob.sendText(room, `bob to carol ${tag}`);
    await c.waitForEvent(room, decrypted(bobLateId));

    // History is visible to members ("shared"), so the earlier event is in her timeline, undecryptable.
    const earlyForCarol = c.timeline(room).find(byId(earlyId));
    assert.ok(earlyForCarol, "the event before carol's join is not in her timeline");
    assert.equal(earlyForCarol.type, "m.room.encrypted");
    assert.ok(earlyForCarol.utd, "carol decrypted a message sent before she joined");
    assert.ok(!c.timeline(room).some((e) => e.content.body === early));
  });

  it("an event whose key nobody holds stays undecryptable; a key that arrives late decrypts the event", async () => {
    const utdId = await alice.sendUndecryptable(room);
    const utd = await bob.waitForEvent(room, byId(utdId));
    assert.equal(utd.type, "m.room.encrypted");
    assert.equal(utd.utd?.code, "MissingRoomKey");

    // Malformed envelopes (a hostile or broken sender) are UTD entries too, and the client carries on.
    const garbageId = await bob.sendPlain(room, "m.room.encrypted", {
      algorithm: "m.megolm.v1.aes-sha2",
      ciphertext: "not base64 !",
      session_id: "nope",
      sender_key: "x",
      device_id: "y",
    });
    const emptyId = await bob.sendPlain(room, "m.room.encrypted", {});
    assert.ok((await alice.waitForEvent(room, byId(garbageId))).utd);
    assert.ok((await alice.waitForEvent(room, byId(emptyId))).utd);

    const text = `late key ${tag}`;
    const lateId = await alice.sendEncrypted(
      room,
      "m.room.message",
      { msgtype: "m.text", body: text },
      // A fresh session (so bob cannot hold its key yet) whose key is sent once bob shows the event as UTD.
      { beforeKeys: (id) => bob.waitForEvent(room, (e) => e.eventId === id && e.utd !== undefined) },
    );
    assert.deepEqual((await bob.waitForEvent(room, decrypted(lateId))).content, {
      msgtype: "m.text",
      body: text,
    });
    assert.equal(bob.timeline(room).find(byId(utdId))?.utd?.code, "MissingRoomKey");
  });

  it("the sync loop survives refused and failed connections, and stop() ends it", async () => {
    const proxy = await HomeserverProxy.start({ target: rig.synapse.url });
    try {
      const user = await rig.synapse.registerUser(`e2ee_dave_${tag}`);
      const dave = await E2eeClient.login(proxy.url, user.userId, user.password);
      try {
        await alice.invite(room, dave.userId);
        await dave.waitForInvite((i) => i.roomId === room);
        await dave.join(room);

        const isSync = (c: { path: string }) => c.path.endsWith("/sync");
        const refusal = proxy.refuse(isSync, { status: 502 });
        await until(() => refusal.hits() >= 2, "two refused /sync calls");
        const text = `through the outage ${tag}`;
        const id = await alice.sendText(room, text);
        await proxy.stopListening();
        await new Promise((r) => setTimeout(r, 1200)); // at least two retries against a closed port
        await proxy.listenAgain();
        refusal();
        assert.deepEqual((await dave.waitForEvent(room, decrypted(id))).content, {
          msgtype: "m.text",
          body: text,
        });

        await dave.stop();
        const syncs = proxy.calls.filter(isSync).length;
        await new Promise((r) => setTimeout(r, 2500)); // longer than the 1 s long poll
        assert.equal(proxy.calls.filter(isSync).length, syncs, "a /sync after stop()");
      } finally {
        await dave.stop();
      }
    } finally {
      await proxy.close();
    }
  });
});

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
