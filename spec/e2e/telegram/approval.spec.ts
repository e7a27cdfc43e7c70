import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { Obj } from "../../standins/telegram/BotWorld";
import { user } from "../core/coreRig";
import { BRIDGE_BOT, startTelegramRig, type TelegramRig, tgGhost } from "./telegramRig";

const GROUP = -1001500000001;
const OWNER = 7001; // creator of the group
const MOD = 7002; // an administrator
const MEMBER = 7003; // an ordinary member
const TIMEOUT_S = 15;

/**
 * Who may do what, tried as a hostile user would: bob (bridge level `user`, no Telegram login
 * of his own) against the shared bot that alice (bridge admin) configured.
 */
describe("Telegram: links through the shared bot need the chat's approval (real Synapse)", function () {
  this.timeout(120_000);
  let rig: TelegramRig;
  let bob: MatrixTestClient;
  let dave: MatrixTestClient;
  let room: string;

  const botSays = (who: MatrixTestClient, roomId: string, re: RegExp, since = 0) =>
    who.waitFor(
      (e) =>
        e.room_id === roomId &&
        e.sender === BRIDGE_BOT &&
        e.type === "m.room.message" &&
        (e.origin_server_ts ?? 0) >= since &&
        re.test(String(e.content.body)),
      { timeoutMs: 40_000 },
    );
  /** The approval request the bot posts in the group, with its buttons. */
  const request = async (after: number) => {
    const call = await rig.tg.waitFor(
      (c) =>
        rig.tg.calls.indexOf(c) >= after &&
        c.method === "sendMessage" &&
        Number(c.params.chat_id) === GROUP &&
        c.result !== undefined,
    );
    const message = call.result as Obj;
    const rows = (
      message.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }
    ).inline_keyboard;
    const button = (label: string) => rows.flat().find((b) => b.text === label)!.callback_data;
    return {
      id: message.message_id as number,
      approve: button("Approve"),
      deny: button("Deny"),
      text: String(message.text),
    };
  };
  const press = (messageId: number, from: number, data: string) =>
    rig.tg.injectCallbackQuery({ chat: GROUP, message_id: messageId, from, data });
  const answered = async (queryId: string) => {
    const deadline = Date.now() + 15_000;
    while (!rig.tg.callbackAnswer(queryId)) {
      if (Date.now() > deadline) assert.fail(`callback query ${queryId} was never answered`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return rig.tg.callbackAnswer(queryId)!;
  };
  /** Sends a command; resolves with the bot's first answer matching `re` after it. */
  const ask = async (who: MatrixTestClient, roomId: string, command: string, re: RegExp) => {
    const id = await who.sendText(roomId, command);
    const sent = await who.waitFor((e) => e.event_id === id, { timeoutMs: 30_000 });
    return String((await botSays(who, roomId, re, sent.origin_server_ts ?? 0)).content.body);
  };
  const portalsOf = (roomId: string) => ask(bob, roomId, "!cb status", /^portals:/);

  before(async () => {
    rig = await startTelegramRig(
      "approvalbridgebot",
      {},
      (tg) => {
        tg.addUser({ id: OWNER, first_name: "Olga", last_name: "Owner" });
        tg.addUser({ id: MOD, first_name: "Mo", last_name: "Derator" });
        tg.addUser({ id: MEMBER, first_name: "Mel", last_name: "Member" });
        tg.addChat({
          id: GROUP,
          type: "supergroup",
          title: "Only alice's bot is here",
          members: { [OWNER]: "creator", [MOD]: "administrator", [MEMBER]: "member" },
        });
      },
      { link_approval_timeout_seconds: TIMEOUT_S },
    );
    bob = await user("bob");
    dave = await user("dave");
    // A room bob creates: the homeserver's default room version (12), where the creator has
    // unlimited power and is not listed in m.room.power_levels.
    room = await bob.createRoom({ name: "Bob's room", invite: [BRIDGE_BOT, dave.userId] });
    await dave.join(room);
    await bob.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === BRIDGE_BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );
  });
  after(async () => rig?.stop());

  it("the room is version 12 and bob, its creator, is not in its power levels", async () => {
    const create = await bob.getState(room, "m.room.create");
    assert.equal(create.room_version, "12");
    const pl = await bob.getState(room, "m.room.power_levels");
    assert.equal((pl.users as Record<string, number> | undefined)?.[bob.userId], undefined);
  });

  it("refuses link to a member without room-admin power", async () => {
    const since = Date.now() - 1000;
    const n = rig.tg.calls.length;
    await dave.sendText(room, `!cb link telegram ${GROUP}`);
    await botSays(dave, room, /Only admins of this room/, since);
    assert.ok(!rig.tg.calls.slice(n).some((c) => c.method === "sendMessage"), "the group was asked anyway");
  });

  it("status and ping show bob no login of alice's", async () => {
    const status = await portalsOf(room);
    assert.doesNotMatch(status, /alice|login telegram/, status);
    const ping = await ask(bob, room, "!cb ping", /^bridge: ok/);
    assert.doesNotMatch(ping, /alice|\(yours\)|CONNECTED/, ping);
    assert.match(ping, /no login of yours/);
  });

  it("asks the group; a member's press is refused, an admin's deny is told in Matrix and links nothing", async () => {
    const since = Date.now() - 1000;
    const n = rig.tg.calls.length;
    await bob.sendText(room, `!cb link telegram ${GROUP}`);
    const req = await request(n);
    assert.match(req.text, /@bob:localhost asks to bridge this chat/);
    await botSays(bob, room, /I asked the admins/, since);

    const byMember = press(req.id, MEMBER, req.approve);
    const a1 = await answered(byMember);
    assert.equal(a1.show_alert, true);
    assert.match(String(a1.text), /Only admins/);
    // Still open: the buttons are still there.
    assert.ok(rig.tg.messageIn(GROUP, req.id)?.reply_markup, "the member's press closed the request");

    const byMod = press(req.id, MOD, req.deny);
    await answered(byMod);
    await botSays(bob, room, /Mo Derator.*declined: this room was not linked/, since);
    const msg = rig.tg.messageIn(GROUP, req.id)!;
    assert.equal(msg.reply_markup, undefined, "the buttons stay after the decision");
    assert.match(String(msg.text), /Denied by Mo Derator/);
    assert.doesNotMatch(await portalsOf(room), /linked to telegram/);
  });

  it("links once the group's creator approves; messages then flow both ways", async () => {
    const since = Date.now() - 1000;
    const n = rig.tg.calls.length;
    await bob.sendText(room, `!cb link telegram ${GROUP}`);
    const req = await request(n);
    await answered(press(req.id, OWNER, req.approve));
    await botSays(bob, room, /Olga Owner.*approved: linked this room/, since);
    assert.match(await portalsOf(room), /this room is linked to telegram chat -1001500000001/);
    rig.tg.injectMessage({ chat: GROUP, from: MEMBER, text: "hello bob's room" });
    await bob.waitFor(
      (e: MatrixEvent) =>
        e.room_id === room && e.content.body === "hello bob's room" && e.sender === tgGhost(MEMBER),
      {
        timeoutMs: 30_000,
      },
    );
  });

  it("names ghosts by the template, cleaned, capped and never like the bot, a Matrix user or the AI", async () => {
    // bob calls himself "Eve (Telegram)" in this room: the Telegram user Eve must not look like him.
    await bob.sendState(room, "m.room.member", bob.userId, {
      membership: "join",
      displayname: "Eve (Telegram)",
    });
    const hostile: Array<[number, string, (name: string) => boolean]> = [
      [7010, "Clawbridge test bot", (n) => n === "Clawbridge test bot (Telegram)"],
      [7011, "@alice:localhost", (n) => n === "@alice:localhost (Telegram)"],
      [7012, "AI", (n) => n === "AI (Telegram)"],
      [7013, "\u202Eecila\u200B\u2066", (n) => n === "ecila (Telegram)"],
      [
        7014,
        "Z".repeat(300),
        (n) => [...n].length <= 200 && n.startsWith("ZZZ") && n.endsWith("… (Telegram)"),
      ],
      [7015, "Eve", (n) => n === "Eve (Telegram) [7015]"],
      [7016, "\u200B\u200D", (n) => n === "7016 (Telegram)"],
    ];
    for (const [id, name] of hostile) {
      rig.tg.addUser({ id, first_name: name });
      rig.tg.injectMessage({ chat: GROUP, from: id, text: `hi from ${id}` });
    }
    for (const [id] of hostile)
      await bob.waitFor(
        (e) => e.room_id === room && e.content.body === `hi from ${id}` && e.sender === tgGhost(id),
        {
          timeoutMs: 30_000,
        },
      );
    const members = await bob.members(room);
    for (const [id, raw, ok] of hostile) {
      const shown = members.find((m) => m.userId === tgGhost(id))?.displayName ?? "";
      assert.ok(ok(shown), `${JSON.stringify(raw.slice(0, 20))} shows as ${JSON.stringify(shown)}`);
      assert.doesNotMatch(shown, /[\u200B-\u200F\u202A-\u202E\u2066-\u2069]/);
    }
  });

  it("does not tell a room admin which room an already bridged chat is in", async () => {
    const other = await bob.createRoom({ name: "Bob's second room", invite: [BRIDGE_BOT] });
    await bob.waitFor(
      (e) =>
        e.room_id === other &&
        e.type === "m.room.member" &&
        e.state_key === BRIDGE_BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );
    const since = Date.now() - 1000;
    await bob.sendText(other, `!cb link telegram ${GROUP}`);
    const ans = String((await botSays(bob, other, /already bridged/, since)).content.body);
    assert.ok(!ans.includes(room), ans);
    assert.match(ans, /another room/);
  });

  it("says so in Matrix when nobody in the group decides in time, and withdraws the buttons", async () => {
    const SECOND = -1001500000002;
    rig.tg.addChat({ id: SECOND, type: "supergroup", title: "Quiet group", members: { [OWNER]: "creator" } });
    const quiet = await bob.createRoom({ name: "Quiet", invite: [BRIDGE_BOT] });
    await bob.waitFor(
      (e) =>
        e.room_id === quiet &&
        e.type === "m.room.member" &&
        e.state_key === BRIDGE_BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );
    const since = Date.now() - 1000;
    const n = rig.tg.calls.length;
    await bob.sendText(quiet, `!cb link telegram ${SECOND}`);
    const call = await rig.tg.waitFor(
      (c) =>
        rig.tg.calls.indexOf(c) >= n && c.method === "sendMessage" && Number(c.params.chat_id) === SECOND,
    );
    const id = (call.result as Obj).message_id as number;
    await botSays(bob, quiet, new RegExp(`No admin of .* answered within ${TIMEOUT_S} seconds`), since);
    await rig.tg.waitFor((c) => c.method === "editMessageText" && Number(c.params.message_id) === id);
    assert.equal(rig.tg.messageIn(SECOND, id)?.reply_markup, undefined);
    assert.throws(() => rig.tg.injectCallbackQuery({ chat: SECOND, message_id: id, from: OWNER, data: "x" }));
  });
});
