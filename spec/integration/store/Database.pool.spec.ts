import assert from "node:assert/strict";
import type pg from "pg";
import { Logger } from "../../../src/log/Logger";
import { makePool } from "../../../src/store/Database";
import { startExternalPostgres, type TestPostgres } from "../../harness/postgres";

const pidOf = async (pool: pg.Pool, sleepS = 0): Promise<number> =>
  (await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid, pg_sleep($1)", [sleepS])).rows[0]!.pid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Database pool: connections are kept open while idle", function () {
  this.timeout(60_000);
  let server: TestPostgres;
  const pools: pg.Pool[] = [];
  const pool = (max: number, idleMs: number): pg.Pool => {
    const p = makePool(server.url, max, new Logger("PoolSpec"), idleMs);
    pools.push(p);
    return p;
  };

  before(async () => {
    server = await startExternalPostgres();
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    await server?.stop();
  });

  it("after a burst, four connections stay open past the idle time and serve the next queries; the burst's others close", async () => {
    const p = pool(8, 200);
    // Six at once: six connections.
    const burst = await Promise.all(Array.from({ length: 6 }, () => pidOf(p, 0.2)));
    assert.equal(new Set(burst).size, 6);
    assert.equal(p.totalCount, 6);
    await sleep(800); // four times the idle time
    assert.equal(p.totalCount, 4, "the burst's connections above four closed");
    // The next queries run on connections opened before, not on new ones (a new one costs a
    // fork, a login and every named statement planned again).
    const next = await Promise.all(Array.from({ length: 4 }, () => pidOf(p, 0.05)));
    for (const pid of next) assert.ok(burst.includes(pid), `connection ${pid} was opened anew`);
    assert.equal(p.totalCount, 4);
  });

  it("a pool smaller than four keeps all its connections", async () => {
    const p = pool(2, 100);
    const burst = await Promise.all([pidOf(p, 0.1), pidOf(p, 0.1)]);
    await sleep(500);
    assert.equal(p.totalCount, 2);
    assert.ok(burst.includes(await pidOf(p)));
  });
});
