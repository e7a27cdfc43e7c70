import { SectionReader } from "../../src/config/SectionReader";
/**
 * The `platforms.discord` config section: read, defaulted and validated. Errors name the key
 * and say how to fix it.
 */

/** The validated `platforms.discord` section. */
export interface DiscordConfig {
  /** `bot_token`: from the Discord developer portal (Bot → Reset Token). */
  botToken?: string;
  /** `owner`: the Matrix user who owns the configured bot login (required with `bot_token`). */
  owner?: string;
  /** `api_root`: REST base without the version (default https://discord.com/api). */
  apiRoot: string;
  /** `cdn_root`: media CDN (default https://cdn.discordapp.com). */
  cdnRoot: string;
  /** `guilds`: guild ids to bridge; empty bridges every guild the bot is in. */
  guilds: ReadonlySet<string>;
  /** `channels`: when non-empty, only these channel ids are bridged (plus linked ones). */
  channels: ReadonlySet<string>;
  /** `deny_channels`: channel ids never bridged. */
  denyChannels: ReadonlySet<string>;
  /** `dms`: bridge direct messages to the bot (default true). */
  dms: boolean;
  /** `moderation`: mirror Matrix kicks/bans of ghosts to the guild (default false). */
  moderation: boolean;
  /** `webhook_name`: name of the webhook the bridge creates per channel. */
  webhookName: string;
  /** `max_upload_bytes`: largest attachment sent to Discord (default 10 MiB, the non-boosted limit). */
  maxUploadBytes: number;
  /** `catch_up_limit`: most messages fetched per channel after a reconnect or restart. */
  catchUpLimit: number;
}

const SNOWFLAKE = /^\d{1,20}$/;

/** Reads `platforms.<platform>` (the section itself is `c`); throws with the key path on a bad value. */
export function readDiscordConfig(c: Record<string, unknown>, platform = "discord"): DiscordConfig {
  const r = new SectionReader(c, `platforms.${platform}`);
  const key = (k: string): string => r.key(k);
  const ids = (k: string, what: string): Set<string> => {
    const v = c[k];
    if (v === undefined || v === null) return new Set();
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && SNOWFLAKE.test(x)))
      throw new Error(
        `${key(k)} must be a list of ${what} ids as quoted strings (Developer Mode → right-click → Copy ID), e.g. ["123456789012345678"]`,
      );
    return new Set(v as string[]);
  };

  const botToken = r.str("bot_token", false) || undefined;
  if (botToken !== undefined && !isBotToken(botToken))
    throw new Error(
      `${key("bot_token")} does not look like a bot token (the Bot page of the developer portal)`,
    );
  const owner = r.str("owner", botToken !== undefined) || undefined;
  if (owner !== undefined && !/^@[^:]+:.+$/.test(owner))
    throw new Error(`${key("owner")} must be a Matrix user id like @you:example.org`);
  return {
    botToken,
    owner,
    apiRoot: r.httpUrl("api_root", "https://discord.com/api"),
    cdnRoot: r.httpUrl("cdn_root", "https://cdn.discordapp.com"),
    guilds: ids("guilds", "guild"),
    channels: ids("channels", "channel"),
    denyChannels: ids("deny_channels", "channel"),
    dms: r.bool("dms", true),
    moderation: r.bool("moderation", false),
    webhookName: r.str("webhook_name", false, "clawbridge"),
    maxUploadBytes: r.int("max_upload_bytes", 10 * 1024 * 1024, 1),
    catchUpLimit: r.int("catch_up_limit", 100, 0),
  };
}

/** Whether `token` has the shape of a bot token (three dot-separated base64url parts). */
export function isBotToken(token: string): boolean {
  return /^[\w-]{10,}\.[\w-]{4,}\.[\w-]{10,}$/.test(token);
}

/** The bot's user id, which the first part of a bot token encodes. */
export function botIdOfToken(token: string): string | undefined {
  const first = token.split(".")[0] ?? "";
  const id = Buffer.from(first, "base64url").toString("utf8");
  return SNOWFLAKE.test(id) ? id : undefined;
}
