import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { DeliveryQueue } from "../../../src/core/DeliveryQueue";
import { Metrics } from "../../../src/http/Metrics";
import { type Database, openDatabase } from "../../../src/store/Database";
import { RestartPolicy } from "../../../src/store/DatabaseSupervisor";
import { PgStore } from "../../../src/store/PgStore";
import { isDatabaseUnavailable } from "../../../src/store/unavailable";

/** The postmaster's pid, from the lock file PostgreSQL keeps in its data directory. */
function postmasterPid(dataDir: string): number {
  const pid = Number.parseInt(readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8"), 10);
  assert.ok(pid > 0);
  return pid;
}

function killPostmaster(dataDir: string): number {
  const pid = postmasterPid(dataDir);
  process.kill(pid, "SIGKILL");
  return pid;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("embedded PostgreSQL under supervision (real PostgreSQL, kill -9 of the postmaster)", function () {
  this.timeout(120_000);
  let dir: string;
  let db: Database;
  let store: PgStore;
  const states: string[] = [];
  const exits: number[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-supervise-"));
    db = await openDatabase({
      dataDir: dir,
      embeddedPort: 0,
      maxConnections: 4,
      supervise: {
        reporter: {
          up: () => states.at(-1) !== "up" && states.push("up"),
          down: (reason) => states.push(`down: ${reason}`),
        },
        exit: (code) => exits.push(code),
        policy: new RestartPolicy({
          maxAttempts: 4,
          initialDelayMs: 100,
          maxDelayMs: 400,
          stableAfterMs: 60_000,
        }),
        intervalMs: 500,
        downIntervalMs: 200,
      },
    });
    store = await PgStore.open(db);
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("checks on one kept connection: no new connection (and server process) for each check", async () => {
    const probes = async () =>
      (
        await store.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND query = 'SELECT 1' AND pid <> pg_backend_pid()",
        )
      ).map((r) => r.pid);
    await until("a first check", async () => (await probes()).length === 1);
    const [first] = await probes();
    await new Promise((r) => setTimeout(r, 1_600)); // three more checks at 500 ms
    assert.deepEqual(await probes(), [first]);
    assert.equal(states.at(-1), "up");
  });

  it("restarts a killed postmaster on the same port (picked at the first start) and the pool works again", async () => {
    const port = db.embeddedPort;
    assert.ok(port && port > 0);
    await store.kvSet("test", "before", "kill");
    const first = killPostmaster(dir);
    await until("the supervisor to notice", () => states.some((s) => s.startsWith("down")));
    assert.ok(
      states.some((s) => /down: embedded PostgreSQL exited \(killed by SIGKILL\)/.test(s)),
      states.join("\n"),
    );
    await until("the database to be up again", () => states.at(-1) === "up");
    const second = postmasterPid(dir);
    assert.notEqual(second, first);
    assert.ok(isAlive(second));
    assert.equal(db.embeddedPort, port);
    assert.match(db.url, new RegExp(`@127\\.0\\.0\\.1:${port}/`));
    // The pool reconnects through the same URL; committed data survived the crash.
    assert.equal(await store.kvGet("test", "before"), "kill");
    assert.deepEqual(exits, []);
  });

  it("the queue retries a delivery that failed on the outage, and completes one whose delete failed; each delivered once", async () => {
    const metrics = new Metrics();
    const calls = new Map<string, number>();
    let killed = false;
    const delivered: string[] = ["kill after delivery"];
    const queue = new DeliveryQueue({
      store,
      metrics,
      handlers: {
        remote: async (item) => {
          const text = String((item.payload as { text: string }).text);
          calls.set(text, (calls.get(text) ?? 0) + 1);
          if (text === "kill after delivery" && !killed) {
            // Delivered; the postmaster dies before the queue can delete the row.
            killed = true;
            const pid = killPostmaster(dir);
            await until("the postmaster to be gone", () => !isAlive(pid));
            return;
          }
          // Every later delivery needs the database (as the real handlers do).
          await store.kvGet("test", "before");
          delivered.push(text);
        },
        matrix: async () => assert.fail("no matrix items"),
      },
      onGiveUp: async (item, err) => assert.fail(`gave up on ${JSON.stringify(item.payload)}: ${err}`),
      initialBackoffMs: 50,
      maxBackoffMs: 30_000,
      maxAttempts: 3,
      giveUpAfterMs: 60_000,
    });
    await queue.start();
    const texts = ["kill after delivery", "next 1", "next 2", "next 3"];
    await queue.push(
      texts.map((text) => ({ queueKey: "remote:test:chat", kind: "remote", payload: { text } })),
    );
    await until("the queue to drain", () => queue.size === 0, 60_000);
    await until("the rows to be deleted", async () => (await store.pendingQueue()).length === 0, 30_000);
    await queue.stop(1000);
    assert.equal(calls.get("kill after delivery"), 1, "the delivered item is not delivered again");
    assert.ok((calls.get("next 1") ?? 0) > 1, "the next item failed on the outage and was retried");
    assert.deepEqual(delivered, texts, "each delivered once, in order");
    assert.deepEqual(exits, []);
  });

  it("recognises the outage's errors as the database's, and a platform's refused connection as not", async () => {
    const port = db.embeddedPort!;
    const refusedDb = Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port,
    });
    assert.ok(isDatabaseUnavailable(refusedDb));
    // The bridge's own connections go through the server's unix socket (no client address).
    const r = await db.pool.query<{ addr: string | null }>(
      "SELECT client_addr::text AS addr FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    );
    assert.equal(r.rows[0]!.addr, null);
    const socketDir = new URL(db.url).searchParams.get("host")!;
    const gone = Object.assign(new Error("connect ENOENT"), {
      code: "ENOENT",
      address: `${socketDir}/.s.PGSQL.${port}`,
    });
    assert.ok(isDatabaseUnavailable(gone));
    const refusedPlatform = new TypeError("fetch failed", {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
        code: "ECONNREFUSED",
        address: "127.0.0.1",
        port: 1,
      }),
    });
    assert.equal(isDatabaseUnavailable(refusedPlatform), false);
    assert.equal(
      isDatabaseUnavailable(new Error('duplicate key value violates unique constraint "x"')),
      false,
    );
  });

  it("when the postmaster cannot be restarted (its port taken), says why and exits non-zero", async () => {
    await until("the database to be up", () => states.at(-1) === "up");
    const port = db.embeddedPort!;
    const pid = killPostmaster(dir);
    await until("the postmaster to be gone", () => !isAlive(pid));
    // Something else takes the port before the restart.
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      await until("the exit", () => exits.length > 0, 60_000);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    assert.deepEqual(exits, [1]);
    assert.match(
      states.at(-1) ?? "",
      /^down: embedded PostgreSQL could not be restarted after 4 attempts: .*taken/,
    );
  });
});

