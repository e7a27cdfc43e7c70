import assert from "node:assert/strict";
import { messageIdFor } from "../../../../bridges/whatsapp/acks";
import type { WhatsAppClient } from "../../../../bridges/whatsapp/WhatsAppClient";
import type { WhatsAppConnector } from "../../../../bridges/whatsapp/WhatsAppConnector";
import {
  ConnectionState,
  type LoginPrompt,
  type LoginRef,
  type OutboundMessage,
} from "../../../../src/core/connector";
import { BridgeError } from "../../../../src/core/errors";
import { until } from "../../../harness/connectorContext";
import { startWireRig, storeLinkedDevice, type WireRig } from "./wireHarness";

const ME = "15550000001";
const ALICE = "15551234567";
const OWNER = "@ana:hs.test";
const CHAT = `${ME}_${ALICE}@s.whatsapp.net`;
const WAIT = 20_000;
const TOKEN = "wa-gateway-token-3141592653";

const text = (t: string, eventId?: string, again = false): OutboundMessage => ({
  sender: { mxid: OWNER, displayName: "Ana" },
  text: t,
  msgtype: "text",
  ...(eventId ? { eventId, again } : {}),
});

describe("WhatsApp at the platform edge: server acks, same-id resends, refused upgrades (wire-level stand-in)", function () {
  this.timeout(120_000);
  let rig: WireRig;
  let client: WhatsAppClient;
  const login: LoginRef = {
    id: "wa-edge",
    platform: "whatsapp",
    ownerMxid: OWNER,
    remoteId: ME,
    credentials: { auth_key: "edge-key" },
  };
  const received = (t: string) => rig.wa.sent.filter((m) => m.to === ALICE && m.text === t);

  before(async () => {
    // An access token in the URL, as a gateway in front of WhatsApp Web would want it.
    rig = await startWireRig({ ack_timeout_ms: 1500, send_attempts: 3 });
    rig.wa.contact(ALICE, "Alice");
    await storeLinkedDevice(rig, "edge-key", ME, "Ana");
    client = rig.client(login);
    await client.connect();
    await until(() => client.state() === ConnectionState.Connected, WAIT, "CONNECTED");
  });
  after(async () => {
    await rig?.stop();
  });

  it("a send resolves once the server acknowledged it; a stanza lost without an ack goes again with the same id, and arrives once", async () => {
    const eventId = "$lost-once:hs.test";
    rig.wa.dropNextMessages(1);
    const sent = await client.sendMessage({ id: CHAT }, text("lost once", eventId));
    assert.equal(sent.ids[0], messageIdFor(eventId));
    assert.deepEqual(rig.wa.dropped, [sent.ids[0]], "the first stanza was lost");
    assert.equal(received("lost once").length, 1);
    assert.equal(received("lost once")[0].id, sent.ids[0]);
    assert.ok(rig.h.log.warnings.some((w) => /did not acknowledge a message, sending it again/.test(w)));
  });

  it("a message sent again after a crash (same Matrix event) carries the same id: the recipient gets it once", async () => {
    const eventId = "$resent-after-crash:hs.test";
    const first = await client.sendMessage({ id: CHAT }, text("only once please", eventId));
    const again = await client.sendMessage({ id: CHAT }, text("only once please", eventId, true));
    assert.deepEqual(again.ids, first.ids);
    await rig.wa.until(() => rig.wa.duplicates.includes(first.ids[0]), WAIT, "the second copy");
    assert.equal(received("only once please").length, 1);
  });

  it("an edit and a deletion lost without an ack are sent again until acknowledged", async () => {
    const sent = await client.sendMessage({ id: CHAT }, text("to be edited", "$edit-target:hs.test"));
    const dropped = rig.wa.dropped.length;
    rig.wa.dropNextMessages(1);
    await client.editMessage({ id: CHAT }, sent.ids[0], text("edited text"));
    assert.equal(rig.wa.dropped.length, dropped + 1);
    const edits = rig.wa.sent.filter((m) => JSON.stringify(m.message).includes("edited text"));
    assert.equal(edits.length, 1, "the edit arrived once");
    assert.equal(edits[0].id, rig.wa.dropped.at(-1), "with the id of the lost stanza");
    rig.wa.dropNextMessages(1);
    await client.deleteMessage({ id: CHAT }, sent.ids[0]);
    assert.equal(rig.wa.dropped.length, dropped + 2);
    const revokes = rig.wa.sent.filter((m) => m.id === rig.wa.dropped.at(-1));
    assert.equal(revokes.length, 1, "the deletion arrived once");
    assert.ok(revokes[0].message.protocolMessage, "as a protocol message");
  });

  it("a message the server never acknowledges fails with a retryable error that says so; the core's retry (same id) delivers it once", async () => {
    const eventId = "$never-acked:hs.test";
    rig.wa.dropNextMessages(3);
    const err = await client.sendMessage({ id: CHAT }, text("never acked", eventId)).then(
      () => assert.fail("resolved without an ack"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BridgeError && err.retryable);
    assert.match(err.userMessage, /WhatsApp did not confirm the message within 2 s \(3 tries\)/);
    assert.equal(received("never acked").length, 0);
    const sent = await client.sendMessage({ id: CHAT }, text("never acked", eventId, true));
    assert.equal(sent.ids[0], messageIdFor(eventId));
    assert.equal(received("never acked").length, 1);
  });

  it("does not try to build link previews (no fetch of the link, no warning for each message with one)", async () => {
    // baileys previews only https links with a domain; `.invalid` never resolves, should it try.
    const before = rig.h.log.warnings.length;
    const link = "see https://example.invalid/page";
    const sent = await client.sendMessage({ id: CHAT }, text(link, "$with-link:hs.test"));
    const got = await rig.wa.waitFor((m) => m.id === sent.ids[0], WAIT, "the message with a link");
    assert.equal(got.text, link);
    assert.equal(got.message.extendedTextMessage?.matchedText ?? undefined, undefined);
    assert.deepEqual(rig.h.log.warnings.slice(before), []);
  });

  describe("an upgrade answered with HTTP 401", () => {
    let refusedRig: WireRig;
    before(async () => {
      refusedRig = await startWireRig({ connect_timeout_ms: 60_000, login_timeout_seconds: 120 });
    });
    after(async () => {
      await refusedRig?.stop();
    });

    it("a linked device reports BAD_CREDENTIALS within seconds, naming the status and the config key, without the token", async () => {
      const wa = refusedRig.wa;
      wa.refuseUpgrade = 401;
      // The URL of this rig's stand-in with a token: the client is made from a connector set up with it.
      const connector = refusedRig.connector as WhatsAppConnector;
      await connector.init({
        ...refusedRig.h.ctx,
        config: { ...refusedRig.h.ctx.config, websocket_url: `${wa.url}?access_token=${TOKEN}` },
      });
      await storeLinkedDevice(refusedRig, "refused-key", ME, "Ana");
      const refused = refusedRig.client({
        ...login,
        id: "wa-refused",
        credentials: { auth_key: "refused-key" },
      });
      await refused.connect();
      // connect_timeout_ms is 60 s here: only the refused upgrade itself can end the attempt.
      await until(() => refused.state() === ConnectionState.BadCredentials, 5_000, "BAD_CREDENTIALS");
      assert.ok(wa.refusals.length >= 1);
      const report = refusedRig.reports.find((r) => r.startsWith("BAD_CREDENTIALS"));
      assert.ok(report);
      assert.match(report, /HTTP 401 on the websocket upgrade/);
      assert.match(report, /platforms\.whatsapp\.websocket_url/);
      assert.ok(!report.includes(TOKEN), "the token is not shown");
      await refused.disconnect();
    });

    it("`login whatsapp` stops within seconds with the status and the key, instead of waiting for a phone", async () => {
      const connector = refusedRig.connector as WhatsAppConnector;
      const said: string[] = [];
      const prompt: LoginPrompt = {
        say: async (t) => {
          said.push(t);
        },
        image: async () => "qr",
        retract: async () => undefined,
      };
      const t0 = Date.now();
      await assert.rejects(
        connector.loginInteractive("@new:hs.test", [], prompt),
        /HTTP 401 on the websocket upgrade.*Check platforms\.whatsapp\.websocket_url\. The login stopped/,
      );
      assert.ok(Date.now() - t0 < 5_000, "no 180 s wait");
      assert.deepEqual(said, [], "no QR code was offered");
    });

    it("the doctor check opens the websocket: a refused upgrade fails with the fix, an accepted one passes; the token is never shown", async () => {
      const connector = refusedRig.connector as WhatsAppConnector;
      const bad = await connector.check();
      assert.equal(bad.ok, false);
      assert.match(
        bad.message,
        /HTTP 401 on the websocket upgrade at ws:\/\/127\.0\.0\.1:\d+\/ws\/chat\?access_token=\*\*\*;/,
      );
      assert.match(bad.message, /Check platforms\.whatsapp\.websocket_url/);
      assert.ok(!bad.message.includes(TOKEN));
      refusedRig.wa.refuseUpgrade = undefined;
      const good = await connector.check();
      assert.equal(good.ok, true, good.message);
      assert.match(good.message, /the websocket at .*access_token=\*\*\* opens/);
      assert.ok(!good.message.includes(TOKEN));
    });
  });
});
