import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { bodies, type CoreRig, ghostId, portalRoomFor, startCoreRig, user } from "./coreRig";

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface HealthAnswer {
  status: number;
  body: {
    status?: string;
    database?: { state?: string; since?: string; reason?: string };
    homeserver?: { state?: string; reason?: string };
    queue?: number;
  };
}

async function health(core: CoreRig): Promise<HealthAnswer | undefined> {
  try {
    const res = await fetch(core.bridge.healthUrl, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: (await res.json()) as HealthAnswer["body"] };
  } catch {
    return undefined; // not listening
  }
}

/** Polls `/health` every 100 ms until stopped; keeps every answer. */
function watchHealth(core: CoreRig): { answers: HealthAnswer[]; stop(): Promise<void> } {
  const answers: HealthAnswer[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const h = await health(core);
      if (h) answers.push(h);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    answers,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** The embedded postmaster's pid, from the lock file in `<data_dir>/postgres`. */
function postmasterPid(core: CoreRig): number {
  const file = path.join(core.dir, "data", "postgres", "postmaster.pid");
  const pid = Number.parseInt(readFileSync(file, "utf8").split("\n")[0] ?? "", 10);
  assert.ok(pid > 0, `a pid in ${file}`);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The port the embedded PostgreSQL listens on (line 4 of postmaster.pid). */
function postmasterPort(core: CoreRig): number {
  const file = path.join(core.dir, "data", "postgres", "postmaster.pid");
  return Number.parseInt(readFileSync(file, "utf8").split("\n")[3] ?? "", 10);
}

/** SIGTERM and how long until the process was gone, with its exit. */
async function timedStop(core: CoreRig): Promise<{ ms: number; code: number | null; signal: string | null }> {
  const t0 = Date.now();
  core.bridge.kill("SIGTERM");
  // The harness's own SIGKILL comes only after 10 s; measure the bridge's own exit.
  const exit = await Promise.race([
    core.bridge.waitForExit(),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 12_000)),
  ]);
  const ms = Date.now() - t0;
  if (!exit) {
    core.bridge.kill("SIGKILL");
    await core.bridge.waitForExit();
    assert.fail(`the bridge did not exit within 12 s of SIGTERM\n${core.bridge.output().slice(-4000)}`);
  }
  return { ms, code: exit.code, signal: exit.signal };
}

describe("supervised dependencies: embedded PostgreSQL killed, homeserver down (real Synapse, real PostgreSQL)", function () {
  this.timeout(240_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "supervise", name: "Supervise", kind: "group" });
    core.testnet.addUser({ id: "s1", name: "Supervised Sender" });
    core.testnet.injectMessage({ chat: "supervise", sender: "s1", text: "warm-up" });
    room = await portalRoomFor(alice, "supervise");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "warm-up");
  });
  after(async () => {
    // Later suites share this Synapse: it must be up and healthy whatever happened here.
    await core?.rig.synapse.startAgain();
    await core?.stop();
  });

  it("restarts a kill -9'd postmaster mid-burst, both directions in flight: none lost, none duplicated, order kept, the bridge not restarted, /health 503 naming the database meanwhile", async () => {
    const bridgePid = core.bridge.pid;
    const firstPostmaster = postmasterPid(core);
    const inbound = Array.from({ length: 200 }, (_, i) => `pg-kill in ${String(i).padStart(3, "0")}`);
    const outbound = Array.from({ length: 30 }, (_, i) => `pg-kill out ${String(i).padStart(2, "0")}`);
    const watcher = watchHealth(core);
    for (const text of inbound) core.testnet.injectMessage({ chat: "supervise", sender: "s1", text });
    await until("30 inbound messages", () => bodies(alice.eventsIn(room), "pg-kill in").length >= 30, 60_000);
    // Matrix → platform messages go out while the database dies and comes back.
    const sender = (async () => {
      for (const text of outbound) {
        await alice.sendText(room, text);
        await new Promise((r) => setTimeout(r, 60));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const deliveredBefore = bodies(alice.eventsIn(room), "pg-kill in").length;
    process.kill(firstPostmaster, "SIGKILL");
    await until("the postmaster to be gone", () => !alive(firstPostmaster), 10_000);
    assert.ok(deliveredBefore < 200, `the kill happened mid-burst (${deliveredBefore} delivered before it)`);
    await sender;

    await until(
      "all 200 inbound messages in the room",
      () => bodies(alice.eventsIn(room), "pg-kill in").length >= 200,
      120_000,
    );
    await until(
      "all 30 outbound messages on the platform",
      () => core.testnet.sent("supervise").filter((m) => m.text.startsWith("pg-kill out")).length >= 30,
      120_000,
    );
    // Barriers in both directions: whatever was still to come (a duplicate) has come.
    core.testnet.injectMessage({ chat: "supervise", sender: "s1", text: "barrier in" });
    await alice.waitFor((e) => e.room_id === room && e.content.body === "barrier in", { timeoutMs: 60_000 });
    await alice.sendText(room, "barrier out");
    await until(
      "the outbound barrier",
      () => core.testnet.sent("supervise").some((m) => m.text.endsWith("barrier out")),
      60_000,
    );
    await until("/health 200 again", async () => (await health(core))?.status === 200, 30_000);
    await watcher.stop();

    assert.deepEqual(bodies(alice.eventsIn(room), "pg-kill in"), inbound, "inbound: once each, in order");
    assert.ok(
      alice
        .eventsIn(room)
        .filter((e) => String(e.content.body).startsWith("pg-kill in"))
        .every((e) => e.sender === ghostId("s1")),
    );
    const sentOut = core.testnet
      .sent("supervise")
      .map((m) => m.text)
      .filter((t) => t.includes("pg-kill out"))
      .map((t) => t.slice(t.indexOf("pg-kill out")));
    assert.deepEqual(sentOut, outbound, "outbound: once each, in order");

    // Recovered by itself: same bridge process, a new postmaster.
    assert.equal(core.bridge.pid, bridgePid);
    assert.ok(core.bridge.running);
    const secondPostmaster = postmasterPid(core);
    assert.notEqual(secondPostmaster, firstPostmaster);
    assert.ok(alive(secondPostmaster));
    assert.match(core.bridge.output(), /embedded PostgreSQL exited; restarting it/);
    assert.match(core.bridge.output(), /embedded PostgreSQL restarted/);

    const down = watcher.answers.filter((a) => a.status === 503 && a.body.database?.state === "down");
    assert.ok(
      down.length > 0,
      `/health said 503 with the database down (answers: ${watcher.answers.length})`,
    );
    assert.equal(down[0].body.status, "degraded");
    assert.match(down[0].body.database?.reason ?? "", /PostgreSQL|ECONNREFUSED|starting up|terminat/);
    assert.ok(!Number.isNaN(Date.parse(down[0].body.database?.since ?? "")), "since is a time");
    assert.equal(down[0].body.homeserver?.state, "up");
    const lastDown = watcher.answers.lastIndexOf(down.at(-1)!);
    const after = watcher.answers.slice(lastDown + 1);
    assert.ok(
      after.some((a) => a.status === 200 && a.body.status === "ok" && a.body.database?.state === "up"),
      "/health 200 ok after the database came back",
    );
  });

  it("does not send a Matrix message twice when the platform took it and the database died before its id was stored", async () => {
    // The platform answers 1 s late; meanwhile the postmaster dies and stays down (its port taken).
    core.testnet.failNext("POST /chats/supervise/messages", { delayMs: 1000 });
    await alice.sendText(room, "taken while pg died");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "taken while pg died",
    );
    const pid = postmasterPid(core);
    const port = postmasterPort(core);
    const squatter = net.createServer((socket) => socket.destroy());
    process.kill(pid, "SIGKILL");
    await until("the postmaster to be gone", () => !alive(pid), 10_000);
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      await until(
        "the platform to answer",
        () => core.testnet.sent("supervise").some((m) => m.text.endsWith("taken while pg died")),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300)); // the bridge's insert fails meanwhile
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    await alice.sendText(room, "after the window");
    await until(
      "the message after the window",
      () => core.testnet.sent("supervise").some((m) => m.text.endsWith("after the window")),
      60_000,
    );
    const texts = core.testnet.sent("supervise").map((m) => m.text);
    assert.equal(texts.filter((t) => t.endsWith("taken while pg died")).length, 1, texts.join("\n"));
    // The window was hit: the delivery failed after the send and was retried.
    const retried = core.bridge
      .output()
      .split("\n")
      // The room's lane or its per-chat lane (`matrix:<room>|<platform>|<chat>`).
      .filter((l) => l.includes(`"key":"matrix:${room}`) && /will retry|will be retried/.test(l));
    assert.ok(retried.length > 0, "the delivery of the taken message was retried");
    assert.ok(core.bridge.running);
  });

  it("exits within 10 s of SIGTERM while the postmaster is dead and cannot come back", async () => {
    const pid = postmasterPid(core);
    const port = postmasterPort(core);
    process.kill(pid, "SIGKILL");
    await until("the postmaster to be gone", () => !alive(pid), 10_000);
    // Something takes the port at once, so every restart fails while the bridge is asked to stop.
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      await until(
        "/health 503 naming the database",
        async () => (await health(core))?.body.database?.state === "down",
        10_000,
      );
      // Work arrives meanwhile and cannot be stored or delivered.
      core.testnet.injectMessage({ chat: "supervise", sender: "s1", text: "while pg is dead" });
      await new Promise((r) => setTimeout(r, 500));
      const stop = await timedStop(core);
      assert.ok(stop.ms < 10_000, `exited ${stop.ms} ms after SIGTERM`);
      assert.equal(stop.code, 0, `a clean stop (exit ${stop.code ?? stop.signal})`);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    // Nothing was lost: after a start, the message that arrived while the database was dead comes through.
    await core.restart();
    await alice.waitFor((e) => e.room_id === room && e.content.body === "while pg is dead", {
      timeoutMs: 60_000,
    });
  });

  it("exits 1, saying why, when the postmaster cannot be restarted, and a start afterwards delivers what came meanwhile", async () => {
    const pid = postmasterPid(core);
    const port = postmasterPort(core);
    const squatter = net.createServer((socket) => socket.destroy());
    process.kill(pid, "SIGKILL");
    await until("the postmaster to be gone", () => !alive(pid), 10_000);
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    let exit: Awaited<ReturnType<CoreRig["bridge"]["waitForExit"]>> | undefined;
    try {
      core.testnet.injectMessage({ chat: "supervise", sender: "s1", text: "while pg cannot restart" });
      exit = await Promise.race([
        core.bridge.waitForExit(),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000)),
      ]);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    assert.ok(exit, "the bridge exited by itself");
    assert.equal(exit.code, 1, `exit ${exit.code ?? exit.signal}`);
    assert.match(core.bridge.output(), /embedded PostgreSQL could not be restarted; exiting/);
    assert.match(core.bridge.output(), /is taken/);
    await core.restart();
    await alice.waitFor((e) => e.room_id === room && e.content.body === "while pg cannot restart", {
      timeoutMs: 60_000,
    });
  });

  it("exits within 10 s of SIGTERM while a delivery to the platform hangs, and delivers it once after a start", async () => {
    core.testnet.failNext("POST /chats/supervise/messages", { hang: true });
    await alice.sendText(room, "hangs on the platform");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "hangs on the platform",
    );
    const stop = await timedStop(core);
    assert.ok(stop.ms < 10_000, `exited ${stop.ms} ms after SIGTERM`);
    assert.equal(stop.code, 0, `a clean stop (exit ${stop.code ?? stop.signal})`);
    await core.restart();
    await alice.sendText(room, "after the hang");
    await until(
      "the message after the hang",
      () => core.testnet.sent("supervise").some((m) => m.text.endsWith("after the hang")),
      60_000,
    );
    const texts = core.testnet.sent("supervise").map((m) => m.text);
    assert.equal(texts.filter((t) => t.endsWith("hangs on the platform")).length, 1, texts.join("\n"));
    assert.ok(
      texts.findIndex((t) => t.endsWith("hangs on the platform")) <
        texts.findIndex((t) => t.endsWith("after the hang")),
    );
  });

  it("answers 503 naming the homeserver while Synapse is down, 200 when it is back, and exits within 10 s of SIGTERM while it is down", async () => {
    await core.rig.synapse.stop();
    try {
      await until(
        "/health 503 naming the homeserver",
        async () => {
          const h = await health(core);
          return h?.status === 503 && h.body.homeserver?.state === "down";
        },
        20_000,
      );
      const h = await health(core);
      assert.equal(h?.body.status, "degraded");
      assert.match(h?.body.homeserver?.reason ?? "", /_matrix\/client\/versions/);
      assert.equal(h?.body.database?.state, "up");
      await core.rig.synapse.startAgain();
      await until(
        "/health 200 with the homeserver back",
        async () => (await health(core))?.status === 200,
        20_000,
      );

      await core.rig.synapse.stop();
      await until(
        "/health 503 naming the homeserver again",
        async () => (await health(core))?.body.homeserver?.state === "down",
        20_000,
      );
      // Work that needs the homeserver is under way when the stop comes.
      core.testnet.injectMessage({ chat: "supervise", sender: "s1", text: "while synapse is down" });
      await new Promise((r) => setTimeout(r, 500));
      const stop = await timedStop(core);
      assert.ok(stop.ms < 10_000, `exited ${stop.ms} ms after SIGTERM`);
      assert.equal(stop.code, 0, `a clean stop (exit ${stop.code ?? stop.signal})`);
    } finally {
      await core.rig.synapse.startAgain();
    }
    await core.restart();
    await alice.waitFor((e) => e.room_id === room && e.content.body === "while synapse is down", {
      timeoutMs: 90_000,
    });
  });
});
