import assert from "node:assert/strict";
import { createConnector } from "../../../../bridges/discord/DiscordConnector";
import { ConnectionState } from "../../../../src/core/connector";
import type { DiscordServer } from "../../../standins/discord/DiscordServer";
import {
  botToken,
  connectClient,
  harness,
  outbound,
  startWorld,
  until,
  type WorldIds,
} from "../../../standins/discord/harness";

describe("DiscordConnector (login, doctor, webhook recovery)", function () {
  this.timeout(60_000);
  let server: DiscordServer;
  let ids: WorldIds;
  beforeEach(async () => {
    ({ server, ids } = await startWorld());
  });
  afterEach(async () => {
    await server?.close();
  });

  it("checks a token with GET /users/@me before storing the login, and refuses a wrong one", async () => {
    const connector = createConnector();
    await connector.init(harness(server, { bot_token: undefined, owner: undefined }).ctx);
    const login = await connector.loginWithToken!("@a:hs.test", server.token);
    assert.equal(login.remoteId, server.bot.id);
    assert.deepEqual(login.credentials, { bot_token: server.token });
    await assert.rejects(
      connector.loginWithToken!("@a:hs.test", botToken("42424242424242")),
      /the token is not valid/,
    );
    await assert.rejects(connector.loginWithToken!("@a:hs.test", "nonsense"), /not a Discord bot token/);
  });

  it("reports the login for doctor, and the bot id from the token", async () => {
    const connector = createConnector();
    await connector.init(harness(server).ctx);
    assert.deepEqual(await connector.check!(), { ok: true, message: "logged in as clawbridge" });
    assert.equal(connector.configLogins!()[0].remoteId, server.bot.id);
    const wrong = createConnector();
    await wrong.init(harness(server, { bot_token: botToken("42424242424242") }).ctx);
    const res = await wrong.check!();
    assert.equal(res.ok, false);
    assert.match(res.message, /rejected platforms\.discord\.bot_token/);
  });

  it("reports bad credentials when the gateway refuses the token", async () => {
    const h = harness(server, { bot_token: botToken("42424242424242") });
    await assert.rejects(connectClient(h), /rejected platforms\.discord\.bot_token/);
    assert.equal(h.states.at(-1), ConnectionState.BadCredentials);
  });

  it("reports bad credentials when the token is revoked while connected", async () => {
    const h = harness(server);
    const client = await connectClient(h);
    try {
      await until(() => client.state() === ConnectionState.Connected, 20_000, "connected");
      server.revokeToken();
      server.dropGateway({ resumable: false });
      await until(() => client.state() === ConnectionState.BadCredentials, 30_000, "bad credentials");
    } finally {
      await client.disconnect();
    }
  });

  it("reuses the channel's webhook of the same name after its stored token is lost", async () => {
    const h = harness(server);
    const first = await connectClient(h);
    await first.sendMessage({ id: ids.general }, outbound("one"));
    await first.disconnect();
    const h2 = harness(server); // a fresh store: no webhook:<channel> key
    const second = await connectClient(h2);
    try {
      await second.sendMessage({ id: ids.general }, outbound("two"));
      assert.equal(
        server.sent("POST", /^\/channels\/\d+\/webhooks$/).length,
        1,
        "found by name, not created again",
      );
      assert.equal(server.sent("GET", /^\/channels\/\d+\/webhooks$/).length, 2);
      assert.equal(
        server.world.history.get(ids.general)?.at(-1)?.data.webhook_id,
        [...server.world.webhooks.keys()][0],
      );
    } finally {
      await second.disconnect();
    }
  });

  it("makes a new webhook when the stored one was deleted on Discord", async () => {
    const h = harness(server);
    const client = await connectClient(h);
    try {
      await client.sendMessage({ id: ids.general }, outbound("first"));
      server.world.webhooks.clear();
      await assert.rejects(
        client.sendMessage({ id: ids.general }, outbound("second")),
        (err: { status?: number }) => err.status === 503,
      );
      await client.sendMessage({ id: ids.general }, outbound("second"));
      assert.equal(server.sent("POST", /^\/channels\/\d+\/webhooks$/).length, 2);
      assert.equal(server.world.history.get(ids.general)?.at(-1)?.data.content, "second");
    } finally {
      await client.disconnect();
    }
  });
});
