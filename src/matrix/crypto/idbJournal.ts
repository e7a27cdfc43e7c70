import v8 from "node:v8";
import * as fake from "fake-indexeddb";
import { encodeKey } from "./idbKey";

/**
 * The write journal of fake-indexeddb (an in-memory IndexedDB): every write a transaction
 * commits, as operations a durable store can replay in order. Only databases opened through a
 * factory passed to {@link journalFactory} are journaled; the rest of fake-indexeddb behaves as
 * shipped. Values are captured with `v8.serialize` when the write is called (the same structured
 * serialization IndexedDB applies), and recorded once the request has succeeded; a transaction's
 * operations reach the sink on its `complete` event and are dropped on `abort`.
 */

export interface IndexSchema {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}
export interface StoreSchema {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexes: IndexSchema[];
}
export interface DatabaseSchema {
  version: number;
  stores: StoreSchema[];
}

/** One committed change; `prune` drops the rows of every store it does not list. */
export type JournalOp =
  | { kind: "put"; db: string; store: string; key: Buffer; value: Buffer }
  | { kind: "delete"; db: string; store: string; key: Buffer }
  | { kind: "clear"; db: string; store: string }
  | { kind: "rename"; db: string; from: string; to: string }
  | { kind: "schema"; db: string; schema: DatabaseSchema }
  | { kind: "prune"; db: string; stores: string[] }
  | { kind: "drop"; db: string };

/** Receives each committed transaction's operations, in commit order. */
export interface JournalSink {
  committed(ops: JournalOp[]): void;
  /** A connection to database `name` opened (for closing it when the database is forgotten). */
  opened(connection: object, name: string): void;
}

// fake-indexeddb's classes, seen only as far as the journal uses them (its typings lean on DOM
// types that this project does not load).
type Listener = (ev: unknown) => void;
interface Target {
  addEventListener(type: string, cb: Listener): void;
}
interface Req extends Target {
  result: unknown;
  transaction: Tx | null;
}
interface Tx extends Target {
  mode: string;
  db: Db;
}
interface RawIndex {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
  deleted?: boolean;
}
interface RawStore {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  deleted: boolean;
  rawIndexes: Map<string, RawIndex>;
}
interface Db extends Target {
  name: string;
  version: number;
  _rawDatabase: { rawObjectStores: Map<string, RawStore> };
  _runningVersionchangeTransaction?: boolean;
}
interface Store {
  name: string;
  transaction: Tx;
  _rawObjectStore: RawStore;
}
interface Cursor {
  source: Store | { objectStore: Store };
  primaryKey: unknown;
}
type Method = (this: unknown, ...args: unknown[]) => unknown;

const sinks = new WeakMap<object, JournalSink>();
const connections = new WeakMap<object, JournalSink>();
const pending = new WeakMap<object, JournalOp[]>();
/** A connection's running upgrade transaction. */
const upgrades = new WeakMap<object, Tx>();
let patched = false;
let originalOpen: Method | undefined;

/** Opens a database through `factory` without journaling what this connection writes (a restore). */
export function openWithoutJournal(factory: object, name: string, version: number): unknown {
  installPatches();
  return originalOpen!.call(factory, name, version);
}

/** Journals every database later opened through `factory` (a fake-indexeddb IDBFactory) into `sink`. */
export function journalFactory(factory: object, sink: JournalSink): void {
  if (!(factory instanceof fake.IDBFactory))
    throw new TypeError("journalFactory needs a fake-indexeddb IDBFactory");
  if (sinks.has(factory)) throw new Error("this IndexedDB factory is already journaled by another store");
  installPatches();
  sinks.set(factory, sink);
}

/** Names kept in PostgreSQL text and JSON columns: well-formed Unicode without NUL. */
export function assertStorableName(name: unknown, what: string): void {
  if (typeof name !== "string" || !name.isWellFormed() || name.includes("\u0000")) {
    throw new TypeError(
      `${what} ${JSON.stringify(name)} cannot be kept in PostgreSQL: use well-formed text without NUL`,
    );
  }
}

function assertStorableKeyPath(keyPath: unknown): void {
  if (keyPath === null || keyPath === undefined) return;
  for (const part of Array.isArray(keyPath) ? keyPath : [keyPath])
    assertStorableName(part, "IndexedDB key path");
}

function patch(proto: object, name: string, make: (orig: Method) => Method): void {
  const orig = (proto as Record<string, Method>)[name];
  if (typeof orig !== "function")
    throw new Error(`fake-indexeddb has no ${name}: the crypto store needs fake-indexeddb 6`);
  (proto as Record<string, Method>)[name] = make(orig);
}

