import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

const ME = "15550000001";
const ALICE_WA = "15551234567";
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
    assert.equal((await alice.getState(room, "m.room.member", waGhost(ALICE_WA))).displayname, "Wanda");
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

  it("says in ping that a session the phone unlinked is logged out, and how to log in again", async () => {
    core.wa.logOut(ME);
    const body = await ping(/whatsapp \(yours\): LOGGED_OUT/);
    assert.match(body, /login whatsapp/);
  });
});
