-- Disappearing messages. disappearing_chat: a remote chat's timer (seconds; a row only while
-- it is on). disappearing_event: a Matrix event to redact when its message expires, until it
-- is redacted or given up; due_at is the expiry, moved later when a redaction is retried.
CREATE TABLE disappearing_chat (
  platform    text        NOT NULL,
  chat_id     text        NOT NULL,
  seconds     integer     NOT NULL CHECK (seconds > 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, chat_id)
);

CREATE TABLE disappearing_event (
  event_id    text        PRIMARY KEY,
  room_id     text        NOT NULL,
  platform    text        NOT NULL,
  chat_id     text        NOT NULL,
  -- Who redacts: the ghost that sent it, or NULL for the bridge bot.
  redact_as   text,
  expires_at  timestamptz NOT NULL,
  due_at      timestamptz NOT NULL,
  attempts    integer     NOT NULL DEFAULT 0
);
CREATE INDEX disappearing_event_due ON disappearing_event (due_at);
