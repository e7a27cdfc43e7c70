import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { DiscordServer, sf } from "../../standins/discord/DiscordServer";
import { botToken, discordSection, until } from "../../standins/discord/harness";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const dcGhost = (id: string) => `@_discord_${id}:localhost`;
const LIMIT = 20;

/** The room's messages from its start, in timeline order. */
async function timeline(alice: MatrixTestClient, room: string): Promise<MatrixEvent[]> {
  const events = await alice.messages(room, { dir: "f", limit: 500 });
  return events.filter((e) => e.type === "m.room.message");
}

/**
 * A channel with history gets a portal: its room shows the channel's newest messages (up to
 * backfill.initial_limit) from their senders' ghosts with their Discord times, before the live
 * message that made the portal, each once; also when live messages race the backfill and when
 * the bridge is killed in the middle of it.
 */
describe("Discord: a new portal is backfilled from the channel's history (real Synapse)", function () {
  this.timeout(240_000);
  let dc: DiscordServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  const ids = { guild: sf(), general: sf(), random: sf(), third: sf(), alice: sf(), bob: sf() };
  const hourAgo = Date.now() - 3_600_000;

  /** Seeds `n` past messages `<prefix> NN`, a minute apart, alice and bob in turn; returns their times. */
  function seed(
    channel: string,
    prefix: string,
    n: number,
    start: number,
  ): Array<{ body: string; at: number; author: string }> {
    return Array.from({ length: n }, (_, i) => {
      const at = start + i * 60_000 + i; // distinct milliseconds too
      const author = i % 2 ? ids.bob : ids.alice;
      const body = `${prefix} ${String(i).padStart(2, "0")}`;
      dc.pastMessage(channel, author, body, at);
      return { body, at, author };
    });
  }

  before(async () => {
    const botId = sf();
    dc = await DiscordServer.start({
      token: botToken(botId),
      bot: { id: botId, username: "clawbridge" },
      heartbeatMs: 2000,
    });
    dc.addUser({ id: ids.alice, username: "alice", global_name: "Alice Liddell" });
    dc.addUser({ id: ids.bob, username: "bob" });
    dc.addGuild({
      id: ids.guild,
      name: "History Guild",
      channels: [
        { id: ids.general, name: "general" },
        { id: ids.random, name: "random" },
        { id: ids.third, name: "third" },
      ],
      members: [{ user: ids.alice }, { user: ids.bob }],
    });
    core = await startCoreRig({
      platforms: {
        discord: discordSection(dc, [ids.guild]),
      },
      sections: { backfill: { initial_limit: LIMIT } },
    });
    alice = await user("alice");
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
  });

  it("brings the newest messages over as their senders' ghosts with their Discord times, before the live one", async () => {
    const past = seed(ids.general, "past", LIMIT + 5, hourAgo);
    const liveAt = Date.parse(String(dc.postMessage(ids.general, ids.bob, "live after history").timestamp));
    const room = await portalRoomFor(alice, ids.general, "discord");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "live after history", {
      timeoutMs: 60_000,
    });
    const got = await timeline(alice, room);
    // The channel's newest LIMIT messages: the live one that made the portal is the newest.
    const want = past.slice(-(LIMIT - 1));
    assert.deepEqual(
      got.map((e) => e.content.body),
      [...want.map((p) => p.body), "live after history"],
    );
    for (const [i, p] of want.entries()) {
      assert.equal(got[i]!.sender, dcGhost(p.author), `sender of ${p.body}`);
      assert.equal(got[i]!.origin_server_ts, p.at, `origin_server_ts of ${p.body}`);
      assert.equal(got[i]!.content["com.clawbridge.backfill"], true, `${p.body} is marked as history`);
    }
    const live = got[got.length - 1]!;
    assert.equal(live.content["com.clawbridge.backfill"], undefined, "the live message is not history");
    assert.equal(live.sender, dcGhost(ids.bob));
    assert.ok(Math.abs(live.origin_server_ts! - liveAt) < 60_000, "the live message has its own time");
  });

  it("bridges live messages that race the backfill once each, after the history", async () => {
    const past = seed(ids.random, "calm", 6, hourAgo);
    const race = Array.from({ length: 8 }, (_, i) => `race ${i}`);
    for (const text of race) dc.postMessage(ids.random, i2author(text), text);
    const room = await portalRoomFor(alice, ids.random, "discord");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "race 7", { timeoutMs: 60_000 });
    dc.postMessage(ids.random, ids.alice, "race barrier");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "race barrier", {
      timeoutMs: 30_000,
    });
    const got = await timeline(alice, room);
    assert.deepEqual(
      got.map((e) => e.content.body),
      [...past.map((p) => p.body), ...race, "race barrier"],
    );
    for (const [i, p] of past.entries()) assert.equal(got[i]!.origin_server_ts, p.at);
  });

  it("finishes a backfill cut by a SIGKILL of the bridge exactly once, in order, after restart", async () => {
    const past = seed(ids.third, "kpast", 14, hourAgo);
    // The ninth has a picture whose download never answers until the bridge was killed.
    const at = hourAgo + 8 * 60_000 + 100;
    const pic = dc.pastMessage(ids.third, ids.alice, "kpast 08b", at, [
      { name: "p.png", data: randomBytes(300), contentType: "image/png" },
    ]);
    dc.holdFile(String((pic.attachments as Array<{ url: string }>)[0]!.url));
    past.splice(9, 0, { body: "kpast 08b", at, author: ids.alice });
    dc.postMessage(ids.third, ids.bob, "kill live");
    const room = await portalRoomFor(alice, ids.third, "discord");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "kpast 08", { timeoutMs: 60_000 });
    await core.restart("SIGKILL", () => dc.releaseFiles());
    await alice.waitFor((e) => e.room_id === room && e.content.body === "kill live", { timeoutMs: 90_000 });
    const got = await timeline(alice, room);
    const texts = got.filter((e) => e.content.msgtype === "m.text");
    assert.deepEqual(
      texts.map((e) => e.content.body),
      [...past.map((p) => p.body), "kill live"],
    );
    for (const [i, p] of past.entries()) assert.equal(texts[i]!.origin_server_ts, p.at, p.body);
    const images = got.filter((e) => e.content.msgtype === "m.image");
    assert.equal(images.length, 1, "the picture is bridged once");
    assert.equal(images[0]!.origin_server_ts, at);
    const picAt = got.indexOf(images[0]!);
    assert.equal(got[picAt - 1]!.content.body, "kpast 08b", "the picture follows its message's text");
  });

  function i2author(text: string): string {
    return Number(text.split(" ")[1]) % 2 ? ids.bob : ids.alice;
  }
});
