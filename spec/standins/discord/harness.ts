/**
 * Test harness for the Discord connector: the real connector and discord.js pointed at the
 * {@link DiscordServer} stand-in, with an in-memory ConnectorContext.
 */
import { randomBytes } from "node:crypto";
import type { DiscordClient } from "../../../bridges/discord/DiscordClient";
import { createConnector } from "../../../bridges/discord/DiscordConnector";
import type { OutboundMessage } from "../../../src/core/connector";
import { connectConfigLogin, type Harness, memoryContext } from "../../harness/connectorContext";
import { DiscordServer, sf } from "./DiscordServer";

export { type Harness, ofKind, QuietLogger, until } from "../../harness/connectorContext";

/** A bot token of Discord's shape whose first part encodes `botId`. */
export function botToken(botId: string): string {
  return `${Buffer.from(botId).toString("base64url")}.${randomBytes(4).toString("base64url")}.${randomBytes(20).toString("base64url")}`;
}

/** A stand-in with a bot, guild G (channels general and random, role mods, members ALICE and BOB). */
export async function startWorld(): Promise<{ server: DiscordServer; ids: WorldIds }> {
  const botId = sf();
  const server = await DiscordServer.start({
    token: botToken(botId),
    bot: { id: botId, username: "clawbridge" },
    heartbeatMs: 2000,
  });
  const ids: WorldIds = {
    guild: sf(),
    general: sf(),
    random: sf(),
    alice: sf(),
    bob: sf(),
    role: sf(),
    emoji: sf(),
  };
  server.addUser({ id: ids.alice, username: "alice", global_name: "Alice Liddell" });
  server.addUser({ id: ids.bob, username: "bob" });
  server.addGuild({
    id: ids.guild,
    name: "The Guild",
    channels: [
      { id: ids.general, name: "general", topic: "all things" },
      { id: ids.random, name: "random" },
    ],
    roles: [{ id: ids.role, name: "mods" }],
    members: [{ user: ids.alice, nick: "Ally" }, { user: ids.bob }],
    emojis: [{ id: ids.emoji, name: "blob" }],
  });
  return { server, ids };
}

export interface WorldIds {
  guild: string;
  general: string;
  random: string;
  alice: string;
  bob: string;
  role: string;
  emoji: string;
}

export function harness(
  server: DiscordServer,
  extra: Record<string, unknown> = {},
  kv = new Map<string, string>(),
): Harness {
  return memoryContext(
    "discord",
    {
      bot_token: server.token,
      owner: "@owner:hs.test",
      api_root: server.api,
      cdn_root: server.cdn,
      ...extra,
    },
    kv,
  );
}

/** Builds the connector from the harness config and returns a connected client. */
export const connectClient = (h: Harness): Promise<DiscordClient> =>
  connectConfigLogin<DiscordClient>(createConnector(), h);

export const outbound = (text: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  sender: {
    mxid: "@alice:hs.test",
    displayName: "Alice M",
    avatarUrl: "http://127.0.0.1:1/_matrix/media/v3/download/hs.test/abc",
  },
  text,
  msgtype: "text",
  ...extra,
});

/** The `platforms.discord` section of a real Discord connector against `dc`, owned by alice, for `guilds`. */
export function discordSection(
  dc: DiscordServer,
  guilds: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    enabled: true,
    bot_token: dc.token,
    owner: "@alice:localhost",
    api_root: dc.api,
    cdn_root: dc.cdn,
    guilds,
    ...extra,
  };
}
