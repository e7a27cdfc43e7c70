import assert from "node:assert/strict";
import type { DiscordClient } from "../../../../bridges/discord/DiscordClient";
import type { DiscordServer } from "../../../standins/discord/DiscordServer";
import { connectClient, harness, startWorld, until, type WorldIds } from "../../../standins/discord/harness";

describe("Discord history for a new portal (discord.js against the stand-in's strict GET /channels/{id}/messages)", function () {
  this.timeout(60_000);
  let server: DiscordServer;
  let ids: WorldIds;
  let client: DiscordClient;

  before(async () => {
    ({ server, ids } = await startWorld());
    client = await connectClient(harness(server));
    await until(() => server.liveSessions() === 1 && client.state() === "CONNECTED", 20_000, "ready");
  });
  after(async () => {
    await client?.disconnect();
    await server?.close();
  });

  const get = async (query: string): Promise<[number, unknown]> => {
    const res = await fetch(`${server.api}/v10/channels/${ids.random}/messages${query}`, {
      headers: { authorization: `Bot ${server.token}` },
    });
    return [res.status, await res.json()];
  };

  it("the stand-in answers history as Discord does: limit 1..100, one cursor, newest first", async () => {
    const t0 = Date.now() - 86_400_000;
    const seeded = Array.from({ length: 5 }, (_, i) =>
      server.pastMessage(ids.random, ids.alice, `h${i}`, t0 + i),
    );
    for (const q of ["?limit=0", "?limit=101", "?limit=x", "?before=1&after=2", "?before=abc"]) {
      const [status, body] = await get(q);
      assert.equal(status, 400, q);
      assert.equal((body as { code: number }).code, 50035, q);
    }
    const [, newest] = await get("?limit=3");
    assert.deepEqual(
      (newest as Array<{ content: string }>).map((m) => m.content),
      ["h4", "h3", "h2"],
    );
    const [, before] = await get(`?limit=2&before=${seeded[3]!.id}`);
    assert.deepEqual(
      (before as Array<{ content: string }>).map((m) => m.content),
      ["h2", "h1"],
    );
    const [, after] = await get(`?limit=2&after=${seeded[1]!.id}`);
    assert.deepEqual(
      (after as Array<{ content: string }>).map((m) => m.content),
      ["h3", "h2"],
    );
    assert.equal(Date.parse(String(seeded[2]!.timestamp)), t0 + 2);
  });

  it("reads the newest messages over several pages, oldest first, with their senders and times, without the bridge's own", async () => {
    const t0 = Date.now() - 3_600_000;
    const all = Array.from({ length: 230 }, (_, i) =>
      server.pastMessage(ids.general, i % 3 ? ids.alice : ids.bob, `m${i}`, t0 + i * 10),
    );
    server.pastMessage(ids.general, server.world.bot.id, "the bridge's own", t0 + 5000);
    const before = server.sent("GET", /^\/channels\/\d+\/messages$/).length;
    const got = await client.history({ id: ids.general }, 210);
    // 210 asked for: the bridge's own message is one of them and left out.
    assert.deepEqual(
      got.map((m) => m.text),
      all.slice(-209).map((m) => m.content),
    );
    assert.deepEqual(
      got.map((m) => m.timestamp),
      all.slice(-209).map((_, i) => t0 + (230 - 209 + i) * 10),
    );
    assert.equal(got[0]!.sender.id, (all[230 - 209]!.author as { id: string }).id);
    assert.ok(got.every((m) => m.kind === "message" && m.chat.id === ids.general));
    const calls = server.sent("GET", /^\/channels\/\d+\/messages$/).slice(before);
    assert.deepEqual(
      calls.map((c) => c.query.get("limit")),
      ["100", "100", "10"],
    );
    assert.equal(calls[0]!.query.get("before"), null);
    assert.ok(calls.slice(1).every((c) => /^\d+$/.test(c.query.get("before") ?? "")));
  });

  it("gives an empty history for a channel without messages, and fails for one that does not exist", async () => {
    const id = String(BigInt(ids.random) + 7n);
    assert.deepEqual(await client.history({ id: server.openDm(ids.bob) }, 50), []);
    await assert.rejects(client.history({ id }, 50));
  });
});
