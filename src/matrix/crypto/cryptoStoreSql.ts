import type { DatabaseSchema, JournalOp } from "./idbJournal";

/** The SQL of the crypto store (tables from migration 011), and how a journal becomes statements. */

export const SQL_UPSERT_DATABASE = `INSERT INTO crypto_idb_database (db_name, version, stores) VALUES ($1, $2, $3)
  ON CONFLICT (db_name) DO UPDATE SET version = EXCLUDED.version, stores = EXCLUDED.stores, updated_at = now()`;
/** Rows of stores an upgrade deleted. */
export const SQL_DELETE_OTHER_STORES =
  "DELETE FROM crypto_idb_row WHERE db_name = $1 AND NOT (store = ANY($2::text[]))";
export const SQL_DROP_DATABASE = "DELETE FROM crypto_idb_database WHERE db_name = $1";
export const SQL_CLEAR_STORE = "DELETE FROM crypto_idb_row WHERE db_name = $1 AND store = $2";
export const SQL_RENAME_STORE = "UPDATE crypto_idb_row SET store = $3 WHERE db_name = $1 AND store = $2";
export const SQL_UPSERT_ROWS = `INSERT INTO crypto_idb_row (db_name, store, key, value)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[])
  ON CONFLICT (db_name, store, key) DO UPDATE SET value = EXCLUDED.value`;
export const SQL_DELETE_ROWS = `DELETE FROM crypto_idb_row r
  USING unnest($1::text[], $2::text[], $3::bytea[]) AS d(db_name, store, key)
  WHERE r.db_name = d.db_name AND r.store = d.store AND r.key = d.key`;
/** Databases of a store name: the name itself and `name::…`. */
export const SQL_DATABASES_OF = `SELECT db_name, version, stores FROM crypto_idb_database
  WHERE db_name = $1 OR starts_with(db_name, $1 || '::') ORDER BY db_name`;
export const SQL_ROWS_OF = "SELECT store, key, value FROM crypto_idb_row WHERE db_name = $1";

export interface Statement {
  sql: string;
  params: unknown[];
}

export interface DatabaseRow {
  db_name: string;
  version: string;
  stores: DatabaseSchema["stores"];
}

/**
 * The statements that apply `ops` in order. Puts and deletes between two whole-store changes
 * (clear, rename, schema, prune, drop) commute once reduced to the last operation per key, so each such run
 * becomes at most one multi-row DELETE and one multi-row upsert.
 */
export function statementsFor(ops: readonly JournalOp[]): Statement[] {
  const out: Statement[] = [];
  let run = new Map<string, Extract<JournalOp, { kind: "put" | "delete" }>>();
  const endRun = (): void => {
    if (run.size > 0) out.push(...runStatements([...run.values()]));
    run = new Map();
  };
  for (const op of ops) {
    switch (op.kind) {
      case "put":
      case "delete":
        // Names never hold NUL (checked when the database or store is created).
        run.set(`${op.db}\u0000${op.store}\u0000${op.key.toString("base64")}`, op);
        break;
      case "clear":
        endRun();
        out.push({ sql: SQL_CLEAR_STORE, params: [op.db, op.store] });
        break;
      case "rename":
        endRun();
        out.push({ sql: SQL_RENAME_STORE, params: [op.db, op.from, op.to] });
        break;
      case "schema":
        endRun();
        out.push({
          sql: SQL_UPSERT_DATABASE,
          params: [op.db, op.schema.version, JSON.stringify(op.schema.stores)],
        });
        break;
      case "prune":
        endRun();
        out.push({ sql: SQL_DELETE_OTHER_STORES, params: [op.db, op.stores] });
        break;
      case "drop":
        endRun();
        out.push({ sql: SQL_DROP_DATABASE, params: [op.db] });
        break;
    }
  }
  endRun();
  return out;
}

function runStatements(ops: Extract<JournalOp, { kind: "put" | "delete" }>[]): Statement[] {
  const out: Statement[] = [];
  const deletes = ops.filter((op) => op.kind === "delete");
  const puts = ops.filter((op) => op.kind === "put");
  if (deletes.length > 0) {
    out.push({
      sql: SQL_DELETE_ROWS,
      params: [deletes.map((op) => op.db), deletes.map((op) => op.store), deletes.map((op) => op.key)],
    });
  }
  if (puts.length > 0) {
    out.push({
      sql: SQL_UPSERT_ROWS,
      params: [
        puts.map((op) => op.db),
        puts.map((op) => op.store),
        puts.map((op) => op.key),
        puts.map((op) => op.value),
      ],
    });
  }
  return out;
}
