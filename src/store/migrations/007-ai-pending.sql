-- The AI puppet: triggers accepted for an answer and not answered yet. A row is written when
-- the trigger rules accept an event and removed with the answer's usage row (or when the AI
-- gives up with a notice), so an answer cut off by a crash is generated again at start.
CREATE TABLE ai_pending (
  trigger_event_id  text        PRIMARY KEY,
  room_id           text        NOT NULL,
  -- The trigger event as the homeserver delivered it.
  event             jsonb       NOT NULL,
  as_reply          boolean     NOT NULL,
  -- The answer's first message, once sent: a resumed answer edits it instead of sending another.
  first_event_id    text,
  -- Generations started; a trigger that keeps failing to finish is given up.
  attempts          integer     NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_pending_room_idx ON ai_pending (room_id, created_at);
