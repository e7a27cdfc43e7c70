import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

function sentId(core: CoreRig, text: string): string {
  const m = core.testnet.sent("chat1").find((s) => s.text === text);
  assert.ok(m, `the platform got "${text}"`);
  return m.id;
}

const isText = (body: string) => (e: MatrixEvent) => e.type === "m.room.message" && e.content.body === body;

describe("core bridging through the test connector (real Synapse, embedded PostgreSQL)", function () {
  this.timeout(60_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  let firstRemoteId: string;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "chat1", name: "Team chat", topic: "About the team", kind: "group" });
    core.testnet.addUser({ id: "u1", name: "Uma Remote" });
    core.testnet.addUser({ id: "u2", name: "Ugo Remote" });
  });
  after(async () => core?.stop());

  it("creates the portal on the first remote message, with the ghost joined under its name", async () => {
    firstRemoteId = core.testnet.injectMessage({ chat: "chat1", sender: "u1", text: "hello from testnet" });
    room = await portalRoomFor(alice, "chat1");
    const msg = await alice.waitFor((e) => e.room_id === room && isText("hello from testnet")(e));
    assert.equal(msg.sender, ghostId("u1"));
    const member = await alice.getState(room, "m.room.member", ghostId("u1"));
    assert.equal(member.membership, "join");
    assert.equal(member.displayname, "Uma Remote (Testnet)");
    assert.equal((await alice.getState(room, "m.room.name")).name, "Team chat");
    assert.equal((await alice.getState(room, "m.room.topic")).topic, "About the team");
  });

  it("joins the chat's members as ghosts when it creates a portal, skipping one it cannot look up", async () => {
    core.testnet.addUser({ id: "m1", name: "Mia Member" });
    core.testnet.addUser({ id: "m2", name: "Max Member" });
    // "m404" is unknown to the platform: its profile lookup fails, and only it is left out.
    core.testnet.addChat({ id: "crowd", name: "Crowded", kind: "group", members: ["m1", "m404", "m2"] });
    core.testnet.injectMessage({ chat: "crowd", sender: "u1", text: "hello crowd" });
    const crowd = await portalRoomFor(alice, "crowd");
    await alice.waitFor((e) => e.room_id === crowd && isText("hello crowd")(e));
    const members = await alice.members(crowd);
    const joined = (id: string) => members.find((m) => m.userId === ghostId(id) && m.membership === "join");
    assert.equal(joined("m1")?.displayName, "Mia Member (Testnet)");
    assert.equal(joined("m2")?.displayName, "Max Member (Testnet)");
    assert.ok(joined("u1"), "the sender is in the room");
    assert.equal(
      members.some((m) => m.userId === ghostId("m404")),
      false,
    );
    assert.match(core.bridge.output(), /member not joined to the new portal/);
  });

  it("relays a Matrix reply to the platform with the sender's name, as a reply to the mapped message", async () => {
    const original = (await alice.waitFor((e) => e.room_id === room && isText("hello from testnet")(e)))
      .event_id!;
    await alice.reply(room, original, "hi remote people");
    const call = await core.testnet.waitFor((c) => c.method === "POST" && c.path === "/chats/chat1/messages");
    const body = call.body as Record<string, unknown>;
    assert.equal(body.text, "hi remote people");
    assert.equal(body.sender_mxid, alice.userId);
    assert.equal(body.sender_name, "alice");
    assert.equal(body.reply_to, firstRemoteId);
  });

  it("maps a remote reply to m.in_reply_to", async () => {
    core.testnet.injectMessage({
      chat: "chat1",
      sender: "u2",
      text: "answering uma",
      replyTo: firstRemoteId,
    });
    const original = (await alice.waitFor((e) => e.room_id === room && isText("hello from testnet")(e)))
      .event_id;
    const reply = await alice.waitFor((e) => e.room_id === room && isText("answering uma")(e));
    assert.equal(reply.sender, ghostId("u2"));
    const rel = reply.content["m.relates_to"] as { "m.in_reply_to"?: { event_id: string } };
    assert.equal(rel["m.in_reply_to"]?.event_id, original);
  });

  it("maps edits both ways", async () => {
    core.testnet.injectEdit({ chat: "chat1", sender: "u1", id: firstRemoteId, text: "hello (edited)" });
    const original = (await alice.waitFor((e) => e.room_id === room && isText("hello from testnet")(e)))
      .event_id;
    const edit = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        (e.content["m.new_content"] as { body?: string } | undefined)?.body === "hello (edited)",
    );
    assert.deepEqual(edit.content["m.relates_to"], { rel_type: "m.replace", event_id: original });

    const mine = await alice.sendText(room, "typo here");
    await core.testnet.waitFor((c) => (c.body as { text?: string } | undefined)?.text === "typo here");
    const remoteId = sentId(core, "typo here");
    await alice.edit(room, mine, "no typo here");
    const patch = await core.testnet.waitFor(
      (c) => c.method === "PATCH" && c.path === `/chats/chat1/messages/${remoteId}`,
    );
    assert.equal((patch.body as { text: string }).text, "no typo here");

    // Someone else's edit of alice's message never reaches the platform as her words.
    const dave = await user("dave");
    await alice.invite(room, dave.userId);
    await dave.join(room);
    await dave.edit(room, mine, "words put in alice's mouth");
    await alice.edit(room, mine, "alice's own last word");
    const last = await core.testnet.waitFor(
      (c) =>
        c.method === "PATCH" &&
        c.path === `/chats/chat1/messages/${remoteId}` &&
        (c.body as { text?: string }).text === "alice's own last word",
    );
    assert.ok(last);
    assert.ok(
      !core.testnet.calls.some((c) => (c.body as { text?: string } | undefined)?.text?.includes("mouth")),
      "the other user's edit was not sent",
    );
  });

  it("maps reactions both ways, including removal", async () => {
    const target = (await alice.waitFor((e) => e.room_id === room && isText("hello from testnet")(e)))
      .event_id!;
    core.testnet.injectReaction({ chat: "chat1", sender: "u2", target: firstRemoteId, key: "👍" });
    const reaction = await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.reaction" && e.sender === ghostId("u2"),
    );
    assert.deepEqual(reaction.content["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: target,
      key: "👍",
    });
    core.testnet.injectReactionRemove({ chat: "chat1", sender: "u2", target: firstRemoteId, key: "👍" });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === reaction.event_id,
    );
    // Given, taken back and given again within one millisecond: the last one is a reaction of its own.
    const at = Date.now();
    const same = { chat: "chat1", sender: "u2", target: firstRemoteId, key: "👀", date: at };
    core.testnet.injectReaction(same);
    core.testnet.injectReactionRemove(same);
    core.testnet.injectReaction(same);
    const first = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.reaction" &&
        (e.content["m.relates_to"] as { key?: string } | undefined)?.key === "👀",
    );
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === first.event_id,
    );
    const again = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.reaction" &&
        (e.content["m.relates_to"] as { key?: string } | undefined)?.key === "👀" &&
        e.event_id !== first.event_id,
    );
    assert.equal(again.sender, ghostId("u2"));

    const mine = await alice.react(room, target, "🎉");
    const put = await core.testnet.waitFor(
      (c) => c.method === "PUT" && c.path === `/chats/chat1/messages/${firstRemoteId}/reactions`,
    );
    assert.equal((put.body as { key: string }).key, "🎉");
    await alice.redact(room, mine);
    const del = await core.testnet.waitFor(
      (c) => c.method === "DELETE" && c.path === `/chats/chat1/messages/${firstRemoteId}/reactions`,
    );
    assert.equal(del.query?.key, "🎉");
  });

  it("maps deletions both ways", async () => {
    const doomed = core.testnet.injectMessage({
      chat: "chat1",
      sender: "u1",
      text: "to be deleted remotely",
    });
    const ev = await alice.waitFor((e) => e.room_id === room && isText("to be deleted remotely")(e));
    core.testnet.injectDelete({ chat: "chat1", sender: "u1", id: doomed });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.redaction" && e.redacts === ev.event_id,
    );

    const mine = await alice.sendText(room, "to be deleted from matrix");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "to be deleted from matrix",
    );
    const remoteId = sentId(core, "to be deleted from matrix");
    await alice.redact(room, mine);
    await core.testnet.waitFor(
      (c) => c.method === "DELETE" && c.path === `/chats/chat1/messages/${remoteId}`,
    );
  });

  it("never echoes a ghost's message back to its own platform", async () => {
    core.testnet.injectMessage({ chat: "chat1", sender: "u1", text: "no echo please" });
    await alice.waitFor((e) => e.room_id === room && isText("no echo please")(e));
    await alice.sendText(room, "barrier after no-echo");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "barrier after no-echo",
    );
    assert.ok(
      !core.testnet.calls.some((c) => (c.body as { text?: string } | undefined)?.text === "no echo please"),
    );
  });

  it("links a Matrix room to a remote chat by command (room admins only) and unlinks it", async () => {
    core.testnet.addChat({ id: "chat2", name: "Linked chat", kind: "group" });
    const bob = await user("bob");
    const linked = await alice.createRoom({ name: "Existing room", invite: [BOT, bob.userId] });
    await bob.join(linked);
    await alice.waitFor(
      (e) =>
        e.room_id === linked &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
    );
    await bob.sendText(linked, "!cb link testnet chat2");
    await alice.waitFor(
      (e) =>
        e.room_id === linked &&
        e.sender === BOT &&
        String(e.content.body).includes("Only admins of this room"),
    );
    await alice.sendText(linked, "!cb link testnet chat2");
    await alice.waitFor(
      (e) =>
        e.room_id === linked && e.sender === BOT && String(e.content.body).startsWith("Linked this room"),
    );
    core.testnet.injectMessage({ chat: "chat2", sender: "u1", text: "into the linked room" });
    const m = await alice.waitFor((e) => e.room_id === linked && isText("into the linked room")(e));
    assert.equal(m.sender, ghostId("u1"));
    await alice.sendText(linked, "!cb unlink");
    await alice.waitFor(
      (e) => e.room_id === linked && e.sender === BOT && String(e.content.body).startsWith("Unlinked"),
    );
    await alice.sendText(linked, "after unlink");
    await alice.sendText(room, "barrier after unlink");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "barrier after unlink",
    );
    assert.ok(
      !core.testnet.calls.some((c) => (c.body as { text?: string } | undefined)?.text === "after unlink"),
    );
  });

  it("keeps the room's name, topic and avatar in step with the chat", async () => {
    const avatar = core.testnet.addFile(
      "room-avatar",
      Buffer.from("fake image bytes for the room"),
      "image/png",
    );
    core.testnet.injectChatInfo({
      chat: "chat1",
      sender: "u1",
      name: "Renamed team",
      topic: "New topic",
      avatar_url: avatar,
    });
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.name" && e.content.name === "Renamed team",
    );
    await alice.waitFor(
      (e) => e.room_id === room && e.type === "m.room.topic" && e.content.topic === "New topic",
    );
    const av = await alice.waitFor((e) => e.room_id === room && e.type === "m.room.avatar");
    assert.match(String(av.content.url), /^mxc:\/\/localhost\//);
  });

  it("tells the room once what the platform cannot do (testnet cannot rename chats), and does not retry it", async () => {
    const cannot = (e: MatrixEvent) =>
      e.room_id === room &&
      e.sender === BOT &&
      /testnet does not let the bridge change the chat's name, topic or picture/.test(String(e.content.body));
    await alice.sendState(room, "m.room.name", "", { name: "Matrix-side name" });
    const told = await alice.waitFor(cannot);
    await alice.sendState(room, "m.room.topic", "", { topic: "Matrix-side topic" });
    await alice.sendState(room, "m.room.name", "", { name: "Matrix-side name 2" });
    // Events of a room are handled in order: once this message is out, the changes were handled.
    await alice.sendText(room, "after the renames");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "after the renames",
    );
    assert.deepEqual(
      alice
        .eventsIn(room)
        .filter(cannot)
        .map((e) => e.event_id),
      [told.event_id],
      "told once, not on every change",
    );
    // Nothing of the changes reached the platform.
    assert.ok(!core.testnet.calls.some((c) => JSON.stringify(c.body ?? {}).includes("Matrix-side")));
  });

  it("updates a ghost's name and avatar when they change on the platform", async () => {
    const avatar = core.testnet.addFile("uma-avatar", Buffer.from("fake image bytes for uma"), "image/png");
    core.testnet.addUser({ id: "u1", name: "Uma Renamed", avatar_url: avatar });
    core.testnet.injectMessage({ chat: "chat1", sender: "u1", text: "after my rename" });
    await alice.waitFor((e) => e.room_id === room && isText("after my rename")(e));
    const profile = await alice.profile(ghostId("u1"));
    assert.equal(profile.displayname, "Uma Renamed (Testnet)");
    assert.match(String(profile.avatar_url), /^mxc:\/\/localhost\//);
  });

  it("applies a profile change at once, with no chat and no further message; unknown users and malformed ones are skipped", async () => {
    const avatar = core.testnet.addFile("ugo-avatar", Buffer.from("ugo's new picture"), "image/png");
    // A malformed profile change (no name) first: it is skipped and holds nothing up.
    core.testnet.injectRaw({ type: "profile", sender: "u2", date: Date.now() });
    core.testnet.injectProfile({ user: "nobody-yet", name: "Never Seen" });
    core.testnet.injectProfile({ user: "u2", name: "Ugo Profiled", avatar_url: avatar });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghostId("u2") &&
        e.content.displayname === "Ugo Profiled (Testnet)",
    );
    const profile = await alice.profile(ghostId("u2"));
    assert.equal(profile.displayname, "Ugo Profiled (Testnet)");
    assert.match(String(profile.avatar_url), /^mxc:\/\/localhost\//);
    assert.match(core.bridge.output(), /malformed event from a connector skipped|malformed update skipped/);
    // The unknown user got no ghost: the homeserver has no profile for it.
    await assert.rejects(alice.profile(ghostId("nobody-yet")));
  });

  it("mirrors membership: remote joins/leaves move ghosts, a Matrix kick of a ghost kicks on the platform", async () => {
    core.testnet.addUser({ id: "u3", name: "Newcomer" });
    core.testnet.injectMember({ chat: "chat1", sender: "u3", user: "u3", membership: "join" });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghostId("u3") &&
        e.content.membership === "join",
    );
    core.testnet.injectMember({ chat: "chat1", sender: "u3", user: "u3", membership: "leave" });
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === ghostId("u3") &&
        e.content.membership === "leave",
    );
    await alice.kick(room, ghostId("u2"), "spam");
    const kick = await core.testnet.waitFor((c) => c.method === "POST" && c.path === "/chats/chat1/kick");
    assert.equal((kick.body as { user: string }).user, "u2");
  });

  it("retries a refusal a few times, then tells the room, quarantines the message and moves on", async () => {
    // A single refusal is retried (a hiccup); five in a row (delivery.max_attempts) give it up.
    core.testnet.failNext("POST /chats/chat1/messages", { status: 400, count: 1 });
    await alice.sendText(room, "refused once, then taken");
    const answers = (text: string) =>
      core.testnet.calls
        .filter(
          (c) =>
            c.path === "/chats/chat1/messages" && (c.body as { text?: string } | undefined)?.text === text,
        )
        .map((c) => c.status);
    const answered = async (text: string) => {
      const deadline = Date.now() + 15_000;
      while (!answers(text).includes(200)) {
        assert.ok(Date.now() < deadline, `"${text}" is delivered`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await answered("refused once, then taken");
    assert.deepEqual(answers("refused once, then taken"), [400, 200]);
    core.testnet.failNext("POST /chats/chat1/messages", { status: 400, count: 5 });
    const ev = await alice.sendText(room, "this one will be refused");
    await alice.sendText(room, "the one after it");
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id: string } } | undefined)?.[
          "m.in_reply_to"
        ]?.event_id === ev,
    );
    assert.match(String(notice.content.body), /Could not deliver this to testnet: the platform answered 400/);
    await answered("the one after it");
    assert.deepEqual(
      answers("this one will be refused"),
      [400, 400, 400, 400, 400],
      "five attempts, then given up",
    );
    assert.deepEqual(answers("the one after it"), [200]);
    const failures = core.bridge.output().match(/could not deliver|delivery failed for good/gi) ?? [];
    assert.equal(failures.length, 1, "only the refused message failed");
    // The admin finds it in the quarantine, with the reason, and can queue it again.
    await alice.sendText(room, "!cb quarantine");
    const list = await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /in the quarantine/.test(String(e.content.body)),
    );
    const line = String(list.content.body)
      .split("\n")
      .find((l) => l.includes(ev));
    assert.ok(line, `the refused event is listed: ${list.content.body}`);
    assert.match(line, /5 attempt\(s\).*400/);
    const id = /^#(\d+)/.exec(line)![1];
    await alice.sendText(room, `!cb quarantine retry ${id}`);
    await alice.waitFor(
      (e) =>
        e.room_id === room && e.sender === BOT && String(e.content.body).startsWith(`#${id} is queued again`),
    );
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "this one will be refused",
    );
  });

  it("a platform slow to answer holds the room's commands back at most a moment; the message goes once, in order", async () => {
    const texts = () => core.testnet.sent("chat1").map((m) => m.text);
    core.testnet.failNext("POST /chats/chat1/messages", { delayMs: 6_000, count: 1 });
    const sentAt = Date.now();
    await alice.sendText(room, "slow to arrive");
    await alice.sendText(room, "!cb version");
    await alice.sendText(room, "right behind it");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /^clawbridge /.test(String(e.content.body)),
    );
    const answeredIn = Date.now() - sentAt;
    assert.ok(
      answeredIn < 5_000,
      `the command was answered while the platform was still busy (${answeredIn} ms)`,
    );
    assert.ok(!texts().includes("slow to arrive"), "the slow send had not been answered yet");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "right behind it",
      20_000,
    );
    const got = texts();
    assert.equal(got.filter((t) => t === "slow to arrive").length, 1, "sent once");
    assert.ok(got.indexOf("slow to arrive") < got.indexOf("right behind it"), "in order");
  });

  it("serves /health, /metrics and the provisioning API", async () => {
    const base = `http://127.0.0.1:${core.rig.bridgePort}`;
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /clawbridge_events_total\{platform="testnet",direction="in"\} [1-9]/);
    assert.match(metrics, /clawbridge_events_total\{platform="testnet",direction="out"\} [1-9]/);
    assert.match(metrics, /clawbridge_delivery_latency_seconds_count\{direction="in"\} [1-9]/);
    // The previous test's notice comes back in a transaction of its own: the queue drains to 0.
    const deadline = Date.now() + 15_000;
    let depth = metrics.match(/clawbridge_queue_depth (\d+)/)?.[1];
    while (depth !== "0" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      depth = (await (await fetch(`${base}/metrics`)).text()).match(/clawbridge_queue_depth (\d+)/)?.[1];
    }
    assert.equal(depth, "0", "the delivery queue drains");
    const url = `${base}/_clawbridge/provisioning/v1/portals`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { Authorization: "Bearer wrong-secret-value" } })).status, 403);
    const res = await fetch(url, { headers: { Authorization: `Bearer ${core.provisioningSecret}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      total: number;
      portals: Array<{ chat_id: string; room_id: string }>;
    };
    assert.ok(body.portals.some((p) => p.chat_id === "chat1" && p.room_id === room));
  });

  it("a Matrix poll reaches the platform as its question and numbered answers, never dropped", async () => {
    await alice.sendEvent(room, "org.matrix.msc3381.poll.start", {
      "org.matrix.msc3381.poll.start": {
        question: { "org.matrix.msc1767.text": "Where do we meet?" },
        kind: "org.matrix.msc3381.poll.disclosed",
        max_selections: 1,
        answers: [
          { id: "a", "org.matrix.msc1767.text": "Office" },
          { id: "b", "org.matrix.msc1767.text": "Café" },
        ],
      },
      "org.matrix.msc1767.text": "Where do we meet?\n1. Office\n2. Café",
    });
    const deadline = Date.now() + 30_000;
    while (
      !core.testnet.sent("chat1").some((m) => m.text === "Poll: Where do we meet?\n1. Office\n2. Café")
    ) {
      if (Date.now() > deadline)
        assert.fail(`the poll did not arrive: ${JSON.stringify(core.testnet.sent("chat1").slice(-3))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it("never writes a token or secret to its log", () => {
    const out = core.bridge.output();
    assert.ok(out.length > 1000, "the bridge logged something");
    for (const secret of core.secrets())
      assert.ok(!out.includes(secret), "a secret appeared in the bridge log");
  });
});
