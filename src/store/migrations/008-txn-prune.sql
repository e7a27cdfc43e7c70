-- Accepted homeserver transaction ids are pruned by age (TxnPruner); this index makes the
-- hourly DELETE and its max(received_at) lookup touch only the rows concerned.
CREATE INDEX appservice_txn_received_at_idx ON appservice_txn (received_at);