/**
 * Records the operation built on success of `req` into `ops` (the transaction's list), given
 * the database's name and the store's name as they are then.
 */
function onSuccess(
  req: unknown,
  ops: JournalOp[],
  store: Store,
  build: (db: string, store: string) => JournalOp | JournalOp[],
): void {
  (req as Req).addEventListener("success", () => {
    // A request queued before its store was deleted in an upgrade wrote into the deleted store.
    if (store._rawObjectStore.deleted) return;
    const op = build(store.transaction.db.name, store._rawObjectStore.name);
    if (!Array.isArray(op)) ops.push(op);
    else for (const one of op) ops.push(one);
  });
}

/**
 * The value of a write, serialized now (the caller may change the object afterwards). What V8
 * cannot serialize, IndexedDB's structured clone refuses too: the write then throws its own error.
 */
function serialize(store: Store, write: Method, self: unknown, args: unknown[]): Buffer {
  try {
    return v8.serialize(args[0]);
  } catch (err) {
    write.apply(self, args);
    // IndexedDB took a value V8 could not serialize: undo the transaction rather than lose the write.
    (store.transaction as unknown as { abort(): void }).abort();
    throw err;
  }
}

function watchTransaction(tx: Tx, sink: JournalSink, upgrade: boolean): void {
  const ops: JournalOp[] = [];
  pending.set(tx, ops);
  tx.addEventListener("complete", () => {
    pending.delete(tx);
    if (!upgrade) return sink.committed(ops);
    // The structure goes first (rows written in the upgrade belong to its database); rows of
    // stores it no longer has are dropped last, after renames moved theirs.
    const schema = schemaOf(tx.db);
    const stores = schema.stores.map((st) => st.name);
    sink.committed([
      { kind: "schema", db: tx.db.name, schema },
      ...ops,
      { kind: "prune", db: tx.db.name, stores },
    ]);
  });
  tx.addEventListener("abort", () => pending.delete(tx));
}

/** A database's structure as it stands, from fake-indexeddb's own record of it. */
function schemaOf(db: Db): DatabaseSchema {
  const stores: StoreSchema[] = [];
  for (const raw of db._rawDatabase.rawObjectStores.values()) {
    if (raw.deleted) continue;
    const indexes = [...raw.rawIndexes.values()]
      .filter((i) => !i.deleted)
      .map((i) => ({ name: i.name, keyPath: i.keyPath, unique: i.unique, multiEntry: i.multiEntry }));
    stores.push({ name: raw.name, keyPath: raw.keyPath, autoIncrement: raw.autoIncrement, indexes });
  }
  return { version: db.version, stores };
}

