/** The validated configuration. Keys match config.yaml (snake_case). */
export type PermissionLevel = "relay" | "user" | "admin";

export interface PlatformConfig {
  enabled: boolean;
  /** Ghost localpart prefix: `@<prefix><remote id>:<domain>`. Default `_<platform>_`. */
  ghost_prefix: string;
  /** Portal alias localpart prefix: `#<prefix><chat id>:<domain>`. Default `_<platform>_`. */
  alias_prefix: string;
  /** Connector-specific keys, validated by the connector's own schema section. */
  [key: string]: unknown;
}

export interface BridgeConfig {
  homeserver: {
    /** Client-server API base URL the bridge talks to. */
    url: string;
    /** The server name: the part after the colon in user ids. */
    domain: string;
  };
  appservice: {
    /** Registration id. */
    id: string;
    /** URL the homeserver uses to reach the bridge. */
    url: string;
    bind_address: string;
    port: number;
    /** Public base URL of the listener, for media platforms fetch by URL (avatars). */
    public_url?: string;
    /** Path of the registration file holding as_token/hs_token. */
    registration: string;
  };
  bridge: {
    bot: { localpart: string; displayname: string; avatar?: string };
    /** Prefix for commands outside the management room, e.g. "!cb". */
    command_prefix: string;
    /** `*`, a server name or a full MXID → level. */
    permissions: Record<string, PermissionLevel>;
    /** Regular expressions over user ids of other appservices' users: never a permission level. */
    other_appservice_users: string[];
    /** How portals are joined: "invite" (only invited) or "public" (anyone on the server may join by alias). */
    portal_join_rule: "invite" | "public";
    /** A Matrix space per login holding its portals. */
    personal_spaces: boolean;
    /** Ghost display names: `{displayname}`, `{platform}`, `{id}`. */
    displayname_template: string;
    /** Seconds a remote chat's admins have to approve a link through the shared bot. */
    link_approval_timeout_seconds: number;
  };
  ai: AiConfig;
  database: {
    /** postgres:// URL; empty → embedded PostgreSQL in `data_dir`. */
    url?: string;
    data_dir: string;
    /** Port for embedded PostgreSQL; 0 picks a free one. */
    embedded_port: number;
    max_connections: number;
  };
  encryption: {
    /** Join, link and answer in encrypted rooms. */
    allow: boolean;
    /** New portals are created encrypted. */
    default: boolean;
    /** Refuse unencrypted portals. */
    require: boolean;
    /** How long an undecryptable message waits for its key before the room is told. */
    key_wait_seconds: number;
    /** Encrypts the crypto state at rest; derived from the as_token when unset. */
    pickle_key?: string;
  };
  delivery: {
    /** First retry delay; doubles up to `max_backoff_ms`. */
    initial_backoff_ms: number;
    max_backoff_ms: number;
    /** Attempts at a message the other side keeps refusing, before it is quarantined. */
    max_attempts: number;
    /** How long an outage may hold a message before it is given up. */
    give_up_after_seconds: number;
  };
  moderation: {
    /** Room power level needed for the moderation commands (bridge admins always may). */
    min_power_level: number;
    /** Message-map rows older than this many days are pruned; 0 keeps them. */
    message_retention_days: number;
  };
  provisioning: {
    enabled: boolean;
    /** Shared secret for `Authorization: Bearer`. */
    shared_secret?: string;
    prefix: string;
  };
  /** The web page and its OpenID-authenticated API. */
  web: {
    enabled: boolean;
    /** Lifetime of a page's bridge session. */
    session_minutes: number;
    /** Logins one user may start from the page per hour. */
    login_starts_per_hour: number;
    /** Direct chats one user may start through the API per hour. */
    chat_starts_per_hour: number;
    /** Origins that may frame the page (Element as a room widget). */
    widget_origins: string[];
  };
  metrics: { enabled: boolean };
  /** Policy lists (Mjolnir/Draupnir ban lists) the whole bridge follows. */
  policy: {
    /** Policy rooms, by id or alias. */
    lists: string[];
  };
  /** Flood brakes on messages from the platforms; 0 turns a limit off. */
  flood: {
    /** Messages per minute one remote person may send, over all chats. */
    ghost_per_minute: number;
    /** Messages per minute one remote chat may send. */
    chat_per_minute: number;
    /** How long a flooding person or chat stays muted. */
    mute_seconds: number;
  };
  /** History brought into a portal's room when it is made. */
  backfill: {
    /** Most messages brought into a new portal; 0: none. */
    initial_limit: number;
  };
  logging: { level: "error" | "warn" | "info" | "debug"; format: "pretty" | "json" };
  platforms: Record<string, PlatformConfig>;
}

export type AiMode = "mention" | "always" | "off";

/** One `ai.providers.<name>` entry. */
export interface AiProviderConfig {
  kind: "openai" | "ollama";
  base_url: string;
  api_key?: string;
  model: string;
  stream: boolean;
  timeout_ms: number;
  max_retries: number;
  /** The model reads images. */
  vision: boolean;
  /** The model calls functions (tools are offered to it). */
  tools: boolean;
}

/** One `ai.mcp_servers.<name>` entry: a stdio command or a Streamable HTTP URL. */
export interface AiMcpServerConfig {
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
  /** Rooms (ids or aliases) whose AI may call this server's tools; `*`: every room. */
  rooms: string[];
  /** Tools of the server offered (all when empty). */
  tools: string[];
  timeout_ms: number;
}

/** Which new portals the AI joins by itself. */
export type AiAutoJoin = "none" | "dm" | "all";

/** The AI puppet (`ai` section). */
export interface AiConfig {
  enabled: boolean;
  localpart: string;
  displayname: string;
  command_prefix: string;
  invite_level: PermissionLevel;
  command_level: PermissionLevel;
  /** Mode of rooms with more than two members that set none. */
  default_mode: AiMode;
  system_prompt: string;
  /** New portals the AI joins, by platform (`default`: the others). */
  auto_join: Record<string, AiAutoJoin>;
  /** Regular expressions on user ids the AI never answers. */
  ignore_users: string[];
  context: { max_events: number; token_budget: number; max_answer_tokens: number };
  /** Images for providers with `vision`. */
  vision: { max_images: number; max_bytes: number };
  /** Text-like files read into the context. */
  files: { max_bytes: number; max_files: number; max_pdf_bytes: number };
  /** Audio transcribed into the context (off without `base_url`). */
  transcription: {
    base_url?: string;
    api_key?: string;
    model: string;
    max_bytes: number;
    max_files: number;
    timeout_ms: number;
  };
  streaming: { edit_interval_ms: number; max_edits: number };
  /** Function calling, for providers with `tools`. */
  tools: {
    enabled: boolean;
    /** Built-in tools offered (search_room, read_span, who_is_here). */
    builtin: string[];
    max_steps: number;
    timeout_ms: number;
    max_output_chars: number;
  };
  mcp_servers: Record<string, AiMcpServerConfig>;
  providers: Record<string, AiProviderConfig>;
  default_provider?: string;
  failover: string[];
  limits: {
    user_per_minute: number;
    room_per_minute: number;
    user_daily_tokens: number;
    room_daily_tokens: number;
  };
  redact: { email: boolean; phone: boolean; patterns: string[] };
}

/** Tokens of the registration file. */
export interface RegistrationTokens {
  as_token: string;
  hs_token: string;
}
