import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { DiscordClient } from "../../../../bridges/discord/DiscordClient";
import type { DiscordServer } from "../../../standins/discord/DiscordServer";
import {
  connectClient,
  type Harness,
  harness,
  ofKind,
  outbound,
  startWorld,
  until,
  type WorldIds,
} from "../../../standins/discord/harness";

describe("DiscordClient (discord.js ↔ Discord stand-in)", function () {
  this.timeout(60_000);
  let server: DiscordServer;
  let ids: WorldIds;
  let h: Harness;
  let client: DiscordClient;

  beforeEach(async () => {
    ({ server, ids } = await startWorld());
    h = harness(server);
    client = await connectClient(h);
    await until(() => server.liveSessions() === 1 && client.state() === "CONNECTED", 20_000, "ready");
  });
  afterEach(async () => {
    await client?.disconnect();
    await server?.close();
  });

  it("identifies with the token and emits a guild message with the member's nickname", async () => {
    const identify = server.gatewayOps.find((o) => o.op === 2);
    assert.equal(identify?.d.token, true);
    server.postMessage(ids.general, ids.alice, "hello **world**");
    await until(() => ofKind(h, "message").length === 1, 10_000, "message");
    const [m] = ofKind(h, "message");
    assert.deepEqual(m.chat, { id: ids.general });
    assert.equal(m.sender.id, ids.alice);
    assert.equal(m.senderInfo?.displayName, "Ally");
    assert.equal(m.text, "hello world");
    assert.equal(m.html, "hello <strong>world</strong>");
  });

  it("appends rich embeds as quoted text to formatted content, escaped, and skips link previews", async () => {
    server.postMessage(ids.general, ids.alice, "**see** this", {
      embeds: [
        { type: "rich", title: "A <b>title</b>", description: "body" },
        { type: "link", title: "preview", url: "https://e.org" },
      ],
    });
    await until(() => ofKind(h, "message").length === 1, 10_000);
    const [m] = ofKind(h, "message");
    assert.equal(m.text, "see this\n> A <b>title</b>\n> body");
    assert.equal(m.html, "<strong>see</strong> this<br>&gt; A &lt;b&gt;title&lt;/b&gt;<br>&gt; body");
  });

  it("sends through one webhook per channel with the Matrix sender's name and avatar, and skips the echo", async () => {
    const first = await client.sendMessage({ id: ids.general }, outbound("one"));
    const second = await client.sendMessage({ id: ids.general }, outbound("two"));
    assert.equal(first.ids.length, 1);
    assert.equal(server.sent("POST", /\/webhooks$/).length, 1, "webhook created once");
    const execs = server.sent("POST", /^\/webhooks\/\d+\/[^/]+$/);
    assert.equal(execs.length, 2);
    assert.equal(execs[0].body.json.username, "Alice M");
    assert.equal(execs[0].body.json.avatar_url, outbound("").sender.avatarUrl);
    assert.equal(execs[1].body.json.content, "two");
    assert.ok(second.ids[0]);
    server.postMessage(ids.general, ids.bob, "after");
    await until(() => ofKind(h, "message").length >= 1, 10_000, "later message");
    assert.deepEqual(
      ofKind(h, "message").map((m) => m.text),
      ["after"],
      "webhook echoes are not emitted",
    );
    assert.ok(h.kv.get(`webhook:${ids.general}`), "webhook stored");
  });

  it("falls back to a prefixed bot message when webhooks are refused, with one notice", async () => {
    server.world.noWebhooks.add(ids.random);
    await client.sendMessage({ id: ids.random }, outbound("hi"));
    await client.sendMessage({ id: ids.random }, outbound("again"));
    const posts = server.sent("POST", new RegExp(`^/channels/${ids.random}/messages$`));
    assert.deepEqual(
      posts.map((c) => c.body.json.content),
      ["**Alice M**: hi", "**Alice M**: again"],
    );
    const notices = ofKind(h, "message").filter((m) => m.msgtype === "notice");
    assert.equal(notices.length, 1);
    assert.match(notices[0].text, /Manage Webhooks/);
  });

  it("uploads attachments byte for byte and refuses files over the limit", async () => {
    const data = randomBytes(3000);
    await client.sendMessage(
      { id: ids.general },
      outbound("", {
        attachment: { kind: "file", media: { data, mimetype: "application/octet-stream", name: "a.bin" } },
      }),
    );
    const exec = server.sent("POST", /^\/webhooks\//).at(-1)!;
    assert.equal(exec.body.files.length, 1);
    assert.ok(exec.body.files[0].data.equals(data));
    assert.equal(exec.body.files[0].name, "a.bin");
    const big = Buffer.alloc(10 * 1024 * 1024 + 1);
    await assert.rejects(
      client.sendMessage(
        { id: ids.general },
        outbound("", {
          attachment: { kind: "file", media: { data: big, mimetype: "application/zip", name: "big.zip" } },
        }),
      ),
      /over Discord's 10 MB upload limit/,
    );
  });

  it("uploads while another library's newer undici holds the global dispatcher (as in the bridge)", async () => {
    // openai and @slack/socket-mode bring a newer undici than discord.js; in one process the first
    // to fetch installs the global dispatcher. discord.js must not depend on which one that is.
    const symbol = Symbol.for("undici.globalDispatcher.1");
    const g = globalThis as unknown as Record<symbol, unknown>;
    const before = g[symbol];
    const newer = createRequire(require.resolve("openai"))("undici") as {
      Agent: new () => unknown;
      setGlobalDispatcher(d: unknown): void;
    };
    newer.setGlobalDispatcher(new newer.Agent());
    try {
      const data = randomBytes(2048);
      await client.sendMessage(
        { id: ids.general },
        outbound("", {
          attachment: { kind: "file", media: { data, mimetype: "application/octet-stream", name: "b.bin" } },
        }),
      );
      const exec = server.sent("POST", /^\/webhooks\//).at(-1)!;
      assert.ok(exec.body.files[0].data.equals(data));
    } finally {
      g[symbol] = before;
    }
  });

  it("splits text over 2000 characters into parts", async () => {
    const text = `${"word ".repeat(300)}\n\n${"more ".repeat(300)}`;
    const sent = await client.sendMessage({ id: ids.general }, outbound(text));
    assert.equal(sent.ids.length, 2);
    for (const c of server.sent("POST", /^\/webhooks\//))
      assert.ok(String(c.body.json.content).length <= 2000);
  });

  it("respects a 429 with retry_after and keeps the order", async () => {
    server.failNext((c) => c.method === "POST" && c.path.startsWith("/webhooks/"), { retryAfter: 0.5 });
    await client.sendMessage({ id: ids.general }, outbound("warm"));
    const t0 = Date.now();
    server.failNext((c) => c.method === "POST" && c.path.startsWith("/webhooks/"), { retryAfter: 0.5 });
    for (const t of ["a", "b", "c"]) await client.sendMessage({ id: ids.general }, outbound(t));
    assert.ok(Date.now() - t0 >= 400, "waited for retry_after");
    const ok = server.sent("POST", /^\/webhooks\//).map((c) => c.body.json.content);
    assert.deepEqual(ok, ["warm", "a", "b", "c"]);
  });

  it("maps edits, deletes, reactions (unicode and custom) and typing from Discord", async () => {
    const msg = server.postMessage(ids.general, ids.alice, "orig");
    await until(() => ofKind(h, "message").length === 1, 10_000);
    server.editMessage(ids.general, String(msg.id), "changed");
    server.react(ids.general, String(msg.id), ids.bob, "👍");
    server.react(ids.general, String(msg.id), ids.bob, { id: ids.emoji, name: "blob" });
    server.react(ids.general, String(msg.id), ids.bob, "👍", true);
    server.typing(ids.general, ids.bob);
    server.deleteMessage(ids.general, String(msg.id));
    await until(() => ofKind(h, "delete").length === 1 && ofKind(h, "typing").length === 1, 10_000);
    assert.equal(ofKind(h, "edit")[0].text, "changed");
    assert.deepEqual(
      ofKind(h, "reaction").map((r) => r.key),
      ["👍", ":blob:"],
    );
    assert.deepEqual(
      ofKind(h, "reaction-remove").map((r) => [r.key, r.target]),
      [["👍", msg.id]],
    );
    assert.equal(ofKind(h, "delete")[0].id, msg.id);
  });

  it("tells a kick (from the audit log) from a leave and a ban, and skips kicks the bridge made", async () => {
    server.kickMember(ids.guild, ids.bob, ids.alice, "rude");
    await until(() => ofKind(h, "member").length >= 2, 10_000, "kick events");
    const kicks = ofKind(h, "member");
    assert.deepEqual(new Set(kicks.map((k) => k.chat.id)), new Set([ids.general, ids.random]));
    assert.ok(
      kicks.every((k) => k.membership === "kick" && k.reason === "rude" && k.sender.id === ids.alice),
    );
    h.events.length = 0;
    server.world.guilds.get(ids.guild)!.members = [];
    server.dispatch("GUILD_MEMBER_REMOVE", { guild_id: ids.guild, user: server.world.userObject(ids.alice) });
    await until(() => ofKind(h, "member").length >= 2, 10_000, "leave events");
    assert.ok(ofKind(h, "member").every((k) => k.membership === "leave" && k.target.id === ids.alice));
    h.events.length = 0;
    server.dispatch("GUILD_BAN_ADD", { guild_id: ids.guild, user: server.world.userObject(ids.bob) });
    await until(() => ofKind(h, "member").length >= 2, 10_000, "ban events");
    assert.ok(ofKind(h, "member").every((k) => k.membership === "ban"));
    h.events.length = 0;
    server.world.guilds.get(ids.guild)!.members = [{ user: ids.bob }];
    // A kick by the bot itself (mirrored from Matrix) must not come back as a Matrix kick.
    await client.discord.guilds.cache.get(ids.guild)!.members.kick(ids.bob);
    await server.waitFor(
      (c) => c.method === "DELETE" && c.path === `/guilds/${ids.guild}/members/${ids.bob}`,
    );
    await server.waitFor((c) => c.method === "GET" && c.path === `/guilds/${ids.guild}/audit-logs`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(ofKind(h, "member").length, 0, "the bridge's own kick is not mirrored back");
  });

  it("sends edits through the webhook, deletes and reactions as the bot", async () => {
    const sent = await client.sendMessage({ id: ids.general }, outbound("typo"));
    await client.editMessage({ id: ids.general }, sent.ids[0], outbound("fixed"));
    assert.equal(server.sent("PATCH", /^\/webhooks\/\d+\/[^/]+\/messages\/\d+$/).length, 1);
    assert.equal(server.world.findMessage(ids.general, sent.ids[0])?.data.content, "fixed");
    await client.sendReaction({ id: ids.general }, sent.ids[0], "❤️", outbound("").sender);
    await client.sendReaction({ id: ids.general }, sent.ids[0], ":blob:", outbound("").sender);
    assert.deepEqual(
      [...(server.world.reactions.get(`${ids.general}/${sent.ids[0]}`)?.keys() ?? [])],
      ["❤️", `blob:${ids.emoji}`],
    );
    await client.deleteMessage({ id: ids.general }, sent.ids[0]);
    assert.equal(server.world.findMessage(ids.general, sent.ids[0]), undefined);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ofKind(h, "delete").length, 0, "our own delete is not emitted back");
  });

  it("resumes after a dropped gateway and replays what the session missed", async () => {
    server.postMessage(ids.general, ids.alice, "before");
    await until(() => ofKind(h, "message").length === 1, 10_000);
    server.dropGateway();
    server.postMessage(ids.general, ids.alice, "while away");
    await until(() => ofKind(h, "message").length === 2, 20_000, "resumed delivery");
    assert.ok(
      server.gatewayOps.some((o) => o.op === 6),
      "RESUME sent",
    );
    await new Promise((r) => setTimeout(r, 300));
    const fetched = server.calls.filter(
      (c) => c.method === "GET" && c.path === `/channels/${ids.general}/messages`,
    );
    assert.ok(
      fetched.every((c) => (c.response as unknown[]).length === 0),
      "replayed by RESUME, not fetched",
    );
    assert.equal(ofKind(h, "message").length, 2);
  });

  it("catches up after a lost session: messages fetched after the last id, once, in order", async () => {
    server.postMessage(ids.general, ids.alice, "m0");
    await until(() => ofKind(h, "message").length === 1, 10_000);
    server.holdGateway(true);
    server.dropGateway({ resumable: false });
    for (let i = 1; i <= 20; i++) server.postMessage(ids.general, ids.bob, `m${i}`);
    server.holdGateway(false);
    await until(() => ofKind(h, "message").length === 21, 30_000, "catch-up");
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      ofKind(h, "message").map((m) => m.text),
      Array.from({ length: 21 }, (_, i) => `m${i}`),
    );
    assert.ok(
      server.calls.some((c) => c.path === `/channels/${ids.general}/messages` && c.query.get("after")),
    );
  });

  it("tells the room when more messages were missed than catch_up_limit", async () => {
    await client.disconnect();
    h = harness(server, { catch_up_limit: 5 });
    client = await connectClient(h);
    await until(() => client.state() === "CONNECTED", 20_000, "ready");
    server.postMessage(ids.general, ids.alice, "seen");
    await until(() => ofKind(h, "message").length === 1, 10_000);
    server.holdGateway(true);
    server.dropGateway({ resumable: false });
    for (let i = 1; i <= 8; i++) server.postMessage(ids.general, ids.bob, `gap ${i}`);
    server.holdGateway(false);
    await until(() => ofKind(h, "message").some((m) => m.msgtype === "notice"), 30_000, "gap notice");
    const texts = ofKind(h, "message").map((m) => m.text);
    assert.deepEqual(texts.slice(0, 6), ["seen", "gap 1", "gap 2", "gap 3", "gap 4", "gap 5"]);
    assert.match(texts[6], /More than 5 messages were posted on Discord while the bridge was away/);
  });

  it("fetches a message again after the core refused it, without moving the last id past it", async () => {
    server.postMessage(ids.general, ids.alice, "ok 1");
    await until(() => ofKind(h, "message").length === 1, 10_000);
    let refuse = true;
    h.onEmit = async (ev) => {
      if (refuse && ev.kind === "message" && ev.text === "flaky") throw new Error("queue unavailable");
    };
    const flaky = server.postMessage(ids.general, ids.alice, "flaky");
    server.postMessage(ids.general, ids.alice, "ok 2");
    await until(() => ofKind(h, "message").some((m) => m.text === "ok 2"), 20_000, "the next message");
    assert.ok(BigInt(h.kv.get(`last:${ids.general}`)!) < BigInt(String(flaky.id)), "last id stays before it");
    refuse = false;
    server.dropGateway({ resumable: false });
    await until(() => ofKind(h, "message").some((m) => m.text === "flaky"), 30_000, "the refetched message");
    await until(
      () =>
        h.kv.get(`last:${ids.general}`) === String(server.world.history.get(ids.general)!.at(-1)!.data.id),
      10_000,
    );
  });

  it("skips a malformed dispatch and keeps going", async () => {
    server.sendRaw((s) =>
      JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { id: "x", channel_id: ids.general } }),
    );
    server.postMessage(ids.general, ids.alice, "still fine");
    await until(() => ofKind(h, "message").some((m) => m.text === "still fine"), 10_000);
  });
});
