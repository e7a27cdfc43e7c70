/**
 * The JSON schema (draft-07, checked by ajv) of `config.yaml`. It is the single place that
 * documents every key: `config.sample.yaml` is rendered from the descriptions here, and
 * `ConfigError` texts are built from `x-expected` and `examples`. `types.ts` is the matching
 * TypeScript shape.
 *
 * Extra annotation keywords (registered as an ajv vocabulary):
 * - `x-expected`: what a valid value looks like, in words ("an http(s) URL"), for error texts;
 * - `x-required-when`: why a conditionally required key is needed;
 * - `x-sample-commented`: render the key commented out in the sample;
 * - `x-sample-comment`: extra commented-out lines shown under a map in the sample;
 * - `x-sample-hidden`: leave the key out of the sample (documented elsewhere in it).
 *
 * The node type and its constructors are in `schemaNodes.ts`; each built-in connector's own keys
 * come from its `bridges/<x>/config.ts` through the platform list in `bridges/builtin.ts`.
 */

import { BUILTIN_PLATFORMS, builtinPlatform } from "../../bridges/builtin";
import {
  bool,
  connectorSectionNode,
  HTTP_URL,
  int,
  list,
  type SchemaNode,
  section,
  str,
} from "./schemaNodes";

export type { SchemaNode } from "./schemaNodes";

export { ANNOTATION_KEYWORDS } from "./sectionCheck";

/** Platforms with a built-in connector; they always appear under `platforms` (disabled by default). */
export const KNOWN_PLATFORMS: readonly string[] = BUILTIN_PLATFORMS.map((p) => p.name);

const LOCALPART = "^[a-z0-9._=/+-]+$";
const LOCALPART_TEXT = "a user id localpart: lowercase letters, digits and . _ = / + -";
const PREFIX = "^[a-z0-9._-]+$";
const RELATIVE = "Relative paths are resolved against the directory of the config file.";

/**
 * Schema of one `platforms.<name>` entry. Built-in platforms get their prefixes as defaults;
 * for other names (`name` undefined) the loader fills the prefixes in before validation, and
 * `module` is required because there is no built-in connector to fall back to.
 */
export function platformSchema(name?: string): SchemaNode {
  const shown = name ?? "<platform>";
  const prefix = (what: string, sigil: string, example: string): SchemaNode => {
    const node = str(
      `${what} localpart prefix: \`${sigil}<prefix><escaped remote id>:<domain>\`. ` +
        "Must not overlap another platform's prefix. Default `_<platform>_`.",
      { pattern: PREFIX, "x-expected": "lowercase letters, digits and . _ -", examples: [example] },
    );
    node["x-sample-commented"] = true;
    if (name) node.default = `_${name}_`;
    return node;
  };
  const node: SchemaNode = {
    type: "object",
    description: name
      ? `The ${name} connector. Its own keys (tokens, …) are documented in bridges/${name}/.`
      : "A platform connector. Keys other than the ones below are passed to the connector.",
    properties: {
      enabled: bool(
        "Connect this platform. Its ghosts and aliases are claimed in the registration only when enabled (regenerate the registration after changing this).",
        false,
      ),
      ghost_prefix: prefix("Ghost user", "@", `_${shown}_`),
      alias_prefix: prefix("Portal alias", "#", `_${shown}_`),
      module: str(
        `Path of a connector module to load instead of the built-in one (third-party platforms and test stand-ins). ${RELATIVE}`,
        { minLength: 1, "x-expected": "a module path", examples: [`./connectors/${name ?? "example"}.js`] },
      ),
    },
    additionalProperties: true,
  };
  if (!name) return { ...node, required: ["module"] };
  node.default = { enabled: false };
  node.properties!.module["x-sample-hidden"] = true; // shown once, in the third-party example
  const builtin = builtinPlatform(name);
  if (!builtin) return node;
  // A built-in connector's own keys are checked as strictly as the core's (a stand-in loaded
  // through `module` in its place gets the same validated section).
  const description = `The ${name} connector (bridges/${name}/). ${builtin.config.description}`;
  return connectorSectionNode(builtin.config, node.properties!, { ...node, description });
}

const LEVEL: SchemaNode = { type: "string", enum: ["relay", "user", "admin"] };

function level(description: string, dflt: string): SchemaNode {
  return { ...LEVEL, description, default: dflt };
}

