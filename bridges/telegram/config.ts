/**
 * The `platforms.telegram` config section: its schema (checked, defaulted and put into
 * config.sample.yaml by the core) and the typed config the connector uses.
 */

import { ConfigError } from "../../src/config/ConfigError";
import {
  bool,
  type ConnectorConfigSchema,
  HTTP_URL,
  list,
  MXID,
  num,
  type SchemaNode,
  str,
} from "../../src/config/schemaNodes";
import { checkSection } from "../../src/config/sectionCheck";
import { DEFAULT_RELAY_TEMPLATE } from "./convert/index";

/** Telegram chat types a portal may be made for. */
export type TelegramChatType = "private" | "group" | "supergroup" | "channel";
const CHAT_TYPES_LIST: readonly TelegramChatType[] = ["private", "group", "supergroup", "channel"];

/** The validated `platforms.telegram` section. */
export interface TelegramConfig {
  /**
   * `bot_token`: from @BotFather, `<digits>:<secret>`. Optional: without it, a bridge admin
   * connects a bot with `login telegram <token>` in the management room.
   */
  botToken?: string;
  /** `owner`: the Matrix user who owns the configured bot login (required with `bot_token`). */
  owner?: string;
  /** `api_root`: Bot API server (default https://api.telegram.org; a local Bot API server or a test stand-in). */
  apiRoot: string;
  /** `relay_template`: how a relayed Matrix message is prefixed. */
  relayTemplate: string;
  /** `poll_timeout_seconds`: long-poll timeout of getUpdates (default 30). */
  pollTimeoutSeconds: number;
  /** `allow_chat_types`: chat types bridged (default all). */
  allowChatTypes: ReadonlySet<TelegramChatType>;
  /** `allow_chats`: when non-empty, only these chat ids are bridged. */
  allowChats: ReadonlySet<string>;
  /** `deny_chats`: chat ids never bridged. */
  denyChats: ReadonlySet<string>;
  /** `moderation`: mirror Matrix kicks/bans to Telegram (default false). */
  moderation: boolean;
  /** `backoff_initial_ms` / `backoff_max_ms`: retry delays of the polling loop. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** `mode`: `polling` (getUpdates, default) or `webhook` (Telegram POSTs updates to the bridge). */
  mode: "polling" | "webhook";
  /** `webhook_url`: the public https URL Telegram posts to (required in webhook mode). */
  webhookUrl?: string;
  /** `webhook_secret`: checked against X-Telegram-Bot-Api-Secret-Token (generated when unset). */
  webhookSecret?: string;
  /** `webhook_bind_address` / `webhook_port`: where the bridge listens for Telegram's POSTs. */
  webhookBindAddress: string;
  webhookPort: number;
  /** `webhook_check_minutes`: how often getWebhookInfo confirms the webhook is still the bridge's (0: never). */
  webhookCheckMinutes: number;
  /** `profile_photo_check_minutes`: re-check a speaking user's profile photo after this long (0: every message). */
  profilePhotoCheckMinutes: number;
}

const CHAT_ID: SchemaNode = {
  type: ["integer", "string"],
  pattern: "^-?\\d+$",
  "x-expected": "a numeric chat id (groups are negative)",
  examples: [-1001234567890],
};

/** The keys of `platforms.telegram`: validated, defaulted and sampled by the core's config loader. */
export const TELEGRAM_CONFIG_SCHEMA: ConnectorConfigSchema = {
  description: "A Telegram bot (from @BotFather) relays the chats it is in.",
  properties: {
    bot_token: str(
      "Bot API token from @BotFather. Unset: a bridge admin connects a bot with `login telegram <token>` in the management room.",
      {
        pattern: "^\\d+:[\\w-]+$",
        "x-expected": "a bot token from @BotFather (<digits>:<secret>)",
        examples: ["123456789:AAHexample-token-from-botfather"],
      },
    ),
    owner: str("Matrix user who owns the bot login of bot_token (required with it).", {
      pattern: MXID,
      "x-expected": "a Matrix user id",
      "x-required-when": "bot_token is set",
      examples: ["@you:example.org"],
    }),
    api_root: str("Bot API server: a local Bot API server or a test stand-in.", {
      default: "https://api.telegram.org",
      pattern: HTTP_URL,
      "x-expected": "an http(s) URL",
    }),
    relay_template: str("How a relayed Matrix message is prefixed ({displayname}, {message}).", {
      default: DEFAULT_RELAY_TEMPLATE,
    }),
    poll_timeout_seconds: num("Long-poll timeout of getUpdates, in seconds.", 30, 0),
    allow_chat_types: {
      ...list("Chat types bridged.", { type: "string", enum: [...CHAT_TYPES_LIST] }),
      default: [...CHAT_TYPES_LIST],
    },
    allow_chats: list("When not empty, only these chat ids are bridged.", CHAT_ID),
    deny_chats: list("Chat ids never bridged.", CHAT_ID),
    moderation: bool(
      "Mirror Matrix kicks and bans of ghosts to Telegram, and let the `ban`, `kick`, `unban` and `mute` commands act there (restrictions).",
      false,
    ),
    backoff_initial_ms: num("First retry delay of the polling loop, in milliseconds.", 1000, 1),
    backoff_max_ms: num("Longest retry delay of the polling loop, in milliseconds.", 60_000, 1),
    mode: {
      type: "string",
      description: "polling (getUpdates) or webhook (Telegram POSTs updates to the bridge).",
      default: "polling",
      enum: ["polling", "webhook"],
    },
    webhook_url: str("The public http(s) URL Telegram posts updates to (webhook mode).", {
      pattern: HTTP_URL,
      "x-expected": "the public http(s) URL Telegram posts updates to",
      "x-required-when": "mode is webhook",
      examples: ["https://bridge.example.org/telegram"],
    }),
    webhook_secret: str("Checked against X-Telegram-Bot-Api-Secret-Token. Unset: generated.", {
      pattern: "^[A-Za-z0-9_-]{1,256}$",
      "x-expected": "1-256 characters of A-Z, a-z, 0-9, _ and -",
      examples: ["a-long-random-string"],
    }),
    webhook_bind_address: str("Address the bridge listens on for Telegram's POSTs (webhook mode).", {
      default: "127.0.0.1",
      minLength: 1,
      "x-expected": "an IP address or host name",
    }),
    webhook_port: {
      type: "integer",
      description: "Port the bridge listens on for Telegram's POSTs (webhook mode).",
      minimum: 0,
      maximum: 65535,
      "x-required-when": "mode is webhook",
      examples: [8443],
    },
    webhook_check_minutes: num(
      "How often getWebhookInfo confirms the webhook is still the bridge's (0: never).",
      10,
      0,
    ),
    profile_photo_check_minutes: num(
      "Re-check a speaking user's profile photo after this long (0: every message).",
      60,
      0,
    ),
  },
  requires: [
    { when: "bot_token", need: ["owner"] },
    { when: "mode", whenValue: "webhook", need: ["webhook_url", "webhook_port"] },
  ],
};

