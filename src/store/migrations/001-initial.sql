-- Core tables. Applied in one transaction by Migrator and recorded in schema_migrations.
-- No foreign keys between the bridge tables: rows arrive from two networks in any order,
-- and a missing parent must not make a bridged message fail.

-- A remote chat bridged into a Matrix room; several chats may share one room.
CREATE TABLE portal (
  platform    text        NOT NULL,
  chat_id     text        NOT NULL,
  room_id     text        NOT NULL,
  login_id    text        NOT NULL,
  kind        text        NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
  name        text,
  topic       text,
  avatar_key  text,
  linked      boolean     NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, chat_id)
);
CREATE INDEX portal_room_id_idx ON portal (room_id);

CREATE TABLE ghost (
  mxid          text    PRIMARY KEY,
  platform      text    NOT NULL,
  remote_id     text    NOT NULL,
  display_name  text,
  avatar_key    text,
  avatar_mxc    text,
  registered    boolean NOT NULL DEFAULT false
);

-- Rooms a ghost is known to have joined, to skip redundant joins.
CREATE TABLE ghost_room (
  mxid     text NOT NULL,
  room_id  text NOT NULL,
  PRIMARY KEY (mxid, room_id)
);
CREATE INDEX ghost_room_room_id_idx ON ghost_room (room_id);

-- One row per bridged message part. The (event_id, …) unique index also serves lookups by event.
CREATE TABLE message (
  platform       text        NOT NULL,
  chat_id        text        NOT NULL,
  remote_id      text        NOT NULL,
  part           integer     NOT NULL DEFAULT 0 CHECK (part >= 0),
  room_id        text        NOT NULL,
  event_id       text        NOT NULL,
  sender_mxid    text        NOT NULL,
  remote_sender  text,
  thread_root    text,
  "timestamp"    timestamptz NOT NULL,
  PRIMARY KEY (platform, chat_id, remote_id, part),
  CONSTRAINT message_event_part_key UNIQUE (event_id, platform, chat_id, part)
);
CREATE INDEX message_chat_time_idx ON message (platform, chat_id, "timestamp" DESC, part DESC);

CREATE TABLE reaction (
  platform          text NOT NULL,
  chat_id           text NOT NULL,
  target_remote_id  text NOT NULL,
  sender            text NOT NULL,
  key               text NOT NULL,
  room_id           text NOT NULL,
  event_id          text NOT NULL,
  target_event_id   text NOT NULL,
  PRIMARY KEY (platform, chat_id, target_remote_id, sender, key)
);
CREATE INDEX reaction_event_id_idx ON reaction (event_id);

-- One platform account. credentials hold tokens: never log a row.
CREATE TABLE login (
  id           text        PRIMARY KEY,
  platform     text        NOT NULL,
  owner_mxid   text        NOT NULL,
  remote_id    text,
  credentials  jsonb       NOT NULL DEFAULT '{}'::jsonb,
  state        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_platform_idx ON login (platform);

-- A Matrix user of the bridge ("user" is a reserved word).
CREATE TABLE matrix_user (
  mxid             text PRIMARY KEY,
  management_room  text,
  refused_at       timestamptz
);
CREATE INDEX matrix_user_management_room_idx ON matrix_user (management_room)
  WHERE management_room IS NOT NULL;

CREATE TABLE kv (
  namespace   text        NOT NULL,
  key         text        NOT NULL,
  value       text        NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, key)
);

-- Homeserver transaction ids already accepted, so a retried PUT /transactions is not re-queued.
CREATE TABLE appservice_txn (
  txn_id       text        PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now()
);

-- Durable deliveries; a row is deleted once delivered. id order is queue order.
CREATE TABLE delivery_queue (
  id          bigserial   PRIMARY KEY,
  queue_key   text        NOT NULL,
  kind        text        NOT NULL CHECK (kind IN ('remote', 'matrix')),
  payload     jsonb       NOT NULL,
  attempts    integer     NOT NULL DEFAULT 0,
  last_error  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
