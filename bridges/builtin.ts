/**
 * The built-in platforms, in one place. The config schema (each platform's section and its
 * sample), the registration example, `clawbridge doctor` and the ConnectorRegistry all read
 * this list; adding a connector means adding one entry here.
 *
 * `config` is only data (loading it costs nothing); `load` requires the connector module, and
 * with it the platform's client library, only when the platform is enabled.
 */
import type { ConnectorConfigSchema } from "../src/config/schemaNodes";
import type { NetworkConnector } from "../src/core/connector";
import { DISCORD_CONFIG_SCHEMA, readDiscordConfig } from "./discord/config";
import { readSlackConfig, SLACK_CONFIG_SCHEMA } from "./slack/config";
import { readTelegramConfig, TELEGRAM_CONFIG_SCHEMA } from "./telegram/config";
import { readWhatsAppConfig, WHATSAPP_CONFIG_SCHEMA } from "./whatsapp/config";

export interface BuiltinPlatform {
  /** Lowercase platform name: the key under `platforms` and the default ghost/alias prefix. */
  readonly name: string;
  /** The keys of its `platforms.<name>` section. */
  readonly config: ConnectorConfigSchema;
  /**
   * The connector's own reader of that section (what its `init` runs): the config loader runs
   * it too, so rules between keys fail at load time with the rest. Throws `ConfigError`.
   */
  read(section: unknown, name: string): unknown;
  load(): NetworkConnector;
}

type ConnectorModule = { createConnector(name: string): NetworkConnector };

export const BUILTIN_PLATFORMS: readonly BuiltinPlatform[] = [
  {
    name: "telegram",
    config: TELEGRAM_CONFIG_SCHEMA,
    read: readTelegramConfig,
    load: () => (require("./telegram/TelegramConnector") as ConnectorModule).createConnector("telegram"),
  },
  {
    name: "discord",
    config: DISCORD_CONFIG_SCHEMA,
    read: readDiscordConfig,
    load: () => (require("./discord/DiscordConnector") as ConnectorModule).createConnector("discord"),
  },
  {
    name: "slack",
    config: SLACK_CONFIG_SCHEMA,
    read: readSlackConfig,
    load: () => (require("./slack/SlackConnector") as ConnectorModule).createConnector("slack"),
  },
  {
    name: "whatsapp",
    config: WHATSAPP_CONFIG_SCHEMA,
    read: readWhatsAppConfig,
    load: () => (require("./whatsapp/WhatsAppConnector") as ConnectorModule).createConnector("whatsapp"),
  },
];

/** The built-in platform of that name, if there is one. */
export function builtinPlatform(name: string): BuiltinPlatform | undefined {
  return BUILTIN_PLATFORMS.find((p) => p.name === name);
}
