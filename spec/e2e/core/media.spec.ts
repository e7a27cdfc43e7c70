import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { dump } from "js-yaml";
import { MediaSigner } from "../../../src/http/MediaSigner";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { sharedRig } from "../../harness/synapse";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { workspaceConfig } from "../../standins/slack/harness";
import { SlackServer, type Workspace } from "../../standins/slack/SlackServer";
import { alias as slackAlias } from "../slack/slackRig";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "./coreRig";

const UNSET_WARNING = "appservice.public_url is not set";

/**
 * Avatars of Matrix users on platforms that fetch them by URL. Synapse 1.163 serves media only
 * to authenticated requests, so Discord (webhook avatar_url) and Slack (icon_url) get a signed
 * URL of the bridge's media proxy (`appservice.public_url`), which fetches with the as_token.
 */
describe("Matrix avatars on Discord and Slack through the bridge's media proxy (real Synapse)", function () {
  this.timeout(180_000);
  const TEAM = "T0MEDIAA";
  const CHANNEL = "C0MEDIAGEN";
  const UMA = "U0MEDUMA";
  const avatar = randomBytes(1500);
  let dc: DiscordServer;
  let ids: WorldIds;
  let slack: SlackServer;
  let ws: Workspace;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let avatarMxc: string;
  let publicUrl: string;
  let dcRoom: string;
  let slackRoom: string;

  /** Alice's avatar in this room only: her global profile is shared with other suites. */
  async function roomAvatar(roomId: string): Promise<void> {
    await alice.sendState(roomId, "m.room.member", alice.userId, {
      membership: "join",
      displayname: "Alice Media",
      avatar_url: avatarMxc,
    });
    await alice.waitFor(
      (e) =>
        e.room_id === roomId &&
        e.type === "m.room.member" &&
        e.state_key === alice.userId &&
        e.content.avatar_url === avatarMxc,
    );
  }

  const webhookExec = (text: string) =>
    dc.waitFor(
      (c) => c.method === "POST" && /^\/webhooks\//.test(c.path) && c.body.json.content === text,
      30_000,
    );
  const slackPost = (text: string) =>
    slack.waitFor(
      (c) => c.method === "chat.postMessage" && c.team === TEAM && c.params.text === text,
      30_000,
    );

  async function fetchBytes(url: string): Promise<{ status: number; type: string | null; data: Buffer }> {
    const res = await fetch(url);
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      data: Buffer.from(await res.arrayBuffer()),
    };
  }

  before(async () => {
    ({ server: dc, ids } = await startWorld());
    slack = await SlackServer.start();
    ws = slack.addWorkspace({ team: TEAM, name: "Media" });
    ws.addUser({ id: UMA, name: "uma", real_name: "Uma Media" });
    ws.addChannel({ id: CHANNEL, name: "media-general", members: [UMA, ws.botUserId] });
    publicUrl = `http://127.0.0.1:${(await sharedRig()).bridgePort}`;
    core = await startCoreRig({
      appservice: { public_url: publicUrl },
      platforms: {
        discord: discordSection(dc, [ids.guild]),
        slack: {
          enabled: true,
          owner: "@alice:localhost",
          api_url: slack.apiUrl,
          workspaces: [workspaceConfig(ws)],
        },
      },
    });
    alice = await user("alice");
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=avatar.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: avatar,
    });
    avatarMxc = ((await up.json()) as { content_uri: string }).content_uri;
    assert.match(avatarMxc, /^mxc:\/\/localhost\//);
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await slack.until(() => slack.connected(TEAM), 60_000, "the Slack workspace's socket");
    await new Promise((r) => setTimeout(r, 1000));
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
    await slack?.close();
  });

  it("the homeserver refuses the unauthenticated download URL the bridge used to hand out", async () => {
    const mxc = avatarMxc.slice("mxc://".length);
    const res = await fetchBytes(`${core.rig.synapse.url}/_matrix/media/v3/download/${mxc}`);
    assert.equal(res.status, 404);
    assert.ok(!core.bridge.output().includes(UNSET_WARNING), "no warning when public_url is set");
  });

  it("Discord's webhook gets a signed bridge URL that serves exactly the uploaded avatar", async () => {
    dc.postMessage(ids.general, ids.alice, "media portal please");
    dcRoom = await portalRoomFor(alice, ids.general, "discord");
    await roomAvatar(dcRoom);
    await alice.sendText(dcRoom, "discord avatar check");
    const exec = await webhookExec("discord avatar check");
    const url = String(exec.body.json.avatar_url);
    assert.ok(url.startsWith(`${publicUrl}/_clawbridge/media/v1/localhost/`), url);
    const got = await fetchBytes(url);
    assert.equal(got.status, 200);
    assert.equal(got.type, "image/png");
    assert.deepEqual(got.data, avatar);
  });

  it("Slack's icon_url is the same signed URL and serves the same bytes", async () => {
    slack.injectMessage(TEAM, { channel: CHANNEL, user: UMA, text: "slack portal please" });
    const invite = await alice.waitForInvite((i) =>
      i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === slackAlias(CHANNEL)),
    );
    slackRoom = invite.roomId;
    await alice.join(slackRoom);
    await roomAvatar(slackRoom);
    await alice.sendText(slackRoom, "slack avatar check");
    const call = await slackPost("slack avatar check");
    assert.equal(call.params.username, "Alice Media");
    const url = String(call.params.icon_url);
    const dcUrl = String((await webhookExec("discord avatar check")).body.json.avatar_url);
    assert.equal(url, dcUrl, "one mxc URI, one URL");
    const got = await fetchBytes(url);
    assert.equal(got.status, 200);
    assert.deepEqual(got.data, avatar);
  });

  it("refuses a tampered signature, another media id under a valid signature and a missing one", async () => {
    const url = String((await webhookExec("discord avatar check")).body.json.avatar_url);
    const sig = url.slice(url.lastIndexOf("/") + 1);
    const tampered = `${url.slice(0, -sig.length)}${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
    assert.equal((await fetchBytes(tampered)).status, 403);
    // A second real upload: its bytes exist on the homeserver, but the bridge never signed it.
    const up = await fetch(`${core.rig.synapse.url}/_matrix/media/v3/upload?filename=other.png`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "image/png" },
      body: randomBytes(100),
    });
    const other = ((await up.json()) as { content_uri: string }).content_uri.split("/").pop()!;
    assert.equal(
      (await fetchBytes(`${publicUrl}/_clawbridge/media/v1/localhost/${other}/${sig}`)).status,
      403,
    );
    assert.equal((await fetchBytes(url.slice(0, -sig.length - 1))).status, 404);
    // A signed URL of media the homeserver does not have: the homeserver's 404 passes through.
    const missing = "NoSuchMedia";
    const signed = new MediaSigner(core.rig.asToken).sign("localhost", missing);
    assert.equal(
      (await fetchBytes(`${publicUrl}/_clawbridge/media/v1/localhost/${missing}/${signed}`)).status,
      404,
    );
  });

  it("without public_url: logs at start which key to set and keeps the homeserver URL", async () => {
    const { public_url: _, ...appservice } = core.config.appservice as Record<string, unknown>;
    const config = { ...core.config, appservice };
    writeFileSync(core.configPath, dump(config));
    await core.restart();
    await until(() => core.bridge.output().includes(UNSET_WARNING), 30_000, "the public_url warning");
    await until(() => dc.liveSessions() >= 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
    await alice.sendText(dcRoom, "discord fallback check");
    const exec = await webhookExec("discord fallback check");
    const mxc = avatarMxc.slice("mxc://".length);
    assert.equal(exec.body.json.avatar_url, `${core.rig.synapse.url}/_matrix/media/v3/download/${mxc}`);
    const proxied = await fetchBytes(
      String((await webhookExec("discord avatar check")).body.json.avatar_url),
    );
    assert.equal(proxied.status, 404, "the media proxy is off without public_url");
  });
});