/** One `ai.providers.<name>` entry: an OpenAI-compatible or Ollama endpoint. */
function providerSchema(): SchemaNode {
  return {
    type: "object",
    description: "A model endpoint.",
    additionalProperties: false,
    required: ["kind", "base_url", "model"],
    properties: {
      kind: {
        type: "string",
        description:
          "openai: any OpenAI-compatible API (OpenAI, vLLM, LM Studio, llama.cpp, OpenRouter); ollama: an Ollama server.",
        enum: ["openai", "ollama"],
        "x-expected": "openai or ollama",
      },
      base_url: str("Base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434.", {
        pattern: HTTP_URL,
        "x-expected": "an http(s) URL",
      }),
      api_key: str("API key (openai kind); unset for servers that need none.", {
        minLength: 1,
        "x-expected": "the key the provider issued",
      }),
      model: str("Model used when a room sets none.", { minLength: 1, "x-expected": "a model name" }),
      stream: bool("Stream tokens; false asks for the whole answer at once.", true),
      timeout_ms: int("Give up on a request (and fail over) after this many milliseconds.", 60000, 100),
      max_retries: int("Retries of 429/5xx answers before failing over.", 2, 0, 10),
      vision: bool(
        "The model reads images: images in the room go to it as image parts (OpenAI image_url data URLs, Ollama images). false: they reach it as the text `[image: name]`.",
        false,
      ),
      tools: bool(
        "The model calls functions (OpenAI tools, Ollama tools): the AI's tools (ai.tools, ai.mcp_servers) are offered to it. false: it answers from the conversation alone.",
        false,
      ),
    },
  };
}

/** Names of the AI's built-in tools. */
export const BUILTIN_TOOLS = ["search_room", "read_span", "who_is_here"] as const;

/** One `ai.mcp_servers.<name>` entry. */
function mcpServerSchema(): SchemaNode {
  const strings = {
    type: "object",
    default: {},
    additionalProperties: { type: "string" },
  } as const;
  return {
    type: "object",
    description: "An MCP server: `command` (stdio) or `url` (Streamable HTTP), and the rooms it serves.",
    additionalProperties: false,
    required: ["rooms"],
    properties: {
      command: str("Program started with stdio transport (no shell), e.g. /usr/local/bin/mcp-weather.", {
        minLength: 1,
        "x-expected": "a program path",
      }),
      args: list("Its arguments.", { type: "string" }),
      env: {
        ...strings,
        description: "Extra environment variables for the program (values are secrets: never logged).",
      },
      cwd: str("Its working directory (unset: the bridge's).", {
        minLength: 1,
        "x-expected": "a directory path",
      }),
      url: str("Streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp.", {
        pattern: HTTP_URL,
        "x-expected": "an http(s) URL",
      }),
      headers: {
        ...strings,
        description: "HTTP headers sent with every request, e.g. Authorization (never logged).",
      },
      rooms: {
        type: "array",
        description:
          "Rooms (ids like !abc:example.org or aliases like #ops:example.org) whose AI may call this server's tools; `*` for every room. Required: a server serves no room unless listed.",
        items: { type: "string", pattern: "^([!#]\\S+|\\*)$", "x-expected": "a room id, a room alias or *" },
        examples: [["*"], ["#ops:example.org"]],
      },
      tools: list("Only these tools of the server are offered (empty: all it lists).", {
        type: "string",
        minLength: 1,
      }),
      timeout_ms: int(
        "Give up on one tool call (and on connecting) after this many milliseconds.",
        15000,
        100,
      ),
    },
  };
}

