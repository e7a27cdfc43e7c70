import {
  bool,
  type ConnectorConfigSchema,
  HTTP_URL,
  int,
  list,
  MXID,
  type SchemaNode,
  str,
} from "../../src/config/schemaNodes";
import { checkSection } from "../../src/config/sectionCheck";
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

const ids = (what: string): SchemaNode => ({
  type: "string",
  pattern: "^\\d{1,20}$",
  "x-expected": `a ${what} id as a quoted string (Developer Mode → right-click → Copy ID)`,
  examples: ["123456789012345678"],
});

/** The keys of `platforms.discord`: validated, defaulted and sampled by the core's config loader. */
export const DISCORD_CONFIG_SCHEMA: ConnectorConfigSchema = {
  description: "A Discord bot relays the guilds it is in, posting as Matrix users through webhooks.",
  properties: {
    bot_token: str(
      "Bot token from the developer portal (Bot → Reset Token). Unset: a bridge admin connects one with `login discord <token>`.",
      {
        pattern: "^[\\w-]{10,}\\.[\\w-]{4,}\\.[\\w-]{10,}$",
        "x-expected": "a bot token (three dot-separated parts, from the Bot page of the developer portal)",
        examples: ["MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.example-token-from-the-portal"],
      },
    ),
    owner: str("Matrix user who owns the bot login of bot_token (required with it).", {
      pattern: MXID,
      "x-expected": "a Matrix user id",
      "x-required-when": "bot_token is set",
      examples: ["@you:example.org"],
    }),
    api_root: str("REST API base without the version (a test stand-in).", {
      default: "https://discord.com/api",
      pattern: HTTP_URL,
      "x-expected": "an http(s) URL",
    }),
    cdn_root: str("Media CDN base.", {
      default: "https://cdn.discordapp.com",
      pattern: HTTP_URL,
      "x-expected": "an http(s) URL",
    }),
    guilds: list("Guild ids to bridge; empty bridges every guild the bot is in.", ids("guild")),
    channels: list("When not empty, only these channel ids are bridged (plus linked ones).", ids("channel")),
    deny_channels: list("Channel ids never bridged.", ids("channel")),
    dms: bool("Bridge direct messages to the bot.", true),
    moderation: bool(
      "Mirror Matrix kicks and bans of ghosts to the guild, and let the `ban`, `kick`, `unban` and `mute` commands act there (timeouts).",
      false,
    ),
    webhook_name: str("Name of the webhook the bridge creates in each channel.", {
      default: "clawbridge",
      minLength: 1,
      "x-expected": "a webhook name",
    }),
    max_upload_bytes: int(
      "Largest attachment sent to Discord (10 MiB is the limit without boosts).",
      10 * 1024 * 1024,
      1,
    ),
    catch_up_limit: int("Most messages fetched per channel after a reconnect or restart.", 100, 0),
  },
  requires: [{ when: "bot_token", need: ["owner"] }],
};

/** The section as the schema leaves it: checked, defaults filled in. */
interface DiscordSection {
  bot_token?: string;
  owner?: string;
  api_root: string;
  cdn_root: string;
  guilds: string[];
  channels: string[];
  deny_channels: string[];
  dms: boolean;
  moderation: boolean;
  webhook_name: string;
  max_upload_bytes: number;
  catch_up_limit: number;
}

/**
 * Reads `platforms.<platform>` (the section itself is `raw`), checked against
 * {@link DISCORD_CONFIG_SCHEMA}. Throws `ConfigError` naming the key path and the fix.
 */
export function readDiscordConfig(raw: unknown, platform = "discord"): DiscordConfig {
  const c = checkSection(DISCORD_CONFIG_SCHEMA, raw, platform) as unknown as DiscordSection;
  return {
    botToken: c.bot_token,
    owner: c.owner,
    apiRoot: c.api_root.replace(/\/+$/, ""),
    cdnRoot: c.cdn_root.replace(/\/+$/, ""),
    guilds: new Set(c.guilds),
    channels: new Set(c.channels),
    denyChannels: new Set(c.deny_channels),
    dms: c.dms,
    moderation: c.moderation,
    webhookName: c.webhook_name,
    maxUploadBytes: c.max_upload_bytes,
    catchUpLimit: c.catch_up_limit,
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
