import assert from "node:assert/strict";
import * as fake from "fake-indexeddb";
import fc from "fast-check";
import pg from "pg";
import { CryptoStore } from "../../../src/matrix/crypto/CryptoStore";
import { Migrator } from "../../../src/store/Migrator";
import { fuzzParams } from "../../harness/fuzz";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../harness/postgres";
import { type Db, dumpDb, ended, type Factory, openDb, type Store, type Tx } from "./idbTesting";

/**
 * The journal under random use of a toy schema: puts, adds (which may fail and abort their
 * transaction), deletes by key and by range, clears, updates and deletes through cursors (on
 * the store and on an index), aborted transactions, upgrades that delete and recreate a store
 * or rename it (with writes queued before the rename),
 * and flushes at random points. A database restored from PostgreSQL must equal the in-memory
 * one as it was when the last flush was called.
 */

const STORES = ["auto", "inline", "plain"] as const;
type StoreName = (typeof STORES)[number];

const key = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 4 },
  fc.constantFrom("a", "b", "\uD800", "é", ""),
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom("x", "y")).map((t) => [...t]),
  fc.uint8Array({ minLength: 1, maxLength: 3, max: 2 }),
  fc.integer({ min: 0, max: 3 }).map((n) => new Date(n * 1000)),
);
const data = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom("\uDC00 lone", "nul\u0000byte"),
  fc.double({ noNaN: false }),
  fc.uint8Array({ maxLength: 6 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 3 }),
  fc.date({ noInvalidDate: true }),
);
const tag = fc.constantFrom("x", "y", "z");
const store = fc.constantFrom<StoreName>(...STORES);

const write = fc.oneof(
  fc.record({ t: fc.constantFrom("put" as const, "add" as const), store, key, tag, data }),
  fc.record({ t: fc.constant("delete" as const), store, key }),
  fc.record({ t: fc.constant("deleteRange" as const), store, lo: key, hi: key }),
  fc.record({ t: fc.constant("clear" as const), store }),
  fc.record({
    t: fc.constantFrom("cursorUpdate" as const, "cursorDelete" as const),
    store,
    viaIndex: fc.boolean(),
    every: fc.integer({ min: 1, max: 3 }),
    data,
  }),
);
type Write = typeof write extends fc.Arbitrary<infer W> ? W : never;

const step = fc.oneof(
  {
    arbitrary: fc.record({
      t: fc.constant("tx" as const),
      writes: fc.array(write, { minLength: 1, maxLength: 4 }),
      abort: fc.boolean(),
    }),
    weight: 6,
  },
  { arbitrary: fc.record({ t: fc.constant("flush" as const) }), weight: 2 },
  {
    arbitrary: fc.record({ t: fc.constant("upgrade" as const), seed: data, rename: fc.boolean() }),
    weight: 1,
  },
);

function createSchema(db: Db): void {
  db.createObjectStore("plain");
  db.createObjectStore("inline", { keyPath: "id" }).createIndex("by_tag", "tag");
  db.createObjectStore("auto", { keyPath: "id", autoIncrement: true }).createIndex("by_tag", "tag");
}

/**
 * Issues one write in `tx`; a failing request is left to abort the transaction, as IndexedDB
 * does. `plain` is the current name of the store created as "plain" (upgrades rename it).
 */
function issue(factory: Factory, tx: Tx, w: Write, plain: string): void {
  const os: Store = tx.objectStore(w.store === "plain" ? plain : w.store);
  switch (w.t) {
    case "put":
    case "add": {
      if (w.store === "plain") os[w.t]({ tag: w.tag, data: w.data }, w.key);
      else if (w.store === "inline") os[w.t]({ id: w.key, tag: w.tag, data: w.data });
      // The generated key, except when the random key is a number (an explicit key moves the generator).
      else
        os[w.t](
          typeof w.key === "number" ? { id: w.key, tag: w.tag, data: w.data } : { tag: w.tag, data: w.data },
        );
      return;
    }
    case "delete":
      os.delete(w.key);
      return;
    case "deleteRange": {
      const [lo, hi] = factory.cmp(w.lo, w.hi) <= 0 ? [w.lo, w.hi] : [w.hi, w.lo];
      os.delete(fake.IDBKeyRange.bound(lo, hi));
      return;
    }
    case "clear":
      os.clear();
      return;
    case "cursorUpdate":
    case "cursorDelete": {
      const req = w.viaIndex && w.store !== "plain" ? os.index("by_tag").openCursor() : os.openCursor();
      let n = 0;
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor) return;
        if (n++ % w.every === 0) {
          if (w.t === "cursorDelete") cursor.delete();
          else cursor.update({ ...cursor.value, data: w.data });
        }
        cursor.continue();
      };
      return;
    }
  }
}

