/**
 * Durable end-to-end encryption state in PostgreSQL.
 *
 * Why this exists: the Rust crypto (`@matrix-org/matrix-sdk-crypto-wasm`) persists its state
 * (identity keys, Olm and Megolm sessions, device lists) only in IndexedDB, which Node lacks; the
 * bridge's one store is PostgreSQL. fake-indexeddb gives the crypto an IndexedDB in memory, and
 * this store makes that memory durable: every write a transaction commits is journaled
 * (idbJournal.ts), {@link CryptoStore.flush} writes the journal to PostgreSQL in one SQL
 * transaction, and {@link CryptoStore.load} rebuilds the databases from PostgreSQL before the
 * crypto opens them.
 *
 * It is a write-ahead rule for callers: what the crypto changed is durable only after a flush,
 * so a caller flushes before it acknowledges what it consumed (an appservice transaction with
 * to-device messages, one-time key counts) and before it sends what it produced (an encrypted
 * event, a key upload, to-device messages). A crash (SIGTERM, kill -9) between a change and its
 * flush loses the change as if it had not been made, and nothing outside saw it.
 */
import * as fake from "fake-indexeddb";
import type pg from "pg";
import { Logger } from "../../log/Logger";
import {
  type DatabaseRow,
  SQL_DATABASES_OF,
  SQL_ROWS_OF,
  type Statement,
  statementsFor,
} from "./cryptoStoreSql";
import { assertStorableName, type JournalOp, type JournalSink, journalFactory } from "./idbJournal";
import { restoreDatabase, type StoredRow } from "./restoreDatabase";

export interface CryptoStoreOptions {
  pool: pg.Pool;
  /** The fake-indexeddb IDBFactory to journal; a new one by default. */
  factory?: object;
  log?: Logger;
}

/** What the store holds in memory beyond the databases themselves. */
export interface CryptoStoreStats {
  /** Committed operations not yet in PostgreSQL, and the bytes of their keys and values. */
  pendingOps: number;
  pendingBytes: number;
}

/** The globals the wasm crypto looks up, besides `indexedDB`. */
const IDB_CLASSES = [
  "IDBKeyRange",
  "IDBFactory",
  "IDBObjectStore",
  "IDBCursor",
  "IDBCursorWithValue",
  "IDBDatabase",
  "IDBTransaction",
  "IDBRequest",
  "IDBIndex",
  "IDBOpenDBRequest",
  "IDBVersionChangeEvent",
] as const;

let installed: CryptoStore | undefined;

export class CryptoStore implements JournalSink {
  /** The IndexedDB (a fake-indexeddb IDBFactory) whose databases this store keeps. */
  readonly factory: object;
  private readonly pool: pg.Pool;
  private readonly log: Logger;
  private pending: JournalOp[] = [];
  private pendingBytes = 0;
  /** Operations committed to IndexedDB so far, and how many of them PostgreSQL holds. */
  private committedCount = 0;
  private durableCount = 0;
  private inflight?: Promise<void>;
  private readonly loads = new Map<string, Promise<void>>();
  private readonly connections = new Set<{ ref: WeakRef<object>; name: string }>();

  /**
   * A store over `factory`. A process uses {@link CryptoStore.install}; a second instance over a
   * fresh factory is what a restart looks like (tests).
   */
  constructor(opts: CryptoStoreOptions) {
    this.pool = opts.pool;
    this.factory = opts.factory ?? new fake.IDBFactory();
    this.log = opts.log ?? new Logger("CryptoStore");
    journalFactory(this.factory, this);
  }

  /**
   * The process's crypto store: journals a new in-memory IndexedDB and makes it (with
   * fake-indexeddb's classes) the global `indexedDB` the wasm crypto uses. Once per process: a
   * second call with the same pool returns the same store, with another pool it throws.
   */
  static install(pool: pg.Pool, log?: Logger): CryptoStore {
    if (installed) {
      if (installed.pool === pool) return installed;
      throw new Error(
        "CryptoStore.install was called again with another database pool: one crypto store per process",
      );
    }
    const store = new CryptoStore({ pool, log });
    const g = globalThis as Record<string, unknown>;
    for (const name of IDB_CLASSES) g[name] = (fake as Record<string, unknown>)[name];
    g.indexedDB = store.factory;
    installed = store;
    return store;
  }

  /**
   * Restores every database of `storeName` (the name itself and `storeName::…`, as the crypto
   * names them) from PostgreSQL into memory. Call it before the crypto opens the store; once
   * loaded, later calls do nothing. Nothing stored means a new device: nothing is restored.
   */
  load(storeName: string): Promise<void> {
    try {
      assertStorableName(storeName, "crypto store name");
    } catch (err) {
      return Promise.reject(err);
    }
    let loading = this.loads.get(storeName);
    if (!loading) {
      loading = this.restore(storeName);
      this.loads.set(storeName, loading);
      loading.catch(() => this.loads.delete(storeName));
    }
    return loading;
  }

