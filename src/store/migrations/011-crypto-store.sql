-- The end-to-end encryption state (identity keys, Olm and Megolm sessions, device lists), kept as
-- the IndexedDB databases the Rust crypto writes (src/matrix/crypto/CryptoStore.ts): one row per
-- database with its structure, one row per record. Values are opaque (V8-serialized, and the
-- crypto encrypts its own fields); keys are IndexedDB keys in a canonical byte encoding.
CREATE TABLE crypto_idb_database (
  db_name     text        PRIMARY KEY,
  version     bigint      NOT NULL,
  stores      jsonb       NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crypto_idb_row (
  db_name  text  NOT NULL REFERENCES crypto_idb_database (db_name) ON DELETE CASCADE,
  store    text  NOT NULL,
  key      bytea NOT NULL,
  value    bytea NOT NULL,
  PRIMARY KEY (db_name, store, key)
);
