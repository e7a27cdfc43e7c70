import assert from "node:assert/strict";
import fc from "fast-check";
import { fuzzRuns } from "../../harness/fuzz";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { RecordedCall } from "../../standins/testnet/TestnetServer";
import { BOT, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

interface AuditJson {
  id: string;
  room_id: string | null;
  action: string;
  actor: string;
  target: string;
  reason: string | null;
  results: Array<{ where: string; ok: boolean; detail: string | null }>;
}

const body = (e: MatrixEvent) => String(e.content.body ?? "");

describe("moderation commands and the audit log (real Synapse, testnet stand-in)", function () {
  this.timeout(180_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;
  let dave: MatrixTestClient;
  let carol: MatrixTestClient;
  let room: string;
  let quiet: string;

  /** The bot's answer in `roomId` to the command `eventId`, as seen by `c`. */
  const answer = (c: MatrixTestClient, roomId: string, text: string | RegExp) =>
    c.waitFor(
      (e) =>
        e.room_id === roomId &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        (typeof text === "string" ? body(e).includes(text) : text.test(body(e))),
    );
  const call = (pred: (c: RecordedCall) => boolean) => core.testnet.waitFor(pred);
  const at = (c: RecordedCall, path: string, user: string) =>
    c.method === "POST" && c.path === path && (c.body as { user?: string } | undefined)?.user === user;
  const audit = async (query: string): Promise<AuditJson[]> => {
    const url = `http://127.0.0.1:${core.rig.bridgePort}/_clawbridge/provisioning/v1/audit${query}`;
    const res = await fetch(url, { headers: { Authorization: `Bearer ${core.provisioningSecret}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { entries: AuditJson[] }).entries;
  };
  const membership = async (roomId: string, mxid: string) =>
    (await alice.getState(roomId, "m.room.member", mxid)).membership;
  const setLevel = async (roomId: string, mxid: string, level: number) => {
    const pl = await alice.getState(roomId, "m.room.power_levels");
    const users = { ...(pl.users as Record<string, number>), [mxid]: level };
    await alice.sendState(roomId, "m.room.power_levels", "", { ...pl, users });
  };
  const joinAll = async (roomId: string, ...who: MatrixTestClient[]) => {
    for (const c of who) {
      await alice.invite(roomId, c.userId);
      await c.join(roomId);
    }
  };

  before(async () => {
    core = await startCoreRig({ delivery: { max_attempts: 2 } });
    [alice, bob, dave, carol] = await Promise.all([user("alice"), user("bob"), user("dave"), user("carol")]);
    core.testnet.addChat({ id: "modroom", name: "Moderated", kind: "group" });
    core.testnet.addChat({ id: "quiet", name: "No rights", kind: "group", bot_admin: false });
    for (const [id, name] of [
      ["s1", "Spammy"],
      ["s2", "Chatty"],
      ["s3", "Rude"],
      ["s4", "Loud"],
    ])
      core.testnet.addUser({ id, name });
    core.testnet.injectMessage({ chat: "modroom", sender: "s1", text: "buy cheap things" });
    room = await portalRoomFor(alice, "modroom");
    core.testnet.injectMessage({ chat: "quiet", sender: "s4", text: "LOUD NOISES" });
    quiet = await portalRoomFor(alice, "quiet");
    await alice.waitFor((e) => e.room_id === quiet && body(e) === "LOUD NOISES");
    // Distinct platform times: purge takes the newest first.
    const t0 = Date.now() - 10_000;
    for (const [i, [id, text]] of [
      ["s2", "chatty one"],
      ["s2", "chatty two"],
      ["s2", "chatty three"],
      ["s3", "rude words"],
    ].entries())
      core.testnet.injectMessage({ chat: "modroom", sender: id!, text: text!, date: t0 + i * 1000 });
    await alice.waitFor((e) => e.room_id === room && body(e) === "rude words");
    await joinAll(room, bob, dave, carol);
    await joinAll(quiet, bob);
    await setLevel(room, bob.userId, 50);
    await setLevel(quiet, bob.userId, 50);
  });
  after(async () => core?.stop());

  it("refuses people below the moderator level, and moderators acting on someone as powerful", async () => {
    await dave.sendText(room, `!cb ban ${ghostId("s1")}`);
    await answer(dave, room, "Only moderators of this room (power level 50 or more)");
    await bob.sendText(room, "!cb kick @alice:localhost");
    await answer(bob, room, "@alice:localhost has as much power in this room as you or more");
    await bob.sendText(room, "!cb ban nobody-in-particular");
    await answer(bob, room, "Usage: ban <user> [reason] — name the person by Matrix id");
    await bob.sendText(room, "!cb mute elsewhere:1");
    await answer(bob, room, "'elsewhere' is not a platform of this bridge");
    assert.equal(await membership(room, ghostId("s1")), "join", "nothing was done");
  });

  it("bans a ghost in the room and on its chat, with the reason", async () => {
    await bob.sendText(room, "!cb ban testnet:s1 selling things");
    const ban = await call((c) => at(c, "/chats/modroom/ban", "s1"));
    assert.equal((ban.body as { reason?: string }).reason, "selling things");
    await answer(bob, room, `Banned ${ghostId("s1")}: matrix: done; testnet modroom: done.`);
    assert.equal(await membership(room, ghostId("s1")), "ban");
  });

  it("kicks and unbans a ghost on both sides; a Matrix kick of a ghost is mirrored and audited", async () => {
    await bob.sendText(room, `!cb unban ${ghostId("s1")}`);
    await call((c) => at(c, "/chats/modroom/unban", "s1"));
    await answer(bob, room, `Unbanned ${ghostId("s1")}: matrix: done; testnet modroom: done.`);
    assert.equal(await membership(room, ghostId("s1")), "leave");

    await bob.sendText(room, `!cb kick ${ghostId("s3")} calm down`);
    await call((c) => at(c, "/chats/modroom/kick", "s3"));
    await answer(bob, room, `Kicked ${ghostId("s3")}: matrix: done; testnet modroom: done.`);
    assert.equal(await membership(room, ghostId("s3")), "leave");

    core.testnet.injectMessage({ chat: "modroom", sender: "s3", text: "back again" });
    await alice.waitFor((e) => e.room_id === room && body(e) === "back again");
    await alice.kick(room, ghostId("s3"), "by hand");
    await call(
      (c) => at(c, "/chats/modroom/kick", "s3") && (c.body as { reason?: string }).reason === "by hand",
    );
    const deadline = Date.now() + 15_000;
    let mirrored: AuditJson | undefined;
    while (!mirrored && Date.now() < deadline) {
      mirrored = (await audit(`?room=${encodeURIComponent(room)}`)).find(
        (e) => e.action === "kick" && e.actor === alice.userId,
      );
      if (!mirrored) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(mirrored, "the mirrored kick is in the audit log");
    assert.equal(mirrored.target, ghostId("s3"));
    assert.deepEqual(mirrored.results, [{ where: "testnet modroom", ok: true, detail: null }]);
  });

  it("audits a moderator's redaction of a platform user's message, mirrored to the platform", async () => {
    const rude = await alice.waitFor((e) => e.room_id === room && body(e) === "rude words");
    const remote = core.testnet.calls.length;
    await alice.redact(room, rude.event_id!, "off-topic");
    const del = await call(
      (c) =>
        core.testnet.calls.indexOf(c) >= remote &&
        c.method === "DELETE" &&
        c.path.startsWith("/chats/modroom/messages/"),
    );
    assert.ok(del);
    const deadline = Date.now() + 15_000;
    let entry: AuditJson | undefined;
    while (!entry && Date.now() < deadline) {
      entry = (await audit(`?room=${encodeURIComponent(room)}`)).find((e) => e.action === "redact");
      if (!entry) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(entry, "the redaction is in the audit log");
    assert.equal(entry.actor, alice.userId);
    assert.equal(entry.target, ghostId("s3"));
    assert.equal(entry.reason, `${rude.event_id}: off-topic`);
    assert.deepEqual(entry.results, [{ where: "testnet modroom", ok: true, detail: null }]);
  });

  it("mutes a ghost on its platform for a duration, and says where the platform refuses", async () => {
    const before = Date.now();
    await bob.sendText(room, `!cb mute ${ghostId("s2")} 2h too chatty`);
    const mute = await call((c) => at(c, "/chats/modroom/mute", "s2"));
    const until = (mute.body as { until: number }).until;
    assert.ok(until >= before + 7_200_000 && until <= Date.now() + 7_200_000, `until ${until}`);
    assert.equal((mute.body as { reason?: string }).reason, "too chatty");
    await answer(bob, room, `Muted ${ghostId("s2")} for 2 hours: testnet modroom: done.`);

    await bob.sendText(room, `!cb unmute ${ghostId("s2")}`);
    await call((c) => at(c, "/chats/modroom/unmute", "s2"));
    await answer(bob, room, `Unmuted ${ghostId("s2")}: testnet modroom: done.`);

    // A chat where the bot has no rights: the platform's refusal is said, the room's ban stands.
    await bob.sendText(quiet, `!cb mute ${ghostId("s4")}`);
    await answer(
      bob,
      quiet,
      `Muted ${ghostId("s4")} until unmuted: testnet quiet: not done (the platform answered 403).`,
    );
    await bob.sendText(quiet, `!cb ban ${ghostId("s4")}`);
    await answer(
      bob,
      quiet,
      `Banned ${ghostId("s4")}: matrix: done; testnet quiet: not done (the platform answered 403).`,
    );
    assert.equal(await membership(quiet, ghostId("s4")), "ban");
    // Still a member on the platform, but their messages no longer reach the room, and no
    // failure notice says they could not be bridged.
    core.testnet.injectMessage({ chat: "quiet", sender: "s4", text: "STILL LOUD" });
    const deadline = Date.now() + 15_000;
    while (!/event of a banned remote user dropped/.test(core.bridge.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(core.bridge.output(), /event of a banned remote user dropped/);
    assert.ok(
      !alice.eventsIn(quiet).some((e) => body(e) === "STILL LOUD" || /could not be bridged/.test(body(e))),
    );
    await bob.sendText(quiet, "!cb mute 10m");
    await answer(bob, quiet, "Usage: mute <user> [duration like 10m, 2h, 1d] [reason]");
    await bob.sendText(quiet, `!cb mute ${ghostId("s4")} 20s`);
    await answer(bob, quiet, "a mute lasts at least a minute (1m)");
  });

  it("mutes a Matrix user by power level and gives it back when the time is up", async () => {
    await bob.sendText(room, `!cb mute ${carol.userId} 1m`);
    const muted = await answer(bob, room, `Muted ${carol.userId} for 1 minute: matrix: done.`);
    const pl = await alice.getState(room, "m.room.power_levels");
    assert.equal((pl.users as Record<string, number>)[carol.userId], -1);
    await assert.rejects(carol.sendText(room, "can I still talk?"), /M_FORBIDDEN|403/);
    // The sweep gives the level back within a minute and a quarter; carol had none of her own.
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.power_levels" &&
        e.sender === BOT &&
        (e.origin_server_ts ?? 0) > (muted.origin_server_ts ?? 0) &&
        !(carol.userId in (e.content.users as Record<string, number>)),
      { timeoutMs: 100_000 },
    );
    await carol.sendText(room, "I can talk again");
    await call((c) => (c.body as { text?: string } | undefined)?.text === "I can talk again");
  });

  it("purges a ghost's newest messages in Matrix and on the platform", async () => {
    const ids = core.testnet.calls.length;
    await bob.sendText(room, `!cb purge testnet:s2 2`);
    await answer(
      bob,
      room,
      `Purged ${ghostId("s2")}: matrix: 2 of 2 messages; testnet modroom: 2 of 2 messages.`,
    );
    const deleted = core.testnet.calls
      .slice(ids)
      .filter((c) => c.method === "DELETE" && c.path.startsWith("/chats/modroom/messages/"));
    assert.equal(deleted.length, 2);
    const redactions = alice.eventsIn(room).filter((e) => e.type === "m.room.redaction" && e.sender === BOT);
    const chatty = (text: string) =>
      alice.eventsIn(room).find((e) => e.sender === ghostId("s2") && body(e) === text);
    const redacted = new Set(redactions.map((e) => String(e.redacts ?? e.content.redacts)));
    for (const text of ["chatty two", "chatty three"]) {
      const ev = chatty(text);
      if (ev) assert.ok(redacted.has(ev.event_id!), `"${text}" redacted`);
    }
    assert.ok(!redacted.has(chatty("chatty one")?.event_id ?? "?"), "the older message stays");
  });

  it("purges a Matrix user's newest messages: relayed ones on the platform too, Matrix-only ones in Matrix", async () => {
    // dave's earlier "!cb ban" was a command, never relayed: it counts as one of his messages.
    const command = alice
      .eventsIn(room)
      .find((e) => e.sender === dave.userId && body(e).startsWith("!cb ban"));
    assert.ok(command);
    await dave.sendText(room, "dave says one thing");
    const sent = await call((c) => (c.body as { text?: string } | undefined)?.text === "dave says one thing");
    assert.ok(sent);
    const remote = core.testnet.sent("modroom").find((m) => m.text === "dave says one thing");
    assert.ok(remote);
    await bob.sendText(room, `!cb purge ${dave.userId} 2`);
    await call((c) => c.method === "DELETE" && c.path === `/chats/modroom/messages/${remote.id}`);
    await answer(
      bob,
      room,
      `Purged ${dave.userId}: matrix: 2 of 2 messages; testnet modroom: 1 of 1 message.`,
    );
    await alice.waitFor(
      (e) => e.type === "m.room.redaction" && (e.redacts ?? e.content.redacts) === command.event_id,
    );
  });

  it("does not relay a banned Matrix user's message that was still waiting", async () => {
    // dave's message fails on the platform until it is given up and quarantined…
    core.testnet.failNext(
      (c) => c.method === "POST" && (c.body as { text?: string } | undefined)?.text === "held back",
      { status: 400, count: 2 },
    );
    await dave.sendText(room, "held back");
    await answer(alice, room, "Could not deliver this to testnet");
    // …then he is banned, and an admin retries the quarantined message.
    await bob.sendText(room, `!cb ban ${dave.userId} spam`);
    await answer(bob, room, `Banned ${dave.userId}: matrix: done.`);
    assert.equal(await membership(room, dave.userId), "ban");
    const base = `http://127.0.0.1:${core.rig.bridgePort}/_clawbridge/provisioning/v1/quarantine`;
    const auth = { Authorization: `Bearer ${core.provisioningSecret}` };
    const list = (await (await fetch(base, { headers: auth })).json()) as {
      items: Array<{ id: string; room_id: string | null }>;
    };
    const item = list.items.find((i) => i.room_id === room);
    assert.ok(item, "the message is quarantined");
    const posts = () =>
      core.testnet.calls.filter((c) => (c.body as { text?: string } | undefined)?.text === "held back")
        .length;
    const tried = posts();
    assert.equal((await fetch(`${base}/${item.id}/retry`, { method: "POST", headers: auth })).status, 200);
    const deadline = Date.now() + 15_000;
    while (!/message of a banned user not relayed/.test(core.bridge.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(core.bridge.output(), /message of a banned user not relayed/);
    assert.equal(posts(), tried, "the platform was not asked again");
  });

  it("lists the room's moderation log for moderators, and the provisioning API for admins", async () => {
    await carol.sendText(room, "!cb audit");
    await answer(carol, room, "Only moderators of this room (power level 50 or more)");
    await bob.sendText(room, "!cb audit 50");
    const log = body(await answer(bob, room, "Moderation log, newest first:"));
    for (const line of [
      `ban ${ghostId("s1")} by ${bob.userId} (selling things) — matrix: done; testnet modroom: done`,
      `kick ${ghostId("s3")} by ${bob.userId} (calm down)`,
      `unban ${ghostId("s1")} by ${bob.userId}`,
      `mute ${ghostId("s2")} by ${bob.userId} (too chatty, until `,
      `mute ${carol.userId} by ${bob.userId}`,
      `unmute ${carol.userId} by ${BOT} (the mute's time was up) — matrix: done`,
      `purge ${ghostId("s2")} by ${bob.userId} (2 newest asked, 2 found)`,
      `ban ${dave.userId} by ${bob.userId} (spam) — matrix: done`,
    ])
      assert.ok(log.includes(line), `audit shows: ${line}\n${log}`);
    assert.ok(!log.includes("quiet"), "only this room's entries");
    await bob.sendText(room, "!cb audit 1000");
    await answer(bob, room, "Usage: audit [n] — give a whole number from 1 to 100.");

    const entries = await audit(`?room=${encodeURIComponent(quiet)}&limit=5`);
    assert.deepEqual(
      entries.map((e) => e.action),
      ["ban", "mute"],
    );
    assert.deepEqual(entries[0]!.results, [
      { where: "matrix", ok: true, detail: null },
      { where: "testnet quiet", ok: false, detail: "the platform answered 403" },
    ]);
    const url = `http://127.0.0.1:${core.rig.bridgePort}/_clawbridge/provisioning/v1/audit`;
    const auth = { Authorization: `Bearer ${core.provisioningSecret}` };
    assert.equal((await fetch(`${url}?room=not-a-room`, { headers: auth })).status, 400);
    assert.equal((await fetch(`${url}?limit=0`, { headers: auth })).status, 400);
    assert.equal((await fetch(url)).status, 401);
  });

  it("forgets a remote person for a bridge admin: rows gone, messages redacted, a pseudonym in the log", async () => {
    await bob.sendText(room, "!cb forget testnet:s2");
    await answer(bob, room, "`forget` needs the bridge permission level 'admin'");
    await alice.sendText(room, "!cb forget testnet:s2 --redact");
    const done = body(await answer(alice, room, "Forgotten; the audit log calls them erased-testnet-"));
    const pseudonym = /(erased-testnet-[0-9a-f]{10})/.exec(done)?.[1];
    assert.ok(pseudonym, done);
    assert.match(done, /matrix: 1 of 1 message/, "the one message left is redacted");
    assert.match(
      done,
      /bridge: [1-9]\d* message-map rows, 0 reactions, 1 ghost rows removed; profile cleared/,
    );
    const one = alice.eventsIn(room).find((e) => e.sender === ghostId("s2") && body(e) === "chatty one");
    assert.ok(one);
    await alice.waitFor(
      (e) => e.type === "m.room.redaction" && (e.redacts ?? e.content.redacts) === one.event_id,
    );
    assert.equal((await alice.profile(ghostId("s2"))).displayname, "Removed testnet user");

    const entries = await audit("?limit=100");
    assert.ok(!JSON.stringify(entries).includes(ghostId("s2")), "the ghost's id is gone from the audit log");
    const forget = entries.find((e) => e.action === "forget");
    assert.ok(forget);
    assert.equal(forget.target, pseudonym);
    assert.equal(forget.room_id, null);
    assert.ok(
      entries.some((e) => e.action === "purge" && e.target === pseudonym),
      "earlier entries renamed",
    );

    // Nothing is left to forget.
    await alice.sendText(room, "!cb forget testnet:s2");
    await answer(alice, room, /bridge: 0 message-map rows, 0 reactions, 0 ghost rows removed/);
    await alice.sendText(room, `!cb forget ${bob.userId}`);
    await answer(alice, room, "only platform users (the bridge's ghosts) can be forgotten");
  });

  it("hostile arguments from a moderator: every command is answered, none fails inside the bridge", async () => {
    const word = fc
      .oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.constantFrom(
          "@",
          "@a:",
          "telegram:",
          "testnet:",
          "-5m",
          "1e3",
          "99999999999m",
          "0",
          "<b>x</b>",
          "%40a%3Ab",
        ),
      )
      // Matrix JSON carries neither NUL nor lone surrogates; the unit fuzz covers those.
      .map((w) => w.replace(/[\0\s]|[\uD800-\uDFFF]/g, "") || "x");
    const line = fc.oneof(
      word.map((w) => `ban ${w}`),
      fc.tuple(word, word).map(([a, b]) => `kick ${a} ${b}`),
      word.map((w) => `mute testnet:nobody ${w}`),
      word.map((w) => `purge testnet:nobody ${w}`),
      word.map((w) => `audit ${w}`),
      word.map((w) => `forget ${w}`),
    );
    const lines = fc.sample(line, { seed: 0x5eed, numRuns: fuzzRuns(20) });
    const sent: string[] = [];
    for (const l of lines) sent.push(await bob.sendText(room, `!cb ${l}`));
    await bob.waitFor((e) => e.event_id === sent[0], { roomId: room, timeoutMs: 30_000 });
    // The bot's messages after the first command, in the homeserver's order: an answer to the
    // previous test that bob's sync brought late is before it, not among these.
    const answers = () => {
      const events = bob.eventsIn(room);
      const first = events.findIndex((e) => e.event_id === sent[0]);
      return events.slice(first + 1).filter((e) => e.sender === BOT && e.type === "m.room.message");
    };
    // Commands run one after another in the room's lane; a loaded CI machine needs the time.
    const deadline = Date.now() + 150_000;
    while (answers().length < lines.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500)); // a second answer to one command would show now
    assert.equal(
      answers().length,
      lines.length,
      `one answer per command:\n${lines.join("\n")}\n---\n${answers().map(body).join("\n")}`,
    );
    for (const a of answers()) assert.doesNotMatch(body(a), /failed:|internal error/, body(a));
    assert.ok(core.bridge.running, "the bridge is still up");
  });
});
