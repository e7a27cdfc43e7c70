import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { createConnector } from "../../../../bridges/telegram/TelegramConnector";
import { ConnectionState } from "../../../../src/core/connector";
import {
  ALICE,
  BOB,
  GROUP,
  harness,
  ofKind,
  outbound,
  until,
  useTelegramServer,
} from "../../../standins/telegram/harness";

describe("Telegram connector: lookups, mentions, credentials", () => {
  const tg = useTelegramServer();
  const start = tg.start;

  it("turns text mentions into ghost pills and ghost pills into Telegram mentions", async () => {
    const h = harness(tg.server());
    const client = await start(h);
    tg.server().injectMessage({
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
    const sent = tg.server().sent(GROUP)[0]!;
    assert.ok(sent.text!.includes(`tg://user?id=${BOB}`), sent.text);
    assert.equal(sent.plain, "Alice: Bob: hello");
  });

  it("a channel post comes from the channel", async () => {
    const channel = -100777;
    tg.server().addChat({ id: channel, type: "channel", title: "News" });
    const h = harness(tg.server());
    const client = await start(h);
    tg.server().injectMessage({ chat: channel, text: "breaking" });
    await until(() => h.events.length === 1);
    const m = ofKind(h, "message")[0]!;
    assert.deepEqual(m.sender, { id: String(channel) });
    assert.equal(m.senderInfo?.displayName, "News");
    assert.equal((await client.chatInfo({ id: String(channel) })).kind, "channel");
  });

  it("disconnect ends the long poll at once", async () => {
    const client = await start(harness(tg.server(), { poll_timeout_seconds: 30 }));
    await tg.server().waitFor((c) => c.method === "getMe");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await client.disconnect();
    assert.ok(Date.now() - t0 < 1000, "disconnect took too long");
    const polls = tg.server().calls.filter((c) => c.method === "getUpdates").length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(tg.server().calls.filter((c) => c.method === "getUpdates").length, polls);
  });

  it("chatInfo and userInfo carry names, topic and avatars that fetchMedia can load", async () => {
    const photo = randomBytes(800);
    tg.server().addChat({
      id: GROUP,
      type: "supergroup",
      title: "The Group",
      description: "about things",
      photo,
    });
    const face = randomBytes(700);
    tg.server().addUser({ id: ALICE, first_name: "Alice", photos: [face] });
    const client = await start(harness(tg.server()));
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
    const me = await client.userInfo({ id: String(tg.server().botId) });
    assert.equal(me.isBot, true);
  });

  it("a wrong token gives BadCredentials and check() fails with advice", async () => {
    const h = harness(tg.server(), {
      bot_token: `${tg.server().botId}:wrong-${randomBytes(8).toString("hex")}`,
    });
    const client = await start(h);
    await until(() => client.state() === ConnectionState.BadCredentials, 5000, "BadCredentials");
    const connector = createConnector();
    await connector.init(h.ctx);
    const check = await connector.check!();
    assert.equal(check.ok, false);
    assert.match(check.message, /bot_token/);
    const good = createConnector();
    await good.init(harness(tg.server()).ctx);
    assert.deepEqual(await good.check!(), { ok: true, message: "logged in as @bridge_test_bot" });
  });

  it("rejects invalid config with the key path", async () => {
    const bad = async (extra: Record<string, unknown>, re: RegExp): Promise<void> => {
      await assert.rejects(createConnector().init(harness(tg.server(), extra).ctx), re);
    };
    await bad(
      { owner: undefined },
      /platforms\.telegram\.owner: is missing \(needed because bot_token is set\)/,
    );
    // Without a bot_token the connector starts with no login: bots log in by command.
    const tokenless = createConnector();
    await tokenless.init(harness(tg.server(), { bot_token: undefined, owner: undefined }).ctx);
    assert.deepEqual(tokenless.configLogins!(), []);
    await bad({ bot_token: "nope" }, /platforms\.telegram\.bot_token: must be a bot token from @BotFather/);
    await bad({ owner: "alice" }, /platforms\.telegram\.owner: must be a Matrix user id/);
    await bad(
      { allow_chat_types: ["forum"] },
      /platforms\.telegram\.allow_chat_types\[0\]: must be one of: private, group/,
    );
    await bad({ deny_chats: ["abc"] }, /platforms\.telegram\.deny_chats\[0\]: must be a numeric chat id/);
    await bad({ mode: "push" }, /platforms\.telegram\.mode: must be one of: polling, webhook/);
    await bad(
      { mode: "webhook", webhook_port: 8443 },
      /platforms\.telegram\.webhook_url: is missing \(needed because mode is webhook\)/,
    );
    await bad(
      { mode: "webhook", webhook_url: "https://bridge.example.org/tg" },
      /platforms\.telegram\.webhook_port: is missing \(needed because mode is webhook\)/,
    );
    await bad(
      { mode: "webhook", webhook_url: "bridge.example.org", webhook_port: 8443 },
      /platforms\.telegram\.webhook_url: must be the public http\(s\) URL/,
    );
    await bad(
      { webhook_secret: "has spaces" },
      /platforms\.telegram\.webhook_secret: must be 1-256 characters/,
    );
    await bad(
      { profile_photo_check_minutes: -1 },
      /platforms\.telegram\.profile_photo_check_minutes: must be at least 0/,
    );
  });
});
