import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Health, homeserverCheck, Probe } from "../../../src/core/Health";

describe("Health", () => {
  let clock = Date.parse("2026-01-01T00:00:00Z");
  const now = () => new Date(clock);

  it("answers 'starting' (not ok) before ready, 'ok' when every dependency is up", () => {
    const health = new Health(now);
    health.dependency("database");
    health.dependency("homeserver");
    const starting = health.report("starting", { queue: 0 });
    assert.equal(starting.ok, false);
    assert.equal(starting.detail.status, undefined, "the listener's own 'starting' shows");
    const ready = health.report("ready", { queue: 3 });
    assert.deepEqual(ready, {
      ok: true,
      detail: { status: "ok", database: { state: "up" }, homeserver: { state: "up" }, queue: 3 },
    });
  });

  it("is degraded while a dependency is down, naming it, since when and why; ok again after", () => {
    const health = new Health(now);
    const db = health.dependency("database");
    health.dependency("homeserver");
    const changes: string[] = [];
    health.onChange((name, s) => changes.push(`${name}:${s.state}`));
    db.down("connect ECONNREFUSED 127.0.0.1:5432");
    const since = now().toISOString();
    clock += 5_000;
    db.down("the database system is starting up");
    const degraded = health.report("ready", { queue: 12 });
    assert.equal(degraded.ok, false);
    assert.deepEqual(degraded.detail, {
      status: "degraded",
      database: { state: "down", since, reason: "the database system is starting up" },
      homeserver: { state: "up" },
      queue: 12,
    });
    db.up();
    db.up();
    assert.deepEqual(health.report("ready").detail.status, "ok");
    assert.deepEqual(changes, ["database:down", "database:up"], "repeats and new reasons are no changes");
  });

  it("says 'stopping' while the bridge stops", () => {
    const health = new Health(now);
    health.dependency("database");
    const r = health.report("stopping");
    assert.equal(r.ok, false);
    assert.equal(r.detail.status, "stopping");
  });

  it("keeps going when a listener throws", () => {
    const health = new Health(now);
    const hs = health.dependency("homeserver");
    health.onChange(() => {
      throw new Error("listener bug");
    });
    hs.down("cannot reach it");
    assert.equal(health.status("homeserver")?.state, "down");
  });
});

describe("Probe and homeserverCheck (a real HTTP server)", () => {
  let server: http.Server;
  let status = 200;
  let hang = false;
  let url: string;

  before(async () => {
    server = http.createServer((req, res) => {
      if (hang) return; // never answers
      assert.equal(req.url, "/_matrix/client/versions");
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end('{"versions":["v1.11"]}');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  async function probeOnce(target: string, timeoutMs = 500) {
    const health = new Health();
    const probe = new Probe({
      reporter: health.dependency("homeserver"),
      check: homeserverCheck(target),
      intervalMs: 60_000,
      timeoutMs,
    });
    await probe.checkNow();
    probe.stop();
    return health.status("homeserver");
  }

  it("reports up on an answer below 500", async () => {
    status = 200;
    assert.equal((await probeOnce(url))?.state, "up");
    status = 404;
    assert.equal((await probeOnce(url))?.state, "up");
  });

  it("reports down on a 5xx, a refused connection and a timeout, with the reason", async () => {
    status = 502;
    const bad = await probeOnce(url);
    assert.equal(bad?.state, "down");
    assert.match(bad?.reason ?? "", /HTTP 502/);

    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await probeOnce(deadUrl);
    assert.equal(refused?.state, "down");
    assert.match(refused?.reason ?? "", /ECONNREFUSED/);

    hang = true;
    const slow = await probeOnce(url, 200);
    hang = false;
    assert.equal(slow?.state, "down");
    assert.match(slow?.reason ?? "", /no answer within 200 ms/);
  });
});
