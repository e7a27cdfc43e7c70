import assert from "node:assert/strict";
import { DatabaseSupervisor, RestartPolicy } from "../../../src/store/DatabaseSupervisor";

describe("RestartPolicy", () => {
  it("backs off exponentially up to the cap, then runs out after maxAttempts", () => {
    const p = new RestartPolicy({
      maxAttempts: 5,
      initialDelayMs: 100,
      maxDelayMs: 500,
      stableAfterMs: 1000,
    });
    p.died();
    const delays = Array.from({ length: 6 }, () => p.nextDelay());
    assert.deepEqual(delays, [100, 200, 400, 500, 500, undefined]);
  });

  it("starts a new series when the server stayed up long enough, continues it in a crash loop", () => {
    let t = 0;
    const p = new RestartPolicy(
      { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 1000, stableAfterMs: 1000 },
      () => t,
    );
    p.died();
    assert.equal(p.nextDelay(), 10);
    assert.equal(p.nextDelay(), 20);
    p.started();
    t += 999; // dies again too soon: the same series
    p.died();
    assert.equal(p.nextDelay(), 40);
    assert.equal(p.nextDelay(), undefined);

    const q = new RestartPolicy(
      { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 1000, stableAfterMs: 1000 },
      () => t,
    );
    q.died();
    q.nextDelay();
    q.nextDelay();
    q.started();
    t += 1000; // stayed up: a fresh series
    q.died();
    assert.equal(q.nextDelay(), 10);
    assert.equal(q.attemptsMade, 1);
  });
});

/** A server whose death and restarts the test controls; `restart` fails while `failing`. */
function fakeServer() {
  const s = {
    dead: undefined as string | undefined,
    failing: true,
    restarts: 0,
    alive: () => s.dead === undefined,
    exitReason: () => s.dead,
    restart: async () => {
      s.restarts++;
      if (s.failing)
        throw new Error('could not bind IPv4 address "127.0.0.1": Address already in use\nmore output');
      s.dead = undefined;
    },
  };
  return s;
}

describe("DatabaseSupervisor", () => {
  const policy = () =>
    new RestartPolicy({ maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5, stableAfterMs: 60_000 });

  it("restarts a dead server and reports the database down, then up", async () => {
    const server = fakeServer();
    server.failing = false;
    const states: string[] = [];
    let reachable = true;
    const sup = new DatabaseSupervisor({
      probe: async () => {
        if (!reachable)
          throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
      },
      reporter: { up: () => states.push("up"), down: (r) => states.push(`down: ${r}`) },
      server,
      policy: policy(),
      exit: () => assert.fail("must not exit"),
    });
    server.dead = "killed by SIGKILL";
    reachable = true;
    await sup.checkNow();
    sup.stop();
    assert.equal(server.restarts, 1);
    assert.deepEqual(states, ["down: embedded PostgreSQL exited (killed by SIGKILL); restarting it", "up"]);
  });

  it("after bounded failed restarts, says why and exits non-zero (exit injected)", async () => {
    const server = fakeServer();
    const reasons: string[] = [];
    const exits: number[] = [];
    const sup = new DatabaseSupervisor({
      probe: async () => assert.fail("no probe of a dead server"),
      reporter: { up: () => assert.fail("never up"), down: (r) => reasons.push(r) },
      server,
      policy: policy(),
      exit: (code) => exits.push(code),
    });
    server.dead = "killed by SIGKILL";
    await sup.checkNow();
    assert.equal(server.restarts, 3, "exactly maxAttempts restarts");
    assert.deepEqual(exits, [1]);
    assert.match(
      reasons.at(-1)!,
      /could not be restarted after 3 attempts: could not bind .*Address already in use$/,
    );
    await sup.checkNow();
    assert.equal(server.restarts, 3, "nothing more after giving up");
  });

  it("stops restarting when stopped during the backoff", async () => {
    const server = fakeServer();
    const sup = new DatabaseSupervisor({
      probe: async () => undefined,
      server,
      policy: new RestartPolicy({
        maxAttempts: 3,
        initialDelayMs: 60_000,
        maxDelayMs: 60_000,
        stableAfterMs: 1,
      }),
      exit: () => assert.fail("must not exit"),
    });
    server.dead = "exit code 1";
    const check = sup.checkNow();
    sup.stop();
    await check;
    assert.equal(server.restarts, 0);
  });

  it("reports an external database down with the probe's reason, and up when it answers again", async () => {
    let fail: Error | undefined = Object.assign(new Error("Connection terminated unexpectedly"), {});
    const states: string[] = [];
    const sup = new DatabaseSupervisor({
      probe: async () => {
        if (fail) throw fail;
      },
      reporter: { up: () => states.push("up"), down: (r) => states.push(`down: ${r}`) },
      exit: () => assert.fail("nothing to restart, never exits"),
    });
    await sup.checkNow();
    fail = undefined;
    await sup.checkNow();
    sup.stop();
    assert.deepEqual(states, ["down: Connection terminated unexpectedly", "up"]);
  });
});