async function runTx(
  factory: Factory,
  db: Db,
  writes: Write[],
  abort: boolean,
  plain: string,
): Promise<void> {
  const tx = db.transaction(["auto", "inline", plain], "readwrite");
  const done = ended(tx);
  for (const w of writes) issue(factory, tx, w, plain);
  if (abort) {
    // After the writes ran: a request queued last ends the transaction.
    const probe = tx.objectStore(plain).getAllKeys();
    probe.onsuccess = () => tx.abort();
  }
  await done;
}

describe("CryptoStore journal: property — a restore equals memory as of the last flush (embedded PostgreSQL)", function () {
  this.timeout(300_000);
  let server: TestPostgres;
  let testDb: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;

  before(async () => {
    server = await startExternalPostgres();
    testDb = await createTestDatabase(server.url);
    pool = new pg.Pool({ connectionString: testDb.url, max: 3 });
    await new Migrator({ pool }).migrate();
  });
  after(async () => {
    await pool?.end();
    await testDb?.drop();
    await server?.stop();
  });

  let run = 0;
  it("random writes, aborts, upgrades and flush points", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 24 }), async (steps) => {
        const name = `toy${run++}`;
        const live = new CryptoStore({ pool, factory: new fake.IDBFactory() });
        const factory = live.factory as Factory;
        let version = 1;
        let plain = "plain";
        let db = await openDb(factory, `${name}::db`, version, createSchema);
        let atFlush: unknown = await dumpDb(db);
        await live.flush();
        for (const s of steps) {
          if (s.t === "tx") await runTx(factory, db, s.writes, s.abort, plain);
          else if (s.t === "flush") {
            atFlush = await dumpDb(db);
            await live.flush();
          } else {
            db.close();
            version++;
            db = await openDb(factory, `${name}::db`, version, (up, tx) => {
              const os = tx.objectStore(plain);
              if (s.rename) {
                // Queued before the rename, run after it: the record belongs to the new name.
                os.put({ tag: "x", data: s.seed }, version);
                plain = `plain${version}`;
                os.name = plain;
              } else {
                // A store deleted and created again starts empty, then gets a record in the upgrade.
                up.deleteObjectStore(plain);
                up.createObjectStore(plain).put({ tag: "x", data: s.seed }, version);
              }
              tx.objectStore("inline").put({ id: `v${version}`, tag: "y", data: s.seed });
            });
          }
        }
        db.close();

        const restarted = new CryptoStore({ pool, factory: new fake.IDBFactory() });
        await restarted.load(name);
        const back = await openDb(restarted.factory as Factory, `${name}::db`);
        assert.deepStrictEqual(await dumpDb(back), atFlush);
        back.close();
      }),
      fuzzParams(150),
    );
  });

  /** A fresh store and toy database; `put` writes one record to "plain" in its own transaction. */
  async function toy(name: string) {
    const store = new CryptoStore({ pool, factory: new fake.IDBFactory() });
    const db = await openDb(store.factory as Factory, `${name}::db`, 1, createSchema);
    const put = async (key: number, data: unknown): Promise<void> => {
      const tx = db.transaction(["plain"], "readwrite");
      tx.objectStore("plain").put({ tag: "x", data }, key);
      assert.equal(await ended(tx), "complete");
    };
    const storedKeys = async (): Promise<number> =>
      Number(
        (
          await pool.query(
            "SELECT count(*) AS n FROM crypto_idb_row WHERE db_name = $1 AND store = 'plain'",
            [`${name}::db`],
          )
        ).rows[0].n,
      );
    return { store, db, put, storedKeys };
  }

  it("a flush called while another is in flight resolves only once its own writes are stored", async () => {
    const { store, db, put, storedKeys } = await toy("concurrent");
    await put(1, "one");
    const a = store.flush();
    await put(2, "two");
    const b = store.flush();
    const c = store.flush(); // nothing new since b: shares b's write
    await b;
    assert.equal(await storedKeys(), 2);
    await Promise.all([a, c]);
    assert.deepEqual(store.stats(), { pendingOps: 0, pendingBytes: 0 });
    db.close();
  });

  it("a failed flush keeps its writes pending, and the next flush stores them", async () => {
    const { store, db, put, storedKeys } = await toy("failing");
    await store.flush();
    await put(1, "kept");
    await pool.query("ALTER TABLE crypto_idb_row RENAME TO crypto_idb_row_away");
    try {
      await assert.rejects(store.flush(), /Storing the encryption state in PostgreSQL failed/);
      assert.equal(store.stats().pendingOps, 1);
    } finally {
      await pool.query("ALTER TABLE crypto_idb_row_away RENAME TO crypto_idb_row");
    }
    await put(2, "after");
    await store.flush();
    assert.equal(await storedKeys(), 2);
    db.close();
  });

  it("load refuses a database the process opened before loading it, and does nothing the second time", async () => {
    const { store, db } = await toy("early");
    await store.flush();
    db.close();
    const restarted = new CryptoStore({ pool, factory: new fake.IDBFactory() });
    const opened = await openDb(restarted.factory as Factory, "early::db", 1, createSchema);
    await assert.rejects(restarted.load("early"), /was opened before it was loaded from PostgreSQL/);
    opened.close();

    const third = new CryptoStore({ pool, factory: new fake.IDBFactory() });
    await third.load("early");
    await third.load("early");
    const back = await openDb(third.factory as Factory, "early::db");
    assert.equal(back.version, 1);
    back.close();
  });

  it("a damaged row fails the load with the database and store named", async () => {
    const { store, db, put } = await toy("damaged");
    await put(1, "fine");
    await store.flush();
    db.close();
    await pool.query("UPDATE crypto_idb_row SET value = '\\x00ff' WHERE db_name = 'damaged::db'");
    const restarted = new CryptoStore({ pool, factory: new fake.IDBFactory() });
    await assert.rejects(restarted.load("damaged"), /crypto store row in damaged::db\/plain cannot be read/);
  });

  it("forget deletes the store in memory and in PostgreSQL, even with writes not yet flushed", async () => {
    const { store, db, put } = await toy("reset");
    await put(1, "one");
    await store.flush();
    await put(2, "two");
    await store.forget("reset");
    const rows = await pool.query("SELECT db_name FROM crypto_idb_database WHERE db_name LIKE 'reset%'");
    assert.equal(rows.rowCount, 0);
    assert.equal((await pool.query("SELECT 1 FROM crypto_idb_row WHERE db_name LIKE 'reset%'")).rowCount, 0);
    const names = await (store.factory as { databases(): Promise<{ name: string }[]> }).databases();
    assert.deepEqual(
      names.filter((d) => d.name.startsWith("reset")),
      [],
    );
    assert.throws(() => db.transaction(["plain"], "readwrite"), /InvalidStateError|closed/i);
  });

  it("names that PostgreSQL text cannot hold are refused when the database or store is created", async () => {
    const store = new CryptoStore({ pool, factory: new fake.IDBFactory() });
    const factory = store.factory as Factory;
    assert.throws(() => factory.open("bad\u0000name", 1), /cannot be kept in PostgreSQL/);
    assert.throws(() => factory.open("bad\uD800name", 1), /cannot be kept in PostgreSQL/);
    await assert.rejects(
      openDb(factory, "fine::db", 1, (up) => up.createObjectStore("store\u0000")),
      /AbortError|cannot be kept/,
    );
    await assert.rejects(store.load("x\u0000"), /cannot be kept in PostgreSQL/);
  });
});
