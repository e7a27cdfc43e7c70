import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:net";
import { createConnector } from "../../../../bridges/slack/SlackConnector";
import { memoryContext } from "../../../harness/connectorContext";
import { connectClients, harness, ofKind, until, workspaceConfig } from "../../../standins/slack/harness";
import { SlackServer } from "../../../standins/slack/SlackServer";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("SlackClient over the Events API (signed HTTP)", function () {
  this.timeout(60_000);
  let server: SlackServer;
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    server = await SlackServer.start();
  });
  afterEach(async () => {
    await stop?.();
    stop = undefined;
    await server.close();
  });

  it("answers 500 when the core cannot take an event, and bridges Slack's retry (X-Slack-Retry-Num) once", async () => {
    const w = server.addWorkspace({ team: "T0HTTP", mode: "http" });
    w.addUser({ id: "U0ANN", name: "ann" });
    w.addChannel({ id: "C0H", name: "h" });
    const port = await freePort();
    w.eventsUrl = `http://127.0.0.1:${port}/slack/events`;
    const h = harness(server, []);
    h.ctx.config.workspaces = [workspaceConfig(w, port)];
    let failures = 1;
    h.onEmit = async () => {
      if (failures-- > 0) throw new Error("queue unavailable");
    };
    const { connector } = await connectClients(h);
    stop = () => connector.stop();
    server.injectMessage("T0HTTP", { channel: "C0H", user: "U0ANN", text: "via http" });
    const d = server.deliveries.at(-1)!;
    await server.until(() => d.acked, 15_000, "delivered");
    assert.deepEqual(d.statuses, [500, 200]);
    assert.deepEqual(
      ofKind(h, "message").map((m) => m.text),
      ["via http"],
    );
    // Slack retries once more (its answer got lost, say): answered 200, not bridged again.
    server.retry(d.eventId);
    await server.until(() => d.statuses.length === 3, 15_000, "third attempt");
    assert.equal(d.statuses[2], 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(ofKind(h, "message").length, 1);
  });

  it("refuses a forged signature and a stale timestamp with 401, processing nothing", async () => {
    const w = server.addWorkspace({ team: "T0HTTP", mode: "http" });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/slack/events`;
    const h = harness(server, []);
    h.ctx.config.workspaces = [workspaceConfig(w, port)];
    const { connector } = await connectClients(h);
    stop = () => connector.stop();
    const body = JSON.stringify({
      type: "event_callback",
      team_id: "T0HTTP",
      event_id: "EvX",
      event: { type: "message", channel: "C0H", user: "U0ANN", text: "forged", ts: "1.000001" },
    });
    assert.equal(await server.postSigned(url, body, "wrong"), 401);
    assert.equal(
      await server.postSigned(url, body, w.signingSecret, {
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      }),
      401,
    );
    assert.equal(await server.postSigned(url, body, w.signingSecret), 200);
    await until(() => h.events.length === 1, 15_000, "the genuine one");
  });
});

describe("login slack <bot token>:<app token>", () => {
  it("checks the tokens with auth.test and returns the workspace as the login's remote id", async () => {
    const server = await SlackServer.start();
    try {
      const w = server.addWorkspace({ team: "T0LOG" });
      const h = memoryContext("slack", { api_url: server.apiUrl });
      const connector = createConnector();
      await connector.init(h.ctx);
      const login = await connector.loginWithToken!("@me:hs.test", `${w.botToken}:${w.appToken}`);
      assert.equal(login.remoteId, "T0LOG");
      assert.deepEqual(login.credentials, { bot_token: w.botToken, app_token: w.appToken });
      await assert.rejects(connector.loginWithToken!("@me:hs.test", w.botToken), /xoxb-…:xapp-…/);
      await assert.rejects(
        connector.loginWithToken!("@me:hs.test", `xoxb-1-bad:${w.appToken}`),
        /invalid_auth/,
      );
    } finally {
      await server.close();
    }
  });
});

describe("SlackClient when Slack is unreachable at connect", function () {
  this.timeout(60_000);
  it("reports a transient disconnect and connects by itself once Slack answers", async () => {
    const server = await SlackServer.start();
    const w = server.addWorkspace({ team: "T0RETRY" });
    const h = memoryContext("slack", {
      owner: "@me:hs.test",
      api_url: server.apiUrl,
      workspaces: [workspaceConfig(w)],
    });
    const connector = createConnector();
    await connector.init(h.ctx);
    try {
      server.rateLimit("auth.test", { retryAfter: 1 });
      const client = connector.clientFor({
        id: "login-1",
        platform: "slack",
        ownerMxid: "@me:hs.test",
        remoteId: "T0RETRY",
        credentials: { bot_token: w.botToken, app_token: w.appToken },
      });
      await assert.rejects(client.connect(), (err: unknown) => (err as { status?: number }).status === 429);
      assert.equal(client.state(), "TRANSIENT_DISCONNECT");
      await server.until(() => server.connected("T0RETRY"), 15_000, "a socket after the retry");
      await until(() => client.state() === "CONNECTED", 15_000, "connected");
    } finally {
      await connector.stop();
      await server.close();
    }
  });
});

describe("SlackClient with a refused app-level token", function () {
  this.timeout(60_000);
  it("reports bad credentials instead of retrying", async () => {
    const server = await SlackServer.start();
    const w = server.addWorkspace({ team: "T0BADAPP" });
    const h = memoryContext("slack", { api_url: server.apiUrl });
    const connector = createConnector();
    await connector.init(h.ctx);
    try {
      const client = connector.clientFor({
        id: "login-1",
        platform: "slack",
        ownerMxid: "@me:hs.test",
        remoteId: "T0BADAPP",
        credentials: { bot_token: w.botToken, app_token: "xapp-1-wrong" },
      });
      await assert.rejects(client.connect());
      assert.equal(client.state(), "BAD_CREDENTIALS");
      const opens = server.calls.filter((c) => c.method === "apps.connections.open").length;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(
        server.calls.filter((c) => c.method === "apps.connections.open").length,
        opens,
        "no retries",
      );
    } finally {
      await connector.stop();
      await server.close();
    }
  });
});

describe("Events API URL verification", function () {
  this.timeout(30_000);
  it("answers Slack's url_verification challenge on /slack/events", async () => {
    const server = await SlackServer.start();
    const w = server.addWorkspace({ team: "T0VER", mode: "http" });
    const port = await freePort();
    const h = harness(server, []);
    h.ctx.config.workspaces = [workspaceConfig(w, port)];
    const { connector } = await connectClients(h);
    try {
      const body = JSON.stringify({ type: "url_verification", token: "x", challenge: "ch4llenge" });
      const ts = Math.floor(Date.now() / 1000);
      const sig = `v0=${createHmac("sha256", w.signingSecret).update(`v0:${ts}:${body}`).digest("hex")}`;
      const res = await fetch(`http://127.0.0.1:${port}/slack/events`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-slack-request-timestamp": String(ts),
          "x-slack-signature": sig,
        },
      });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /ch4llenge/);
    } finally {
      await connector.stop();
      await server.close();
    }
  });
});
