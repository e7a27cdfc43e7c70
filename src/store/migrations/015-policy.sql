-- Policy lists: rooms that follow a policy room, and the bans the bridge made for their rules.

-- A Matrix room following a policy room (`!cb policy subscribe`). Lists the whole bridge follows
-- are in the config, not here.
CREATE TABLE policy_subscription (
  room_id       text        NOT NULL,
  list_room_id  text        NOT NULL,
  list_ref      text        NOT NULL,
  added_by      text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, list_room_id)
);
CREATE INDEX policy_subscription_list_idx ON policy_subscription (list_room_id);

-- A person banned in a room because a rule matched: what the bridge did, so that removing the
-- rule undoes exactly that. matrix: the bridge banned them in the room (not a moderator before
-- it); chats: [{"platform": …, "chat_id": …}] where they were banned on the platform.
CREATE TABLE policy_ban (
  room_id     text        NOT NULL,
  mxid        text        NOT NULL,
  list_room_id text       NOT NULL,
  entity      text        NOT NULL,
  matrix      boolean     NOT NULL,
  chats       jsonb       NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, mxid)
);