/** The `ai` section: the AI puppet. */
function aiSchema(): SchemaNode {
  const names = { type: "string", pattern: "^[A-Za-z0-9._-]+$", "x-expected": "a provider name" } as const;
  return section("The AI puppet, a Matrix user that answers in rooms where it is joined.", {
    enabled: bool("Register and run the AI puppet.", true),
    localpart: str("Localpart of the AI puppet: `@<localpart>:<domain>`.", {
      default: "ai",
      pattern: LOCALPART,
      "x-expected": LOCALPART_TEXT,
    }),
    displayname: str("Display name of the AI puppet.", { default: "AI" }),
    command_prefix: str("Prefix of the AI's room commands (`!ai help`).", {
      default: "!ai",
      pattern: "^\\S+$",
      "x-expected": "a word without spaces",
    }),
    invite_level: level("Bridge permission level (bridge.permissions) needed to invite the AI.", "user"),
    command_level: level("Bridge permission level needed for the AI's commands.", "user"),
    default_mode: {
      type: "string",
      description:
        "When the AI answers in rooms with more than two members: mention (when mentioned or replied to), always, off. DMs always answer. Rooms change it with `!ai mode`.",
      default: "mention",
      enum: ["mention", "always", "off"],
    },
    system_prompt: str("System prompt of rooms that set none (`!ai prompt`).", {
      default: "You are a helpful assistant taking part in a Matrix chat room. Answer concisely.",
    }),
    auto_join: {
      type: "object",
      description:
        "New portals the AI joins by itself, per platform (`default`: platforms not listed): none; dm (direct chats, where it answers every message); all (also groups, with default_mode). Only where the portal's login owner may invite the AI (invite_level) and a provider is configured; remove it with `!ai leave`.",
      default: { default: "dm" },
      propertyNames: {
        pattern: "^[a-z][a-z0-9_]*$",
        "x-expected": "default or a platform name (telegram, whatsapp…)",
      },
      additionalProperties: { type: "string", enum: ["none", "dm", "all"], "x-expected": "none, dm or all" },
      examples: [{ default: "dm", whatsapp: "none" }],
    },
    ignore_users: list(
      "The AI never answers these users (regular expressions on the user id), e.g. other bridges' bots. It never answers itself, the bridge bot or ghosts of platform bots.",
      { type: "string", minLength: 1, "x-expected": "a regular expression" },
    ),
    context: section("What the model sees.", {
      max_events: int("Most recent room (or thread) events read as context.", 50, 1, 1000),
      token_budget: int("Context is trimmed (oldest first) to about this many tokens.", 3000, 50),
      max_answer_tokens: int("Longest answer, in tokens.", 512, 1),
    }),
    vision: section("Images in the context, for providers with `vision: true`.", {
      max_images: int(
        "Most images per request (the newest ones); older images stay `[image: name]`.",
        4,
        0,
        32,
      ),
      max_bytes: int(
        "Largest image sent, in bytes. A larger one (up to 4 times this) is downscaled to a JPEG that fits, with sharp; otherwise, and when it does not decode, it stays `[image: name]`.",
        5242880,
        1024,
      ),
    }),
    files: section(
      "Text-like files in the room (text/*, JSON, XML, source and config files) and the text of PDFs enter the context.",
      {
        max_bytes: int(
          "Most bytes of one file's text (never more than half of context.token_budget); the rest is cut. Binary files stay `[file: name]`.",
          65536,
          0,
        ),
        max_files: int("Most files read per request (the newest ones).", 4, 0, 32),
        max_pdf_bytes: int(
          "Largest PDF whose text is read (its first 50 pages, cut to max_bytes of text); larger ones, scans and broken PDFs stay `[file: name]`.",
          10485760,
          0,
        ),
      },
    ),
    transcription: section(
      "Voice messages and audio in the room are transcribed through an OpenAI-compatible /audio/transcriptions endpoint, and the transcript enters the context. Unset base_url: audio stays `[audio: name]`.",
      {
        base_url: str("Base URL of the endpoint, e.g. https://api.openai.com/v1 or a local whisper server.", {
          pattern: HTTP_URL,
          "x-expected": "an http(s) URL",
        }),
        api_key: str("API key, when the endpoint needs one.", { minLength: 1, "x-expected": "the key" }),
        model: str("Transcription model.", { default: "whisper-1", minLength: 1 }),
        max_bytes: int(
          "Largest audio file transcribed, in bytes (larger ones stay `[audio: name]`).",
          26214400,
          1024,
        ),
        max_files: int(
          "Most audio files transcribed per request (the newest ones); transcripts are kept.",
          4,
          0,
          32,
        ),
        timeout_ms: int("Give up on one transcription after this many milliseconds.", 30000, 100),
      },
    ),
    streaming: section("How an answer appears: one message, edited in place.", {
      edit_interval_ms: int("Least time between two edits of the answer.", 1000, 100),
      max_edits: int("Most edits of one answer; the last one always holds the complete text.", 15, 1, 500),
    }),
    tools: section(
      "Function calling, for providers with `tools: true`. Each call is shown in the room as a short notice; what a tool returns is data for the model, never a command.",
      {
        enabled: bool("Offer tools to models that call functions.", true),
        builtin: {
          ...list(
            "Built-in tools offered: search_room (words, sender, time span), read_span (what was said in a span, every platform, e.g. for 'what did I miss'), who_is_here (members and their platforms).",
            { type: "string", enum: [...BUILTIN_TOOLS], "x-expected": BUILTIN_TOOLS.join(", ") },
          ),
          default: [...BUILTIN_TOOLS],
        },
        max_steps: int(
          "Most rounds of tool calls for one answer; then the model answers without tools.",
          4,
          1,
          16,
        ),
        timeout_ms: int("Give up on one built-in tool call after this many milliseconds.", 10000, 100),
        max_output_chars: int(
          "Most characters of one tool result given to the model; the rest is cut.",
          8000,
          256,
        ),
      },
    ),
    mcp_servers: {
      type: "object",
      description:
        "MCP servers whose tools the AI may call (stdio or Streamable HTTP), keyed by a name of your choice; each lists the rooms it serves.",
      default: {},
      propertyNames: {
        type: "string",
        pattern: "^[A-Za-z0-9_-]{1,32}$",
        "x-expected": "a name of letters, digits, _ and -",
      },
      additionalProperties: mcpServerSchema(),
      "x-sample-comment": [
        "files:",
        "  command: /usr/local/bin/mcp-server-filesystem",
        "  args: [/srv/shared]",
        "  env: { LOG_LEVEL: warn }",
        "  cwd: /srv",
        "  rooms: ['#ops:example.org']",
        "  tools: [read_file, list_directory]",
        "search:",
        "  url: http://127.0.0.1:3001/mcp",
        "  headers: { Authorization: Bearer ... }",
        "  rooms: ['*']",
        "  timeout_ms: 15000",
      ],
    },
    providers: {
      type: "object",
      description: "Model endpoints, keyed by a name of your choice.",
      default: {},
      propertyNames: names,
      additionalProperties: providerSchema(),
      "x-sample-comment": [
        "local:",
        "  kind: ollama",
        "  base_url: http://127.0.0.1:11434",
        "  model: llama3.2",
        "  stream: true",
        "  timeout_ms: 60000",
        "  max_retries: 2",
        "openai:",
        "  kind: openai",
        "  base_url: https://api.openai.com/v1",
        "  api_key: sk-...",
        "  model: gpt-4o-mini",
        "  vision: true",
      ],
    },
    default_provider: str("Provider of rooms that choose none. Unset: the first one in providers.", {
      ...names,
      examples: ["local"],
    }),
    failover: list(
      "Providers tried in this order when the room's provider fails (errors, timeouts, 429).",
      names,
    ),
    limits: section("Rate limits and daily token budgets (0: unlimited). Hitting one gets a polite notice.", {
      user_per_minute: int("Answers per user per minute.", 10, 0),
      room_per_minute: int("Answers per room per minute.", 30, 0),
      user_daily_tokens: int("Tokens (prompt + answer) per user per UTC day.", 0, 0),
      room_daily_tokens: int("Tokens per room per UTC day.", 0, 0),
    }),
    redact: section("Removed from the context before it leaves for the provider.", {
      email: bool("Replace e-mail addresses with [email].", false),
      phone: bool("Replace phone numbers with [phone].", false),
      patterns: list("Regular expressions whose matches become [redacted].", {
        type: "string",
        minLength: 1,
        "x-expected": "a regular expression",
      }),
    }),
  });
}

