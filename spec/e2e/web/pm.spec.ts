import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { DiscordServer, sf } from "../../standins/discord/DiscordServer";
import { botToken, discordSection, until } from "../../standins/discord/harness";
import { workspaceConfig } from "../../standins/slack/harness";
import { SlackServer, type Workspace } from "../../standins/slack/SlackServer";
import { startWebRig, WebApi, type WebRig } from "./webRig";

const LIMIT = 20;
const PIA = 7801;
const dcGhost = (id: string) => `@_discord_${id}:localhost`;
const slackGhost = (team: string, u: string) => `@_slack_${`${team}_${u}`.toLowerCase()}:localhost`;

type Started = { room_id: string; name: string; existing: boolean; note: string | null; message: string };

/** The room's messages from its start, in timeline order. */
async function timeline(who: MatrixTestClient, room: string): Promise<MatrixEvent[]> {
  return (await who.messages(room, { dir: "f", limit: 500 })).filter((e) => e.type === "m.room.message");
}

/**
 * Starting a direct chat from Matrix through the web API (`POST /v1/pm`, the `pm` command's code)
 * on Telegram, Discord and Slack stand-ins, and the history of such a chat brought into its new
 * room at once (Discord, Slack; also for an invite of a ghost), before any new message arrives,
 * each message once, also across a SIGKILL of the bridge in the middle of it.
 */
