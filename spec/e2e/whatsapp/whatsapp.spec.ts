import assert from "node:assert/strict";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { outboundBurstAcrossKill } from "../core/outboundKill";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

const ME = "15550000001";
const ALICE_WA = "15551234567";
const BOB_WA = "15550000002";
const GROUP = "120363000000000009@g.us";
const CHAT = `${ME}_${ALICE_WA}@s.whatsapp.net`;
const WAIT = { timeoutMs: 30_000 };
const isText = (room: string, body: string) => (e: MatrixEvent) =>
  e.room_id === room && e.type === "m.room.message" && e.content.body === body;

describe("WhatsApp bridge end to end (baileys ↔ wire-level stand-in, real Synapse)", function () {
  this.timeout(180_000);
  let core: WaRig;
  let alice: MatrixTestClient;
  let room: string;
  let dm: string;

  const botSays = (text: string | RegExp) =>
    alice.waitFor(
      (e) =>
        e.room_id === dm &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        (typeof text === "string"
          ? String(e.content.body).includes(text)
          : text.test(String(e.content.body))),
      WAIT,
    );
  const ping = async (want: RegExp) => {
    // The state may still be changing: ask again until it says what is expected.
    const deadline = Date.now() + 30_000;
    while (true) {
      const since = Date.now();
      await alice.sendText(dm, "ping");
      const pong = await alice.waitFor(
        (e) =>
          e.room_id === dm &&
          e.sender === BOT &&
          String(e.content.body).startsWith("bridge: ok") &&
          (e.origin_server_ts ?? 0) >= since - 1000,
        WAIT,
      );
      if (want.test(String(pong.content.body))) return String(pong.content.body);
      if (Date.now() > deadline) assert.fail(`ping never matched ${want}: ${pong.content.body}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  before(async () => {
    core = await startWaRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice M",
      setup: (wa) => {
        wa.contact(ALICE_WA, "Wanda");
        wa.contact("15552220001", "Gus");
        wa.group(GROUP, {
          subject: "Family",
          desc: "Our group",
          participants: [ME, ALICE_WA, "15552220001"],
        });
      },
    });
    alice = await user("alice");
    dm = await alice.createDm(BOT);
    await botSays("management room");
  });
  after(async () => core?.stop());

  it("creates a DM portal on the first message, from a ghost named after the push name, and invites the owner", async () => {
    await core.wa.until(() => core.wa.connected().includes(ME), 30_000, "the bridge's device to log in");
    await core.wa.sendText(ALICE_WA, ME, "hello from _whatsapp_");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(CHAT)),
      30_000,
    );
    room = await alice.join(invite.roomId);
    const msg = await alice.waitFor(isText(room, "hello from _whatsapp_"), WAIT);
    assert.equal(msg.sender, waGhost(ALICE_WA));
    assert.equal(msg.content.formatted_body, "hello from <em>whatsapp</em>");
    assert.equal(
      (await alice.getState(room, "m.room.member", waGhost(ALICE_WA))).displayname,
      "Wanda (WhatsApp)",
    );
  });

  it("sends the owner's Matrix message to the contact, Signal-encrypted, formatting converted", async () => {
    await alice.sendText(room, "hello back", {
      format: "org.matrix.custom.html",
      formatted_body: "hello <b>back</b>",
    });
    const got = await core.wa.waitFor(
      (m) => m.to === ALICE_WA && m.text === "hello *back*",
      30_000,
      "the relayed message",
    );
    assert.match(got.type, /^(pkmsg|msg)$/);
  });

  it("bridges a group both ways at wire level (sender keys): named room, a ghost per member", async () => {
    await core.wa.sendGroupText(GROUP, "15552220001", ME, "group *hello*");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    const group = await alice.join(invite.roomId);
    const msg = await alice.waitFor(isText(group, "group *hello*"), WAIT);
    assert.equal(msg.sender, waGhost("15552220001"));
    assert.equal((await alice.getState(group, "m.room.name")).name, "Family");
    assert.equal((await alice.getState(group, "m.room.topic")).topic, "Our group");
    await alice.sendText(group, "hello family");
    const got = await core.wa.waitFor(
      (m) => m.to === GROUP && m.text === "hello family",
      30_000,
      "the group message",
    );
    assert.equal(got.type, "skmsg");
  });

  it("never lends alice's account: bob (no WhatsApp login) can neither link its chats nor see it", async () => {
    const bob = await user("bob");
    const own = await bob.createRoom({ name: "Bob wants the family", invite: [BOT] });
    await bob.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: own, ...WAIT },
    );
    const answer = async (command: string, re: RegExp) => {
      const id = await bob.sendText(own, command);
      const sent = await bob.waitFor((e) => e.event_id === id, { roomId: own });
      return String(
        (
          await bob.waitFor(
            (e) =>
              e.sender === BOT &&
              (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
              re.test(String(e.content.body)),
            { roomId: own, ...WAIT },
          )
        ).content.body,
      );
    };
    // bob creates the room (version 12): he may link it, but not through alice's account.
    const refused = await answer(`!cb link whatsapp ${GROUP}`, /whatsapp/);
    assert.match(refused, /You have no whatsapp login, and the bridge has no shared whatsapp bot/);
    assert.doesNotMatch(refused, /!|already bridged/);
    const pong = await answer("!cb ping", /^bridge: ok/);
    assert.doesNotMatch(pong, /CONNECTED|alice/);
    const status = await answer("!cb status", /^portals:/);
    assert.doesNotMatch(status, /alice|login whatsapp|linked to/);
  });

  it("starts a direct chat from Matrix with a phone number (`pm whatsapp +1 555 222 0001`), both ways; a group is refused", async () => {
    await alice.sendText(dm, `pm whatsapp ${GROUP}`);
    await botSays(/that is a group, not a person/);
    await alice.sendText(dm, "pm whatsapp +1 555 222 0001");
    const answer = await botSays(/^Started a direct chat with/);
    const room = /matrix\.to\/#\/(![^\s)]+)/.exec(String(answer.content.body))?.[1];
    assert.ok(room, String(answer.content.body));
    await alice.waitForInvite((i) => i.roomId === room, 30_000);
    await alice.join(room!);
    await alice.sendText(room!, "hi Gus, from Matrix");
    await core.wa.waitFor(
      (m) => m.to === "15552220001" && m.text === "hi Gus, from Matrix",
      30_000,
      "the pm",
    );
    await core.wa.sendText("15552220001", ME, "hi back from Gus");
    const back = await alice.waitFor(isText(room!, "hi back from Gus"), WAIT);
    assert.equal(back.sender, waGhost("15552220001"));
  });

  it("shows the connection state in ping", async () => {
    await ping(/whatsapp \(yours\): CONNECTED/);
  });

  it("reconnects after the stand-in drops the socket: messages sent meanwhile arrive once, in order", async () => {
    core.wa.dropConnections();
    for (const n of [1, 2, 3]) await core.wa.sendText(ALICE_WA, ME, `offline ${n}`);
    await alice.waitFor(isText(room, "offline 3"), WAIT);
    await ping(/whatsapp \(yours\): CONNECTED/);
    await new Promise((r) => setTimeout(r, 1000));
    const bodies = (await alice.messages(room, { limit: 50, dir: "b" }))
      .filter((e) => e.type === "m.room.message")
      .map((e) => String(e.content.body))
      .reverse();
    assert.deepEqual(
      bodies.filter((b) => b.startsWith("offline")),
      ["offline 1", "offline 2", "offline 3"],
    );
  });

  it("ping shows TRANSIENT_DISCONNECT while WhatsApp cannot be reached, and CONNECTED once it can", async () => {
    core.wa.refuseConnections = true;
    core.wa.dropConnections();
    await ping(/whatsapp \(yours\): TRANSIENT_DISCONNECT — .*reconnecting in/);
    core.wa.refuseConnections = false;
    await ping(/whatsapp \(yours\): CONNECTED/);
  });

  it("restores the login from PostgreSQL after a restart; messages received while down arrive once", async () => {
    await core.bridge.stop();
    await core.wa.sendText(ALICE_WA, ME, "while the bridge was down");
    await core.restart();
    await alice.waitFor(isText(room, "while the bridge was down"), WAIT);
    await alice.sendText(room, "after the restart");
    await core.wa.waitFor((m) => m.text === "after the restart", 30_000, "message after restart");
    await new Promise((r) => setTimeout(r, 1000));
    const bodies = (await alice.messages(room, { limit: 50, dir: "b" })).map((e) => String(e.content.body));
    assert.equal(bodies.filter((b) => b === "while the bridge was down").length, 1);
    assert.equal(bodies.filter((b) => b === "hello from _whatsapp_").length, 1);
    assert.equal(core.wa.sent.filter((m) => m.text === "hello *back*").length, 1);
  });

  it("sends 30 Matrix messages exactly once, in order, when the bridge is SIGKILLed right after the server took one (same message id again: the server dedupes)", async () => {
    const dupes = core.wa.duplicates.length;
    const { expected, got, atKill } = await outboundBurstAcrossKill({
      alice,
      room,
      prefix: "wa-out",
      restart: (signal) => core.restart(signal),
      arrived: (text, timeoutMs) =>
        core.wa.waitFor((m) => m.to === ALICE_WA && String(m.text).includes(text), timeoutMs, text),
      held: (prefix) =>
        core.wa.sent
          .filter((m) => m.to === ALICE_WA && String(m.text).startsWith(prefix))
          .map((m) => String(m.text)),
    });
    assert.ok(atKill >= 5 && atKill < 30, `killed mid-burst (${atKill} sent)`);
    assert.deepEqual(got, expected);
    assert.ok(core.wa.duplicates.length > dupes, "a stanza was sent again after the restart, with its id");
  });

  it("a message the server never acknowledges is sent again with its id, then given up with a notice in the room; the chat goes on", async () => {
    const lost = core.wa.dropped.length;
    core.wa.dropNextMessages(1000);
    const ev = await alice.sendText(room, "never acknowledged");
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
          "m.in_reply_to"
        ]?.event_id === ev,
      { timeoutMs: 90_000 },
    );
    core.wa.dropNextMessages(0);
    assert.match(
      String(notice.content.body),
      /Could not deliver this to whatsapp: WhatsApp did not confirm the message within 1 s \(2 tries\)/,
    );
    const tries = core.wa.dropped.slice(lost);
    assert.ok(tries.length >= 4, `sent again (${tries.length} stanzas lost)`);
    assert.equal(new Set(tries).size, 1, "every try carried the same message id");
    await alice.sendText(room, "after the lost one");
    await core.wa.waitFor((m) => m.text === "after the lost one", 30_000, "the next message");
    assert.equal(core.wa.sent.filter((m) => m.text === "never acknowledged").length, 0);
  });

  it("relays other Matrix users only when the owner turns relaying on, with their name", async () => {
    const bob = await user("bob");
    await alice.invite(room, bob.userId);
    await bob.join(room);
    const refused = await bob.sendText(room, "bob here");
    const notice = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
          "m.in_reply_to"
        ]?.event_id === refused,
      WAIT,
    );
    assert.match(
      String(notice.content.body),
      /only @alice:localhost writes through this WhatsApp account.*relay on/i,
    );
    await bob.sendText(room, "!cb relay on");
    await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        /only @alice:localhost, whose account/.test(String(e.content.body)),
      WAIT,
    );
    await alice.sendText(room, "!cb relay on");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /relaying is on/.test(String(e.content.body)),
      WAIT,
    );
    await bob.sendText(room, "bob again");
    const relayed = await core.wa.waitFor(
      (m) => m.to === ALICE_WA && String(m.text).endsWith(": bob again"),
      30_000,
      "bob's relayed message",
    );
    assert.match(String(relayed.text), /^\*bob\*: bob again$/);
    assert.equal(core.wa.sent.filter((m) => m.text?.includes("bob here")).length, 0);
    await alice.sendText(room, "!cb relay off");
    await alice.waitFor(
      (e) => e.room_id === room && e.sender === BOT && /relaying is off/.test(String(e.content.body)),
      WAIT,
    );
    await bob.leave(room);
  });

  it("says in ping that a session the phone unlinked is logged out, and how to log in again", async () => {
    core.wa.logOut(ME);
    // The owner is told in the management room without asking…
    await botSays(
      /^whatsapp \(15550000001\): LOGGED_OUT — WhatsApp logged this bridge out .*`login whatsapp`/,
    );
    // …and ping says so too.
    const body = await ping(/whatsapp \(yours\): LOGGED_OUT/);
    assert.match(body, /login whatsapp/);
  });

  describe("login by QR code in the management room", () => {
    let bob: MatrixTestClient;
    let bobDm: string;
    const fromBot = (text: string | RegExp) =>
      bob.waitFor(
        (e) =>
          e.room_id === bobDm &&
          e.sender === BOT &&
          e.type === "m.room.message" &&
          (typeof text === "string"
            ? String(e.content.body).includes(text)
            : text.test(String(e.content.body))),
        WAIT,
      );
    const qrOf = async (image: MatrixEvent): Promise<string> => {
      const [server, id] = String(image.content.url).slice("mxc://".length).split("/");
      const res = await fetch(`${core.rig.synapse.url}/_matrix/client/v1/media/download/${server}/${id}`, {
        headers: { authorization: `Bearer ${bob.accessToken}` },
      });
      const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
      const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      assert.ok(code, "the image is a readable QR code");
      return code.data;
    };

    before(async () => {
      core.wa.contact("15559990000", "Carla");
      bob = await user("bob");
      bobDm = await bob.createDm(BOT);
      await fromBot("management room");
    });

    it("posts the QR code as an m.image, replaces it when WhatsApp rotates it, and logs in when the phone scans it", async () => {
      await bob.sendText(bobDm, "login whatsapp");
      const isQr = (e: MatrixEvent) =>
        e.room_id === bobDm && e.sender === BOT && e.content.msgtype === "m.image";
      const first = await bob.waitFor(isQr, WAIT);
      assert.equal((first.content.info as { mimetype?: string }).mimetype, "image/png");
      const firstQr = await qrOf(first);
      assert.match(firstQr, /^https:\/\/wa\.me\/settings\/linked_devices#/);
      const second = await bob.waitFor((e) => isQr(e) && e.event_id !== first.event_id, WAIT);
      await bob.waitFor(
        (e) => e.room_id === bobDm && e.type === "m.room.redaction" && e.redacts === first.event_id,
        WAIT,
      );
      const qr = await qrOf(second);
      assert.notEqual(qr, firstQr);
      core.wa.scan(qr, BOB_WA);
      await fromBot(`Logged in to whatsapp as ${BOB_WA}`);
      await bob.waitFor(
        (e) => e.room_id === bobDm && e.type === "m.room.redaction" && e.redacts === second.event_id,
        WAIT,
      );

      await core.wa.until(() => core.wa.connected().includes(BOB_WA), 30_000, "bob's new device to log in");
      await core.wa.sendText("15559990000", BOB_WA, "hi bob");
      const invite = await bob.waitForInvite(
        (i) =>
          i.events.some(
            (e) =>
              e.type === "m.room.canonical_alias" &&
              e.content.alias === waAlias(`${BOB_WA}_15559990000@s.whatsapp.net`),
          ),
        30_000,
      );
      const bobRoom = await bob.join(invite.roomId);
      const msg = await bob.waitFor(isText(bobRoom, "hi bob"), WAIT);
      assert.equal(msg.sender, waGhost("15559990000"));
      await bob.sendText(bobRoom, "hi Carla");
      await core.wa.waitFor((m) => m.to === "15559990000" && m.text === "hi Carla", 30_000, "bob's reply");
    });

    it("gives a pairing code for a phone number instead of a QR code", async () => {
      await bob.sendText(bobDm, "login whatsapp +1 555 000 0003");
      const code = await fromBot("Your pairing code is");
      assert.match(String(code.content.body), /pairing code is [A-Z0-9]{8}\b/);
      assert.match(String(code.content.formatted_body), /<code>[A-Z0-9]{8}<\/code>/);
    });

    it("logout unlinks the device on WhatsApp and forgets its keys", async () => {
      const login = await core.pool.query<{ key: string }>(
        "SELECT credentials->>'auth_key' AS key FROM login WHERE platform = 'whatsapp' AND owner_mxid = '@bob:localhost'",
      );
      const key = login.rows[0].key;
      const stored = async (table: string) =>
        (
          await core.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${table} WHERE auth_key = $1`,
            [key],
          )
        ).rows[0].n;
      assert.ok((await stored("whatsapp_auth_keys")) > 0, "the linked device has Signal keys in Postgres");
      await bob.sendText(bobDm, "logout whatsapp");
      await fromBot("Logged out of whatsapp");
      await core.wa.until(
        () =>
          core.wa.nodes.find(
            (n) => n.from.startsWith(`${BOB_WA}:`) && n.tag === "iq" && n.child === "remove-companion-device",
          ),
        30_000,
        "the unlink request",
      );
      const { rows } = await core.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM login WHERE platform = 'whatsapp' AND owner_mxid = '@bob:localhost'",
      );
      assert.equal(rows[0].n, 0);
      assert.equal(await stored("whatsapp_auth_creds"), 0);
      assert.equal(await stored("whatsapp_auth_keys"), 0);
    });
  });
});
