-- Moderation: what the bridge did or mirrored, who is banned or muted through it.

-- One row per moderation action the bridge took or mirrored. results: the outcome on each
-- side, [{"where": "matrix" | "<platform> <chat>", "ok": bool, "detail": text}]. room_id is
-- NULL for actions over the whole bridge (an erasure).
CREATE TABLE moderation_audit (
  id          bigserial   PRIMARY KEY,
  room_id     text,
  action      text        NOT NULL,
  actor       text        NOT NULL,
  target      text        NOT NULL,
  reason      text,
  results     jsonb       NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_audit_room_idx ON moderation_audit (room_id, id DESC);

-- Matrix users banned from a room: messages of theirs still queued are not relayed.
CREATE TABLE moderation_ban (
  room_id    text        NOT NULL,
  mxid       text        NOT NULL,
  banned_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, mxid)
);

-- Matrix users muted by power level: the level to give back, and when (NULL: on unmute).
CREATE TABLE moderation_mute (
  room_id         text        NOT NULL,
  mxid            text        NOT NULL,
  previous_level  integer,
  until           timestamptz,
  PRIMARY KEY (room_id, mxid)
);

-- A person's messages in a room, newest first (purge), and the oldest rows (retention).
CREATE INDEX message_room_sender_idx ON message (room_id, sender_mxid, "timestamp" DESC);
CREATE INDEX message_timestamp_idx ON message ("timestamp");
