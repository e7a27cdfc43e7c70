/**
 * Personal spaces, bridge info (MSC2346) on every bridged room, and room upgrades: a portal's links follow its
 * room to the replacement, against the real Synapse (room version 12, where the old room's
 * creator has no power in the new room) and the testnet stand-in.
 */
import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

const WAIT = { timeoutMs: 30_000 };
const isText = (room: string, body: string) => (e: MatrixEvent) =>
  e.room_id === room && e.type === "m.room.message" && e.content.body === body;
const bridgeKey = (chat: string) => `clawbridge/testnet/${chat}`;

describe("Portal rooms: personal spaces, bridge info on linked rooms, room upgrades (testnet, real Synapse)", function () {
  this.timeout(180_000);
  let core: CoreRig;
  let alice: MatrixTestClient;

  /** Sends a command and resolves with the bot's answer matching `re`, posted after it. */
  const ask = async (room: string, command: string, re: RegExp): Promise<string> => {
    const id = await alice.sendText(room, command);
    const sent = await alice.waitFor((e) => e.event_id === id, WAIT);
    const answer = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
        re.test(String(e.content.body)),
      { timeoutMs: 40_000 },
    );
    return String(answer.content.body);
  };

  /** The room's bridge info of `chat` under both event types (undefined when never set). */
  const info = async (room: string, chat: string) => {
    const read = (type: string) =>
      alice.getState(room, type, bridgeKey(chat)).catch((err: unknown) => {
        if (/404|M_NOT_FOUND/.test(String(err))) return undefined;
        throw err;
      });
    // Written one after the other: read until both say the same.
    for (let i = 0; ; i++) {
      const [spec, halfShot] = [await read("m.bridge"), await read("uk.half-shot.bridge")];
      if (JSON.stringify(spec) === JSON.stringify(halfShot) || i === 50) {
        assert.deepEqual(halfShot, spec, "both event types say the same");
        return spec as BridgeInfo;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  type BridgeInfo = {
    bridgebot?: string;
    channel?: { id?: string; displayname?: string; avatar_url?: string };
  };

  const waitUntil = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await ok())) {
      if (Date.now() > deadline) assert.fail(`never: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  /** Upgrades `room` as alice; returns the replacement room's id. */
  const upgrade = async (room: string, body: Record<string, unknown> = {}) =>
    (
      await alice.request<{ replacement_room: string }>(
        "POST",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/upgrade`,
        { new_version: "12", ...body },
      )
    ).replacement_room;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addUser({ id: "up1", name: "Upton Remote" });
  });
  after(async () => core?.stop());

  it("puts the portals made through a login into the login's personal space, its owner invited", async () => {
    core.testnet.injectMessage({ chat: "spc1", sender: "up1", text: "first chat of the space" });
    core.testnet.injectMessage({ chat: "spc2", sender: "up1", text: "second chat of the space" });
    const rooms = [await portalRoomFor(alice, "spc1"), await portalRoomFor(alice, "spc2")];
    const parents = await Promise.all(
      rooms.map((r) => alice.waitFor((e) => e.room_id === r && e.type === "m.space.parent", WAIT)),
    );
    const space = parents[0].state_key!;
    assert.equal(parents[1].state_key, space, "one space for the login");
    assert.equal(parents[0].content.canonical, true);
    const invite = await alice.waitForInvite((i) => i.roomId === space, 30_000);
    await alice.join(invite.roomId);
    assert.equal((await alice.getState(space, "m.room.create")).type, "m.space");
    assert.match(String((await alice.getState(space, "m.room.name")).name), /^Testnet/);
    for (const r of rooms)
      assert.deepEqual((await alice.getState(space, "m.space.child", r)).via, ["localhost"]);
    const power = await alice.getState(space, "m.room.power_levels");
    assert.equal(
      (power.users as Record<string, number>)["@alice:localhost"],
      100,
      "the owner runs the space",
    );
  });

  it("sets the bridge info on a linked room when the bot may, says so when it may not, keeps it current and removes it on unlink", async () => {
    core.testnet.addChat({ id: "info1", name: "Info chat", kind: "group" });
    const room = await alice.createRoom({ name: "Linked by hand", invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: room, ...WAIT },
    );
    // The bot has power level 0 in alice's room: the link works, the room is not shown as bridged.
    assert.match(
      await ask(room, "!cb link testnet info1", /Linked|not/),
      /^Linked this room to testnet .*Clients will not show the room as bridged/,
    );
    assert.equal(await info(room, "info1"), undefined);
    core.testnet.injectMessage({ chat: "info1", sender: "up1", text: "linked without power" });
    await alice.waitFor(isText(room, "linked without power"), WAIT);

    const pl = await alice.getState(room, "m.room.power_levels");
    await alice.sendState(room, "m.room.power_levels", "", {
      ...pl,
      users: { ...(pl.users as object), [BOT]: 50 },
    });
    await ask(room, "!cb unlink testnet", /^Unlinked/);
    const linked = await ask(room, "!cb link testnet info1", /Linked|not/);
    assert.match(linked, /^Linked this room to testnet/);
    assert.doesNotMatch(linked, /Clients will not show/);
    const set = await info(room, "info1");
    assert.equal(set?.bridgebot, BOT);
    assert.deepEqual(set?.channel, { id: "info1", displayname: "Info chat" });

    const avatar = core.testnet.addFile("info1-avatar", Buffer.from("picture of the info chat"), "image/png");
    core.testnet.injectChatInfo({
      chat: "info1",
      sender: "up1",
      name: "Info chat, renamed",
      avatar_url: avatar,
    });
    await waitUntil("the bridge info names the renamed chat and shows its picture", async () => {
      const now = await info(room, "info1");
      return (
        now?.channel?.displayname === "Info chat, renamed" && /^mxc:\/\//.test(String(now.channel.avatar_url))
      );
    });
    const roomAvatar = await alice.getState(room, "m.room.avatar");
    assert.equal((await info(room, "info1"))?.channel?.avatar_url, roomAvatar.url);

    await ask(room, "!cb unlink testnet", /^Unlinked/);
    assert.deepEqual(await info(room, "info1"), {}, "unlink empties the bridge info");
  });

  /**
   * A room of alice's linked to testnet `chat`, the bot at `botPower`. Alice creates it, so she
   * may upgrade it: in room version 12 a tombstone needs a creator's power (150), which in a
   * portal the bridge made only the bot has.
   */
  const linkedRoom = async (chat: string, botPower: number, joinRule = "invite") => {
    core.testnet.addChat({ id: chat, name: `Chat ${chat}`, kind: "group" });
    const room = await alice.createRoom({ name: `Room of ${chat}`, invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: room, ...WAIT },
    );
    const pl = await alice.getState(room, "m.room.power_levels");
    await alice.sendState(room, "m.room.power_levels", "", {
      ...pl,
      users: { ...(pl.users as object), [BOT]: botPower },
    });
    if (joinRule !== "invite") await alice.sendState(room, "m.room.join_rules", "", { join_rule: joinRule });
    assert.match(await ask(room, `!cb link testnet ${chat}`, /Linked|not/), /^Linked this room to testnet/);
    core.testnet.injectMessage({ chat, sender: "up1", text: `before the upgrade of ${chat}` });
    await alice.waitFor(isText(room, `before the upgrade of ${chat}`), WAIT);
    return room;
  };

  it("moves a room's link to its upgrade once the bot is invited there; events of both directions keep flowing, none lost", async () => {
    const old = await linkedRoom("upg1", 0);
    const management = await alice.createDm(BOT);
    await alice.waitFor(
      (e) =>
        e.room_id === management && e.sender === BOT && /your management room/.test(String(e.content.body)),
      WAIT,
    );
    // Sent just before the upgrade: still in the old room's queue when the tombstone comes.
    await alice.sendText(old, "just before the upgrade");
    const next = await upgrade(old);
    // The new room is invite-only and the bot was not invited: the old room is told what to do,
    // or, once the upgrade has taken posting from the bot there (power level 0), alice in her
    // management room: which one depends on which comes first.
    await alice.waitFor(
      (e) =>
        (e.room_id === old || e.room_id === management) &&
        e.sender === BOT &&
        /upgraded, but the bridge cannot join the new room .*Invite @clawbridge/.test(String(e.content.body)),
      WAIT,
    );
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "just before the upgrade",
    );

    await alice.invite(next, BOT);
    const moved = await alice.waitFor(
      (e) =>
        e.room_id === next && e.sender === BOT && /replaces an upgraded one/.test(String(e.content.body)),
      WAIT,
    );
    // The bot had power level 0, and the new room copies the power levels.
    assert.match(
      String(moved.content.body),
      /bridged to testnet Chat upg1.*Clients will not show it as bridged/,
    );

    core.testnet.injectMessage({ chat: "upg1", sender: "up1", text: "after the upgrade" });
    const m = await alice.waitFor(isText(next, "after the upgrade"), WAIT);
    assert.equal(m.sender, ghostId("up1"));
    await alice.sendText(next, "from the new room");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "from the new room",
    );
    const texts = core.testnet.sent("upg1").map((s) => s.text);
    assert.equal(texts.filter((t) => t === "just before the upgrade").length, 1);
    assert.ok(!alice.eventsIn(old).some(isText(old, "after the upgrade")), "nothing more in the old room");
    assert.match(await ask(next, "!cb status", /testnet/), /upg1/);
  });

  it("follows an upgrade at once when the bot may join the new room, and moves the bridge info", async () => {
    const old = await linkedRoom("upg2", 50, "public");
    assert.equal((await info(old, "upg2"))?.channel?.id, "upg2");
    const next = await upgrade(old);
    const moved = await alice.waitFor(
      (e) =>
        e.room_id === next && e.sender === BOT && /replaces an upgraded one/.test(String(e.content.body)),
      WAIT,
    );
    assert.doesNotMatch(String(moved.content.body), /Clients will not show/);
    assert.equal((await info(next, "upg2"))?.channel?.id, "upg2");
    assert.deepEqual(await info(old, "upg2"), {}, "the old room no longer says it is bridged");
    core.testnet.injectMessage({ chat: "upg2", sender: "up1", text: "in the second new room" });
    await alice.waitFor(isText(next, "in the second new room"), WAIT);
  });

  it("keeps the link where a tombstone names a room that is no upgrade of it, or no room at all", async () => {
    const portal = await linkedRoom("upg3", 50);
    // A room the bot is in (alice invited it), whose create event names no predecessor.
    const elsewhere = await alice.createRoom({ name: "Somewhere else", invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: elsewhere, ...WAIT },
    );
    await alice.sendState(portal, "m.room.tombstone", "", { body: "moved", replacement_room: 42 });
    await alice.sendState(portal, "m.room.tombstone", "", { body: "moved", replacement_room: elsewhere });
    await alice.waitFor(
      (e) =>
        e.room_id === portal &&
        e.sender === BOT &&
        /names a room that is not its upgrade/.test(String(e.content.body)),
      WAIT,
    );
    core.testnet.injectMessage({ chat: "upg3", sender: "up1", text: "still here" });
    await alice.waitFor(isText(portal, "still here"), WAIT);
    assert.ok(!alice.eventsIn(elsewhere).some(isText(elsewhere, "still here")));
    assert.equal((await info(portal, "upg3"))?.channel?.id, "upg3");
  });
});