describe("web API: starting a direct chat (POST /v1/pm), its history at once (real Synapse)", function () {
  this.timeout(300_000);
  let rig: WebRig;
  let dc: DiscordServer;
  let slack: SlackServer;
  let wa: Workspace;
  let asAdmin: WebApi;
  let asMember: WebApi;
  const team = `T0PM${process.pid % 1000}`;
  const ids = { guild: sf(), general: sf(), bob: sf(), carol: sf(), dora: sf(), erin: sf() };
  const UGO = "U0PMUGO";
  const hourAgo = Date.now() - 3_600_000;

  /** Seeds `n` past messages `<prefix> NN` of `author` in a Discord channel, a minute apart. */
  function seedDiscord(channel: string, author: string, prefix: string, n: number) {
    return Array.from({ length: n }, (_, i) => {
      const at = hourAgo + i * 60_000 + i;
      const body = `${prefix} ${String(i).padStart(2, "0")}`;
      dc.pastMessage(channel, author, body, at);
      return { body, at };
    });
  }

  before(async () => {
    const botId = sf();
    dc = await DiscordServer.start({
      token: botToken(botId),
      bot: { id: botId, username: "clawbridge" },
      heartbeatMs: 2000,
    });
    for (const [id, username] of [
      [ids.bob, "bob"],
      [ids.carol, "carol"],
      [ids.dora, "dora"],
      [ids.erin, "erin"],
    ])
      dc.addUser({ id: id!, username: username! });
    dc.addGuild({
      id: ids.guild,
      name: "PM Guild",
      channels: [{ id: ids.general, name: "general" }],
      members: [{ user: ids.bob }, { user: ids.carol }, { user: ids.dora }, { user: ids.erin }],
    });
    slack = await SlackServer.start();
    wa = slack.addWorkspace({ team, name: "Acme PM" });
    wa.addUser({ id: UGO, name: "ugo", real_name: "Ugo Real" });
    rig = await startWebRig("pm", (tg) => tg.addChat({ id: PIA, type: "private", first_name: "Pia" }), {
      sections: {
        web: { enabled: true, login_starts_per_hour: 3, chat_starts_per_hour: 20 },
        backfill: { initial_limit: LIMIT },
      },
      platforms: ({ admin }) => ({
        discord: discordSection(dc, [ids.guild], { owner: admin }),
        slack: { enabled: true, owner: admin, api_url: slack.apiUrl, workspaces: [workspaceConfig(wa)] },
      }),
    });
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await slack.until(() => slack.connected(team), 60_000, "the workspace's socket");
    asAdmin = new WebApi(rig.base);
    asMember = new WebApi(rig.base);
    await asAdmin.signIn(rig.admin);
    await asMember.signIn(rig.member);
  });
  after(async () => {
    await rig?.stop();
    await dc?.close();
    await slack?.close();
  });

  /** Starts a direct chat as the admin; checks the answer, the invite, and joins. */
  async function start(platform: string, user: string): Promise<Started> {
    const out = await asAdmin.call<Started>("POST", "/v1/pm", { platform, user });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.existing, false);
    assert.match(out.body.message, /^Started a direct chat with/);
    await rig.admin.waitForInvite((i) => i.roomId === out.body.room_id, 30_000);
    await rig.admin.join(out.body.room_id);
    return out.body;
  }

  it("Telegram: makes the portal, invites the user; a second call answers existing:true with the same room", async () => {
    const first = await start("telegram", String(PIA));
    assert.equal(first.name, "Pia");
    assert.match(String(first.note), /only once they have started/);
    const again = await asAdmin.call<Started>("POST", "/v1/pm", { platform: "telegram", user: ` ${PIA} ` });
    assert.equal(again.status, 200);
    assert.equal(again.body.existing, true);
    assert.equal(again.body.room_id, first.room_id);
    assert.match(again.body.message, /^Your direct chat with Pia/);
    // The portal is a real one: a message from the chat arrives in it.
    rig.tg.injectMessage({ chat: PIA, from: PIA, text: "hi from Pia's private chat" });
    await rig.admin.waitFor(
      (e) => e.room_id === first.room_id && e.content.body === "hi from Pia's private chat",
      { timeoutMs: 30_000 },
    );
  });

  it("Discord: the DM's past messages are in the new room at once, before any new message, each once", async () => {
    const dm = dc.openDm(ids.bob);
    const past = seedDiscord(dm, ids.bob, "bob past", 6);
    const first = await start("discord", `<@${ids.bob}>`);
    await rig.admin.waitFor((e) => e.room_id === first.room_id && e.content.body === "bob past 05", {
      timeoutMs: 60_000,
    });
    const got = await timeline(rig.admin, first.room_id);
    assert.deepEqual(
      got.map((e) => e.content.body),
      past.map((p) => p.body),
    );
    for (const [i, p] of past.entries()) {
      assert.equal(got[i]!.sender, dcGhost(ids.bob));
      assert.equal(got[i]!.origin_server_ts, p.at, `origin_server_ts of ${p.body}`);
      assert.equal(got[i]!.content["com.clawbridge.backfill"], true, `${p.body} is marked as history`);
    }
    const again = await asAdmin.call<Started>("POST", "/v1/pm", { platform: "discord", user: ids.bob });
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.existing, again.body.room_id], [true, first.room_id]);
    // A live message comes after the history, not marked, and nothing is brought over twice.
    dc.postMessage(dm, ids.bob, "bob live");
    await rig.admin.waitFor((e) => e.room_id === first.room_id && e.content.body === "bob live", {
      timeoutMs: 30_000,
    });
    const after = await timeline(rig.admin, first.room_id);
    assert.deepEqual(
      after.map((e) => e.content.body),
      [...past.map((p) => p.body), "bob live"],
    );
    assert.equal(after.at(-1)!.content["com.clawbridge.backfill"], undefined);
  });

  it("Slack: the IM's past messages are in the new room at once, before any new message", async () => {
    const im = `D0PM${process.pid % 1000}`;
    wa.addChannel({ id: im, kind: "im", user: UGO, members: [wa.botUserId, UGO] });
    const t0 = Date.now() - 7_200_000;
    const past = Array.from({ length: 4 }, (_, i) => {
      const body = `ugo past ${i}`;
      const at = t0 + i * 60_000;
      slack.pastMessage(team, { channel: im, user: UGO, text: body, at });
      return { body, at };
    });
    const first = await start("slack", `<@${UGO}>`);
    await rig.admin.waitFor((e) => e.room_id === first.room_id && e.content.body === "ugo past 3", {
      timeoutMs: 60_000,
    });
    const got = await timeline(rig.admin, first.room_id);
    assert.deepEqual(
      got.map((e) => e.content.body),
      past.map((p) => p.body),
    );
    for (const [i, p] of past.entries()) {
      assert.equal(got[i]!.sender, slackGhost(team, UGO));
      assert.equal(got[i]!.origin_server_ts, p.at);
    }
    const again = await asAdmin.call<Started>("POST", "/v1/pm", { platform: "slack", user: UGO });
    assert.deepEqual([again.body.existing, again.body.room_id], [true, first.room_id]);
  });

  it("a direct chat started by inviting a Discord ghost gets the chat's history at once", async () => {
    const dm = dc.openDm(ids.dora);
    const past = seedDiscord(dm, ids.dora, "dora past", 3);
    const room = await rig.admin.createDm(dcGhost(ids.dora));
    await rig.admin.waitFor((e) => e.room_id === room && e.content.body === "dora past 02", {
      timeoutMs: 60_000,
    });
    assert.deepEqual(
      (await timeline(rig.admin, room)).map((e) => e.content.body),
      past.map((p) => p.body),
    );
  });

  it("refusals: unknown platform 404, no login 403, a person the platform does not know 400, bad bodies 400, then 429", async () => {
    const cases: Array<[WebApi, unknown, number, string, RegExp]> = [
      [asAdmin, { platform: "nosuchnet", user: "x" }, 404, "M_NOT_FOUND", /no 'nosuchnet' connector/],
      [asAdmin, { platform: "discord", user: "12345678901234567" }, 400, "M_INVALID_PARAM", /knows no user/],
      [asAdmin, { platform: "discord", user: "@bob" }, 400, "M_INVALID_PARAM", /Discord user id/],
      [asAdmin, { platform: "slack", user: "U0NOBODY1" }, 400, "M_INVALID_PARAM", /active member/],
      [asAdmin, { platform: "telegram", user: "599" }, 400, "M_INVALID_PARAM", /knows no person 599/],
      [asAdmin, { platform: "telegram" }, 400, "M_BAD_JSON", /user must be/],
      [asAdmin, { platform: "Tele gram", user: "1" }, 400, "M_BAD_JSON", /platform must be/],
      [asAdmin, { platform: "telegram", user: "1\u0000" }, 400, "M_BAD_JSON", /control characters/],
      [
        asMember,
        { platform: "discord", user: ids.carol },
        403,
        "M_FORBIDDEN",
        /no discord login to write from/,
      ],
    ];
    for (const [api, body, status, errcode, text] of cases) {
      const r = await api.call("POST", "/v1/pm", body);
      assert.equal(r.status, status, JSON.stringify([body, r.body]));
      assert.equal(r.body.errcode, errcode, JSON.stringify(body));
      assert.match(String(r.body.error), text, JSON.stringify(body));
    }
    // A relay-level user may not start chats.
    const asRelayed = new WebApi(rig.base);
    await asRelayed.signIn(rig.relayed);
    const relayed = await asRelayed.call("POST", "/v1/pm", { platform: "telegram", user: String(PIA) });
    assert.equal(relayed.status, 403);
    // The member's starts this hour (chat_starts_per_hour 20): one above, nineteen more, then 429.
    for (let i = 0; i < 19; i++)
      assert.equal((await asMember.call("POST", "/v1/pm", { platform: "slack", user: UGO })).status, 403);
    const limited = await asMember.call("POST", "/v1/pm", { platform: "slack", user: UGO });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.errcode, "M_LIMIT_EXCEEDED");
    assert.ok(Number(limited.body.retry_after_ms) > 3_000_000, String(limited.body.retry_after_ms));
    // Nobody else is limited by it.
    const carol = await asAdmin.call<Started>("POST", "/v1/pm", { platform: "discord", user: ids.carol });
    assert.equal(carol.status, 200);
  });

  it("finishes the backfill of a DM started here after a SIGKILL in the middle of it, each message once, in order", async () => {
    const dm = dc.openDm(ids.erin);
    const past = seedDiscord(dm, ids.erin, "erin past", 8);
    // The fifth has a picture whose download is not answered until the bridge was killed.
    const at = hourAgo + 4 * 60_000 + 500;
    const pic = dc.pastMessage(dm, ids.erin, "erin pic", at, [
      { name: "e.png", data: randomBytes(300), contentType: "image/png" },
    ]);
    dc.holdFile(String((pic.attachments as Array<{ url: string }>)[0]!.url));
    past.splice(5, 0, { body: "erin pic", at });
    const first = await start("discord", ids.erin);
    await rig.admin.waitFor((e) => e.room_id === first.room_id && e.content.body === "erin past 04", {
      timeoutMs: 60_000,
    });
    await rig.core.restart("SIGKILL", () => dc.releaseFiles());
    await until(() => dc.liveSessions() >= 1, 60_000, "the gateway session after the restart");
    await rig.admin.waitFor((e) => e.room_id === first.room_id && e.content.body === "erin past 07", {
      timeoutMs: 90_000,
    });
    const got = await timeline(rig.admin, first.room_id);
    const texts = got.filter((e) => e.content.msgtype === "m.text");
    assert.deepEqual(
      texts.map((e) => e.content.body),
      past.map((p) => p.body),
    );
    for (const [i, p] of past.entries()) assert.equal(texts[i]!.origin_server_ts, p.at, p.body);
    const images = got.filter((e) => e.content.msgtype === "m.image");
    assert.equal(images.length, 1, "the picture is bridged once");
    assert.equal(got[got.indexOf(images[0]!) - 1]!.content.body, "erin pic");
  });
});
