-- A chat someone unlinked: its messages are not bridged, and no portal is created for it, until
-- someone links it again (which removes the row). Without it, the chat's next message would
-- create a portal again (and adopt the old room through its alias).
CREATE TABLE unlinked_chat (
  platform    text NOT NULL,
  chat_id     text NOT NULL,
  room_id     text NOT NULL,
  unlinked_by text NOT NULL,
  unlinked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, chat_id)
);
