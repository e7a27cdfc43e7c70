/**
 * The Telegram connector: one bot token from `platforms.telegram` is one login. The bot talks
 * to the Bot API through grammy (`api_root` may point at a local Bot API server or, in tests,
 * at the stand-in), polls with its own loop and relays Matrix users with a name prefix.
 */
import { Bot } from "grammy";
import type { ConnectorContext, LoginRef, NetworkClient, NetworkConnector } from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import { botClient } from "./botFetch";
import { isBotToken, readTelegramConfig, type TelegramConfig } from "./config";
import { describe, mapTelegramError, type TelegramError } from "./errors";
import { TelegramClient } from "./TelegramClient";
import { botWebhookUrl } from "./TelegramUpdates";
import { TelegramWebhook } from "./TelegramWebhook";

class TelegramConnector implements NetworkConnector {
  private ctx?: ConnectorContext;
  private cfg?: TelegramConfig;
  private readonly clients = new Set<TelegramClient>();
  /** Webhook mode: one listener for every bot of this connector. */
  private webhook?: TelegramWebhook;

  constructor(readonly name: string) {}

  async init(ctx: ConnectorContext): Promise<void> {
    this.cfg = readTelegramConfig(ctx.config, this.name);
    registerSecret(this.cfg.botToken);
    this.ctx = ctx;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.disconnect()));
  }

  /** The configured bot token, owned by `owner`. The remote id is the token's numeric bot id. */
  configLogins(): Array<Omit<LoginRef, "id">> {
    const { botToken, owner } = this.ready().cfg;
    if (!botToken || !owner) return [];
    const remoteId = botToken.split(":")[0];
    return [{ platform: this.name, ownerMxid: owner, remoteId, credentials: { bot_token: botToken } }];
  }

  /** `login telegram <bot token>`: the token is checked with getMe before it is stored. */
  async loginWithToken(ownerMxid: string, token: string): Promise<Omit<LoginRef, "id">> {
    const { cfg } = this.ready();
    if (!isBotToken(token)) throw new Error("that is not a bot token (<digits>:<secret>, from @BotFather)");
    registerSecret(token);
    let me: { id: number; username?: string };
    try {
      me = await new Bot(token, { client: botClient(cfg.apiRoot) }).api.getMe();
    } catch (raw) {
      const err = mapTelegramError(raw) as TelegramError;
      throw new Error(err.status === 401 || err.status === 404 ? "the token is not valid" : describe(err));
    }
    return {
      platform: this.name,
      ownerMxid,
      remoteId: String(me.id),
      credentials: { bot_token: token },
    };
  }

  clientFor(login: LoginRef): NetworkClient {
    const { ctx, cfg } = this.ready();
    const stored = login.credentials.bot_token;
    const token = typeof stored === "string" && stored !== "" ? stored : cfg.botToken;
    if (!token) throw new Error(`${this.name}: login ${login.id} has no bot token`);
    registerSecret(token);
    if (cfg.mode === "webhook")
      this.webhook ??= new TelegramWebhook({
        bindAddress: cfg.webhookBindAddress,
        port: cfg.webhookPort,
        log: ctx.log,
      });
    const client = new TelegramClient(ctx, login, cfg, token, this.webhook);
    this.clients.add(client);
    return client;
  }

  /** `clawbridge doctor`: can the Bot API be reached with the token? */
  async check(): Promise<{ ok: boolean; message: string }> {
    const { cfg } = this.ready();
    if (!cfg.botToken)
      return { ok: true, message: "no bot_token configured (bots log in with `login telegram <token>`)" };
    try {
      const api = new Bot(cfg.botToken, { client: botClient(cfg.apiRoot) }).api;
      const me = await api.getMe();
      const who = `logged in as @${me.username ?? me.id}`;
      if (cfg.mode !== "webhook") return { ok: true, message: who };
      // What Telegram itself last saw when posting to the webhook (set by the running bridge).
      const info = await api.getWebhookInfo();
      const expected = botWebhookUrl(cfg.webhookUrl!, me.id).href;
      if (info.url !== expected)
        return {
          ok: true,
          message: `${who}; webhook not set to ${expected} yet (the bridge sets it at start)`,
        };
      if (info.last_error_message)
        return {
          ok: false,
          message: `${who}; Telegram cannot deliver to ${expected}: ${info.last_error_message} (${info.pending_update_count} updates waiting)`,
        };
      return {
        ok: true,
        message: `${who}; webhook ${expected}, ${info.pending_update_count} updates waiting`,
      };
    } catch (raw) {
      const err = mapTelegramError(raw) as TelegramError;
      const message =
        err.status === 401 || err.status === 404
          ? "Telegram rejected platforms.telegram.bot_token: get a valid token from @BotFather"
          : `Telegram unreachable at ${cfg.apiRoot}: ${describe(err)}`;
      return { ok: false, message };
    }
  }

  private ready(): { ctx: ConnectorContext; cfg: TelegramConfig } {
    if (!this.ctx || !this.cfg) throw new Error(`${this.name}: init() has not run`);
    return { ctx: this.ctx, cfg: this.cfg };
  }
}

/** Entry point used by the connector registry: `createConnector("telegram")`. */
export function createConnector(name = "telegram"): NetworkConnector {
  return new TelegramConnector(name);
}