describe("external PostgreSQL (database.url) under supervision: reported and waited for, never restarted", function () {
  this.timeout(120_000);
  let dir: string;
  let server: Database;
  let db: Database;
  let store: PgStore;
  const states: string[] = [];
  const exits: number[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-external-"));
    // The "external" server: an embedded cluster of its own, which the database under test only connects to.
    server = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 1 });
    await server.pool.end();
    db = await openDatabase({
      url: server.url,
      dataDir: path.join(dir, "unused"),
      embeddedPort: 0,
      maxConnections: 4,
      supervise: {
        reporter: {
          up: () => states.at(-1) !== "up" && states.push("up"),
          down: (reason) => states.at(-1)?.startsWith("down") || states.push(`down: ${reason}`),
        },
        exit: (code) => exits.push(code),
        intervalMs: 500,
        downIntervalMs: 200,
      },
    });
    store = await PgStore.open(db);
  });
  after(async () => {
    await store?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("reports the outage, keeps deliveries waiting, and resumes when the server is back on its own", async () => {
    const port = server.embeddedPort!;
    const delivered: string[] = [];
    let attemptsDuring = 0;
    let killed!: () => void;
    const whenKilled = new Promise<void>((r) => {
      killed = r;
    });
    const queue = new DeliveryQueue({
      store,
      metrics: new Metrics(),
      handlers: {
        remote: async (item) => {
          const text = String((item.payload as { text: string }).text);
          if (text === "during" && attemptsDuring++ === 0) await whenKilled;
          await store.kvGet("test", "x"); // needs the database
          delivered.push(text);
        },
        matrix: async () => assert.fail("no matrix items"),
      },
      onGiveUp: async (item, err) => assert.fail(`gave up on ${JSON.stringify(item.payload)}: ${err}`),
      initialBackoffMs: 50,
      maxBackoffMs: 30_000,
      maxAttempts: 3,
      giveUpAfterMs: 60_000,
    });
    await queue.start();
    await queue.push([{ queueKey: "remote:test:ext", kind: "remote", payload: { text: "before" } }]);
    await until("the first delivery", () => delivered.length === 1, 10_000);
    // Under way when the server dies.
    await queue.push([{ queueKey: "remote:test:ext", kind: "remote", payload: { text: "during" } }]);

    const pid = killPostmaster(dir);
    await until("the server to be gone", () => !isAlive(pid), 10_000);
    killed();
    await until("the outage to be reported", () => states.some((s) => s.startsWith("down")), 10_000);
    // While it is down, new work cannot even be queued (a connector is told, and retries).
    await assert.rejects(
      queue.push([{ queueKey: "remote:test:ext", kind: "remote", payload: { text: "refused" } }]),
      (err) => isDatabaseUnavailable(err),
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(delivered, ["before"], "nothing delivered while the database is down");
    assert.equal(postmasterAlive(dir), false, "nobody restarted the external server");

    // Its operator brings it back, on the same port.
    server = await openDatabase({ dataDir: dir, embeddedPort: port, maxConnections: 1 });
    await server.pool.end();
    await until("the database to be reported up", () => states.at(-1) === "up", 20_000);
    await queue.push([{ queueKey: "remote:test:ext", kind: "remote", payload: { text: "after" } }]);
    await until("the delivery after the outage", () => delivered.includes("after"), 20_000);
    await queue.stop(1000);
    assert.deepEqual(delivered, ["before", "during", "after"]);
    assert.ok(attemptsDuring > 1, "the delivery under way failed on the outage and was retried");
    assert.deepEqual(exits, []);
    assert.match(states.find((s) => s.startsWith("down")) ?? "", /ECONNREFUSED|terminat|Connection/);
  });
});

function postmasterAlive(dataDir: string): boolean {
  try {
    return isAlive(postmasterPid(dataDir));
  } catch {
    return false; // no lock file
  }
}
