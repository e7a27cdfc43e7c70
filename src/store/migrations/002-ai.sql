-- The AI puppet: per-room settings and a usage log.

-- One row per room the AI has been in. NULL settings mean "the config default".
CREATE TABLE ai_room (
  room_id          text        PRIMARY KEY,
  joined           boolean     NOT NULL DEFAULT false,
  mode             text        CHECK (mode IN ('mention', 'always', 'off')),
  provider         text,
  model            text,
  system_prompt    text,
  -- `forget`: context starts after this event (and this time, for events read from elsewhere).
  forget_event_id  text,
  forget_ts        bigint,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per answer (or failed attempt). Daily budgets sum it; `trigger_event_id` keeps a
-- replayed event from being answered twice.
CREATE TABLE ai_usage (
  id                 bigserial   PRIMARY KEY,
  room_id            text        NOT NULL,
  user_id            text        NOT NULL,
  trigger_event_id   text        NOT NULL,
  provider           text,
  model              text,
  prompt_tokens      integer     NOT NULL DEFAULT 0,
  completion_tokens  integer     NOT NULL DEFAULT 0,
  latency_ms         integer     NOT NULL DEFAULT 0,
  ok                 boolean     NOT NULL,
  error              text,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_usage_room_idx ON ai_usage (room_id, created_at);
CREATE INDEX ai_usage_user_idx ON ai_usage (user_id, created_at);
CREATE INDEX ai_usage_trigger_idx ON ai_usage (trigger_event_id);
