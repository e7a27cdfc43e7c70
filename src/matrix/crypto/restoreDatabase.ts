import v8 from "node:v8";
import type { DatabaseSchema, StoreSchema } from "./idbJournal";
import { openWithoutJournal } from "./idbJournal";
import { decodeKey, type IdbKey } from "./idbKey";

/** One stored record of a database, as read from PostgreSQL. */
export interface StoredRow {
  store: string;
  key: Buffer;
  value: Buffer;
}

interface OpenRequest {
  result: {
    createObjectStore(
      name: string,
      opts: object,
    ): { createIndex(name: string, keyPath: unknown, opts: object): void };
    close(): void;
  };
  transaction: { objectStore(name: string): { put(value: unknown, key?: unknown): unknown } };
  error: unknown;
  onupgradeneeded: (() => void) | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
  onblocked: (() => void) | null;
}

/**
 * Recreates database `name` in `factory` (which must not hold it yet) at the recorded version,
 * with its stores, indexes and records, without journaling the writes (they are what PostgreSQL
 * already holds). Every row is decoded before anything is created, so a damaged row fails the
 * restore with its place named instead of leaving half a database.
 */
export async function restoreDatabase(
  factory: object,
  name: string,
  schema: DatabaseSchema,
  rows: readonly StoredRow[],
): Promise<void> {
  const stores = new Map(schema.stores.map((s) => [s.name, s]));
  const records = rows.map((row) => {
    const store = stores.get(row.store);
    if (!store)
      throw new Error(
        `crypto store row in ${name} names object store "${row.store}", which it does not have`,
      );
    try {
      return { store, key: decodeKey(row.key), value: v8.deserialize(row.value) as unknown };
    } catch (err) {
      throw new Error(`crypto store row in ${name}/${row.store} cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });

  await new Promise<void>((resolve, reject) => {
    const req = openWithoutJournal(factory, name, schema.version) as OpenRequest;
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const s of schema.stores) {
        const os = db.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
        for (const i of s.indexes)
          os.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
      }
      const tx = req.transaction;
      for (const r of records) {
        const os = tx.objectStore(r.store.name);
        if (r.store.keyPath === null) os.put(r.value, r.key);
        else os.put(withKey(r.store, r.value, r.key));
      }
    };
    req.onsuccess = () => {
      req.result.close();
      resolve();
    };
    req.onerror = () =>
      reject(
        new Error(`restoring crypto database ${name} failed: ${String(req.error)}`, { cause: req.error }),
      );
    req.onblocked = () =>
      reject(new Error(`restoring crypto database ${name}: it is already open in this process`));
  });
}

/**
 * A record of a store with in-line keys. A generated key was written into the value by
 * IndexedDB after the journal took its copy, so it is put back here.
 */
function withKey(store: StoreSchema, value: unknown, key: IdbKey): unknown {
  if (
    !store.autoIncrement ||
    typeof store.keyPath !== "string" ||
    value === null ||
    typeof value !== "object"
  ) {
    return value;
  }
  const path = store.keyPath.split(".");
  let at = value as Record<string, unknown>;
  for (const part of path.slice(0, -1)) {
    if (at[part] === undefined) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (at[last] === undefined) at[last] = key;
  return value;
}