  /**
   * Writes every operation committed so far to PostgreSQL, in one SQL transaction. Concurrent
   * callers share the write in flight; each resolves once everything committed before its call
   * is stored. On failure the operations stay pending for the next flush.
   */
  async flush(): Promise<void> {
    const target = this.committedCount;
    while (this.durableCount < target) {
      this.inflight ??= this.writePending().finally(() => {
        this.inflight = undefined;
      });
      await this.inflight;
    }
  }

  /**
   * Deletes every database of `storeName`, in memory and in PostgreSQL (a device reset). Its
   * open connections are closed first: a machine still using the store fails from then on.
   */
  async forget(storeName: string): Promise<void> {
    assertStorableName(storeName, "crypto store name");
    await this.loads.get(storeName)?.catch(() => undefined);
    const mine = (name: string): boolean => name === storeName || name.startsWith(`${storeName}::`);
    const factory = this.factory as {
      databases(): Promise<{ name: string }[]>;
      deleteDatabase(name: string): {
        onsuccess: (() => void) | null;
        onerror: (() => void) | null;
        error: unknown;
      };
    };
    for (const conn of [...this.connections]) {
      const db = conn.ref.deref();
      if (db && mine(conn.name)) fake.forceCloseDatabase(db as never);
      if (!db || mine(conn.name)) this.connections.delete(conn);
    }
    const inMemory = (await factory.databases()).map((d) => d.name).filter(mine);
    for (const name of inMemory) {
      // Journaled: the drop follows every write committed before it.
      await new Promise<void>((resolve, reject) => {
        const req = factory.deleteDatabase(name);
        req.onsuccess = () => resolve();
        req.onerror = () => reject(req.error);
      });
    }
    const { rows } = await this.pool.query<DatabaseRow>(SQL_DATABASES_OF, [storeName]);
    const onlyStored = rows.map((r) => r.db_name).filter((name) => !inMemory.includes(name));
    if (onlyStored.length > 0) this.committed(onlyStored.map((db) => ({ kind: "drop", db })));
    this.loads.delete(storeName);
    await this.flush();
  }

  stats(): CryptoStoreStats {
    return { pendingOps: this.pending.length, pendingBytes: this.pendingBytes };
  }

  /** @internal The journal's entry point: a transaction's operations, in commit order. */
  committed(ops: JournalOp[]): void {
    for (const op of ops) {
      this.pending.push(op);
      this.pendingBytes += opBytes(op);
    }
    this.committedCount += ops.length;
  }

  /** @internal */
  opened(connection: object, name: string): void {
    for (const conn of this.connections) if (!conn.ref.deref()) this.connections.delete(conn);
    this.connections.add({ ref: new WeakRef(connection), name });
  }

  private async writePending(): Promise<void> {
    const batch = this.pending;
    const bytes = this.pendingBytes;
    const upTo = this.committedCount;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      await this.transaction(statementsFor(batch));
      this.durableCount = upTo;
    } catch (err) {
      this.pending = batch.concat(this.pending);
      this.pendingBytes += bytes;
      this.log.warn("crypto state not yet stored; the next flush retries", { ops: batch.length, err });
      throw new Error(`Storing the encryption state in PostgreSQL failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private async transaction(statements: Statement[]): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      for (const s of statements) await client.query(s.sql, s.params);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch((e: Error) => {
        broken = e;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async restore(storeName: string): Promise<void> {
    const client = await this.pool.connect();
    const found: { row: DatabaseRow; rows: StoredRow[] }[] = [];
    try {
      // One snapshot for every database of the store.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      for (const row of (await client.query<DatabaseRow>(SQL_DATABASES_OF, [storeName])).rows) {
        found.push({ row, rows: (await client.query<StoredRow>(SQL_ROWS_OF, [row.db_name])).rows });
      }
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    const factory = this.factory as { databases(): Promise<{ name: string }[]> };
    const present = new Set((await factory.databases()).map((d) => d.name));
    for (const { row } of found) {
      if (present.has(row.db_name)) {
        throw new Error(
          `The crypto database ${row.db_name} was opened before it was loaded from PostgreSQL: load the store before opening the machine.`,
        );
      }
    }
    for (const { row, rows } of found) {
      await restoreDatabase(
        this.factory,
        row.db_name,
        { version: Number(row.version), stores: row.stores },
        rows,
      );
    }
    if (found.length > 0) {
      this.log.info("crypto store loaded", {
        store: storeName,
        databases: found.length,
        rows: countRows(found),
      });
    }
  }
}

function countRows(found: { rows: StoredRow[] }[]): number {
  return found.reduce((n, f) => n + f.rows.length, 0);
}

function opBytes(op: JournalOp): number {
  switch (op.kind) {
    case "put":
      return op.key.length + op.value.length;
    case "delete":
      return op.key.length;
    default:
      return 0;
  }
}
