/**
 * IndexedDB in tests, with promises: open, run a transaction, and read a database back whole
 * (structure and records), to compare what is in memory with what a restore produced.
 */

// fake-indexeddb's typings name DOM types this project does not load: its objects are seen
// through these few shapes.
export interface Req<T = unknown> {
  result: T;
  error: unknown;
  transaction: Tx;
  onsuccess: ((ev: { target: Req<T> }) => void) | null;
  onerror: ((ev: { preventDefault(): void }) => void) | null;
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
export interface Cursor {
  primaryKey: unknown;
  value: Record<string, unknown>;
  update(value: unknown): Req;
  delete(): Req;
  continue(): void;
}
export interface Store {
  name: string;
  keyPath: string | null;
  autoIncrement: boolean;
  indexNames: Iterable<string>;
  put(value: unknown, key?: unknown): Req;
  add(value: unknown, key?: unknown): Req;
  delete(key: unknown): Req;
  clear(): Req;
  getAll(): Req<unknown[]>;
  getAllKeys(): Req<unknown[]>;
  openCursor(): Req<Cursor | null>;
  index(name: string): {
    keyPath: unknown;
    unique: boolean;
    multiEntry: boolean;
    openCursor(): Req<Cursor | null>;
  };
  createIndex(name: string, keyPath: string, opts?: object): unknown;
}
export interface Tx {
  objectStore(name: string): Store;
  abort(): void;
  oncomplete: (() => void) | null;
  onabort: (() => void) | null;
}
export interface Db {
  name: string;
  version: number;
  objectStoreNames: Iterable<string>;
  transaction(stores: string[], mode: "readonly" | "readwrite"): Tx;
  createObjectStore(name: string, opts?: object): Store;
  deleteObjectStore(name: string): void;
  close(): void;
}
export interface Factory {
  open(name: string, version?: number): Req<Db>;
  cmp(a: unknown, b: unknown): number;
}

/** Opens `name`, running `upgrade` in its versionchange transaction when there is one. */
export function openDb(
  factory: Factory,
  name: string,
  version?: number,
  upgrade?: (db: Db, tx: Tx) => void,
): Promise<Db> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, version);
    req.onupgradeneeded = () => upgrade?.(req.result, req.transaction);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`opening ${name} is blocked`));
  });
}

/** Resolves "complete" or "abort" once the transaction ends. */
export function ended(tx: Tx): Promise<"complete" | "abort"> {
  return new Promise((resolve) => {
    tx.oncomplete = () => resolve("complete");
    tx.onabort = () => resolve("abort");
  });
}

export interface StoreDump {
  keyPath: string | null;
  autoIncrement: boolean;
  indexes: { name: string; keyPath: unknown; unique: boolean; multiEntry: boolean }[];
  records: [unknown, unknown][];
}

/** A database whole: version, and per store its structure and records in key order. */
export async function dumpDb(db: Db): Promise<{ version: number; stores: Record<string, StoreDump> }> {
  const names = [...db.objectStoreNames].sort();
  const stores: Record<string, StoreDump> = {};
  if (names.length === 0) return { version: db.version, stores };
  const tx = db.transaction(names, "readonly");
  const reads = names.map((name) => {
    const os = tx.objectStore(name);
    const keys = os.getAllKeys();
    const values = os.getAll();
    // Read while the transaction is active: afterwards index() throws.
    const indexes = [...os.indexNames].sort().map((i) => {
      const idx = os.index(i);
      return { name: i, keyPath: idx.keyPath, unique: idx.unique, multiEntry: idx.multiEntry };
    });
    return { name, os, keys, values, indexes };
  });
  await ended(tx);
  for (const { name, os, keys, values, indexes } of reads) {
    stores[name] = {
      keyPath: os.keyPath,
      autoIncrement: os.autoIncrement,
      indexes,
      records: keys.result.map((k, n) => [k, values.result[n]]),
    };
  }
  return { version: db.version, stores };
}
