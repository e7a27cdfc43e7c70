/**
 * baileys' authentication state (device credentials and Signal keys) kept in PostgreSQL
 * instead of files, one set per `auth_key`, so a login survives restarts and moves with the
 * database. Values are stored as baileys' own JSON (its Buffer encoding).
 */
import type {
  AuthenticationCreds,
  AuthenticationState,
  SignalDataSet,
  SignalDataTypeMap,
} from "@whiskeysockets/baileys";
import type { ConnectorStore } from "../../src/core/connector";
import { baileys, loadBaileys } from "./baileys";

const SQL_GET_CREDS = "SELECT creds::text AS creds FROM whatsapp_auth_creds WHERE auth_key = $1";
const SQL_PUT_CREDS = `INSERT INTO whatsapp_auth_creds (auth_key, creds) VALUES ($1, $2::jsonb)
  ON CONFLICT (auth_key) DO UPDATE SET creds = EXCLUDED.creds, updated_at = now()`;
const SQL_GET_KEYS = `SELECT key_id, value::text AS value FROM whatsapp_auth_keys
  WHERE auth_key = $1 AND type = $2 AND key_id = ANY($3::text[])`;
const SQL_PUT_KEYS = `INSERT INTO whatsapp_auth_keys (auth_key, type, key_id, value)
  SELECT $1, $2, k, v::jsonb FROM unnest($3::text[], $4::text[]) AS t(k, v)
  ON CONFLICT (auth_key, type, key_id) DO UPDATE SET value = EXCLUDED.value`;
const SQL_DELETE_KEYS =
  "DELETE FROM whatsapp_auth_keys WHERE auth_key = $1 AND type = $2 AND key_id = ANY($3::text[])";
const SQL_CLEAR_KEYS = "DELETE FROM whatsapp_auth_keys WHERE auth_key = $1";
const SQL_CLEAR_CREDS = "DELETE FROM whatsapp_auth_creds WHERE auth_key = $1";

const encode = (value: unknown): string => JSON.stringify(value, baileys().BufferJSON.replacer);
const decode = <T>(text: string): T => JSON.parse(text, baileys().BufferJSON.reviver) as T;

/** An {@link AuthenticationState} in Postgres, with `saveCreds` for baileys' `creds.update`. */
export interface PgAuth {
  state: AuthenticationState;
  /** Whether the credentials were found (false: a fresh device, to be paired). */
  existing: boolean;
  saveCreds(): Promise<void>;
  /** Removes the credentials and every key (logout). */
  clear(): Promise<void>;
}

/** Loads (or creates, unsaved) the auth state stored under `authKey`. */
export async function pgAuthState(store: ConnectorStore, authKey: string): Promise<PgAuth> {
  const { initAuthCreds, proto } = await loadBaileys();
  const rows = await store.query<{ creds: string }>(SQL_GET_CREDS, [authKey]);
  const existing = rows.length > 0;
  const creds: AuthenticationCreds = existing ? decode(rows[0].creds) : initAuthCreds();
  const state: AuthenticationState = {
    creds,
    keys: {
      async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
        const out: { [id: string]: SignalDataTypeMap[T] } = {};
        if (!ids.length) return out;
        const found = await store.query<{ key_id: string; value: string }>(SQL_GET_KEYS, [
          authKey,
          type,
          ids,
        ]);
        for (const row of found) {
          let value = decode<SignalDataTypeMap[T]>(row.value);
          if (type === "app-state-sync-key")
            value = proto.Message.AppStateSyncKeyData.fromObject(
              value as object,
            ) as unknown as SignalDataTypeMap[T];
          out[row.key_id] = value;
        }
        return out;
      },
      async set(data: SignalDataSet) {
        for (const [type, entries] of Object.entries(data)) {
          const put: [string, string][] = [];
          const del: string[] = [];
          for (const [id, value] of Object.entries(entries ?? {})) {
            if (value === null || value === undefined) del.push(id);
            else put.push([id, encode(value)]);
          }
          if (put.length)
            await store.query(SQL_PUT_KEYS, [authKey, type, put.map((p) => p[0]), put.map((p) => p[1])]);
          if (del.length) await store.query(SQL_DELETE_KEYS, [authKey, type, del]);
        }
      },
      async clear() {
        await store.query(SQL_CLEAR_KEYS, [authKey]);
      },
    },
  };
  return {
    state,
    existing,
    saveCreds: async () => {
      await store.query(SQL_PUT_CREDS, [authKey, encode(state.creds)]);
    },
    clear: async () => {
      await store.query(SQL_CLEAR_KEYS, [authKey]);
      await store.query(SQL_CLEAR_CREDS, [authKey]);
    },
  };
}
