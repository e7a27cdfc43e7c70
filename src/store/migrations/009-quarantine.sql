-- Events the bridge could not take (unstorable content) or deliver (given up after retries),
-- with the reason, for an admin to list, retry or drop. payload is text, not jsonb: it holds
-- what jsonb refused too; NULL when the event could not even be serialized.
CREATE TABLE quarantine (
  id          bigserial   PRIMARY KEY,
  kind        text        NOT NULL CHECK (kind IN ('remote', 'matrix')),
  queue_key   text        NOT NULL,
  event_id    text,
  room_id     text,
  payload     text,
  reason      text        NOT NULL,
  attempts    integer     NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- appservice_txn.txn_id now holds the transaction's key: its id plus a digest of its content
-- (a homeserver may reuse ids, e.g. Synapse on SQLite after a restart).
COMMENT ON COLUMN appservice_txn.txn_id IS 'transaction id and content digest';
