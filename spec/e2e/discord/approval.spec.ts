import assert from "node:assert/strict";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { RecordedCall } from "../../standins/discord/DiscordServer";
import { DiscordServer, sf } from "../../standins/discord/DiscordServer";
import { botToken, discordSection, until } from "../../standins/discord/harness";
import { BOT, type CoreRig, startCoreRig, user } from "../core/coreRig";

const MANAGE_CHANNELS = String(1 << 4);

/**
 * bob (bridge level `user`, no Discord login) links his room to a channel through the shared
 * bot alice configured: the channel's moderators decide with buttons (message components).
 */
describe("Discord: links through the shared bot need the channel's approval (real Synapse)", function () {
  this.timeout(120_000);
  let dc: DiscordServer;
  let core: CoreRig;
  let bob: MatrixTestClient;
  let room: string;
  const ids = { guild: sf(), channel: sf(), mod: sf(), member: sf(), modRole: sf() };

  const ask = async (command: string, re: RegExp) => {
    const id = await bob.sendText(room, command);
    const sent = await bob.waitFor((e) => e.event_id === id, { timeoutMs: 30_000 });
    return String(
      (
        await bob.waitFor(
          (e) =>
            e.room_id === room &&
            e.sender === BOT &&
            (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
            re.test(String(e.content.body)),
          { timeoutMs: 40_000 },
        )
      ).content.body,
    );
  };
  /** The approval request the bot posts in the channel, with its buttons. */
  const request = async (after: number) => {
    const call: RecordedCall = await dc.waitFor(
      (c) =>
        dc.calls.indexOf(c) >= after &&
        c.method === "POST" &&
        c.path === `/channels/${ids.channel}/messages` &&
        (c.status ?? 500) < 300,
      30_000,
    );
    const msg = call.response as {
      id: string;
      content: string;
      components: Array<{ components: Array<{ label: string; custom_id: string; style: number }> }>;
    };
    const button = (label: string) =>
      msg.components.flatMap((r) => r.components).find((b) => b.label === label)!;
    return {
      id: msg.id,
      text: msg.content,
      approve: button("Approve").custom_id,
      deny: button("Deny").custom_id,
    };
  };
  const response = async (interactionId: string) => {
    await until(
      () => dc.interactionResponse(interactionId) !== undefined,
      15_000,
      "the interaction callback",
    );
    return dc.interactionResponse(interactionId)! as {
      type: number;
      data: { content?: string; flags?: number; components?: unknown[] };
    };
  };

  before(async () => {
    const botId = sf();
    dc = await DiscordServer.start({
      token: botToken(botId),
      bot: { id: botId, username: "clawbridge" },
      heartbeatMs: 2000,
    });
    dc.addUser({ id: ids.mod, username: "modmary", global_name: "Mary Mod" });
    dc.addUser({ id: ids.member, username: "memberben", global_name: "Ben Member" });
    dc.addGuild({
      id: ids.guild,
      name: "Approval Guild",
      channels: [{ id: ids.channel, name: "lobby" }],
      roles: [{ id: ids.modRole, name: "mods", permissions: MANAGE_CHANNELS }],
      members: [{ user: ids.mod, roles: [ids.modRole] }, { user: ids.member }],
    });
    core = await startCoreRig({
      bridge: { link_approval_timeout_seconds: 60 },
      platforms: {
        discord: discordSection(dc, [ids.guild]),
      },
    });
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    bob = await user("bob");
    room = await bob.createRoom({ name: "Bob's Discord room", invite: [BOT] });
    await bob.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
  });

  it("a member's press gets an ephemeral refusal; a moderator's deny is told in Matrix and links nothing", async () => {
    const n = dc.calls.length;
    await ask(`!cb link discord ${ids.channel}`, /I asked the admins/);
    const req = await request(n);
    assert.match(req.text, /@bob:localhost asks to bridge this chat/);

    const byMember = dc.pressButton({
      channelId: ids.channel,
      messageId: req.id,
      userId: ids.member,
      customId: req.approve,
    });
    const refused = await response(byMember);
    assert.equal(refused.type, 4);
    assert.equal((refused.data.flags ?? 0) & 64, 64, "the refusal is not ephemeral");
    assert.match(String(refused.data.content), /Only admins and moderators/);
    assert.equal(
      (dc.message(ids.channel, req.id)?.components as unknown[] | undefined)?.length,
      1,
      "the buttons went away",
    );

    const byMod = dc.pressButton({
      channelId: ids.channel,
      messageId: req.id,
      userId: ids.mod,
      customId: req.deny,
    });
    const denied = await response(byMod);
    assert.equal(denied.type, 7);
    const shown = dc.message(ids.channel, req.id)!;
    assert.deepEqual(shown.components, []);
    assert.match(String(shown.content), /Denied by Mary Mod/);
    const status = await ask("!cb status", /^portals:/);
    assert.doesNotMatch(status, /linked to discord/);
    assert.ok(
      bob
        .eventsIn(room)
        .some(
          (e) =>
            e.sender === BOT && /Mary Mod.*declined: this room was not linked/.test(String(e.content.body)),
        ),
    );
  });

  it("links when a moderator approves; the channel's messages then reach the room", async () => {
    const n = dc.calls.length;
    await ask(`!cb link discord ${ids.channel}`, /I asked the admins/);
    const req = await request(n);
    const press = dc.pressButton({
      channelId: ids.channel,
      messageId: req.id,
      userId: ids.mod,
      customId: req.approve,
    });
    assert.equal((await response(press)).type, 7);
    await bob.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /Mary Mod.*approved: linked this room/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    assert.match(await ask("!cb status", /^portals:/), new RegExp(`linked to discord chat ${ids.channel}`));
    dc.postMessage(ids.channel, ids.member, "hello from the lobby");
    await bob.waitFor((e) => e.room_id === room && e.content.body === "hello from the lobby", {
      timeoutMs: 30_000,
    });
  });

  it("answers a callback to an interaction it never sent with Unknown interaction, as Discord does", async () => {
    const res = await fetch(`${dc.api}/v10/interactions/1/none/callback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: 6 }),
    });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: number }).code, 10062);
  });
});
