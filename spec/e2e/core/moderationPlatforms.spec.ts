import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { BOT, type CoreRig, portalRoomFor, startCoreRig, user } from "./coreRig";

const GROUP = -1004242001;
const UMA = 601;
const UGO = 602;
const ADA = 603; // an administrator of the Telegram group
const tgGhost = (id: number) => `@_telegram_${id}:localhost`;
const dcGhost = (id: string) => `@_discord_${id}:localhost`;
const body = (e: MatrixEvent) => String(e.content.body ?? "");

describe("moderation commands on Telegram and Discord in one room (grammy and discord.js against their stand-ins)", function () {
  this.timeout(180_000);
  let tg: TelegramServer;
  let dc: DiscordServer;
  let ids: WorldIds;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  const answer = (text: string) =>
    alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && e.type === "m.room.message" && body(e).includes(text),
    );
  const tgCalls = (method: string, userId: number) =>
    tg.calls.filter((c) => c.method === method && Number(c.params.user_id) === userId);

  before(async () => {
    const botId = randomInt(100000, 999999);
    tg = await TelegramServer.start({
      token: `${botId}:${randomBytes(24).toString("base64url")}`,
      botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "clawbridge_mod_bot" },
    });
    tg.addChat({ id: GROUP, type: "supergroup", title: "Hub group", members: { [ADA]: "administrator" } });
    tg.addUser({ id: UMA, first_name: "Uma" });
    tg.addUser({ id: UGO, first_name: "Ugo" });
    tg.addUser({ id: ADA, first_name: "Ada" });
    ({ server: dc, ids } = await startWorld());
    core = await startCoreRig({
      platforms: {
        telegram: {
          enabled: true,
          bot_token: tg.token,
          owner: "@alice:localhost",
          api_root: tg.url,
          poll_timeout_seconds: 1,
          moderation: true,
        },
        discord: discordSection(dc, [ids.guild], { moderation: true }),
      },
    });
    alice = await user("alice");
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    tg.injectMessage({ chat: GROUP, from: UMA, text: "hello from telegram" });
    tg.injectMessage({ chat: GROUP, from: UGO, text: "ugo here" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    await alice.waitFor((e) => e.room_id === room && body(e) === "ugo here");
    await alice.sendText(room, `!cb link discord ${ids.random}`);
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /linked|Linked/.test(body(e)) &&
        body(e).includes("discord"),
    );
    dc.postMessage(ids.random, ids.bob, "hello from discord");
    dc.postMessage(ids.random, ids.alice, "ally from discord");
    await alice.waitFor((e) => e.room_id === room && body(e) === "ally from discord");
  });
  after(async () => {
    await core?.stop();
    await tg?.close();
    await dc?.close();
  });

  it("bans a Telegram ghost with banChatMember and a Discord ghost with a guild ban, each only on its platform", async () => {
    const bansBefore = dc.calls.filter((c) => c.method === "PUT" && c.path.includes("/bans/")).length;
    await alice.sendText(room, `!cb ban telegram:${UMA} spam`);
    await answer(`Banned ${tgGhost(UMA)}: matrix: done; telegram ${GROUP}: done.`);
    assert.equal(tgCalls("banChatMember", UMA).length, 1);
    assert.equal(tg.world.member(tg.world.chat(GROUP), UMA), "kicked");
    assert.equal(
      dc.calls.filter((c) => c.method === "PUT" && c.path.includes("/bans/")).length,
      bansBefore,
      "Discord was not asked to ban a Telegram user",
    );

    await alice.sendText(room, `!cb ban ${dcGhost(ids.bob)} rude`);
    await answer(`Banned ${dcGhost(ids.bob)}: matrix: done; discord ${ids.random}: done.`);
    const ban = await dc.waitFor(
      (c) => c.method === "PUT" && c.path === `/guilds/${ids.guild}/bans/${ids.bob}`,
    );
    assert.equal(ban.status, 204);
    assert.ok(dc.world.bans.has(`${ids.guild}/${ids.bob}`));
    assert.equal(
      tg.calls.filter((c) => c.method === "banChatMember").length,
      1,
      "Telegram was not asked again",
    );
    assert.equal((await alice.getState(room, "m.room.member", dcGhost(ids.bob))).membership, "ban");
  });

  it("mutes a Telegram ghost with restrictChatMember and a Discord ghost with a timeout, and lifts both", async () => {
    const t0 = Date.now();
    await alice.sendText(room, `!cb mute telegram:${UGO} 1h`);
    await answer(`Muted ${tgGhost(UGO)} for 1 hour: telegram ${GROUP}: done.`);
    const restrict = tgCalls("restrictChatMember", UGO)[0];
    assert.ok(restrict);
    const untilDate = Number(restrict.params.until_date);
    assert.ok(untilDate >= Math.floor(t0 / 1000) + 3600 && untilDate <= Math.ceil(Date.now() / 1000) + 3600);
    assert.equal((restrict.params.permissions as Record<string, boolean>).can_send_messages, false);
    assert.equal(tg.world.member(tg.world.chat(GROUP), UGO), "restricted");

    await alice.sendText(room, `!cb mute discord:${ids.alice} 1d`);
    await answer(`Muted ${dcGhost(ids.alice)} for 1 day: discord ${ids.random}: done.`);
    const timeout = await dc.waitFor(
      (c) => c.method === "PATCH" && c.path === `/guilds/${ids.guild}/members/${ids.alice}`,
    );
    assert.equal(timeout.status, 200);
    const end = Date.parse(String(timeout.body.json.communication_disabled_until));
    assert.ok(end >= t0 + 86_400_000 && end <= Date.now() + 86_400_000, `timeout ends ${end}`);

    await alice.sendText(room, `!cb unmute telegram:${UGO}`);
    await answer(`Unmuted ${tgGhost(UGO)}: telegram ${GROUP}: done.`);
    assert.equal(tg.world.member(tg.world.chat(GROUP), UGO), "member");
    await alice.sendText(room, `!cb unmute discord:${ids.alice}`);
    await answer(`Unmuted ${dcGhost(ids.alice)}: discord ${ids.random}: done.`);
    assert.equal(dc.world.timeouts.has(`${ids.guild}/${ids.alice}`), false);
  });

  it("says what each platform refused: a Telegram admin, a Discord server without the right", async () => {
    await alice.sendText(room, `!cb mute telegram:${ADA} 10m`);
    await answer(
      `Muted ${tgGhost(ADA)} for 10 minutes: telegram ${GROUP}: not done (they are an administrator of the Telegram chat; the bot cannot restrict them).`,
    );
    assert.equal(tg.world.member(tg.world.chat(GROUP), ADA), "administrator");

    dc.world.noModeration.add(ids.guild);
    await alice.sendText(room, `!cb mute discord:${ids.alice} 10m`);
    await answer(
      `Muted ${dcGhost(ids.alice)} for 10 minutes: discord ${ids.random}: not done (the bot lacks the Moderate Members permission on this Discord server, or they rank above it).`,
    );
    assert.equal(dc.world.timeouts.has(`${ids.guild}/${ids.alice}`), false);
  });

  it("records every action with each platform's result in the audit log", async () => {
    const url = `http://127.0.0.1:${core.rig.bridgePort}/_clawbridge/provisioning/v1/audit?room=${encodeURIComponent(room)}`;
    const res = await fetch(url, { headers: { Authorization: `Bearer ${core.provisioningSecret}` } });
    const { entries } = (await res.json()) as {
      entries: Array<{
        action: string;
        target: string;
        actor: string;
        results: Array<{ where: string; ok: boolean }>;
      }>;
    };
    const summary = entries.map(
      (e) => `${e.action} ${e.target} ${e.results.map((r) => `${r.where}=${r.ok}`).join(",")}`,
    );
    assert.deepEqual(summary.reverse(), [
      `ban ${tgGhost(UMA)} matrix=true,telegram ${GROUP}=true`,
      `ban ${dcGhost(ids.bob)} matrix=true,discord ${ids.random}=true`,
      `mute ${tgGhost(UGO)} telegram ${GROUP}=true`,
      `mute ${dcGhost(ids.alice)} discord ${ids.random}=true`,
      `unmute ${tgGhost(UGO)} telegram ${GROUP}=true`,
      `unmute ${dcGhost(ids.alice)} discord ${ids.random}=true`,
      `mute ${tgGhost(ADA)} telegram ${GROUP}=false`,
      `mute ${dcGhost(ids.alice)} discord ${ids.random}=false`,
    ]);
    assert.ok(entries.every((e) => e.actor === alice.userId));
  });
});
