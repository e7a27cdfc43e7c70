/**
 * The Discord connector: one bot token from `platforms.discord` is one login. discord.js runs
 * the gateway and REST (`api_root`/`cdn_root` may point at a test stand-in); Matrix users are
 * relayed through one webhook per channel.
 */
import { REST } from "discord.js";
import type { ConnectorContext, LoginRef, NetworkClient, NetworkConnector } from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import { botIdOfToken, type DiscordConfig, isBotToken, readDiscordConfig } from "./config";
import { DiscordClient } from "./DiscordClient";
import { discordRestAgent } from "./restAgent";

class DiscordConnector implements NetworkConnector {
  private ctx?: ConnectorContext;
  private cfg?: DiscordConfig;
  private readonly clients = new Set<DiscordClient>();

  constructor(readonly name: string) {}

  async init(ctx: ConnectorContext): Promise<void> {
    this.cfg = readDiscordConfig(ctx.config, this.name);
    registerSecret(this.cfg.botToken);
    this.ctx = ctx;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.disconnect()));
  }

  configLogins(): Array<Omit<LoginRef, "id">> {
    const { botToken, owner } = this.ready().cfg;
    if (!botToken || !owner) return [];
    return [
      {
        platform: this.name,
        ownerMxid: owner,
        remoteId: botIdOfToken(botToken),
        credentials: { bot_token: botToken },
      },
    ];
  }

  /** `login discord <bot token>`: checked with GET /users/@me before it is stored. */
  async loginWithToken(ownerMxid: string, token: string): Promise<Omit<LoginRef, "id">> {
    if (!isBotToken(token))
      throw new Error("that is not a Discord bot token (the Bot page of the developer portal)");
    registerSecret(token);
    const me = await this.whoAmI(token).catch((err: unknown) => {
      throw new Error((err as { status?: number }).status === 401 ? "the token is not valid" : String(err));
    });
    return { platform: this.name, ownerMxid, remoteId: me.id, credentials: { bot_token: token } };
  }

  clientFor(login: LoginRef): NetworkClient {
    const { ctx, cfg } = this.ready();
    const stored = login.credentials.bot_token;
    const token = typeof stored === "string" && stored !== "" ? stored : cfg.botToken;
    if (!token) throw new Error(`${this.name}: login ${login.id} has no bot token`);
    registerSecret(token);
    const client = new DiscordClient(ctx, login, cfg, token);
    this.clients.add(client);
    return client;
  }

  async check(): Promise<{ ok: boolean; message: string }> {
    const { cfg } = this.ready();
    if (!cfg.botToken)
      return { ok: true, message: "no bot_token configured (log in with `login discord <token>`)" };
    try {
      const me = await this.whoAmI(cfg.botToken);
      return { ok: true, message: `logged in as ${me.username}` };
    } catch (err) {
      const status = (err as { status?: number }).status;
      return {
        ok: false,
        message:
          status === 401
            ? "Discord rejected platforms.discord.bot_token: reset it on the Bot page of the developer portal"
            : `Discord unreachable at ${cfg.apiRoot}: ${String(err)}`,
      };
    }
  }

  private async whoAmI(token: string): Promise<{ id: string; username: string }> {
    const rest = new REST({ api: this.ready().cfg.apiRoot, agent: discordRestAgent() }).setToken(token);
    return (await rest.get("/users/@me")) as { id: string; username: string };
  }

  private ready(): { ctx: ConnectorContext; cfg: DiscordConfig } {
    if (!this.ctx || !this.cfg) throw new Error(`${this.name}: init() has not run`);
    return { ctx: this.ctx, cfg: this.cfg };
  }
}

/** Entry point used by the connector registry: `createConnector("discord")`. */
export function createConnector(name = "discord"): NetworkConnector {
  return new DiscordConnector(name);
}
