import { strict as assert } from "node:assert";
import { randomBytes, randomInt } from "node:crypto";
import type { TelegramClient } from "../../../../bridges/telegram/TelegramClient";
import { createConnector } from "../../../../bridges/telegram/TelegramConnector";
import { ConnectionState } from "../../../../src/core/connector";
import {
  connectClient,
  type Harness,
  harness,
  ofKind,
  outbound,
  until,
} from "../../../standins/telegram/harness";
import { TelegramServer } from "../../../standins/telegram/TelegramServer";

const GROUP = -1001234567890;
const ALICE = 501;
const BOB = 502;

describe("Telegram connector: lookups, mentions, credentials", () => {
  let server: TelegramServer;
  const clients: TelegramClient[] = [];

  beforeEach(async () => {
    const botId = randomInt(100_000, 9_999_999);
    server = await TelegramServer.start({
      token: `${botId}:${randomBytes(24).toString("base64url")}`,
      botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "bridge_test_bot" },
    });
    server.addUser({ id: ALICE, first_name: "Alice", last_name: "Liddell", username: "alice" });
    server.addUser({ id: BOB, first_name: "Bob" });
    server.addChat({ id: GROUP, type: "supergroup", title: "The Group", description: "about things" });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.disconnect();
    await server.close();
  });

  async function start(h: Harness): Promise<TelegramClient> {
    const c = await connectClient(h);
    clients.push(c);
    return c;
  }

  it("turns text mentions into ghost pills and ghost pills into Telegram mentions", async () => {
    const h = harness(server);
    const client = await start(h);
    server.injectMessage({
      chat: GROUP,
      from: ALICE,
      text: "hi Bob",
      entities: [
        { type: "text_mention", offset: 3, length: 3, user: { id: BOB, is_bot: false, first_name: "Bob" } },
      ],
    });
    await until(() => h.events.length === 1);
    const m = ofKind(h, "message")[0]!;
    assert.ok(m.html?.includes(`@_telegram_${BOB}:hs.test`), m.html);
    await client.sendMessage(
      { id: String(GROUP) },
      outbound("Bob: hello", {
        html: `<a href="https://matrix.to/#/@_telegram_${BOB}:hs.test">Bob</a>: hello`,
      }),
    );
    const sent = server.sent(GROUP)[0]!;
    assert.ok(sent.text!.includes(`tg://user?id=${BOB}`), sent.text);
    assert.equal(sent.plain, "Alice: Bob: hello");
  });

  it("a channel post comes from the channel", async () => {
    const channel = -100777;
    server.addChat({ id: channel, type: "channel", title: "News" });
    const h = harness(server);
    await start(h);
    server.injectMessage({ chat: channel, text: "breaking" });
    await until(() => h.events.length === 1);
    const m = ofKind(h, "message")[0]!;
    assert.deepEqual(m.sender, { id: String(channel) });
    assert.equal(m.senderInfo?.displayName, "News");
    assert.equal((await clients[0]!.chatInfo({ id: String(channel) })).kind, "channel");
  });

  it("disconnect ends the long poll at once", async () => {
    const client = await start(harness(server, { poll_timeout_seconds: 30 }));
    await server.waitFor((c) => c.method === "getMe");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await client.disconnect();
    assert.ok(Date.now() - t0 < 1000, "disconnect took too long");
    const polls = server.calls.filter((c) => c.method === "getUpdates").length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.calls.filter((c) => c.method === "getUpdates").length, polls);
  });

  it("chatInfo and userInfo carry names, topic and avatars that fetchMedia can load", async () => {
    const photo = randomBytes(800);
    server.addChat({
      id: GROUP,
      type: "supergroup",
      title: "The Group",
      description: "about things",
      photo,
    });
    const face = randomBytes(700);
    server.addUser({ id: ALICE, first_name: "Alice", photos: [face] });
    const client = await start(harness(server));
    const info = await client.chatInfo({ id: String(GROUP) });
    assert.equal(info.kind, "group");
    assert.equal(info.name, "The Group");
    assert.equal(info.topic, "about things");
    assert.ok((await client.fetchMedia(info.avatar!)).data.equals(photo));
    const user = await client.userInfo({ id: String(ALICE) });
    assert.equal(user.displayName, "Alice");
    assert.ok(user.avatar!.key.startsWith("tgfile:"));
    assert.ok((await client.fetchMedia(user.avatar!)).data.equals(face));
    const dm = await client.chatInfo({ id: String(BOB) });
    assert.deepEqual(dm, { kind: "dm", name: "Bob" });
    const me = await client.userInfo({ id: String(server.botId) });
    assert.equal(me.isBot, true);
  });

  it("a wrong token gives BadCredentials and check() fails with advice", async () => {
    const h = harness(server, { bot_token: `${server.botId}:wrong-${randomBytes(8).toString("hex")}` });
    const client = await start(h);
    await until(() => client.state() === ConnectionState.BadCredentials, 5000, "BadCredentials");
    const connector = createConnector();
    await connector.init(h.ctx);
    const check = await connector.check!();
    assert.equal(check.ok, false);
    assert.match(check.message, /bot_token/);
    const good = createConnector();
    await good.init(harness(server).ctx);
    assert.deepEqual(await good.check!(), { ok: true, message: "logged in as @bridge_test_bot" });
  });

  it("rejects invalid config with the key path", async () => {
    const bad = async (extra: Record<string, unknown>, re: RegExp): Promise<void> => {
      await assert.rejects(createConnector().init(harness(server, extra).ctx), re);
    };
    await bad({ owner: undefined }, /platforms\.telegram\.owner is required/);
    // Without a bot_token the connector starts with no login: bots log in by command.
    const tokenless = createConnector();
    await tokenless.init(harness(server, { bot_token: undefined, owner: undefined }).ctx);
    assert.deepEqual(tokenless.configLogins!(), []);
    await bad({ bot_token: "nope" }, /bot_token does not look like a bot token/);
    await bad({ owner: "alice" }, /platforms\.telegram\.owner must be a Matrix user id/);
    await bad({ allow_chat_types: ["forum"] }, /allow_chat_types must be a list of/);
    await bad({ deny_chats: ["abc"] }, /deny_chats must be a list of numeric chat ids/);
  });
});
