import assert from "node:assert/strict";
import type { WhatsAppClient } from "../../../../bridges/whatsapp/WhatsAppClient";
import type { RemoteMessage } from "../../../../src/core/connector";
import { ConnectionState, type LoginRef } from "../../../../src/core/connector";
import { until } from "../../../harness/connectorContext";
import { startWireRig, storeLinkedDevice, type WireRig } from "./wireHarness";

const ME = "15550000001";
const ALICE = "15551234567";
const OWNER = "@ana:hs.test";
const CHAT = `${ME}_${ALICE}@s.whatsapp.net`;
const GUS = "15552220001";
const HANA = "15552220002";
const GROUP = "120363000000000001@g.us";
const WAIT = 20_000;

describe("WhatsApp client ↔ wire-level stand-in (baileys unmodified, keys in PostgreSQL)", function () {
  this.timeout(120_000);
  let rig: WireRig;
  let client: WhatsAppClient;
  const login: LoginRef = {
    id: "wa-ana",
    platform: "whatsapp",
    ownerMxid: OWNER,
    remoteId: ME,
    credentials: { auth_key: "ana-key" },
  };
  const texts = () => rig.h.events.filter((e): e is RemoteMessage => e.kind === "message").map((e) => e.text);

  before(async () => {
    rig = await startWireRig();
    rig.wa.contact(ALICE, "Alice");
    rig.wa.contact(GUS, "Gus");
    rig.wa.contact(HANA, "Hana");
    rig.wa.group(GROUP, { subject: "Family", participants: [ME, GUS, HANA] });
    await storeLinkedDevice(rig, "ana-key", ME, "Ana");
  });
  after(async () => {
    await rig?.stop();
  });

  it("logs in with stored credentials through the Noise handshake and reports CONNECTED", async () => {
    client = rig.client(login);
    await client.connect();
    await until(() => client.state() === ConnectionState.Connected, WAIT, "CONNECTED");
    assert.deepEqual(rig.wa.connected(), [ME]);
    assert.ok(rig.wa.logins.includes(`${ME}:1@s.whatsapp.net`));
    // The device uploaded its Signal pre-keys when the server said it had none.
    await rig.wa.until(
      () =>
        rig.wa.nodes.find((n) => n.tag === "iq" && n.attrs.xmlns === "encrypt" && n.child === "registration"),
      WAIT,
      "pre-key upload",
    );
  });

  it("decrypts a Signal-encrypted message from a contact into a RemoteMessage with the push name", async () => {
    const id = await rig.wa.sendText(ALICE, ME, "hello *from* whatsapp");
    await until(() => texts().includes("hello *from* whatsapp"), WAIT, "inbound message");
    const ev = rig.h.events.find((e): e is RemoteMessage => e.kind === "message" && e.id === id);
    assert.ok(ev);
    assert.equal(ev.chat.id, CHAT);
    assert.equal(ev.sender.id, ALICE);
    assert.equal(ev.senderInfo?.displayName, "Alice");
    assert.equal(ev.html, "hello <strong>from</strong> whatsapp");
    assert.notEqual(ev.fromSelf, true);
    await rig.wa.until(() => rig.wa.pendingFor(ME) === 0, WAIT, "the device's ack");
  });

  it("sends the owner's Matrix message Signal-encrypted; the contact decrypts it, formatting in WhatsApp style", async () => {
    const sent = await client.sendMessage(
      { id: CHAT },
      {
        sender: { mxid: OWNER, displayName: "Ana" },
        text: "hi there",
        html: "hi <b>there</b>",
        msgtype: "text",
      },
    );
    const got = await rig.wa.waitFor((m) => m.to === ALICE && m.id === sent.ids[0], WAIT, "outbound message");
    assert.equal(got.text, "hi *there*");
    assert.match(got.type, /^(pkmsg|msg)$/);
    // Its echo (baileys emits the device's own message) is marked as the bridge's, so the core drops it.
    await new Promise((r) => setTimeout(r, 300));
    const echoes = rig.h.events.filter((e) => e.kind === "message" && e.id === sent.ids[0]);
    assert.ok(echoes.every((e) => e.fromSelf === true));
  });

  it("keeps messages of other Matrix users and the bridge's own notices off WhatsApp", async () => {
    const before = rig.wa.sent.length;
    await assert.rejects(
      client.sendMessage(
        { id: CHAT },
        { sender: { mxid: "@bob:hs.test", displayName: "Bob" }, text: "let me in", msgtype: "text" },
      ),
      /relaying is off/,
    );
    await assert.rejects(
      client.sendMessage(
        { id: CHAT },
        { sender: { mxid: "@clawbridge:hs.test", displayName: "bot" }, text: "⚠️ failed", msgtype: "notice" },
      ),
      /relaying is off/,
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rig.wa.sent.length, before);
  });

  it("never writes to a direct chat of another account from this one", async () => {
    const other = rig.client({
      id: "wa-other",
      platform: "whatsapp",
      ownerMxid: "@zed:hs.test",
      remoteId: "15550000077",
      credentials: { auth_key: "none" },
    });
    await assert.rejects(
      other.sendMessage(
        { id: CHAT },
        { sender: { mxid: OWNER, displayName: "Ana" }, text: "x", msgtype: "text" },
      ),
      /belongs to another WhatsApp account \(\+15550000001\)/,
    );
  });

  it("relays another Matrix user's message with a name prefix once relaying is on in the chat", async () => {
    await rig.h.ctx.store.kvSet(`relay:${CHAT}`, "on");
    const sent = await client.sendMessage(
      { id: CHAT },
      { sender: { mxid: "@bob:hs.test", displayName: "Bob" }, text: "hello", msgtype: "text" },
    );
    const got = await rig.wa.waitFor((m) => m.id === sent.ids[0], WAIT, "relayed message");
    assert.equal(got.text, "*Bob*: hello");
    await rig.h.ctx.store.kvSet(`relay:${CHAT}`, "off");
  });

  it("a contact addressed by privacy id (@lid) is the same chat and ghost as by phone number; replies reach them", async () => {
    const id = await rig.wa.sendText(ALICE, ME, "from my lid", { asLid: true });
    await until(() => texts().includes("from my lid"), WAIT, "the @lid message");
    const ev = rig.h.events.find((e): e is RemoteMessage => e.kind === "message" && e.id === id);
    assert.deepEqual([ev?.chat.id, ev?.sender.id], [CHAT, ALICE]);
    const sent = await client.sendMessage(
      { id: CHAT },
      { sender: { mxid: OWNER, displayName: "Ana" }, text: "to your lid", msgtype: "text" },
    );
    assert.equal((await rig.wa.waitFor((m) => m.id === sent.ids[0], WAIT, "the reply")).text, "to your lid");
  });

  it("group messages both ways with sender keys (skmsg): distributed once, then reused", async () => {
    const first = await rig.wa.sendGroupText(GROUP, GUS, ME, "hello group");
    const second = await rig.wa.sendGroupText(GROUP, GUS, ME, "still here");
    const third = await rig.wa.sendGroupText(GROUP, HANA, ME, "me too");
    await until(() => texts().includes("me too") && texts().includes("still here"), WAIT, "group messages");
    const byId = (id: string) =>
      rig.h.events.find((e): e is RemoteMessage => e.kind === "message" && e.id === id);
    assert.deepEqual(
      [byId(first)?.chat.id, byId(first)?.sender.id, byId(first)?.senderInfo?.displayName],
      [GROUP, GUS, "Gus"],
    );
    assert.equal(byId(second)?.text, "still here");
    assert.equal(byId(third)?.sender.id, HANA);

    const one = await client.sendMessage(
      { id: GROUP },
      { sender: { mxid: OWNER, displayName: "Ana" }, text: "hi all", msgtype: "text" },
    );
    const got = await rig.wa.waitFor((m) => m.id === one.ids[0], WAIT, "group message from the bridge");
    assert.deepEqual([got.to, got.type, got.text], [GROUP, "skmsg", "hi all"]);
    const two = await client.sendMessage(
      { id: GROUP },
      { sender: { mxid: OWNER, displayName: "Ana" }, text: "again", msgtype: "text" },
    );
    assert.equal(
      (await rig.wa.waitFor((m) => m.id === two.ids[0], WAIT, "second group message")).text,
      "again",
    );
    const stanza = (id: string) =>
      rig.wa.nodes.find((n) => n.tag === "message" && n.attrs.id === id)?.children ?? [];
    assert.ok(stanza(one.ids[0]).includes("participants"), "the first carries the sender key to each member");
    assert.ok(!stanza(two.ids[0]).includes("participants"), "the second reuses it");
  });

  it("logs and skips a message that cannot be decrypted; the connection and the next message are fine", async () => {
    const bad = rig.wa.sendGarbage(ALICE, ME);
    const good = await rig.wa.sendText(ALICE, ME, "after the garbage");
    await until(() => texts().includes("after the garbage"), WAIT, "the next message");
    assert.equal(client.state(), ConnectionState.Connected);
    assert.ok(!rig.h.events.some((e) => e.kind === "message" && e.id === bad));
    assert.ok(rig.h.events.some((e) => e.kind === "message" && e.id === good));
  });

  it("reconnects after the server drops the socket; a message sent meanwhile arrives once", async () => {
    const states = rig.h.states.length;
    rig.wa.dropConnections();
    const id = await rig.wa.sendText(ALICE, ME, "while you were away");
    await until(
      () => rig.h.states.slice(states).includes(ConnectionState.TransientDisconnect),
      WAIT,
      "TRANSIENT_DISCONNECT",
    );
    await until(() => client.state() === ConnectionState.Connected, WAIT, "reconnected");
    await until(() => texts().includes("while you were away"), WAIT, "offline message");
    await rig.wa.until(() => rig.wa.pendingFor(ME) === 0, WAIT, "ack of the offline message");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rig.h.events.filter((e) => e.kind === "message" && e.id === id).length, 1);
  });

  it("restores the Signal sessions from PostgreSQL after a restart: both directions still work", async () => {
    await client.disconnect();
    const id = await rig.wa.sendText(ALICE, ME, "sent during the restart");
    client = rig.client(login);
    await client.connect();
    await until(() => client.state() === ConnectionState.Connected, WAIT, "CONNECTED again");
    await until(() => texts().includes("sent during the restart"), WAIT, "message queued during the restart");
    assert.equal(rig.h.events.filter((e) => e.kind === "message" && e.id === id).length, 1);
    const sent = await client.sendMessage(
      { id: CHAT },
      { sender: { mxid: OWNER, displayName: "Ana" }, text: "back", msgtype: "text" },
    );
    const got = await rig.wa.waitFor((m) => m.id === sent.ids[0], WAIT, "message after restart");
    assert.equal(got.text, "back");
  });

  it("reports LOGGED_OUT, with how to log in again, when the phone unlinks the device; the keys are gone", async () => {
    rig.wa.logOut(ME);
    await until(() => client.state() === ConnectionState.LoggedOut, WAIT, "LOGGED_OUT");
    const creds = async () =>
      (
        await rig.pool.query("SELECT count(*)::int AS n FROM whatsapp_auth_creds WHERE auth_key = $1", [
          "ana-key",
        ])
      ).rows[0].n as number;
    const deadline = Date.now() + WAIT;
    while ((await creds()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await creds(), 0);
    assert.match(
      rig.reports[rig.reports.length - 1],
      /^LOGGED_OUT — WhatsApp logged this bridge out .*`login whatsapp`/,
    );
    const again = rig.client(login);
    await again.connect();
    assert.equal(again.state(), ConnectionState.LoggedOut);
    assert.match(rig.reports[rig.reports.length - 1], /not linked; write `login whatsapp`/);
  });

  it("linking the same account again removes the old device's keys", async () => {
    await storeLinkedDevice(rig, "old-key", "15550000009", "Re");
    await storeLinkedDevice(rig, "new-key", "15550000009", "Re");
    const base = { id: "wa-re", platform: "whatsapp", ownerMxid: OWNER, remoteId: "15550000009" };
    rig.client({ ...base, credentials: { auth_key: "old-key" } });
    rig.client({ ...base, credentials: { auth_key: "new-key" } });
    const count = async (key: string) =>
      (await rig.pool.query("SELECT count(*)::int AS n FROM whatsapp_auth_creds WHERE auth_key = $1", [key]))
        .rows[0].n as number;
    const deadline = Date.now() + WAIT;
    while ((await count("old-key")) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await count("old-key"), 0);
    assert.equal(await count("new-key"), 1);
  });
});