function installPatches(): void {
  if (patched) return;
  patched = true;

  patch(fake.IDBFactory.prototype, "open", (orig) => {
    originalOpen = orig;
    return function (this: unknown, ...args: unknown[]) {
      const sink = sinks.get(this as object);
      if (sink) assertStorableName(args[0], "IndexedDB database name");
      const req = orig.apply(this, args) as Req;
      if (sink) {
        req.addEventListener("upgradeneeded", () => {
          connections.set(req.result as object, sink);
          upgrades.set(req.result as object, req.transaction!);
          watchTransaction(req.transaction!, sink, true);
        });
        req.addEventListener("success", () => {
          connections.set(req.result as object, sink);
          sink.opened(req.result as object, String(args[0]));
        });
      }
      return req;
    };
  });
  patch(
    fake.IDBFactory.prototype,
    "deleteDatabase",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const sink = sinks.get(this as object);
        const req = orig.apply(this, args) as Req;
        const db = String(args[0]);
        if (sink) req.addEventListener("success", () => sink.committed([{ kind: "drop", db }]));
        return req;
      },
  );
  patch(
    fake.IDBDatabase.prototype,
    "transaction",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const tx = orig.apply(this, args) as Tx;
        const sink = connections.get(this as object);
        if (sink && tx.mode !== "readonly") watchTransaction(tx, sink, false);
        return tx;
      },
  );
  patch(
    fake.IDBDatabase.prototype,
    "createObjectStore",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        if (connections.has(this as object)) {
          assertStorableName(args[0], "IndexedDB object store name");
          assertStorableKeyPath((args[1] as { keyPath?: unknown } | undefined)?.keyPath);
        }
        return orig.apply(this, args);
      },
  );
  patch(
    fake.IDBObjectStore.prototype,
    "createIndex",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        if (connections.has((this as Store).transaction.db)) {
          assertStorableName(args[0], "IndexedDB index name");
          assertStorableKeyPath(args[1]);
        }
        return orig.apply(this, args);
      },
  );
  patch(
    fake.IDBDatabase.prototype,
    "deleteObjectStore",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const result = orig.apply(this, args);
        // Only inside an upgrade (the call throws otherwise): a store deleted and created again
        // under the same name starts empty.
        const ops = pending.get(upgrades.get(this as object) ?? {});
        ops?.push({ kind: "clear", db: (this as Db).name, store: String(args[0]) });
        return result;
      },
  );

  // The database and store names are read when a request succeeds: an upgrade may have renamed
  // the store since the call, and its rename is journaled at the rename.
  for (const method of ["put", "add"]) {
    patch(
      fake.IDBObjectStore.prototype,
      method,
      (orig) =>
        function (this: unknown, ...args: unknown[]) {
          const store = this as Store;
          const ops = pending.get(store.transaction);
          if (!ops) return orig.apply(this, args);
          const value = serialize(store, orig, this, args);
          const req = orig.apply(this, args) as Req;
          onSuccess(req, ops, store, (db, name) => ({
            kind: "put",
            db,
            store: name,
            key: encodeKey(req.result),
            value,
          }));
          return req;
        },
    );
  }
  patch(
    fake.IDBObjectStore.prototype,
    "delete",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const store = this as Store;
        const ops = pending.get(store.transaction);
        if (!ops) return orig.apply(this, args);
        if (args[0] instanceof fake.IDBKeyRange) {
          // Requests run in order: the keys read just before the delete are the keys it deletes.
          const keys = (store as unknown as { getAllKeys(q: unknown): Req }).getAllKeys(args[0]);
          const req = orig.apply(this, args);
          onSuccess(req, ops, store, (db, name) =>
            (keys.result as unknown[]).map((k) => ({
              kind: "delete" as const,
              db,
              store: name,
              key: encodeKey(k),
            })),
          );
          return req;
        }
        const req = orig.apply(this, args);
        const key = encodeKey(args[0]);
        onSuccess(req, ops, store, (db, name) => ({ kind: "delete", db, store: name, key }));
        return req;
      },
  );
  patch(
    fake.IDBObjectStore.prototype,
    "clear",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const store = this as Store;
        const ops = pending.get(store.transaction);
        const req = orig.apply(this, args);
        if (ops) onSuccess(req, ops, store, (db, name) => ({ kind: "clear", db, store: name }));
        return req;
      },
  );
  const nameProperty = Object.getOwnPropertyDescriptor(fake.IDBObjectStore.prototype, "name");
  if (!nameProperty?.get || !nameProperty.set)
    throw new Error("fake-indexeddb's object store has no name accessor");
  Object.defineProperty(fake.IDBObjectStore.prototype, "name", {
    ...nameProperty,
    set(this: Store, to: unknown) {
      const from = this.name;
      const ops = pending.get(this.transaction);
      if (ops) assertStorableName(String(to), "IndexedDB object store name");
      nameProperty.set!.call(this, to);
      if (ops && this.name !== from)
        ops.push({ kind: "rename", db: this.transaction.db.name, from, to: this.name });
    },
  });

  const cursorStore = (cursor: Cursor): Store =>
    cursor.source instanceof fake.IDBIndex
      ? (cursor.source as { objectStore: Store }).objectStore
      : (cursor.source as Store);
  patch(
    fake.IDBCursor.prototype,
    "update",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const cursor = this as Cursor;
        const store = cursorStore(cursor);
        const ops = pending.get(store.transaction);
        if (!ops) return orig.apply(this, args);
        const value = serialize(store, orig, this, args);
        const req = orig.apply(this, args);
        const key = encodeKey(cursor.primaryKey);
        onSuccess(req, ops, store, (db, name) => ({ kind: "put", db, store: name, key, value }));
        return req;
      },
  );
  patch(
    fake.IDBCursor.prototype,
    "delete",
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        const cursor = this as Cursor;
        const store = cursorStore(cursor);
        const ops = pending.get(store.transaction);
        if (!ops) return orig.apply(this, args);
        const req = orig.apply(this, args);
        const key = encodeKey(cursor.primaryKey);
        onSuccess(req, ops, store, (db, name) => ({ kind: "delete", db, store: name, key }));
        return req;
      },
  );
}
