import assert from "node:assert/strict";
import type { DiscordClient } from "../../../../bridges/discord/DiscordClient";
import { discordNonce } from "../../../../bridges/discord/DiscordSender";
import type { DiscordServer } from "../../../standins/discord/DiscordServer";
import {
  connectClient,
  type Harness,
  harness,
  outbound,
  startWorld,
  until,
  type WorldIds,
} from "../../../standins/discord/harness";

type Obj = Record<string, unknown>;

describe("Discord sends exactly once (nonce with enforce_nonce; webhook messages looked up before a repeat)", function () {
  this.timeout(60_000);
  let server: DiscordServer;
  let ids: WorldIds;
  let h: Harness;
  let client: DiscordClient;
  /** Remote ids the core has stored (the `message` table), answered to the sender's lookup. */
  let mapped: Set<string>;

  const rest = async (method: string, path: string, body?: Obj, bot = true): Promise<[number, Obj]> => {
    const res = await fetch(`${server.api}/v10${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(bot ? { authorization: `Bot ${server.token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return [res.status, res.status === 204 ? {} : ((await res.json()) as Obj)];
  };
  const history = (channel: string) => server.world.messagesAfter(channel, undefined, 100);

  beforeEach(async () => {
    ({ server, ids } = await startWorld());
    h = harness(server);
    mapped = new Set();
    h.ctx.store.query = async <R extends object>(sql: string, params?: unknown[]) => {
      assert.match(sql, /FROM message WHERE platform = 'discord' AND remote_id = ANY/);
      return ((params?.[0] ?? []) as string[])
        .filter((id) => mapped.has(id))
        .map((id) => ({ remote_id: id })) as unknown as R[];
    };
    client = await connectClient(h);
    await until(() => server.liveSessions() === 1 && client.state() === "CONNECTED", 20_000, "ready");
  });
  afterEach(async () => {
    await client?.disconnect();
    await server?.close();
  });

  it("the stand-in dedupes like Discord: a nonce with enforce_nonce returns the original message; without it, or elsewhere, a new one", async () => {
    const post = (channel: string, body: Obj) => rest("POST", `/channels/${channel}/messages`, body);
    const [s1, first] = await post(ids.general, { content: "x", nonce: "n-1", enforce_nonce: true });
    const [s2, again] = await post(ids.general, { content: "x changed", nonce: "n-1", enforce_nonce: true });
    assert.equal(s1, 200);
    assert.equal(s2, 200);
    assert.equal(again.id, first.id);
    assert.equal(again.content, "x", "the original is returned, not a new message");
    assert.equal(first.nonce, "n-1");
    const [, loose1] = await post(ids.general, { content: "y", nonce: "n-2" });
    const [, loose2] = await post(ids.general, { content: "y", nonce: "n-2" });
    assert.notEqual(loose1.id, loose2.id, "without enforce_nonce Discord only echoes the nonce");
    const [, other] = await post(ids.random, { content: "x", nonce: "n-1", enforce_nonce: true });
    assert.notEqual(other.id, first.id, "a nonce is per channel");
    const [bad] = await post(ids.general, { content: "z", nonce: "n".repeat(26), enforce_nonce: true });
    assert.equal(bad, 400, "a nonce over 25 characters is refused");
    assert.equal(history(ids.general).filter((m) => m.content === "x").length, 1);
  });

  it("derives a nonce per event and part: stable, at most 25 characters, different for another event or part", () => {
    const a = discordNonce("$event-a:hs", 0);
    assert.equal(a, discordNonce("$event-a:hs", 0));
    assert.ok(a.length <= 25 && /^[A-Za-z0-9_-]+$/.test(a));
    assert.notEqual(a, discordNonce("$event-a:hs", 1));
    assert.notEqual(a, discordNonce("$event-b:hs", 0));
  });

  it("bot messages carry the event's nonce with enforce_nonce: a repeat after a crash returns the same messages, none posted twice", async () => {
    server.world.noWebhooks.add(ids.random);
    const text = `${"word ".repeat(300)}\n\n${"more ".repeat(300)}`;
    const msg = outbound(text, { eventId: "$long:hs.test", eventTs: Date.now() });
    const first = await client.sendMessage({ id: ids.random }, msg);
    assert.equal(first.ids.length, 2);
    const posts = server.sent("POST", new RegExp(`^/channels/${ids.random}/messages$`));
    assert.deepEqual(
      posts.map((c) => [c.body.json.nonce, c.body.json.enforce_nonce]),
      [
        [discordNonce("$long:hs.test", 0), true],
        [discordNonce("$long:hs.test", 1), true],
      ],
    );
    const again = await client.sendMessage({ id: ids.random }, { ...msg, again: true });
    assert.deepEqual(again.ids, first.ids);
    assert.equal(history(ids.random).length, 2, "Discord kept one message per part");
  });

  it("a bot message repeated after Discord's nonce window is looked up instead of posted", async () => {
    server.world.noWebhooks.add(ids.random);
    const msg = outbound("slow restart", { eventId: "$slow:hs.test", eventTs: Date.now() - 3 * 60_000 });
    const first = await client.sendMessage({ id: ids.random }, msg);
    const posts = () => server.sent("POST", new RegExp(`^/channels/${ids.random}/messages$`)).length;
    const before = posts();
    const again = await client.sendMessage({ id: ids.random }, { ...msg, again: true });
    assert.deepEqual(again.ids, first.ids);
    assert.equal(posts(), before, "found in the channel, not posted (nor answered from the nonce)");
  });

  it("a webhook message already posted before a crash is found and not posted again; only the missing parts go out", async () => {
    const t0 = Date.now();
    const msg = outbound("posted before the crash", { eventId: "$w1:hs.test", eventTs: t0 });
    const first = await client.sendMessage({ id: ids.general }, msg);
    const execs = () => server.sent("POST", /^\/webhooks\/\d+\/[^/]+$/).length;
    const before = execs();
    const again = await client.sendMessage({ id: ids.general }, { ...msg, again: true });
    assert.deepEqual(again.ids, first.ids);
    assert.equal(execs(), before, "nothing executed again");

    // Two parts; the crash came after the first: only the second is posted on the repeat.
    const long = `${"alpha ".repeat(300)}\n\n${"omega ".repeat(300)}`;
    const split = outbound(long, { eventId: "$w2:hs.test", eventTs: Date.now() });
    server.failNext(
      (c) =>
        c.method === "POST" &&
        /^\/webhooks\//.test(c.path) &&
        String(c.body.json.content).startsWith("omega"),
      { status: 400, count: 1 },
    );
    await assert.rejects(client.sendMessage({ id: ids.general }, split));
    const partial = history(ids.general).filter((m) => String(m.content).startsWith("alpha"));
    assert.equal(partial.length, 1);
    const resumed = await client.sendMessage({ id: ids.general }, { ...split, again: true });
    assert.equal(resumed.ids.length, 2);
    assert.equal(resumed.ids[0], partial[0].id, "the part already posted is reused");
    assert.equal(history(ids.general).filter((m) => String(m.content).startsWith("alpha")).length, 1);
    assert.equal(history(ids.general).filter((m) => String(m.content).startsWith("omega")).length, 1);
  });

  it("a repeat does not take another event's message with the same text for its own", async () => {
    const a = await client.sendMessage(
      { id: ids.general },
      outbound("ok", { eventId: "$ok-1:hs.test", eventTs: Date.now() }),
    );
    mapped.add(a.ids[0]); // the core stored it: it belongs to $ok-1
    const b = await client.sendMessage(
      { id: ids.general },
      outbound("ok", { eventId: "$ok-2:hs.test", eventTs: Date.now(), again: true }),
    );
    assert.notEqual(b.ids[0], a.ids[0]);
    assert.equal(history(ids.general).filter((m) => m.content === "ok").length, 2);
    // Nor a message of another Matrix user (another webhook name) with the same text.
    const c = await client.sendMessage(
      { id: ids.general },
      {
        ...outbound("ok", { eventId: "$ok-3:hs.test", eventTs: Date.now(), again: true }),
        sender: { mxid: "@carol:hs.test", displayName: "Carol" },
      },
    );
    assert.ok(c.ids[0] !== a.ids[0] && c.ids[0] !== b.ids[0]);
    // And nothing older than the event.
    const d = await client.sendMessage(
      { id: ids.general },
      outbound("ok", { eventId: "$ok-4:hs.test", eventTs: Date.now() + 120_000, again: true }),
    );
    assert.ok(![a, b, c].some((x) => x.ids[0] === d.ids[0]));
  });
});
