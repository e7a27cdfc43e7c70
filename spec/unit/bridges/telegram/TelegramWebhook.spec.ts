import { strict as assert } from "node:assert";
import { createServer } from "node:net";
import { botWebhookUrl } from "../../../../bridges/telegram/TelegramUpdates";
import { TelegramWebhook, type WebhookRoute } from "../../../../bridges/telegram/TelegramWebhook";
import { QuietLogger } from "../../../standins/telegram/harness";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("Telegram webhook listener", () => {
  it("gives each bot <webhook_url>/<bot id>, with or without a trailing slash, query kept", () => {
    assert.equal(botWebhookUrl("https://bridge.example.org/tg", 42).href, "https://bridge.example.org/tg/42");
    assert.equal(
      botWebhookUrl("https://bridge.example.org/tg/", 42).href,
      "https://bridge.example.org/tg/42",
    );
    assert.equal(botWebhookUrl("https://bridge.example.org", 42).href, "https://bridge.example.org/42");
    assert.equal(
      botWebhookUrl("https://b.example.org:8443/x?k=1", 7).href,
      "https://b.example.org:8443/x/7?k=1",
    );
  });

  it("serves several bots on one port, each with its own secret, in order, and stops with the last", async () => {
    const port = await freePort();
    const hook = new TelegramWebhook({ bindAddress: "127.0.0.1", port, log: new QuietLogger("hook-spec") });
    const got: Record<string, number[]> = { a: [], b: [] };
    const route = (name: "a" | "b", secret: string): WebhookRoute => ({
      path: `/hook/${name}`,
      secret,
      accept: async (u) => {
        await new Promise((r) => setTimeout(r, 5));
        got[name]!.push((u as { update_id: number }).update_id);
        return true;
      },
    });
    const a = route("a", "secret-a");
    const b = route("b", "secret-b");
    assert.equal(await hook.add(a), port);
    assert.equal(await hook.add(b), port);
    const post = (path: string, secret: string | undefined, id: number) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(secret ? { "x-telegram-bot-api-secret-token": secret } : {}),
        },
        body: JSON.stringify({ update_id: id }),
      }).then((r) => r.status);
    assert.deepEqual(
      await Promise.all([
        post("/hook/a", "secret-a", 1),
        post("/hook/a", "secret-a", 2),
        post("/hook/b", "secret-b", 3),
      ]),
      [200, 200, 200],
    );
    assert.equal(await post("/hook/a", "secret-b", 4), 401, "another bot's secret");
    assert.equal(await post("/hook/b", undefined, 5), 401, "no secret");
    assert.equal(await post("/hook/c", "secret-a", 6), 404, "unknown path");
    assert.deepEqual(got, { a: [1, 2], b: [3] });

    await hook.remove(a);
    assert.equal(await post("/hook/a", "secret-a", 7), 404, "a removed route");
    assert.equal(await post("/hook/b", "secret-b", 8), 200, "the other bot still served");
    await hook.remove(b);
    await assert.rejects(post("/hook/b", "secret-b", 9), "the listener stopped with the last route");
  });

  it("answers 500 when the update could not be queued, and 200 to a body that is not JSON", async () => {
    const port = await freePort();
    const log = new QuietLogger("hook-spec");
    const hook = new TelegramWebhook({ bindAddress: "127.0.0.1", port, log });
    const route: WebhookRoute = {
      path: "/h",
      secret: "s",
      accept: async (u) => {
        if ((u as { update_id: number }).update_id === 1) return false;
        throw new Error("store down");
      },
    };
    await hook.add(route);
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${port}/h`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": "s" },
        body,
      }).then((r) => r.status);
    assert.equal(await post(JSON.stringify({ update_id: 1 })), 500);
    assert.equal(await post(JSON.stringify({ update_id: 2 })), 500);
    assert.equal(await post("{not json"), 200);
    assert.ok(log.warnings.some((w) => /not JSON/.test(w)));
    await hook.remove(route);
  });
});
