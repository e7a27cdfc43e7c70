import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import {
  ConnectionState,
  type LoginRef,
  type NetworkClient,
  type OutboundMessage,
  type RemoteMessage,
} from "../../../src/core/connector";
import { type Harness, memoryContext, until } from "../../harness/connectorContext";
import { createConnector, type TestnetClient } from "../../standins/testnet/TestnetConnector";
import { TestnetServer } from "../../standins/testnet/TestnetServer";

function harness(server: TestnetServer, kv = new Map<string, string>()): Harness {
  return memoryContext(
    "testnet",
    {
      base_url: server.url,
      token: server.token,
      owner: "@owner:hs.test",
      poll_timeout_seconds: 2,
      backoff_initial_ms: 50,
      backoff_max_ms: 200,
    },
    kv,
  );
}

async function connectClient(h: Harness, name?: string): Promise<TestnetClient> {
  const connector = createConnector(name);
  await connector.init(h.ctx);
  const [login] = connector.configLogins!();
  const ref: LoginRef = { id: "login-1", ...login! };
  const client = connector.clientFor(ref) as NetworkClient as TestnetClient;
  await client.connect();
  return client;
}

const messages = (h: Harness): RemoteMessage[] =>
  h.events.filter((e): e is RemoteMessage => e.kind === "message");

const outbound = (text: string): OutboundMessage => ({
  sender: { mxid: "@alice:hs.test", displayName: "Alice" },
  text,
  msgtype: "text",
});

