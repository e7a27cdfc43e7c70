-- The device each of the bridge's users (bot, AI user, ghosts) encrypts with: made by the bridge
-- (appservice device management) the first time the user takes part in an encrypted room. A new
-- id is used whenever the crypto state of the old one is gone, so keys never clash on the server.
CREATE TABLE crypto_device (
  user_id text PRIMARY KEY,
  device_id text NOT NULL,
  -- Its cross-signing identity is on the homeserver (the device is signed by it).
  cross_signed boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Encrypted events that could not be decrypted yet: they wait here for their room key (which may
-- come late, or on request) and are bridged when it comes; after encryption.key_wait_seconds the
-- room is told instead. Kept across restarts.
CREATE TABLE crypto_waiting (
  event_id text PRIMARY KEY,
  room_id text NOT NULL,
  session_id text NOT NULL,
  event jsonb NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crypto_waiting_session_idx ON crypto_waiting (session_id);