/** The whole configuration file. */
export const CONFIG_SCHEMA: SchemaNode = {
  type: "object",
  description: "clawbridge configuration.",
  additionalProperties: false,
  properties: {
    homeserver: section(
      "The homeserver the bridge is registered with.",
      {
        url: str("Client-server API base URL the bridge talks to.", {
          pattern: HTTP_URL,
          "x-expected": "an http(s) URL",
          examples: ["http://127.0.0.1:8008"],
        }),
        domain: str("The server name: the part after the colon in user ids.", {
          pattern: "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$",
          "x-expected": "a server name (the part after ':' in user ids)",
          examples: ["localhost"],
        }),
      },
      { required: ["url", "domain"] },
    ),
    appservice: section("How the homeserver reaches the bridge.", {
      id: str("Registration id; must be unique on the homeserver.", {
        default: "clawbridge",
        pattern: "^[A-Za-z0-9._-]+$",
        "x-expected": "letters, digits and . _ -",
      }),
      url: str("URL the homeserver uses to reach the bridge (written into the registration).", {
        default: "http://127.0.0.1:29330",
        pattern: HTTP_URL,
        "x-expected": "an http(s) URL",
      }),
      bind_address: str("Address the bridge listens on for the homeserver.", {
        default: "127.0.0.1",
        minLength: 1,
        "x-expected": "an IP address or host name",
      }),
      port: int("Port the bridge listens on for the homeserver.", 29330, 1, 65535),
      public_url: str(
        "Public base URL of this listener, reachable from the internet (usually through a reverse proxy). " +
          "Discord and Slack fetch the avatars of Matrix users from `<public_url>/_clawbridge/media/v1/…`, " +
          "which the bridge serves (signed URLs only) from the homeserver's authenticated media. " +
          "Unset: avatars of Matrix users do not show on Discord and Slack.",
        {
          pattern: HTTP_URL,
          "x-expected": "an http(s) URL that platforms can reach",
          examples: ["https://bridge.example.org"],
          "x-sample-commented": true,
        },
      ),
      registration: str(
        `Path of the registration file holding as_token/hs_token; create it with \`clawbridge generate-registration\`. ${RELATIVE}`,
        { default: "registration.yaml", minLength: 1, "x-expected": "a file path" },
      ),
    }),
    bridge: section("The bridge bot, commands and permissions.", {
      bot: section("The bridge bot user, which owns portals and answers commands.", {
        localpart: str("Localpart of the bot: `@<localpart>:<domain>`.", {
          default: "clawbridge",
          pattern: LOCALPART,
          "x-expected": LOCALPART_TEXT,
        }),
        displayname: str("Display name of the bot.", { default: "Clawbridge bridge bot" }),
        avatar: str("Avatar of the bot, an mxc:// URI. Unset: no avatar.", {
          pattern: "^mxc://[^/\\s]+/[^/\\s]+$",
          "x-expected": "an mxc:// URI",
          examples: ["mxc://localhost/clawbridge-avatar"],
        }),
      }),
      command_prefix: str("Prefix for commands outside the management room.", {
        default: "!cb",
        pattern: "^\\S+$",
        "x-expected": "a word without spaces",
      }),
      permissions: {
        type: "object",
        description:
          "Who may use the bridge: `*`, a server name or a full user id → relay | user | admin. " +
          "The most specific entry wins (user id, then server, then `*`). relay: messages are relayed by the " +
          "platform's bot; user: may also log in with an own account; admin: may also link rooms and manage the bridge. " +
          'The default relays everyone and has no admin: add e.g. "@you:localhost": admin.',
        default: { "*": "relay" },
        propertyNames: {
          pattern: "^(\\*|@[^:\\s]+:\\S+|[A-Za-z0-9.-]+(:[0-9]{1,5})?)$",
          "x-expected": '"*", a server name (example.org) or a user id (@alice:example.org)',
        },
        additionalProperties: { type: "string", enum: ["relay", "user", "admin"] },
        "x-sample-comment": ['"localhost": user', '"@admin:localhost": admin'],
      },
      other_appservice_users: {
        type: "array",
        description:
          "Users of other appservices on this homeserver (other bridges, bots), as regular expressions over the full user id, " +
          'e.g. "@_discord_.*:example\\.org". Like the bridge\'s own users they never get a permission level, whatever ' +
          "bridge.permissions says: what they send (a remote person's text, a bot's output) never runs as a command.",
        default: [],
        items: { type: "string", minLength: 1, "x-expected": "a regular expression" },
      },
      displayname_template: str(
        "Display name of platform users' ghosts: {displayname} (their name on the platform, cleaned of control, bidi-override and zero-width characters), {platform} (Telegram, Discord, …) and {id} (their platform id). A name that would pass for the bot, the AI or a member of the room gets the id added.",
        {
          default: "{displayname} ({platform})",
          pattern: "\\{displayname\\}",
          "x-expected": "a template containing {displayname}",
        },
      ),
      link_approval_timeout_seconds: int(
        "How long an admin of a remote chat has to approve linking it through the shared bot (asked in that chat; bridge admins skip it).",
        600,
        5,
      ),
      portal_join_rule: {
        type: "string",
        description:
          "How portals are joined: invite (only invited users) or public (anyone on the server may join by alias).",
        default: "invite",
        enum: ["invite", "public"],
      },
      personal_spaces: bool(
        "Each login gets a Matrix space of its own, to which the bridge invites its owner, holding the portals made through it (a Discord server's space goes in as a whole).",
        true,
      ),
    }),
    ai: aiSchema(),
    database: section("PostgreSQL storage.", {
      url: str(
        "postgres:// URL of the database. Unset or empty: an embedded PostgreSQL is started in `data_dir`.",
        {
          pattern: "^postgres(ql)?://\\S+$",
          "x-expected": "a postgres:// URL",
          examples: ["postgres://clawbridge:password@127.0.0.1:5432/clawbridge"],
        },
      ),
      data_dir: str(`Directory for the embedded PostgreSQL and other state. ${RELATIVE}`, {
        default: "./data",
        minLength: 1,
        "x-expected": "a directory path",
      }),
      embedded_port: int("Port for the embedded PostgreSQL; 0 picks a free one.", 0, 0, 65535),
      max_connections: int("Size of the connection pool.", 10, 1, 1000),
    }),
    encryption: section(
      "End-to-end encryption: the bot, the AI user and ghosts in encrypted rooms. Needs the homeserver's appservice encryption support (the registration and Synapse settings `doctor` checks).",
      {
        allow: bool(
          "Join, link and answer in encrypted rooms: messages are decrypted and encrypted by the bridge. Off: the bridge tells an encrypted room once that it cannot read it.",
          false,
        ),
        default: bool("New portals are created encrypted (needs allow).", false),
        require: bool("Refuse to link or create unencrypted portals (needs allow).", false),
        pickle_key: str(
          "Key that encrypts the bridge's crypto state in the database. Unset: derived from the registration's as_token (changing that token then needs new devices: the bridge makes them).",
          {
            minLength: 16,
            "x-expected": "a random string of at least 16 characters",
            "x-sample-commented": true,
          },
        ),
        key_wait_seconds: int(
          "How long a message that cannot be decrypted yet waits for its key before the room is told it could not be bridged.",
          60,
          1,
        ),
      },
    ),
    delivery: section("Retrying messages that could not be delivered.", {
      initial_backoff_ms: int("First retry delay in milliseconds; doubles up to max_backoff_ms.", 250, 1),
      max_backoff_ms: int("Longest delay between retries, in milliseconds.", 30000, 1),
      max_attempts: int(
        "Attempts at a message the other side keeps refusing (an error answer, not an outage); then it is given up, the room and sender are told, and it waits in the quarantine (`quarantine` command).",
        5,
        1,
      ),
      give_up_after_seconds: int(
        "While the other side is unreachable or overloaded a chat's messages wait in order; give up on one (and tell the room) after this long.",
        3600,
        1,
      ),
    }),
    moderation: section(
      "Moderation commands (ban, kick, unban, mute, purge, audit, forget) and how long the message map is kept.",
      {
        min_power_level: int(
          "Room power level a Matrix user needs to run ban, kick, unban, mute, purge and audit in a room (bridge admins always may).",
          50,
          0,
        ),
        message_retention_days: int(
          "Forget which remote message is which Matrix event after this many days (0: keep). Older messages can then no longer be edited, deleted, reacted to or purged across platforms.",
          0,
          0,
        ),
      },
    ),
    provisioning: section(
      "HTTP provisioning API for integration managers.",
      {
        enabled: bool("Serve the provisioning API.", false),
        shared_secret: str("Shared secret for `Authorization: Bearer`. Required when enabled.", {
          minLength: 16,
          "x-expected": "a random string of at least 16 characters (make one with `openssl rand -hex 32`)",
          "x-required-when": "provisioning.enabled is true",
        }),
        prefix: str("URL path prefix of the provisioning API.", {
          default: "/_clawbridge/provisioning",
          pattern: "^(/[A-Za-z0-9._~-]+)+$",
          "x-expected": "a URL path starting with / and without a trailing /",
        }),
      },
      {
        if: { type: "object", properties: { enabled: { const: true } }, required: ["enabled"] },
        // biome-ignore lint/suspicious/noThenProperty: the JSON schema keyword, never awaited
        then: { type: "object", required: ["shared_secret"] },
      },
    ),
    policy: section(
      "Policy lists (Mjolnir/Draupnir ban lists) the whole bridge follows; a room can follow more with `!cb policy subscribe`. A remote person whose ghost's user id (or server) matches an `m.ban` rule is banned in every bridged room and on its linked chats where the bridge may, and their new messages are dropped; a Matrix user who matches is not relayed. Removing the rule lifts it.",
      {
        lists: list(
          "Policy rooms, by id or alias. The bridge bot joins them: invite it, or make the room public.",
          {
            type: "string",
            pattern: "^(![^\\s:]+(:\\S+)?|#[^:\\s]+:\\S+)$",
            "x-expected": "a room id (!id:server, or !id in room version 12) or alias (#name:server)",
            examples: ["#community-bans:example.org"],
          },
        ),
      },
    ),
    flood: section(
      "Flood brakes on messages from the platforms (0 turns a limit off). A person or chat over its limit is muted: its messages are not bridged (so they reach no other platform) until the mute ends by itself; the room gets one notice. Counted on the platform's timestamps, in memory.",
      {
        ghost_per_minute: int("Messages per minute one remote person may send, over all chats.", 0, 0),
        chat_per_minute: int("Messages per minute one remote chat may send.", 0, 0),
        mute_seconds: int("How long a flooding person or chat stays muted.", 60, 1),
      },
    ),
    backfill: section(
      "History brought into a portal's room when it is made, so it does not start empty: the chat's recent messages, from their original senders' ghosts with their original times, before the live ones. Where the platform allows: Discord (channel history), Slack (conversations.history with thread replies), WhatsApp (the history the phone sends once when a device is linked: portals made after a new login). Telegram's Bot API cannot read history: Telegram portals start with the message that made them.",
      {
        initial_limit: int("Most messages brought into a new portal (0: none).", 50, 0, 1000),
      },
    ),
    web: section(
      "The web page (`/_clawbridge/ui/`) and its API (`/_clawbridge/api/v1`): a Matrix user's accounts, portals and links, and bridge health for admins. Users sign in with a Matrix OpenID token, checked with the homeserver (its `openid` listener resource must be on).",
      {
        enabled: bool("Serve the web page and its API.", false),
        session_minutes: int("How long a page's bridge session lasts before it signs in again.", 60, 1, 1440),
        login_starts_per_hour: int("Logins one user may start from the page per hour.", 6, 1, 1000),
        chat_starts_per_hour: int("Direct chats one user may start through the API per hour.", 30, 1, 1000),
        widget_origins: list(
          "Origins of Matrix clients that may show the page as a room widget (Content-Security-Policy `frame-ancestors`). Empty: the page may not be framed.",
          {
            type: "string",
            pattern: "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
            "x-expected": "an origin: http(s)://host[:port], without a path",
            examples: ["https://app.element.io"],
          },
        ),
      },
    ),
    metrics: section("Prometheus metrics.", {
      enabled: bool("Serve Prometheus metrics at /metrics on the appservice port.", true),
    }),
    logging: section("Log output (always to stderr). Secrets are redacted.", {
      level: {
        type: "string",
        description: "Lowest level that is logged.",
        default: "info",
        enum: ["error", "warn", "info", "debug"],
      },
      format: {
        type: "string",
        description: "pretty (one readable line per entry) or json (one JSON object per line).",
        default: "pretty",
        enum: ["pretty", "json"],
      },
    }),
    platforms: {
      type: "object",
      description:
        "Chat networks, keyed by platform name. A name that is not built in is a third-party platform and needs `module`.",
      default: {},
      propertyNames: {
        pattern: "^[a-z][a-z0-9_]*$",
        "x-expected": "lowercase letters, digits and _",
      },
      properties: Object.fromEntries(KNOWN_PLATFORMS.map((p) => [p, platformSchema(p)])),
      additionalProperties: platformSchema(),
      "x-sample-comment": [
        "A third-party connector. `module` is the path of its connector module (relative to this file's",
        "directory); its other keys are passed to it unchecked. A built-in platform may set `module` too,",
        "to load a stand-in instead of the built-in connector (its keys are still checked as above).",
        "example:",
        "  enabled: true",
        "  module: ./connectors/example.js",
      ],
    },
  },
};