describe("testnet stand-in + connector", () => {
  let server: TestnetServer;
  const clients: TestnetClient[] = [];

  beforeEach(async () => {
    server = await TestnetServer.start({ token: randomBytes(12).toString("hex") });
    server.addChat({ id: "c1", name: "Chat One", topic: "about", kind: "group", members: ["u1"] });
    server.addUser({ id: "u1", name: "User One" });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.disconnect();
    await server.close();
  });

  async function start(h: Harness, name?: string): Promise<TestnetClient> {
    const c = await connectClient(h, name);
    clients.push(c);
    return c;
  }

  it("delivers an injected message as a RemoteMessage with its fields", async () => {
    const h = harness(server);
    const client = await start(h);
    const root = server.injectMessage({ chat: "c1", sender: "u1", text: "root" });
    const id = server.injectMessage({
      chat: "c1",
      sender: "u1",
      text: "hello",
      html: "<b>hello</b>",
      replyTo: root,
      threadRoot: root,
    });
    await until(() => h.events.length === 2, 5000, "two events");
    const m = messages(h)[1]!;
    assert.equal(m.kind, "message");
    assert.equal(m.id, id);
    assert.deepEqual(m.chat, { id: "c1" });
    assert.deepEqual(m.sender, { id: "u1" });
    assert.equal(m.text, "hello");
    assert.equal(m.html, "<b>hello</b>");
    assert.equal(m.replyTo, root);
    assert.equal(m.threadRoot, root);
    assert.equal(typeof m.timestamp, "number");
    assert.equal(m.fromSelf, undefined);
    assert.deepEqual(m.senderInfo, { displayName: "User One" });
    assert.equal(client.state(), ConnectionState.Connected);
    assert.ok(h.states.includes(ConnectionState.Connected));
  });

  it("maps the other update kinds", async () => {
    const h = harness(server);
    await start(h);
    const id = server.injectMessage({ chat: "c1", sender: "u1", text: "x" });
    server.injectEdit({ chat: "c1", sender: "u1", id, text: "y" });
    server.injectReaction({ chat: "c1", sender: "u1", target: id, key: "👍" });
    server.injectReactionRemove({ chat: "c1", sender: "u1", target: id, key: "👍" });
    server.injectTyping({ chat: "c1", sender: "u1", typing: true });
    server.injectRead({ chat: "c1", sender: "u1", upTo: id });
    server.injectMember({ chat: "c1", sender: "u1", user: "u2", membership: "join" });
    server.injectChatInfo({ chat: "c1", sender: "u1", name: "Renamed" });
    server.injectDelete({ chat: "c1", sender: "u1", id });
    await until(() => h.events.length === 9, 5000, "nine events");
    assert.deepEqual(
      h.events.map((e) => e.kind),
      ["message", "edit", "reaction", "reaction-remove", "typing", "read", "member", "chat-info", "delete"],
    );
    const info = h.events[7]!;
    assert.ok(info.kind === "chat-info" && info.info.name === "Renamed");
  });

  it("keeps the order of 50 injected messages", async () => {
    const h = harness(server);
    await start(h);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(server.injectMessage({ chat: "c1", sender: "u1", text: `m${i}` }));
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => h.events.length === 50, 10_000, "50 events");
    assert.deepEqual(
      messages(h).map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      messages(h).map((m) => m.text),
      ids.map((_, i) => `m${i}`),
    );
  });

  it("confirms an update only after emit resolved", async () => {
    const h = harness(server);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    h.onEmit = () => gate;
    let emitCalls = 0;
    const inner = h.ctx.emit;
    h.ctx.emit = (login, ev) => {
      emitCalls++;
      return inner(login, ev);
    };
    await start(h);
    server.injectMessage({ chat: "c1", sender: "u1", text: "a" });
    server.injectMessage({ chat: "c1", sender: "u1", text: "b" });
    await until(() => emitCalls === 1, 5000, "first emit");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(emitCalls, 1, "second update must wait for the first emit");
    assert.ok(server.confirmedOffset <= 1, `confirmed ${server.confirmedOffset} while emit pending`);
    assert.equal(h.kv.get("offset"), undefined);
    release();
    await server.waitForConfirmed(server.latestUpdateId);
    assert.equal(h.events.length, 2);
    assert.equal(h.kv.get("offset"), String(server.latestUpdateId + 1));
  });

  it("resumes after a restart with the same store: nothing lost, nothing confirmed re-emitted", async () => {
    const kv = new Map<string, string>();
    const h1 = harness(server, kv);
    const c1 = await start(h1);
    const a = server.injectMessage({ chat: "c1", sender: "u1", text: "a" });
    const b = server.injectMessage({ chat: "c1", sender: "u1", text: "b" });
    await until(() => h1.events.length === 2);
    // The third update's emit never resolves: the process "dies" inside emit.
    let stuck = false;
    h1.onEmit = () => {
      stuck = true;
      return new Promise<void>(() => {});
    };
    const c = server.injectMessage({ chat: "c1", sender: "u1", text: "c" });
    await until(() => stuck, 5000, "stuck in emit");
    assert.equal(kv.get("offset"), "3");
    await c1.disconnect();
    const d = server.injectMessage({ chat: "c1", sender: "u1", text: "d" });

    const h2 = harness(server, kv);
    await start(h2);
    await until(() => h2.events.length === 2, 5000, "redelivery");
    assert.deepEqual(
      messages(h1).map((m) => m.id),
      [a, b],
    );
    assert.deepEqual(
      messages(h2).map((m) => m.id),
      [c, d],
    );
    await server.waitForConfirmed();
    assert.equal(kv.get("offset"), "5");
  });

  it("skips a malformed update with a warning and keeps going", async () => {
    const h = harness(server);
    await start(h);
    server.injectRaw({ type: "message", chat: "c1", sender: "u1", date: Date.now() }); // no id/text
    server.injectRaw("garbage");
    const ok = server.injectMessage({ chat: "c1", sender: "u1", text: "fine" });
    await until(() => h.events.length === 1);
    assert.equal(messages(h)[0]!.id, ok);
    await server.waitForConfirmed();
    assert.equal(h.log.warnings.filter((w) => w.includes("malformed")).length, 2);
  });

  it("retries an update whose emit failed, in order", async () => {
    const h = harness(server);
    let failures = 1;
    h.onEmit = async () => {
      if (failures-- > 0) throw new Error("queue unavailable");
    };
    await start(h);
    const a = server.injectMessage({ chat: "c1", sender: "u1", text: "a" });
    const b = server.injectMessage({ chat: "c1", sender: "u1", text: "b" });
    await until(() => h.events.length === 2);
    assert.deepEqual(
      messages(h).map((m) => m.id),
      [a, b],
    );
  });

  it("sends a message: returns the id and the server records the sender", async () => {
    const h = harness(server);
    const client = await start(h);
    const first = await client.sendMessage(
      { id: "c1" },
      { ...outbound("hi"), html: "<i>hi</i>", replyTo: "1" },
    );
    const second = await client.sendMessage({ id: "c1" }, outbound("again"));
    assert.equal(first.ids.length, 1);
    assert.ok(Number(second.ids[0]) > Number(first.ids[0]));
    const sent = server.sent("c1");
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.id, first.ids[0]);
    assert.equal(sent[0]!.sender_name, "Alice");
    assert.equal(sent[0]!.sender_mxid, "@alice:hs.test");
    assert.equal(sent[0]!.html, "<i>hi</i>");
    assert.equal(sent[0]!.reply_to, "1");
    const id = first.ids[0]!;
    await client.editMessage({ id: "c1" }, id, outbound("hi edited"));
    await client.sendReaction({ id: "c1" }, id, "🎉", outbound("").sender);
    assert.deepEqual(server.sent("c1")[0]!.reactions, [
      { key: "🎉", sender: "@alice:hs.test", sender_name: "Alice" },
    ]);
    await client.removeReaction({ id: "c1" }, id, "🎉", outbound("").sender);
    await client.deleteMessage({ id: "c1" }, id);
    await client.setTyping({ id: "c1" }, true);
    await client.markRead({ id: "c1" }, id);
    await client.kick({ id: "c1" }, { id: "u1" });
    await client.ban({ id: "c1" }, { id: "u1" }, "spam");
    const after = server.sent("c1")[0]!;
    assert.equal(after.text, "hi edited");
    assert.deepEqual(after.reactions, []);
    assert.equal(after.deleted, true);
    await server.waitFor((c) => c.method === "POST" && c.path === "/chats/c1/ban", 100);
    const long = await client.sendMessage({ id: "c1" }, outbound("x".repeat(9000)));
    assert.equal(long.ids.length, 3);
    const emoji = "😀".repeat(2500); // 5000 UTF-16 units: split without breaking a pair
    const split = await client.sendMessage({ id: "c1" }, outbound(emoji));
    assert.equal(split.ids.length, 2);
    assert.equal(
      server
        .sent("c1")
        .slice(-2)
        .map((m) => m.text)
        .join(""),
      emoji,
    );
  });

  it("a failNext 429 surfaces as an error with status and retryAfterMs", async () => {
    const h = harness(server);
    const client = await start(h);
    server.failNext("POST /chats/:id/messages", { status: 429, retryAfter: 3 });
    await assert.rejects(client.sendMessage({ id: "c1" }, outbound("x")), (err: unknown) => {
      const e = err as Error & { status?: number; retryAfterMs?: number };
      assert.equal(e.status, 429);
      assert.equal(e.retryAfterMs, 3000);
      return true;
    });
    server.failNext(/^POST \/chats\/c1\/messages$/, { status: 502 });
    await assert.rejects(client.sendMessage({ id: "c1" }, outbound("x")), { status: 502 });
    const ok = await client.sendMessage({ id: "c1" }, outbound("x"));
    assert.equal(server.sent("c1").length, 1);
    assert.equal(server.sent("c1")[0]!.id, ok.ids[0]);
  });

  it("recovers from failing polls and reports TransientDisconnect", async () => {
    const h = harness(server);
    server.failNext("GET /updates", { status: 500, count: 2 });
    server.failNext("GET /updates", { drop: true });
    await start(h);
    const id = server.injectMessage({ chat: "c1", sender: "u1", text: "after faults" });
    await until(() => h.events.length === 1, 5000, "event after faults");
    assert.equal(messages(h)[0]!.id, id);
    assert.ok(h.states.includes(ConnectionState.TransientDisconnect));
    assert.equal(h.states.at(-1), ConnectionState.Connected);
    const polls = server.calls.filter((c) => c.path === "/updates");
    assert.deepEqual(
      polls.slice(0, 4).map((c) => c.status),
      [500, 500, 0, 200],
    );
  });

  it("a wrong token gives 401 and BadCredentials", async () => {
    const h = harness(server);
    h.ctx.config = { ...h.ctx.config, token: "wrong-token-123" };
    const client = await start(h);
    await until(() => client.state() === ConnectionState.BadCredentials, 5000, "BadCredentials");
    assert.equal(server.calls.at(-1)!.status, 401);
    const connector = createConnector();
    await connector.init(h.ctx);
    assert.equal((await connector.check!()).ok, false);
  });

  it("chat, user, media and backfill lookups", async () => {
    const h = harness(server);
    const client = await start(h);
    const avatar = server.addFile("ava.png", Buffer.from("PNGDATA"), "image/png");
    server.addUser({ id: "u2", name: "Two", avatar_url: avatar });
    const info = await client.chatInfo({ id: "c1" });
    assert.deepEqual(info, { kind: "group", name: "Chat One", topic: "about", members: [{ id: "u1" }] });
    const user = await client.userInfo({ id: "u2" });
    assert.deepEqual(user, { displayName: "Two", avatar: { key: avatar } });
    const media = await client.fetchMedia(user.avatar!);
    assert.equal(media.data.toString(), "PNGDATA");
    assert.equal(media.mimetype, "image/png");
    await assert.rejects(client.chatInfo({ id: "nope" }), { status: 404 });
    const ids = [1, 2, 3].map((i) => server.injectMessage({ chat: "c1", sender: "u1", text: `b${i}` }));
    const page = await client.fetchMessagesAfter({ id: "c1" }, ids[0], 10);
    assert.deepEqual(
      page.map((m) => m.id),
      ids.slice(1),
    );
    const mine = await client.sendMessage({ id: "c1" }, outbound("relayed"));
    const echo = (await client.fetchMessagesAfter({ id: "c1" }, ids[2], 10)).find(
      (m) => m.id === mine.ids[0],
    );
    assert.equal(echo?.fromSelf, true);
    assert.equal(echo?.text, "Alice: relayed");
    assert.deepEqual(await client.userInfo({ id: "bot" }), { displayName: "Testnet Bot", isBot: true });
    const withFile = server.injectMessage({ chat: "c1", sender: "u1", text: "pic", files: ["ava.png"] });
    await until(() => messages(h).some((m) => m.id === withFile));
    const att = messages(h).find((m) => m.id === withFile)!.attachments!;
    assert.equal(att[0]!.key, avatar);
    assert.equal(att[0]!.mimetype, "image/png");
  });

  it("loads under another platform name", async () => {
    const h = harness(server);
    const connector = createConnector("othernet");
    await connector.init(h.ctx);
    assert.equal(connector.name, "othernet");
    assert.deepEqual(connector.configLogins!(), [
      { platform: "othernet", ownerMxid: "@owner:hs.test", credentials: { token: server.token } },
    ]);
    assert.equal((await connector.check!()).ok, true);
  });

  it("disconnect stops polling within 1 s", async () => {
    const h = harness(server);
    const client = await start(h);
    await server.waitFor((c) => c.path === "/updates");
    await until(() => server.pendingPolls === 1, 2000, "held poll");
    const t0 = Date.now();
    await client.disconnect();
    assert.ok(Date.now() - t0 < 1000, "disconnect took too long");
    await until(() => server.pendingPolls === 0, 1000, "poll closed on the server");
    const polls = server.calls.filter((c) => c.path === "/updates").length;
    server.injectMessage({ chat: "c1", sender: "u1", text: "late" });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(server.calls.filter((c) => c.path === "/updates").length, polls);
    assert.equal(h.events.length, 0);
  });
});