/** The section as the schema leaves it: checked, defaults filled in. */
interface TelegramSection {
  bot_token?: string;
  owner?: string;
  api_root: string;
  relay_template: string;
  poll_timeout_seconds: number;
  allow_chat_types: TelegramChatType[];
  allow_chats: Array<string | number>;
  deny_chats: Array<string | number>;
  moderation: boolean;
  backoff_initial_ms: number;
  backoff_max_ms: number;
  mode: "polling" | "webhook";
  webhook_url?: string;
  webhook_secret?: string;
  webhook_bind_address: string;
  webhook_port?: number;
  webhook_check_minutes: number;
  profile_photo_check_minutes: number;
}

/**
 * Reads `platforms.<platform>` (the section itself is `raw`): checked against
 * {@link TELEGRAM_CONFIG_SCHEMA}, then the rules between keys. Throws `ConfigError` naming the
 * key path and the fix.
 */
export function readTelegramConfig(raw: unknown, platform = "telegram"): TelegramConfig {
  const c = checkSection(TELEGRAM_CONFIG_SCHEMA, raw, platform) as unknown as TelegramSection;
  const key = (k: string): string => `platforms.${platform}.${k}`;
  const problems: string[] = [];
  if (c.backoff_max_ms < c.backoff_initial_ms)
    problems.push(`${key("backoff_max_ms")}: must be at least backoff_initial_ms (${c.backoff_initial_ms})`);
  if (c.mode === "webhook" && c.webhook_port === 0)
    problems.push(`${key("webhook_port")}: must be the port the bridge listens on for Telegram (1-65535)`);
  if (problems.length) throw new ConfigError(problems, `platforms.${platform}`);
  return {
    mode: c.mode,
    webhookUrl: c.webhook_url,
    webhookSecret: c.webhook_secret,
    webhookBindAddress: c.webhook_bind_address,
    webhookPort: c.webhook_port ?? 0,
    webhookCheckMinutes: c.webhook_check_minutes,
    profilePhotoCheckMinutes: c.profile_photo_check_minutes,
    botToken: c.bot_token,
    owner: c.owner,
    apiRoot: c.api_root.replace(/\/+$/, ""),
    relayTemplate: c.relay_template,
    pollTimeoutSeconds: c.poll_timeout_seconds,
    allowChatTypes: new Set(c.allow_chat_types),
    allowChats: new Set(c.allow_chats.map(String)),
    denyChats: new Set(c.deny_chats.map(String)),
    moderation: c.moderation,
    backoffInitialMs: c.backoff_initial_ms,
    backoffMaxMs: c.backoff_max_ms,
  };
}

/** Whether `token` has the shape of a Bot API token (`<digits>:<secret>`). */
export function isBotToken(token: string): boolean {
  return /^\d+:[\w-]+$/.test(token);
}

/** Whether a chat may be bridged under `allow_chat_types`, `allow_chats` and `deny_chats`. */
export function chatAllowed(cfg: TelegramConfig, chatId: string, type: string): boolean {
  if (cfg.denyChats.has(chatId)) return false;
  if (cfg.allowChats.size > 0 && !cfg.allowChats.has(chatId)) return false;
  return cfg.allowChatTypes.has(type as TelegramChatType);
}
