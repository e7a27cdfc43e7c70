/**
 * One webhook per channel, through which Matrix users speak under their own name and avatar:
 * found among the channel's webhooks or created on first use, then stored (`webhook:<channel>`)
 * and reused. A channel where the bot lacks Manage Webhooks is remembered for an hour and
 * served by the bot's own messages instead.
 */
import { type Client, DiscordAPIError, WebhookClient } from "discord.js";
import type { ConnectorContext } from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import { discordRestAgent } from "./restAgent";

interface Stored {
  id: string;
  token: string;
}

const REFUSED_RETRY_MS = 60 * 60 * 1000;

export class Webhooks {
  private readonly clients = new Map<string, WebhookClient>();
  private readonly ids = new Map<string, string>();
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly client: Client,
    private readonly opts: { name: string; api: string },
  ) {}

  /** The channel's webhook, or undefined when Discord refuses one (403). */
  async get(channelId: string): Promise<WebhookClient | undefined> {
    const cached = this.clients.get(channelId);
    if (cached) return cached;
    const refusedAt = this.refused.get(channelId);
    if (refusedAt && Date.now() - refusedAt < REFUSED_RETRY_MS) return undefined;
    let stored = await this.stored(channelId);
    if (!stored) {
      try {
        stored = await this.findOrCreate(channelId);
      } catch (err) {
        if (err instanceof DiscordAPIError && err.status === 403) {
          this.refused.set(channelId, Date.now());
          this.ctx.log.warn("discord: no webhook permission, relaying as the bot", { channel: channelId });
          return undefined;
        }
        throw err;
      }
      await this.ctx.store.kvSet(`webhook:${channelId}`, JSON.stringify(stored));
    }
    // No retries inside discord.js: an execution has no nonce, so one retried after a timeout
    // or a 5xx that came after Discord posted it would post it twice. The bridge retries it
    // itself, looking for the message first (DiscordSender.postedEarlier).
    const wh = new WebhookClient(
      { id: stored.id, token: stored.token },
      { rest: { api: this.opts.api, agent: discordRestAgent(), retries: 0 } },
    );
    this.clients.set(channelId, wh);
    return wh;
  }

  /** Whether the channel's webhook was refused (the caller tells the room once). */
  isRefused(channelId: string): boolean {
    return this.refused.has(channelId);
  }

  /** Whether `webhookId` is the bridge's webhook of `channelId` (its messages are echoes). */
  async isOwn(channelId: string, webhookId: string): Promise<boolean> {
    return (await this.storedId(channelId)) === webhookId;
  }

  /** A webhook that Discord no longer knows (deleted by a moderator): forget it. */
  async forget(channelId: string): Promise<void> {
    this.clients.get(channelId)?.destroy();
    this.clients.delete(channelId);
    await this.ctx.store.kvSet(`webhook:${channelId}`, "");
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }

  private async storedId(channelId: string): Promise<string | undefined> {
    const known = this.ids.get(channelId);
    if (known) return known;
    return (await this.stored(channelId))?.id;
  }

  private async stored(channelId: string): Promise<Stored | undefined> {
    const raw = await this.ctx.store.kvGet(`webhook:${channelId}`);
    if (!raw) return undefined;
    try {
      const s = JSON.parse(raw) as Stored;
      if (typeof s.id !== "string" || typeof s.token !== "string") return undefined;
      registerSecret(s.token);
      this.ids.set(channelId, s.id);
      return s;
    } catch {
      return undefined;
    }
  }

  private async findOrCreate(channelId: string): Promise<Stored> {
    const channel = await this.client.channels.fetch(channelId);
    if (!channel || !("fetchWebhooks" in channel) || typeof channel.fetchWebhooks !== "function")
      throw Object.assign(new Error("this Discord channel cannot have webhooks"), { status: 403 });
    const me = this.client.user?.id;
    const existing = (await channel.fetchWebhooks()).find(
      (w) => w.name === this.opts.name && w.token && (!w.owner || w.owner.id === me),
    );
    const wh =
      existing ?? (await channel.createWebhook({ name: this.opts.name, reason: "Matrix bridge relay" }));
    if (!wh.token) throw new Error("Discord returned a webhook without a token");
    registerSecret(wh.token);
    this.ids.set(channelId, wh.id);
    this.ctx.log.info("discord: webhook ready", { channel: channelId, reused: existing !== undefined });
    return { id: wh.id, token: wh.token };
  }
}
