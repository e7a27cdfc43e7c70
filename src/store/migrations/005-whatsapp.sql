-- WhatsApp (baileys) authentication state, one set per login: the device credentials and the
-- Signal keys (pre-keys, sessions, sender keys, app-state keys…). Values are baileys' own JSON
-- with its Buffer encoding; `auth_key` is the login's `credentials.auth_key`, not its id, so a
-- pairing can store keys before the login row exists.
CREATE TABLE whatsapp_auth_creds (
  auth_key    text        PRIMARY KEY,
  creds       jsonb       NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE whatsapp_auth_keys (
  auth_key  text  NOT NULL,
  type      text  NOT NULL,
  key_id    text  NOT NULL,
  value     jsonb NOT NULL,
  PRIMARY KEY (auth_key, type, key_id)
);
