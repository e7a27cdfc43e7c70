import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const GROUP = -1007770101;
const TSPAM = 999001;
const TLATE = 999002;
const TUMA = 501;
const DSPAM = "999000000000000001";
const GLOB = "@_*_999*:localhost";
const tgGhost = (id: number) => ghostId(String(id), "telegram");
const dcGhost = (id: string) => ghostId(id, "discord");
const isText = (body: string) => (e: MatrixEvent) => e.type === "m.room.message" && e.content.body === body;
const RULE = "m.policy.rule.user";
const ban = (entity: string, reason: string) => ({ entity, recommendation: "m.ban", reason });

/**
 * Policy lists end to end: a Matrix room linked to a Telegram group and a Discord channel, a
 * policy room the bridge follows (config) and one a room follows (command), rules set and
 * removed by a Matrix user as Draupnir would.
 */
describe("policy lists (Telegram and Discord stand-ins in one room, real Synapse)", function () {
  this.timeout(180_000);
  let dc: DiscordServer;
  let ids: WorldIds;
  let tg: TelegramServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let carol: MatrixTestClient;
  let bans: string;
  let priv: string;
  let privAlias: string;
  let room: string;

  const inRoom = (body: string) => alice.eventsIn(room).some(isText(body));
  const onDiscord = (text: string) =>
    dc.calls.some(
      (c) =>
        c.method === "POST" && /^\/webhooks\//.test(c.path) && String(c.body.json.content).includes(text),
    );
  const onTelegram = (text: string) =>
    tg.calls.some((c) => c.method === "sendMessage" && String(c.params.text).includes(text));
  const toDiscord = (text: string) =>
    dc.waitFor(
      (c) =>
        c.method === "POST" && /^\/webhooks\//.test(c.path) && String(c.body.json.content).includes(text),
      30_000,
    );
  const toTelegram = (text: string) =>
    tg.waitFor((c) => c.method === "sendMessage" && String(c.params.text).includes(text), 30_000);
  const membership = (mxid: string, value: string) => (e: MatrixEvent) =>
    e.room_id === room &&
    e.type === "m.room.member" &&
    e.state_key === mxid &&
    e.content.membership === value;
  const reply = (roomId: string, re: RegExp) =>
    alice.waitFor((e) => e.room_id === roomId && e.sender === BOT && re.test(String(e.content.body)));

  before(async () => {
    ({ server: dc, ids } = await startWorld());
    dc.addUser({ id: DSPAM, username: "spammer" });
    dc.world.guilds.get(ids.guild)!.members!.push({ user: DSPAM });
    const botId = randomInt(100000, 999999);
    tg = await TelegramServer.start({
      token: `${botId}:${randomBytes(24).toString("base64url")}`,
      botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "clawbridge_policy_bot" },
    });
    tg.addChat({ id: GROUP, type: "supergroup", title: "Policy group" });
    tg.addUser({ id: TSPAM, first_name: "Spam", last_name: "Bot" });
    tg.addUser({ id: TLATE, first_name: "Known", last_name: "Spammer" });
    tg.addUser({ id: TUMA, first_name: "Uma" });
    alice = await user("alice");
    carol = await user("carol");
    // The list the whole bridge follows: public (the bot joins by alias at start), with a rule
    // already in it.
    const alias = `cb-bans-${randomBytes(4).toString("hex")}`;
    bans = await alice.createRoom({ name: "Ban list", preset: "public_chat", room_alias_name: alias });
    await alice.sendState(bans, RULE, `rule:${tgGhost(TLATE)}`, ban(tgGhost(TLATE), "known spammer"));
    // A private list the bot is not invited to yet.
    privAlias = `cb-private-${randomBytes(4).toString("hex")}`;
    priv = await alice.createRoom({ name: "Private list", room_alias_name: privAlias });
    await alice.sendState(priv, RULE, "rule:t-priv", ban(ghostId("t-priv"), "private rule"));
    core = await startCoreRig({
      sections: { policy: { lists: [`#${alias}:localhost`, `#${privAlias}:localhost`] } },
      platforms: {
        telegram: {
          enabled: true,
          bot_token: tg.token,
          owner: "@alice:localhost",
          api_root: tg.url,
          poll_timeout_seconds: 1,
          moderation: true,
          backoff_initial_ms: 50,
          backoff_max_ms: 500,
        },
        discord: discordSection(dc, [ids.guild], { moderation: true }),
      },
    });
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
    await tg?.close();
  });

  it("bridges one room to a Telegram group and a Discord channel; a rule read at start keeps a known spammer out", async () => {
    tg.injectMessage({ chat: GROUP, from: TUMA, text: "hello from telegram" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    await alice.waitFor((e) => e.room_id === room && isText("hello from telegram")(e));
    await alice.sendText(room, `!cb link discord ${ids.general}`);
    await reply(room, /^Linked this room to discord/);
    await alice.invite(room, carol.userId);
    await carol.join(room);

    tg.injectMessage({ chat: GROUP, from: TSPAM, text: "tg before the rule" });
    dc.postMessage(ids.general, DSPAM, "dc before the rule");
    await alice.waitFor((e) => e.room_id === room && isText("tg before the rule")(e));
    await alice.waitFor((e) => e.room_id === room && isText("dc before the rule")(e));
    await toDiscord("tg before the rule");
    await toTelegram("dc before the rule");

    tg.injectMessage({ chat: GROUP, from: TLATE, text: "from a known spammer" });
    const banned = await tg.waitFor(
      (c) => c.method === "banChatMember" && Number(c.params.user_id) === TLATE,
    );
    assert.equal(Number(banned.params.chat_id), GROUP);
    tg.injectMessage({ chat: GROUP, from: TUMA, text: "uma after the known spammer" });
    await alice.waitFor((e) => e.room_id === room && isText("uma after the known spammer")(e));
    assert.equal(inRoom("from a known spammer"), false);
    assert.equal(onDiscord("from a known spammer"), false);
  });

  it("a glob rule bans the Telegram and the Discord ghost it matches, on their platforms and in the room", async () => {
    // Rule events a list may hold that are no rules (wrong types, another recommendation) are
    // read past; a glob that would make a backtracking matcher explode is just another rule.
    await alice.sendState(bans, RULE, "junk:1", { entity: 12345, recommendation: "m.ban" });
    await alice.sendState(bans, RULE, "junk:2", {
      entity: "@x:hs",
      recommendation: ["m.ban"],
      reason: { a: [1] },
    });
    await alice.sendState(bans, "m.policy.rule.server", "junk:3", {
      entity: "localhost",
      recommendation: "m.mute",
    });
    await alice.sendState(bans, RULE, "hostile", ban(`${"*a".repeat(2000)}*b`, "catastrophic for a regex"));
    // Carol's rule first: once the glob rule is seen applied, the list as read holds both.
    await alice.sendState(bans, RULE, "rule:carol", ban(carol.userId, "matrix troll"));
    await alice.sendState(bans, RULE, "rule:glob", ban(GLOB, "spam wave"));
    const tgBan = await tg.waitFor((c) => c.method === "banChatMember" && Number(c.params.user_id) === TSPAM);
    assert.equal(Number(tgBan.params.chat_id), GROUP);
    await dc.waitFor((c) => c.method === "PUT" && c.path === `/guilds/${ids.guild}/bans/${DSPAM}`);
    for (const ghost of [tgGhost(TSPAM), dcGhost(DSPAM)]) {
      const ev = await alice.waitFor(membership(ghost, "ban"));
      assert.equal(ev.sender, BOT);
    }
    const first = alice.eventsIn(room).find(membership(tgGhost(TSPAM), "ban"))!;
    assert.match(String(first.content.reason), /spam wave/);
    // Nobody else was banned.
    assert.equal(
      tg.calls.some((c) => c.method === "banChatMember" && Number(c.params.user_id) === TUMA),
      false,
    );
    assert.equal(dc.world.bans.has(`${ids.guild}/${ids.bob}`), false);
    // Each action is recorded with its outcome per side, in the moderation audit log.
    const auditUrl = `http://127.0.0.1:${core.rig.bridgePort}/_clawbridge/provisioning/v1/audit?room=${encodeURIComponent(room)}`;
    type Entry = { action: string; target: string; results: Array<{ where: string; ok: boolean }> };
    let entries: Entry[] = [];
    const recorded = () =>
      entries.some((e) => e.target === dcGhost(DSPAM)) && entries.some((e) => e.target === tgGhost(TSPAM));
    for (const end = Date.now() + 10_000; !recorded() && Date.now() < end; ) {
      const res = await fetch(auditUrl, { headers: { Authorization: `Bearer ${core.provisioningSecret}` } });
      entries = ((await res.json()) as { entries: Entry[] }).entries;
      if (!recorded()) await new Promise((r) => setTimeout(r, 200));
    }
    const dcEntry = entries.find((e) => e.target === dcGhost(DSPAM));
    assert.ok(dcEntry, `the Discord ban is in the audit log: ${JSON.stringify(entries)}`);
    assert.equal(dcEntry.action, "ban");
    assert.ok(dcEntry.results.some((r) => r.where.startsWith("discord ") && r.ok));
  });

  it("drops their later messages on every side, and a matching Matrix user's, while others pass", async () => {
    tg.injectMessage({ chat: GROUP, from: TSPAM, text: "tg after the rule" });
    tg.injectMessage({ chat: GROUP, from: TUMA, text: "tg marker" });
    dc.postMessage(ids.general, DSPAM, "dc after the rule");
    dc.postMessage(ids.general, ids.bob, "dc marker");
    await carol.sendText(room, "carol after the rule");
    await alice.sendText(room, "alice marker");
    await toDiscord("tg marker");
    await toTelegram("dc marker");
    await toTelegram("alice marker");
    await toDiscord("alice marker");
    for (const text of ["tg after the rule", "dc after the rule"]) {
      assert.equal(inRoom(text), false, `${text} is not in Matrix`);
      assert.equal(onDiscord(text) || onTelegram(text), false, `${text} reached no platform`);
    }
    assert.ok(inRoom("carol after the rule"), "a Matrix user's message stays in Matrix");
    // The hostile glob against an id full of a's: matched (not) in linear time.
    core.testnet.addChat({ id: "a-chat", name: "Many a's", kind: "group" });
    core.testnet.injectMessage({ chat: "a-chat", sender: "a".repeat(60), text: "an id full of a's" });
    const aRoom = await portalRoomFor(alice, "a-chat");
    await alice.waitFor((e) => e.room_id === aRoom && isText("an id full of a's")(e));
    assert.equal(onTelegram("carol after the rule") || onDiscord("carol after the rule"), false);
  });

  it("tells someone who may not ban here that they may not change the room's lists", async () => {
    await carol.sendText(room, `!cb policy subscribe #anything:localhost`);
    await reply(room, /^Only moderators of this room \(power level 50/);
  });

  it("removing the rules lifts them: unbanned on both platforms and in the room, messages flow again", async () => {
    await alice.sendState(bans, RULE, "rule:glob", {});
    await alice.sendState(bans, RULE, "rule:carol", {});
    await alice.sendState(bans, RULE, "hostile", {});
    await tg.waitFor((c) => c.method === "unbanChatMember" && Number(c.params.user_id) === TSPAM);
    await dc.waitFor((c) => c.method === "DELETE" && c.path === `/guilds/${ids.guild}/bans/${DSPAM}`);
    for (const ghost of [tgGhost(TSPAM), dcGhost(DSPAM)]) {
      const ev = await alice.waitFor(
        (e) =>
          membership(ghost, "leave")(e) &&
          (e.unsigned?.prev_content as { membership?: string } | undefined)?.membership === "ban",
      );
      assert.equal(ev.sender, BOT);
    }
    // The known spammer's rule still holds.
    assert.equal(
      tg.calls.some((c) => c.method === "unbanChatMember" && Number(c.params.user_id) === TLATE),
      false,
    );
    // Unbanned on Discord, the spammer comes back to the guild.
    dc.world.guilds.get(ids.guild)!.members!.push({ user: DSPAM });
    tg.injectMessage({ chat: GROUP, from: TSPAM, text: "tg after the lift" });
    dc.postMessage(ids.general, DSPAM, "dc after the lift");
    await carol.sendText(room, "carol after the lift");
    const tgBack = await alice.waitFor((e) => e.room_id === room && isText("tg after the lift")(e));
    assert.equal(tgBack.sender, tgGhost(TSPAM));
    const dcBack = await alice.waitFor((e) => e.room_id === room && isText("dc after the lift")(e));
    assert.equal(dcBack.sender, dcGhost(DSPAM));
    await toDiscord("tg after the lift");
    await toTelegram("dc after the lift");
    await toTelegram("carol after the lift");
  });

  it("a room follows a list of its own by command; its rules apply in that room only until it unsubscribes", async () => {
    core.testnet.addChat({ id: "sub-chat", name: "Subscribed", kind: "group" });
    core.testnet.addChat({ id: "free-chat", name: "Not subscribed", kind: "group" });
    core.testnet.injectMessage({ chat: "sub-chat", sender: "t-ok", text: "sub chat opens" });
    const sub = await portalRoomFor(alice, "sub-chat");
    core.testnet.injectMessage({ chat: "free-chat", sender: "t-ok", text: "free chat opens" });
    const free = await portalRoomFor(alice, "free-chat");
    core.testnet.injectMessage({ chat: "sub-chat", sender: "t-bad", text: "t-bad joins in" });
    await alice.waitFor((e) => e.room_id === sub && isText("t-bad joins in")(e));

    // A private list: the bot must be invited (alice may use the bridge, so it joins).
    const local = await alice.createRoom({ name: "Local bans", invite: [BOT] });
    await alice.waitFor(
      (e) =>
        e.room_id === local &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
    );
    await alice.sendState(local, RULE, "rule:t-bad", ban(ghostId("t-bad"), "local rule"));
    await alice.sendText(sub, `!cb policy subscribe ${local}`);
    await reply(sub, /^This room now follows .* \(1 ban rule\)/);
    const banCall = await core.testnet.waitFor(
      (c) => c.method === "POST" && c.path === "/chats/sub-chat/ban",
    );
    assert.equal((banCall.body as { user?: string }).user, "t-bad");
    await alice.waitFor(
      (e) =>
        e.room_id === sub &&
        e.type === "m.room.member" &&
        e.state_key === ghostId("t-bad") &&
        e.content.membership === "ban",
    );
    await alice.sendText(sub, "!cb policy list");
    const list = await reply(sub, /^Lists the whole bridge follows/);
    assert.match(String(list.content.body), /#cb-bans-[0-9a-f]+:localhost .*: 1 ban rule/);
    assert.match(
      String(list.content.body),
      new RegExp(`Lists this room follows:\\n- ${local.replace(/[!.]/g, "\\$&")}: 1 ban rule`),
    );

    core.testnet.injectMessage({ chat: "sub-chat", sender: "t-bad", text: "dropped in the subscribed room" });
    core.testnet.injectMessage({ chat: "free-chat", sender: "t-bad", text: "fine in the other room" });
    core.testnet.injectMessage({ chat: "sub-chat", sender: "t-ok", text: "sub marker" });
    await alice.waitFor((e) => e.room_id === free && isText("fine in the other room")(e));
    await alice.waitFor((e) => e.room_id === sub && isText("sub marker")(e));
    assert.equal(alice.eventsIn(sub).some(isText("dropped in the subscribed room")), false);

    // A chat linked to the room after the ban (in place of its first: one chat per platform in a
    // room): the person is banned there at their next message.
    core.testnet.addChat({ id: "sub-chat-2", name: "Linked later", kind: "group" });
    await alice.sendText(sub, "!cb unlink testnet");
    await reply(sub, /^Unlinked/);
    await alice.sendText(sub, "!cb link testnet sub-chat-2");
    await reply(sub, /^Linked this room to testnet/);
    core.testnet.injectMessage({
      chat: "sub-chat-2",
      sender: "t-bad",
      text: "dropped in the chat linked later",
    });
    const later = await core.testnet.waitFor(
      (c) => c.method === "POST" && c.path === "/chats/sub-chat-2/ban",
    );
    assert.equal((later.body as { user?: string }).user, "t-bad");

    await alice.sendText(sub, `!cb policy unsubscribe ${local}`);
    await reply(sub, /^This room no longer follows/);
    await core.testnet.waitFor((c) => c.method === "POST" && c.path === "/chats/sub-chat-2/unban");
    assert.equal(alice.eventsIn(sub).some(isText("dropped in the chat linked later")), false);
    core.testnet.injectMessage({ chat: "sub-chat-2", sender: "t-bad", text: "back after unsubscribing" });
    await alice.waitFor((e) => e.room_id === sub && isText("back after unsubscribing")(e));
  });

  it("follows a configured list it could not join once the bot is invited, and applies the rules already in it", async () => {
    core.testnet.addChat({ id: "priv-chat", name: "Private list test", kind: "group" });
    core.testnet.injectMessage({ chat: "priv-chat", sender: "t-priv", text: "before the invite" });
    const chat = await portalRoomFor(alice, "priv-chat");
    await alice.waitFor((e) => e.room_id === chat && isText("before the invite")(e));
    await alice.sendText(chat, "!cb policy list");
    const list = await reply(chat, /^Lists the whole bridge follows/);
    assert.match(
      String(list.content.body),
      new RegExp(`#${privAlias}:localhost .*: not followed — the bridge bot cannot join it`),
    );
    await alice.invite(priv, BOT);
    const banCall = await core.testnet.waitFor(
      (c) => c.method === "POST" && c.path === "/chats/priv-chat/ban",
      30_000,
    );
    assert.equal((banCall.body as { user?: string }).user, "t-priv");
    await alice.waitFor(
      (e) =>
        e.room_id === priv &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
    );
    assert.equal(
      alice.eventsIn(priv).some((e) => e.sender === BOT && e.type === "m.room.message"),
      false,
      "the bot joins a policy room without greeting it",
    );
  });

  it("a rule removed while the bridge is down is lifted when it starts again", async () => {
    const n = tg.calls.length;
    const m = dc.calls.length;
    await alice.sendState(bans, RULE, "rule:glob", ban(GLOB, "second wave"));
    await tg.waitFor(
      (c) => c.method === "banChatMember" && Number(c.params.user_id) === TSPAM && tg.calls.indexOf(c) >= n,
    );
    await dc.waitFor(
      (c) =>
        c.method === "PUT" && c.path === `/guilds/${ids.guild}/bans/${DSPAM}` && dc.calls.indexOf(c) >= m,
    );
    await core.restart("SIGTERM", async () => {
      await alice.sendState(bans, RULE, "rule:glob", {});
    });
    await tg.waitFor(
      (c) => c.method === "unbanChatMember" && Number(c.params.user_id) === TSPAM && tg.calls.indexOf(c) >= n,
      30_000,
    );
    await dc.waitFor(
      (c) =>
        c.method === "DELETE" && c.path === `/guilds/${ids.guild}/bans/${DSPAM}` && dc.calls.indexOf(c) >= m,
      30_000,
    );
  });
});
