-- The platform's order of a message's remote id (a connector's orderKey), so that catch-up resumes
-- after the newest bridged message by that order and not by a timestamp many messages may share.
-- Collated "C": the key sorts byte by byte. Rows written before have none and sort after those with one.
ALTER TABLE message ADD COLUMN order_key text COLLATE "C";
CREATE INDEX message_chat_order_idx
  ON message (platform, chat_id, order_key DESC NULLS LAST, "timestamp" DESC, part DESC);
-- The new index serves the timestamp order too (rows without a key): the old one would only cost writes.
DROP INDEX message_chat_time_idx;
