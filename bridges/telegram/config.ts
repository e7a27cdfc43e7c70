/**
 * The `platforms.telegram` config section: read, defaulted and validated. Errors name the key
 * and say how to fix it.
 */

import { SectionReader } from "../../src/config/SectionReader";
import { DEFAULT_RELAY_TEMPLATE } from "./convert/index";

/** Telegram chat types a portal may be made for. */
export type TelegramChatType = "private" | "group" | "supergroup" | "channel";
const CHAT_TYPES: readonly TelegramChatType[] = ["private", "group", "supergroup", "channel"];

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

/** Reads `platforms.<platform>` (the section itself is `c`); throws with the key path on a bad value. */
export function readTelegramConfig(c: Record<string, unknown>, platform = "telegram"): TelegramConfig {
  const r = new SectionReader(c, `platforms.${platform}`);
  const key = (k: string): string => r.key(k);
  const ids = (k: string): Set<string> => {
    const v = c[k];
    if (v === undefined || v === null) return new Set();
    if (
      !Array.isArray(v) ||
      !v.every((x) => typeof x === "number" || (typeof x === "string" && /^-?\d+$/.test(x)))
    )
      throw new Error(
        `${key(k)} must be a list of numeric chat ids (groups are negative, e.g. -1001234567890)`,
      );
    return new Set(v.map(String));
  };

  const botToken = r.str("bot_token", false) || undefined;
  if (botToken !== undefined && !isBotToken(botToken))
    throw new Error(
      `${key("bot_token")} does not look like a bot token (<digits>:<secret>, from @BotFather)`,
    );
  const owner = r.str("owner", botToken !== undefined) || undefined;
  if (owner !== undefined && !/^@[^:]+:.+$/.test(owner))
    throw new Error(`${key("owner")} must be a Matrix user id like @you:example.org`);
  const apiRoot = r.httpUrl("api_root", "https://api.telegram.org");
  let allowChatTypes = new Set<TelegramChatType>(CHAT_TYPES);
  if (c.allow_chat_types !== undefined) {
    const v = c.allow_chat_types;
    if (
      !Array.isArray(v) ||
      !v.every((t): t is TelegramChatType => CHAT_TYPES.includes(t as TelegramChatType))
    )
      throw new Error(`${key("allow_chat_types")} must be a list of: ${CHAT_TYPES.join(", ")}`);
    allowChatTypes = new Set(v);
  }
  if (c.moderation !== undefined && typeof c.moderation !== "boolean")
    throw new Error(`${key("moderation")} must be true or false`);
  const backoffInitialMs = r.num("backoff_initial_ms", 1000, 1);
  const backoffMaxMs = r.num("backoff_max_ms", 60_000, 1);
  if (backoffMaxMs < backoffInitialMs)
    throw new Error(`${key("backoff_max_ms")} must be >= backoff_initial_ms`);
  const mode = r.str("mode", false, "polling");
  if (mode !== "polling" && mode !== "webhook") throw new Error(`${key("mode")} must be polling or webhook`);
  const webhookUrl = r.str("webhook_url", mode === "webhook") || undefined;
  if (webhookUrl !== undefined) {
    try {
      const u = new URL(webhookUrl);
      if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("protocol");
    } catch {
      throw new Error(
        `${key("webhook_url")} must be the public http(s) URL Telegram posts updates to, e.g. https://bridge.example.org/telegram`,
      );
    }
  }
  const webhookSecret = r.str("webhook_secret", false) || undefined;
  if (webhookSecret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(webhookSecret))
    throw new Error(`${key("webhook_secret")} must be 1-256 characters of A-Z, a-z, 0-9, _ and -`);
  const webhookPort = r.num("webhook_port", 0, 0);
  if (mode === "webhook" && (webhookPort < 1 || webhookPort > 65535 || !Number.isInteger(webhookPort)))
    throw new Error(
      `${key("webhook_port")} is required in webhook mode: the port the bridge listens on for Telegram`,
    );
  return {
    mode,
    webhookUrl,
    webhookSecret,
    webhookBindAddress: r.str("webhook_bind_address", false, "127.0.0.1"),
    webhookPort,
    webhookCheckMinutes: r.num("webhook_check_minutes", 10, 0),
    profilePhotoCheckMinutes: r.num("profile_photo_check_minutes", 60, 0),
    botToken,
    owner,
    apiRoot,
    relayTemplate: r.str("relay_template", false, DEFAULT_RELAY_TEMPLATE),
    pollTimeoutSeconds: r.num("poll_timeout_seconds", 30, 0),
    allowChatTypes,
    allowChats: ids("allow_chats"),
    denyChats: ids("deny_chats"),
    moderation: c.moderation === true,
    backoffInitialMs,
    backoffMaxMs,
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
