import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { TelegramServer } from "../../standins/telegram/TelegramServer";
import { type CoreRig, portalRoomFor, user } from "../core/coreRig";
import { BRIDGE_BOT, isText, startTelegramRig, type TelegramRig, tgGhost } from "./telegramRig";

const GROUP = -1002468013;
const VERA = 601;
const WIM = 602;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("Telegram bridge in webhook mode, with its own relay template and moderation off (real Synapse)", function () {
  this.timeout(120_000);
  let rig: TelegramRig;
  let tg: TelegramServer;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  let hookUrl: string;
  let secret: string;

  before(async () => {
    const port = await freePort();
    secret = randomBytes(24).toString("base64url");
    rig = await startTelegramRig(
      "clawbridge_hook_bot",
      {
        mode: "webhook",
        webhook_url: `http://127.0.0.1:${port}/telegram/webhook`,
        webhook_port: port,
        webhook_secret: secret,
        relay_template: "<b>{displayname}</b> ({mxid}): {message}",
      },
      (t) => {
        t.webhookRetryMs = 100;
        t.addChat({ id: GROUP, type: "supergroup", title: "Webhook group" });
        t.addUser({ id: VERA, first_name: "Vera" });
        t.addUser({ id: WIM, first_name: "Wim" });
        hookUrl = `http://127.0.0.1:${port}/telegram/webhook/${t.botId}`;
      },
    );
    ({ tg, core, alice } = rig);
  });
  after(async () => {
    await rig?.stop();
  });

  it("sets the webhook with its secret and bridges updates Telegram POSTs to it", async () => {
    const set = await tg.waitFor((c) => c.method === "setWebhook");
    assert.equal(set.params.url, hookUrl);
    assert.equal(set.params.secret_token, secret);
    assert.deepEqual(tg.webhook?.url, hookUrl);
    tg.injectMessage({ chat: GROUP, from: VERA, text: "hello through the webhook" });
    room = await portalRoomFor(alice, String(GROUP), "telegram");
    const m = await alice.waitFor((e) => e.room_id === room && isText("hello through the webhook")(e));
    assert.equal(m.sender, tgGhost(VERA));
    const d = await tg.waitForDelivery((x) => x.status === 200);
    assert.ok(d.update_id > 0);
    assert.ok(!tg.calls.some((c) => c.method === "getUpdates"), "nothing polls in webhook mode");
    assert.ok(!core.bridge.output().includes(secret), "the webhook secret is not logged");
  });

  it("refuses a POST with a wrong secret (401) and bridges nothing of it", async () => {
    const forged = {
      update_id: 900_001,
      message: {
        message_id: 777,
        date: Math.floor(Date.now() / 1000),
        chat: { id: GROUP, type: "supergroup", title: "Webhook group" },
        from: { id: WIM, is_bot: false, first_name: "Wim" },
        text: "forged update",
      },
    };
    for (const token of ["wrong", undefined]) {
      const res = await fetch(hookUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { "x-telegram-bot-api-secret-token": token } : {}),
        },
        body: JSON.stringify(forged),
      });
      assert.equal(res.status, 401);
    }
    tg.injectMessage({ chat: GROUP, from: WIM, text: "genuine update" });
    await alice.waitFor((e) => e.room_id === room && isText("genuine update")(e));
    assert.ok(!alice.eventsIn(room).some((e) => e.content.body === "forged update"));
  });

  it("relays Matrix users with the configured template", async () => {
    const bob = await user("bob");
    await alice.invite(room, bob.userId);
    await bob.join(room);
    await bob.sendText(room, "templated hello");
    const call = await tg.waitFor(
      (c) => c.method === "sendMessage" && String(c.params.text).includes("templated hello"),
    );
    assert.equal(call.params.text, "<b>bob</b> (@bob:localhost): templated hello");
  });

  it("says in the room that a kick stays in Matrix while moderation is off", async () => {
    await alice.kick(room, tgGhost(WIM));
    const notice = await alice.waitFor(
      (e) => e.room_id === room && e.sender === BRIDGE_BOT && e.content.msgtype === "m.notice",
    );
    assert.match(String(notice.content.body), /^Could not kick them on telegram: moderation is off/);
    assert.ok(!tg.calls.some((c) => c.method === "banChatMember"));
  });

  it("gets every update exactly once when the bridge is SIGKILLed mid-burst (Telegram redelivers)", async () => {
    const texts = Array.from({ length: 100 }, (_, i) => `hook-kill ${String(i).padStart(3, "0")}`);
    const seen = tg.webhookDeliveries.length;
    for (const text of texts) tg.injectMessage({ chat: GROUP, from: VERA, text });
    // Killed while Telegram is still delivering the burst: the rest must be delivered again.
    const start = Date.now();
    while (tg.webhookDeliveries.length < seen + 3 && Date.now() - start < 15_000)
      await new Promise((r) => setTimeout(r, 1));
    await core.restart("SIGKILL");
    await alice.waitFor((e) => e.room_id === room && isText("hook-kill 099")(e), { timeoutMs: 60_000 });
    tg.injectMessage({ chat: GROUP, from: VERA, text: "hook barrier" });
    await alice.waitFor((e) => e.room_id === room && isText("hook barrier")(e));
    const got = alice
      .eventsIn(room)
      .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith("hook-kill"))
      .map((e) => String(e.content.body));
    assert.deepEqual(got, texts);
    const burst = tg.webhookDeliveries.slice(seen);
    const firstFailure = burst.findIndex((d) => d.status !== 200);
    assert.ok(firstFailure >= 0, "some deliveries failed while the bridge was down and were retried");
    assert.ok(firstFailure < texts.length, `the kill came mid-burst (after ${firstFailure} deliveries)`);
  });
});
