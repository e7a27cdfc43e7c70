import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { openDatabase } from "../../../src/store/Database";
import { loadMigrations, Migrator } from "../../../src/store/Migrator";
import { PgStore } from "../../../src/store/PgStore";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../harness/postgres";
import { storeContract } from "./storeContract";

const tmpDir = (prefix: string) => mkdtemp(path.join(os.tmpdir(), `clawbridge-${prefix}-`));
const embedded = (dataDir: string) => openDatabase({ dataDir, embeddedPort: 0, maxConnections: 4 });

describe("PgStore", function () {
  this.timeout(120_000);

  storeContract("embedded PostgreSQL", async () => {
    const dir = await tmpDir("store");
    const db = await embedded(dir);
    assert.equal(db.embedded, true);
    const store = await PgStore.open(db);
    return {
      store,
      migrate: () => new Migrator({ pool: db.pool }).migrate(),
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });

  describe("with a database URL", () => {
    let server: TestPostgres;
    before(async () => {
      server = await startExternalPostgres();
    });
    after(async () => server?.stop());

    storeContract("PostgreSQL by URL", async () => {
      const fresh = await createTestDatabase(server.url);
      const db = await openDatabase({
        url: fresh.url,
        dataDir: "/nonexistent",
        embeddedPort: 0,
        maxConnections: 4,
      });
      assert.equal(db.embedded, false);
      const store = await PgStore.open(db);
      return {
        store,
        migrate: () => new Migrator({ pool: db.pool }).migrate(),
        cleanup: async () => {
          await store.close();
          await fresh.drop();
        },
      };
    });

    describe("Migrator", () => {
      let fresh: { url: string; drop(): Promise<void> };
      let pools: pg.Pool[];
      const pool = () => {
        const p = new pg.Pool({ connectionString: fresh.url, max: 2 });
        // Dropping the test database ends idle connections with an error; without a listener
        // the pool would throw it into whichever test runs next.
        p.on("error", () => undefined);
        pools.push(p);
        return p;
      };
      beforeEach(async () => {
        fresh = await createTestDatabase(server.url);
        pools = [];
      });
      afterEach(async () => {
        for (const p of pools) await p.end();
        await fresh.drop();
      });

      it("lets concurrent processes migrate once, serialised by the advisory lock", async () => {
        const numbers = (await loadMigrations(path.resolve(__dirname, "../../../src/store/migrations"))).map(
          (m) => m.number,
        );
        const latest = numbers[numbers.length - 1];
        assert.deepEqual(await new Migrator({ pool: pool() }).status(), { applied: 0, latest });
        const results = await Promise.all([1, 2, 3].map(() => new Migrator({ pool: pool() }).migrate()));
        assert.deepEqual(
          results.flat().sort((a, b) => a - b),
          numbers,
        );
        const { rows } = await pool().query(
          "SELECT number, name, applied_at FROM schema_migrations ORDER BY number",
        );
        assert.equal(rows.length, numbers.length);
        assert.deepEqual(rows[0].name, "initial");
        assert.ok(rows[0].applied_at instanceof Date);
      });

      it("rolls back a failing migration and records nothing for it", async () => {
        const dir = await tmpDir("migrations");
        try {
          await writeFile(path.join(dir, "001-first.sql"), "CREATE TABLE first_t (id int);");
          await writeFile(path.join(dir, "002-broken.sql"), "CREATE TABLE second_t (id int);\nSELECT 1/0;");
          const migrator = new Migrator({ pool: pool(), dir });
          await assert.rejects(
            migrator.migrate(),
            /migration 2-broken failed and was rolled back: division by zero/,
          );
          assert.deepEqual(await migrator.status(), { applied: 1, latest: 2 });
          const { rows } = await pool().query(
            "SELECT to_regclass('second_t') AS t, to_regclass('first_t') AS f",
          );
          assert.deepEqual(rows[0], { t: null, f: "first_t" });

          await writeFile(path.join(dir, "002-broken.sql"), "CREATE TABLE second_t (id int);");
          assert.deepEqual(await new Migrator({ pool: pool(), dir }).migrate(), [2]);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("refuses a database migrated by a newer version, and a number used twice", async () => {
        const p = pool();
        await new Migrator({ pool: p }).migrate();
        await p.query("INSERT INTO schema_migrations (number, name) VALUES (999, 'future')");
        await assert.rejects(new Migrator({ pool: p }).migrate(), /at migration 999 .* Upgrade clawbridge/);

        const dir = await tmpDir("gap");
        try {
          await writeFile(path.join(dir, "001-a.sql"), "SELECT 1;");
          await writeFile(path.join(dir, "001-b.sql"), "SELECT 1;");
          await assert.rejects(new Migrator({ pool: p, dir }).migrate(), /unique numbers; 1 is used twice/);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });

    it("names the server without its password when it cannot connect", async () => {
      const secret = randomBytes(9).toString("hex");
      await assert.rejects(
        openDatabase({
          url: `postgres://someone:${secret}@127.0.0.1:1/nothing`,
          dataDir: "/nonexistent",
          embeddedPort: 0,
          maxConnections: 1,
        }),
        (err: Error) => {
          assert.match(
            err.message,
            /Cannot connect to PostgreSQL at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nothing/,
          );
          assert.ok(!err.message.includes(secret));
          return true;
        },
      );
    });
  });

  describe("embedded cluster lifecycle", () => {
    const dirs: string[] = [];
    const children: ChildProcess[] = [];
    afterEach(async () => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      for (const dir of dirs.splice(0)) {
        stopStrayPostgres(path.join(dir, "postgres"));
        await rm(dir, { recursive: true, force: true });
      }
    });
    const freshDir = async () => {
      const dir = await tmpDir("lifecycle");
      dirs.push(dir);
      return dir;
    };

    it("restarts on the same data dir with its data and the same password", async () => {
      const dir = await freshDir();
      const credsFile = path.join(dir, "postgres.credentials");
      const first = await embedded(dir);
      const creds = await readFile(credsFile, "utf8");
      assert.equal((await stat(credsFile)).mode & 0o777, 0o600);
      const { password } = JSON.parse(creds) as { password: string };
      assert.ok(password.length >= 24);
      assert.ok(first.url.includes(password));
      assert.ok(!first.displayUrl.includes(password));
      const settings = await first.pool.query(
        "SELECT current_setting('listen_addresses') AS listen, pg_encoding_to_char(encoding) AS enc " +
          "FROM pg_database WHERE datname = current_database()",
      );
      assert.deepEqual(settings.rows[0], { listen: "127.0.0.1", enc: "UTF8" });
      const store = await PgStore.open(first);
      await store.kvSet("restart", "k", "kept");
      await store.close();
      await first.close();

      const second = await embedded(dir);
      try {
        assert.equal(await readFile(credsFile, "utf8"), creds);
        const again = await PgStore.open(second);
        assert.equal(await again.kvGet("restart", "k"), "kept");
        assert.deepEqual(await new Migrator({ pool: second.pool }).migrate(), []);
      } finally {
        await second.close();
      }
    });

    it("shares a live bridge's server (doctor, migrate), and takes over after that bridge is killed -9", async () => {
      const dir = await freshDir();
      const child = await startChild(dir, "orphaned", children);
      const guest = await embedded(dir);
      const served = postmasterPid(path.join(dir, "postgres"));
      try {
        const { rows } = await guest.pool.query("SELECT v FROM crash_probe");
        assert.deepEqual(rows, [{ v: "orphaned" }]);
      } finally {
        await guest.close();
      }
      assert.ok(served && isAlive(served), "closing the guest leaves the bridge's server running");
      child.kill("SIGKILL");
      await exited(child);
      // Its PostgreSQL is still running, orphaned.
      const orphan = postmasterPid(path.join(dir, "postgres"));
      assert.ok(orphan && isAlive(orphan));
      const db = await embedded(dir);
      try {
        const { rows } = await db.pool.query("SELECT v FROM crash_probe");
        assert.deepEqual(rows, [{ v: "orphaned" }]);
      } finally {
        await db.close();
      }
    });

    it("starts after both the bridge and its PostgreSQL were killed -9 (stale postmaster.pid)", async () => {
      const dir = await freshDir();
      const child = await startChild(dir, "crashed", children);
      const pmPid = postmasterPid(path.join(dir, "postgres"))!;
      process.kill(pmPid, "SIGKILL");
      child.kill("SIGKILL");
      await exited(child);
      assert.ok(readFileSync(path.join(dir, "postgres", "postmaster.pid"), "utf8").startsWith(`${pmPid}\n`));
      const db = await embedded(dir);
      try {
        const { rows } = await db.pool.query("SELECT v FROM crash_probe");
        assert.deepEqual(rows, [{ v: "crashed" }]);
      } finally {
        await db.close();
      }
    });
  });
});

const CHILD_SCRIPT = `
const { openDatabase } = require(${JSON.stringify(path.resolve(__dirname, "../../../src/store/Database.ts"))});
openDatabase({ dataDir: process.env.CB_DATA_DIR, embeddedPort: 0, maxConnections: 2 })
  .then(async (db) => {
    await db.pool.query("CREATE TABLE crash_probe (v text)");
    await db.pool.query("INSERT INTO crash_probe VALUES ($1)", [process.env.CB_MARK]);
    process.stdout.write("READY\\n");
  })
  .catch((err) => { console.error(err); process.exit(1); });
`;

/** A separate node process that opens the embedded database, writes `mark`, and stays up. */
async function startChild(dataDir: string, mark: string, track: ChildProcess[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", CHILD_SCRIPT], {
    env: { ...process.env, CB_DATA_DIR: dataDir, CB_MARK: mark },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("READY")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`child exited (${code}) before it was ready:\n${stderr}`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function postmasterPid(clusterDir: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(path.join(clusterDir, "postmaster.pid"), "utf8"), 10);
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Stops a PostgreSQL a failed test left running on `clusterDir` (only ours: its command line names the dir). */
function stopStrayPostgres(clusterDir: string): void {
  const pid = postmasterPid(clusterDir);
  if (!pid || !isAlive(pid)) return;
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(clusterDir)) process.kill(pid, "SIGQUIT");
  } catch {
    // already gone
  }
}
