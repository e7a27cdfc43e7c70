import assert from "node:assert/strict";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

const ME = "15550000001";
const BOB_WA = "15550000022";
const CARLA = "15559990022";
const DAVE = "15559990033";
const LIMIT = 50; // backfill.initial_limit's default
const WAIT = { timeoutMs: 30_000 };

/**
 * A new login's history sync: after bob links a device by QR code, his phone sends the device the
 * recent history of his chats (the stand-in speaks WhatsApp's HISTORY_SYNC_NOTIFICATION with an
 * inline INITIAL_BOOTSTRAP payload); the portal made for a chat on its next message starts with
 * the newest backfill.initial_limit of them, from their senders' ghosts with their WhatsApp times.
 */
describe("WhatsApp: a new login's history sync backfills the portals made after it (real Synapse)", function () {
  this.timeout(180_000);
  let core: WaRig;
  let bob: MatrixTestClient;
  let bobDm: string;

  const fromBot = (text: string) =>
    bob.waitFor(
      (e) =>
        e.room_id === bobDm &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        String(e.content.body).includes(text),
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

  const t0 = Date.now() - 86_400_000;
  const davePast = Array.from({ length: 5 }, (_, i) => ({
    id: `3EB0DAVE${String(i).padStart(4, "0")}`,
    from: DAVE,
    text: `dave past ${i}`,
    at: t0 + 7_200_000 + i * 60_000,
  }));

  before(async () => {
    core = await startWaRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice M",
      setup: (wa) => {
        wa.contact(CARLA, "Carla");
        wa.contact(DAVE, "Dave");
      },
    });
    bob = await user("bob");
    bobDm = await bob.createDm(BOT);
    await fromBot("management room");
  });
  after(async () => {
    await core?.stop();
  });

  it("brings the synced history of a chat into its new portal, with senders and times, before the live message", async () => {
    await bob.sendText(bobDm, "login whatsapp");
    const image = await bob.waitFor(
      (e) => e.room_id === bobDm && e.sender === BOT && e.content.msgtype === "m.image",
      WAIT,
    );
    core.wa.scan(await qrOf(image), BOB_WA);
    await fromBot(`Logged in to whatsapp as ${BOB_WA}`);
    await core.wa.until(
      () => core.wa.connected().includes(BOB_WA) && core.wa.keysUploaded(BOB_WA),
      30_000,
      "bob's new device to log in",
    );
    const past = Array.from({ length: LIMIT + 3 }, (_, i) => ({
      id: `3EB0PAST${String(i).padStart(4, "0")}`,
      from: i % 4 === 3 ? BOB_WA : CARLA,
      text: `wa past ${String(i).padStart(2, "0")}`,
      at: t0 + i * 60_000,
    }));
    const id = await core.wa.historySync(BOB_WA, [
      { jid: `${CARLA}@s.whatsapp.net`, messages: past },
      { jid: `${DAVE}@s.whatsapp.net`, messages: davePast },
    ]);
    // The device has the history when it acknowledged the stanza and the bridge kept it.
    await core.wa.until(() => core.wa.pendingFor(BOB_WA) === 0, 30_000, `the device to take ${id}`);
    await core.wa.until(
      () => core.bridge.output().includes("WhatsApp history sync stored"),
      30_000,
      "the bridge to keep the history",
    );
    await core.wa.sendText(CARLA, BOB_WA, "carla live");
    const invite = await bob.waitForInvite(
      (i) =>
        i.events.some(
          (e) =>
            e.type === "m.room.canonical_alias" &&
            e.content.alias === waAlias(`${BOB_WA}_${CARLA}@s.whatsapp.net`),
        ),
      30_000,
    );
    const room = await bob.join(invite.roomId);
    await bob.waitFor((e) => e.room_id === room && e.content.body === "carla live", WAIT);
    const got = (await bob.messages(room, { dir: "f", limit: 200 })).filter(
      (e) => e.type === "m.room.message",
    );
    const want = past.slice(-LIMIT);
    assert.deepEqual(
      got.map((e) => e.content.body),
      [...want.map((m) => m.text), "carla live"],
    );
    for (const [i, m] of want.entries()) {
      // WhatsApp's times are whole seconds.
      assert.equal(got[i]!.origin_server_ts, Math.floor(m.at / 1000) * 1000, `origin_server_ts of ${m.text}`);
      assert.equal(got[i]!.sender, waGhost(m.from), `sender of ${m.text}`);
    }
  });

  it("still has the synced history after the bridge was killed, for a chat whose portal comes later", async () => {
    await core.restart("SIGKILL");
    await core.wa.until(() => core.wa.connected().includes(BOB_WA), 60_000, "bob's device to log in again");
    await core.wa.sendText(DAVE, BOB_WA, "dave live");
    const invite = await bob.waitForInvite(
      (i) =>
        i.events.some(
          (e) =>
            e.type === "m.room.canonical_alias" &&
            e.content.alias === waAlias(`${BOB_WA}_${DAVE}@s.whatsapp.net`),
        ),
      60_000,
    );
    const room = await bob.join(invite.roomId);
    await bob.waitFor((e) => e.room_id === room && e.content.body === "dave live", WAIT);
    const got = (await bob.messages(room, { dir: "f", limit: 50 })).filter(
      (e) => e.type === "m.room.message",
    );
    assert.deepEqual(
      got.map((e) => e.content.body),
      [...davePast.map((m) => m.text), "dave live"],
    );
    for (const [i, m] of davePast.entries())
      assert.equal(got[i]!.origin_server_ts, Math.floor(m.at / 1000) * 1000, m.text);
  });
});
