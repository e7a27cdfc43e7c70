import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { createConnector } from "../../../../bridges/telegram/TelegramConnector";
import { ConnectionState } from "../../../../src/core/connector";
import { ALICE, GROUP, harness, ofKind, until, useTelegramServer } from "../../../standins/telegram/harness";

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("Telegram updates: webhook mode, photos Telegram does not announce, polling conflicts", () => {
  const tg = useTelegramServer();

  describe("webhook mode", () => {
    async function webhookHarness(kv = new Map<string, string>()) {
      const port = await freePort();
      const secret = randomBytes(16).toString("hex");
      const h = harness(
        tg.server(),
        {
          mode: "webhook",
          webhook_url: `http://127.0.0.1:${port}/tg/hook`,
          webhook_port: port,
          webhook_secret: secret,
        },
        kv,
      );
      return { h, port, secret };
    }

    it("sets the webhook with the secret and gets updates POSTed, acknowledged after emit", async () => {
      const { h, port, secret } = await webhookHarness();
      const client = await tg.start(h);
      const set = await tg.server().waitFor((c) => c.method === "setWebhook");
      assert.equal(set.params.url, `http://127.0.0.1:${port}/tg/hook/${tg.server().botId}`);
      assert.equal(set.params.secret_token, secret);
      assert.equal(Number(set.params.max_connections), 1);
      await until(() => client.state() === ConnectionState.Connected, 5000, "Connected");
      assert.ok(!tg.server().calls.some((c) => c.method === "getUpdates"), "no polling in webhook mode");
      const id = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "via webhook" });
      await until(() => h.events.length === 1, 5000, "the webhook update");
      assert.equal(ofKind(h, "message")[0]!.id, String(id));
      const d = await tg.server().waitForDelivery((x) => x.status === 200);
      assert.equal(h.kv.get(`offset:${tg.server().botId}`), String(d.update_id + 1));
    });

    it("doctor's check reports the webhook and what Telegram last failed to deliver", async () => {
      const { h, port } = await webhookHarness();
      const connector = createConnector();
      await connector.init(h.ctx);
      assert.match((await connector.check!()).message, /webhook not set to .* yet/);
      const client = await tg.start(h);
      await until(() => client.state() === ConnectionState.Connected, 5000, "Connected");
      const ok = await connector.check!();
      assert.ok(ok.ok);
      assert.match(
        ok.message,
        new RegExp(`webhook http://127\\.0\\.0\\.1:${port}/tg/hook/\\d+, 0 updates waiting`),
      );
      await client.disconnect(); // the webhook stays set with nobody listening
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "nobody home" });
      await tg.server().waitForDelivery((d) => d.status === 0);
      const bad = await connector.check!();
      assert.equal(bad.ok, false);
      assert.match(bad.message, /cannot deliver to .*: Connection refused \(1 updates waiting\)/);
    });

    it("sets the webhook back when another program removed or replaced it", async () => {
      const { h } = await webhookHarness();
      h.ctx.config.webhook_check_minutes = 0.002; // ~120 ms
      const client = await tg.start(h);
      await until(() => client.state() === ConnectionState.Connected, 5000, "Connected");
      const server = tg.server();
      const mine = server.webhook?.url;
      const setCalls = () => server.calls.filter((c) => c.method === "setWebhook").length;
      // Another program on the same token.
      const other = await fetch(`${server.url}/bot${server.token}/setWebhook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ url: "http://127.0.0.1:9/elsewhere" }),
      });
      assert.equal(other.status, 200);
      await until(() => setCalls() === 3 && server.webhook?.url === mine, 5000, "the webhook set back");
      await fetch(`${server.url}/bot${server.token}/deleteWebhook`, { method: "POST" });
      await until(() => setCalls() === 4 && server.webhook?.url === mine, 5000, "the webhook set back again");
      server.injectMessage({ chat: GROUP, from: ALICE, text: "still arriving" });
      await until(() => h.events.length === 1, 5000, "the update after the takeover");
      assert.ok(h.log.warnings.some((w) => /another program changed this bot's webhook/.test(w)));
    });

    it("refuses a wrong or missing secret with 401 and processes nothing", async () => {
      const { h, port } = await webhookHarness();
      await tg.start(h);
      await tg.server().waitFor((c) => c.method === "setWebhook");
      const update = {
        update_id: 999_999,
        message: { message_id: 1, date: 1, chat: { id: GROUP, type: "supergroup" }, text: "forged" },
      };
      const attempts: Array<Record<string, string>> = [
        { "content-type": "application/json", "x-telegram-bot-api-secret-token": "wrong" },
        { "content-type": "application/json" },
      ];
      for (const headers of attempts) {
        const res = await fetch(`http://127.0.0.1:${port}/tg/hook/${tg.server().botId}`, {
          method: "POST",
          headers,
          body: JSON.stringify(update),
        });
        assert.equal(res.status, 401);
      }
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "genuine" });
      await until(() => h.events.length === 1, 5000, "the genuine update");
      assert.deepEqual(
        ofKind(h, "message").map((m) => m.text),
        ["genuine"],
      );
      assert.ok(h.log.warnings.some((w) => /wrong secret/.test(w)));
    });

    it("answers 500 while the core cannot queue, so Telegram delivers the update again", async () => {
      const { h } = await webhookHarness();
      let fail = 2;
      h.onEmit = async () => {
        if (fail-- > 0) throw new Error("queue down");
      };
      await tg.start(h);
      tg.server().webhookRetryMs = 50;
      const id = tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "eventually" });
      await until(() => h.events.length === 1, 10_000, "the redelivered update");
      assert.equal(ofKind(h, "message")[0]!.id, String(id));
      // The update is handed on before its answer reaches the stand-in.
      await until(() => tg.server().webhookDeliveries.length === 3, 5000, "the third delivery's answer");
      const statuses = tg.server().webhookDeliveries.map((d) => d.status);
      assert.deepEqual(statuses, [500, 500, 200]);
    });

    it("skips a malformed update (200, logged) and bridges the next", async () => {
      const { h } = await webhookHarness();
      await tg.start(h);
      tg.server().injectUpdate({ message: { message_id: 5, date: 1, text: "no chat" } });
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "after the bad one" });
      await until(() => h.events.length === 1, 5000, "the good update");
      assert.ok(h.log.warnings.some((w) => /malformed update skipped/.test(w)));
      await until(() => tg.server().webhookDeliveries.filter((d) => d.status === 200).length === 2);
    });
  });

  describe("what Telegram does not announce", () => {
    it("looks a speaking user's profile photo up again only after profile_photo_check_minutes", async () => {
      const photoCalls = () => tg.server().calls.filter((c) => c.method === "getUserProfilePhotos").length;
      const often = harness(tg.server(), { profile_photo_check_minutes: 0 });
      await tg.start(often);
      tg.server().addUser({ id: ALICE, first_name: "Alice", photos: [randomBytes(100)] });
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "one" });
      await until(() => often.events.length === 1);
      const first = ofKind(often, "message")[0]!.senderInfo?.avatar;
      assert.match(String(first?.key), /^tgfile:/);
      tg.server().addUser({ id: ALICE, first_name: "Alice", photos: [randomBytes(100)] });
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "two" });
      await until(() => often.events.length === 2);
      const second = ofKind(often, "message")[1]!.senderInfo?.avatar;
      assert.notEqual(second?.key, first?.key, "a new photo has a new key");
      assert.equal(photoCalls(), 2);
    });

    it("checks at most once per interval", async () => {
      const h = harness(tg.server(), { profile_photo_check_minutes: 60 });
      await tg.start(h);
      for (const text of ["a", "b", "c"]) tg.server().injectMessage({ chat: GROUP, from: ALICE, text });
      await until(() => h.events.length === 3);
      assert.equal(tg.server().calls.filter((c) => c.method === "getUserProfilePhotos").length, 1);
    });

    it("maps a new chat photo to a fetchable avatar and a removed one to avatarRemoved", async () => {
      const h = harness(tg.server());
      const client = await tg.start(h);
      const picture = randomBytes(500);
      tg.server().injectChatPhoto({ chat: GROUP, photo: picture, from: ALICE });
      tg.server().injectDeleteChatPhoto({ chat: GROUP, from: ALICE });
      await until(() => h.events.length === 2);
      const [set, removed] = ofKind(h, "chat-info");
      assert.ok(set?.info.avatar);
      assert.deepEqual((await client.fetchMedia(set.info.avatar)).data, picture);
      assert.equal(removed?.avatarRemoved, true);
      assert.equal(removed?.info.avatar, undefined);
    });
  });

  describe("a polled batch", () => {
    /** The update ids getUpdates has handed out so far, in order. */
    const handedOut = (): number[] =>
      tg
        .server()
        .calls.filter((c) => c.method === "getUpdates")
        .flatMap((c) =>
          ((c.result as Array<{ update_id: number }> | undefined) ?? []).map((u) => u.update_id),
        );
    it("is handed to the core in one write with the offset after its last update", async () => {
      const h = harness(tg.server());
      const ids = [1, 2, 3, 4, 5].map((i) =>
        tg.server().injectMessage({ chat: GROUP, from: ALICE, text: `batch ${i}` }),
      );
      await tg.start(h);
      await until(() => h.events.length === 5, 5000, "the five messages");
      assert.deepEqual(
        ofKind(h, "message").map((m) => m.id),
        ids.map(String),
      );
      const got = handedOut();
      assert.equal(got.length, 5, "one getUpdates answer with all five");
      assert.deepEqual(h.writes, [
        { events: 5, cursor: { key: `offset:${tg.server().botId}`, value: String(got[4]! + 1) } },
      ]);
    });

    it("queues nothing of a batch the core refused, and all of it, once and in order, on the next poll", async () => {
      const h = harness(tg.server());
      let refuse = 1;
      h.onEmit = async (ev) => {
        if (ev.kind === "message" && ev.text === "refused 3" && refuse-- > 0)
          throw new Error("database away");
      };
      const ids = [1, 2, 3, 4].map((i) =>
        tg.server().injectMessage({ chat: GROUP, from: ALICE, text: `refused ${i}` }),
      );
      await tg.start(h);
      await until(() => h.events.length >= 4, 10_000, "the batch, taken the second time");
      assert.deepEqual(
        ofKind(h, "message").map((m) => m.id),
        ids.map(String),
      );
      const got = handedOut();
      assert.ok(got.length >= 8, "the batch was handed out twice");
      assert.equal(h.kv.get(`offset:${tg.server().botId}`), String(Math.max(...got) + 1));
      assert.equal(h.events.length, 4, "nothing twice");
      assert.match(h.log.warnings.join("\n"), /emit failed, the updates will be delivered again/);
    });

    it("stores what came before a pressed button before handling it, and the button's offset after", async () => {
      const h = harness(tg.server());
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "before the button" });
      const button = tg.server().injectUpdate({
        callback_query: {
          id: "q1",
          from: { id: ALICE, is_bot: false, first_name: "Alice" },
          chat_instance: "1",
          data: "x",
        },
      });
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "after the button" });
      await tg.start(h);
      await until(() => h.events.length === 2, 5000, "both messages");
      const key = `offset:${tg.server().botId}`;
      assert.deepEqual(h.writes, [
        { events: 1, cursor: { key, value: String(button) } },
        { events: 1, cursor: { key, value: String(button + 2) } },
      ]);
    });
  });

  describe("polling conflicts and a revoked token", () => {
    it("reports 409 Conflict with what to do, and carries on once the other poller is gone", async () => {
      const messages: Array<string | undefined> = [];
      const h = harness(tg.server());
      const report = h.ctx.stateChanged;
      h.ctx.stateChanged = (login, state, message) => {
        messages.push(message);
        report(login, state, message);
      };
      tg.server().failNext("getUpdates", {
        error_code: 409,
        description:
          "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        count: 3,
      });
      const client = await tg.start(h);
      await until(() => h.states.includes(ConnectionState.TransientDisconnect), 5000, "TransientDisconnect");
      assert.ok(
        messages.some((m) => m && /another process is polling.*409 Conflict.*stop the other/.test(m)),
      );
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "after the conflict" });
      await until(() => h.events.length === 1, 10_000, "the message after the conflict");
      assert.equal(client.state(), ConnectionState.Connected);
    });

    it("stops with BadCredentials and advice when the token is revoked (401)", async () => {
      const messages: Array<string | undefined> = [];
      const h = harness(tg.server());
      const report = h.ctx.stateChanged;
      h.ctx.stateChanged = (login, state, message) => {
        messages.push(message);
        report(login, state, message);
      };
      const client = await tg.start(h);
      await until(() => client.state() === ConnectionState.Connected, 5000, "Connected");
      tg.server().failNext("getUpdates", { error_code: 401, description: "Unauthorized", count: 100 });
      tg.server().injectMessage({ chat: GROUP, from: ALICE, text: "wake the poll" });
      await until(() => client.state() === ConnectionState.BadCredentials, 10_000, "BadCredentials");
      assert.match(String(messages.at(-1)), /revoked.*@BotFather.*login telegram/);
      const polls = tg.server().calls.filter((c) => c.method === "getUpdates").length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        tg.server().calls.filter((c) => c.method === "getUpdates").length,
        polls,
        "polling stopped",
      );
    });
  });
});
