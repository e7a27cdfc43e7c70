/**
 * The Slack connector: every workspace in `platforms.slack` (a bot token plus an app-level
 * token for Socket Mode, or a signing secret for the Events API over HTTP) is one login whose
 * remote id is the team id. Several workspaces run side by side; a channel id names one
 * workspace, so each client routes a chat to the workspace it belongs to.
 */
import { createHash } from "node:crypto";
import { webApi } from "@slack/bolt";
import type { ConnectorContext, LoginRef, NetworkClient, NetworkConnector } from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import type { ChannelRouting } from "./ChatRouter";
import { isBotToken, readSlackConfig, type SlackConfig, type WorkspaceConfig } from "./config";
import { describe, slack } from "./errors";
import { SlackClient } from "./SlackClient";

class SlackConnector implements NetworkConnector {
  private ctx?: ConnectorContext;
  private cfg?: SlackConfig;
  private readonly clients = new Set<SlackClient>();
  private readonly channels = new Map<string, SlackClient>();
  /** Team id per configured bot token, learned with auth.test at start. */
  private readonly teams = new Map<string, string>();

  constructor(readonly name: string) {}

  async init(ctx: ConnectorContext): Promise<void> {
    this.cfg = readSlackConfig(ctx.config, this.name);
    for (const w of this.cfg.workspaces) {
      registerSecret(w.botToken);
      if (w.appToken) registerSecret(w.appToken);
      if (w.signingSecret) registerSecret(w.signingSecret);
    }
    this.ctx = ctx;
  }

  /** Learns each configured workspace's team id (the login's remote id). */
  async start(): Promise<void> {
    const { cfg, ctx } = this.ready();
    for (const w of cfg.workspaces) {
      try {
        const auth = (await slack(() =>
          new webApi.WebClient(w.botToken, {
            slackApiUrl: cfg.apiUrl,
            retryConfig: { retries: 0 },
          }).auth.test(),
        )) as {
          team_id?: string;
        };
        if (auth.team_id) {
          this.teams.set(w.botToken, auth.team_id);
          await ctx.store.kvSet(`team:${tokenKey(w.botToken)}`, auth.team_id);
        }
      } catch (err) {
        const known = await ctx.store.kvGet(`team:${tokenKey(w.botToken)}`);
        if (known) this.teams.set(w.botToken, known);
        ctx.log.error("slack: auth.test failed for a configured workspace", {
          team: known,
          err: describe(err),
        });
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.disconnect()));
  }

  configLogins(): Array<Omit<LoginRef, "id">> {
    const { cfg } = this.ready();
    if (!cfg.owner) return [];
    return cfg.workspaces
      .filter((w) => this.teams.has(w.botToken))
      .map((w) => ({
        platform: this.name,
        ownerMxid: cfg.owner!,
        remoteId: this.teams.get(w.botToken),
        credentials: credentialsOf(w),
      }));
  }

  /** `login slack <xoxb-…>:<xapp-…>`: the bot token and the app-level token for Socket Mode. */
  async loginWithToken(ownerMxid: string, token: string): Promise<Omit<LoginRef, "id">> {
    const { cfg } = this.ready();
    const [botToken, appToken] = token.split(":");
    if (!botToken || !isBotToken(botToken) || !appToken || !/^xapp-[\w-]+$/.test(appToken))
      throw new Error("give the bot token and the app-level token as xoxb-…:xapp-…");
    registerSecret(botToken);
    registerSecret(appToken);
    const auth = (await slack(() =>
      new webApi.WebClient(botToken, { slackApiUrl: cfg.apiUrl }).auth.test(),
    )) as {
      team_id?: string;
    };
    return {
      platform: this.name,
      ownerMxid,
      remoteId: auth.team_id,
      credentials: { bot_token: botToken, app_token: appToken },
    };
  }

  clientFor(login: LoginRef): NetworkClient {
    const { ctx, cfg } = this.ready();
    const c = login.credentials;
    const botToken = typeof c.bot_token === "string" ? c.bot_token : "";
    if (!botToken) throw new Error(`${this.name}: login ${login.id} has no bot token`);
    const configured = cfg.workspaces.find((w) => w.botToken === botToken);
    const ws: WorkspaceConfig = configured ?? {
      botToken,
      appToken: typeof c.app_token === "string" ? c.app_token : undefined,
      signingSecret: typeof c.signing_secret === "string" ? c.signing_secret : undefined,
      httpPort: 3000,
      httpHost: "0.0.0.0",
    };
    for (const secret of [ws.botToken, ws.appToken, ws.signingSecret]) if (secret) registerSecret(secret);
    for (const old of this.clients) if (old.login.id === login.id) this.clients.delete(old);
    const client = new SlackClient(ctx, login, cfg, ws, this.routing());
    this.clients.add(client);
    return client;
  }

  private routing(): ChannelRouting {
    return {
      owner: (channel) => {
        const c = this.channels.get(channel);
        return c && this.clients.has(c) ? c : undefined;
      },
      remember: (channel, client) => {
        if (this.channels.get(channel) !== client) this.channels.set(channel, client);
      },
      others: (self) => [...this.clients].filter((c) => c !== self),
    };
  }

  async check(): Promise<{ ok: boolean; message: string }> {
    const { cfg } = this.ready();
    if (!cfg.workspaces.length) return { ok: true, message: "no workspaces configured" };
    const lines: string[] = [];
    let ok = true;
    for (const [i, w] of cfg.workspaces.entries()) {
      try {
        const auth = (await slack(() =>
          new webApi.WebClient(w.botToken, { slackApiUrl: cfg.apiUrl }).auth.test(),
        )) as {
          team?: string;
          team_id?: string;
        };
        lines.push(`workspace ${auth.team ?? "?"} (${auth.team_id}): ok`);
      } catch (err) {
        ok = false;
        lines.push(`platforms.slack workspace #${i + 1}: ${describe(err)}`);
      }
    }
    return { ok, message: lines.join("; ") };
  }

  private ready(): { ctx: ConnectorContext; cfg: SlackConfig } {
    if (!this.ctx || !this.cfg) throw new Error(`${this.name}: init() has not run`);
    return { ctx: this.ctx, cfg: this.cfg };
  }
}

function credentialsOf(w: WorkspaceConfig): Record<string, unknown> {
  const c: Record<string, unknown> = { bot_token: w.botToken };
  if (w.appToken) c.app_token = w.appToken;
  if (w.signingSecret) c.signing_secret = w.signingSecret;
  return c;
}

/** A non-secret key for a token (its hash), to remember its team across restarts. */
function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}

/** Entry point used by the connector registry: `createConnector("slack")`. */
export function createConnector(name = "slack"): NetworkConnector {
  return new SlackConnector(name);
}
