/**
 * What the crypto store costs: `node --expose-gc --require tsx/cjs scripts/bench/cryptoStore.ts`
 * (optional: `--encrypts N`, `--sessions N`). On an embedded PostgreSQL of its own:
 * 1. Alice (persisted) shares a room key with Bob, then encrypts N room events; after each encrypt,
 *    one flush (the key sharing a client does before each send is flushed apart, untimed). Reported: operations and bytes per encrypt, flush time (p50/p95), next to a
 *    baseline measured in the same run (a one-row upsert of the same size in its own
 *    transaction) and to the encrypt itself.
 * 2. Bob shares N fresh room keys with Alice (N inbound Megolm sessions): bytes stored in
 *    PostgreSQL, the process's heap growth (the crypto's own included), and the heap the
 *    in-memory IndexedDB alone holds: the same rows loaded into a fresh one (after a full GC).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as Crypto from "@matrix-org/matrix-sdk-crypto-wasm";
import { introduce, KeyServer, shareRoomKey } from "../../spec/integration/store/cryptoPeers";
import { CryptoStore } from "../../src/matrix/crypto/CryptoStore";
import { openDatabase } from "../../src/store/Database";
import { Migrator } from "../../src/store/Migrator";

const ROOM = "!bench:hs.test";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function pct(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function main(): Promise<void> {
  const encrypts = arg("--encrypts", 200);
  const sessions = arg("--sessions", 500);
  if (!(globalThis as { gc?: unknown }).gc) console.warn("run with --expose-gc for memory figures");
  const dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-bench-crypto-"));
  const db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
  try {
    await new Migrator({ pool: db.pool }).migrate();
    await Crypto.initAsync();
    const store = CryptoStore.install(db.pool);
    const baseHeap = heap();

    await store.load("alice");
    const handle = await Crypto.StoreHandle.openWithKey("alice", new Uint8Array(32).fill(1));
    const alice = await Crypto.OlmMachine.initFromStore(
      new Crypto.UserId("@alice:hs.test"),
      new Crypto.DeviceId("ALICE"),
      handle,
    );
    const bob = await Crypto.OlmMachine.initialize(
      new Crypto.UserId("@bob:hs.test"),
      new Crypto.DeviceId("BOB"),
    );
    const server = new KeyServer();
    await introduce(server, alice, bob);
    await shareRoomKey(server, alice, ROOM, ["@bob:hs.test"]);
    await store.flush();
    await db.pool.query(
      "INSERT INTO crypto_idb_database (db_name, version, stores) VALUES ('bench-baseline', 1, '[]')",
    );

    // 1. Encrypt, then flush.
    const encryptMs: number[] = [];
    const flushMs: number[] = [];
    const baselineMs: number[] = [];
    let ops = 0;
    let bytes = 0;
    const content = JSON.stringify({
      msgtype: "m.text",
      body: "a message of ordinary length, about sixty characters",
    });
    for (let i = 0; i < encrypts; i++) {
      // As a client does before each send: a no-op until the session is due for rotation
      // (every 100 messages by default), when it shares a new one.
      await shareRoomKey(server, alice, ROOM, ["@bob:hs.test"]);
      await store.flush();
      const t0 = performance.now();
      await alice.encryptRoomEvent(new Crypto.RoomId(ROOM), "m.room.message", content);
      const t1 = performance.now();
      const { pendingOps, pendingBytes } = store.stats();
      ops += pendingOps;
      bytes += pendingBytes;
      await store.flush();
      const t2 = performance.now();
      // The same write without the journal: one row of that size, upserted in its own transaction.
      const client = await db.pool.connect();
      try {
        await client.query("BEGIN");
        await client.query(
          `INSERT INTO crypto_idb_row (db_name, store, key, value) VALUES ('bench-baseline', 'row', '\\x00', $1)
           ON CONFLICT (db_name, store, key) DO UPDATE SET value = EXCLUDED.value`,
          [Buffer.alloc(pendingBytes, i)],
        );
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      const t3 = performance.now();
      encryptMs.push(t1 - t0);
      flushMs.push(t2 - t1);
      baselineMs.push(t3 - t2);
    }
    console.log(`encrypt + flush, ${encrypts} room events into one outbound Megolm session:`);
    console.log(
      `  journal per encrypt: ${(ops / encrypts).toFixed(1)} operations, ${Math.round(bytes / encrypts)} bytes`,
    );
    console.log(`  encryptRoomEvent     p50 ${ms(pct(encryptMs, 50))}  p95 ${ms(pct(encryptMs, 95))}`);
    console.log(`  flush                p50 ${ms(pct(flushMs, 50))}  p95 ${ms(pct(flushMs, 95))}`);
    console.log(`  baseline upsert tx   p50 ${ms(pct(baselineMs, 50))}  p95 ${ms(pct(baselineMs, 95))}`);
    console.log(`  flush / baseline (p50): ${(pct(flushMs, 50) / pct(baselineMs, 50)).toFixed(2)}`);

    // 2. Memory for N inbound group sessions.
    const before = heap();
    for (let i = 0; i < sessions; i++) {
      await bob.invalidateGroupSession(new Crypto.RoomId(ROOM));
      await shareRoomKey(server, bob, ROOM, ["@alice:hs.test"]);
      await server.sync(alice);
    }
    await store.flush();
    const after = heap();
    const stored = await db.pool.query<{ rows: string; bytes: string }>(
      `SELECT count(*) AS rows, coalesce(sum(octet_length(key) + octet_length(value)), 0) AS bytes
       FROM crypto_idb_row WHERE db_name <> 'bench-baseline'`,
    );
    const row = stored.rows[0]!;
    console.log(`memory, ${sessions} more inbound Megolm sessions:`);
    console.log(`  PostgreSQL now holds ${row.rows} rows, ${mib(Number(row.bytes))} (keys + values)`);
    console.log(
      `  heap + array buffers: +${mib(after - before)} for the sessions; ${mib(after - baseHeap)} since start`,
    );
    console.log(`  journal after flush: ${JSON.stringify(store.stats())}`);
    alice.close();
    bob.close();

    // The in-memory IndexedDB alone: the same data loaded into a fresh one, no machine open.
    const fresh = new CryptoStore({ pool: db.pool });
    const beforeLoad = heap();
    const t0 = performance.now();
    await fresh.load("alice");
    const loadMs = performance.now() - t0;
    console.log(
      `  load into a fresh IndexedDB: ${ms(loadMs)}, heap + array buffers +${mib(heap() - beforeLoad)} ` +
        `(${(((heap() - beforeLoad) / Number(row.bytes)) * 1).toFixed(1)}× the stored bytes)`,
    );
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
