/**
 * discord.js sends through its own undici (v6). Given no agent, it uses the process-wide global
 * dispatcher, which a newer undici loaded by another library of the bridge (openai,
 * @slack/socket-mode) may have installed first; that one refuses v6's FormData, so every upload
 * (attachments, webhook files) would fail whenever those load first. Each Discord REST client
 * therefore gets an agent of discord.js's own undici.
 */
import { createRequire } from "node:module";
import type { RESTOptions } from "discord.js";

type RestAgent = NonNullable<RESTOptions["agent"]>;

let agent: RestAgent | undefined;

export function discordRestAgent(): RestAgent {
  if (!agent) {
    // The undici that discord.js's REST package resolves, wherever npm placed it.
    const rest = createRequire(require.resolve("discord.js")).resolve("@discordjs/rest");
    const fromRest = createRequire(rest);
    const undici = fromRest("undici") as { Agent: new () => RestAgent };
    agent = new undici.Agent();
  }
  return agent;
}
