/**
 * What happens on Discord, into the core: the gateway's dispatches as RemoteEvents, in order per
 * channel, and the catch-up of what a channel missed.
 *
 * Delivery rule: each channel (a thread counts as its own channel) has one serial lane. A
 * message's id is stored as `last:<channel>` only after `ctx.emit` accepted it; after every
 * (re)identify and on start, each known channel is read with `after=<last>` and what was
 * missed is emitted in order, before any live event queued behind it.
 */
import {
  AuditLogEvent,
  type Channel,
  type Client,
  Events,
  type Guild,
  type Message,
  type PartialMessage,
  type ThreadChannel,
} from "discord.js";
import type {
  ConnectorContext,
  LoginRef,
  RemoteChatRef,
  RemoteEvent,
  RemoteMessage,
} from "../../src/core/connector";
import { type ChannelLanes, later } from "./ChannelLanes";
import type { DiscordConfig } from "./config";
import { discordToMatrix } from "./convert/index";
import type { DiscordSender } from "./DiscordSender";
import { channelHistory } from "./history";
import {
  chatOf,
  emojiRef,
  type InboundDeps,
  profileOf,
  reactionKey,
  resolver,
  toRemoteMessage,
} from "./inbound";
import type { Webhooks } from "./Webhooks";

export const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A discord.js event handler that cannot take the process down: what it throws, or the promise
 * it returns rejects with, is logged as `discord: … skipped`.
 */
export function guarded(ctx: ConnectorContext) {
  return <A extends unknown[]>(what: string, fn: (...a: A) => Promise<void> | void) =>
    (...a: A): void => {
      try {
        const r = fn(...a);
        if (r) r.catch((err: unknown) => ctx.log.warn(`discord: ${what} skipped`, { err: describe(err) }));
      } catch (err) {
        ctx.log.warn(`discord: malformed ${what} skipped`, { err: describe(err) });
      }
    };
}

export interface DiscordInboundOptions {
  ctx: ConnectorContext;
  login: LoginRef;
  cfg: DiscordConfig;
  discord: Client;
  lanes: ChannelLanes;
  webhooks: Webhooks;
  /** Threads the bridge knows, and deletions it made itself. */
  sender: DiscordSender;
  deps: InboundDeps;
  /** The login is being stopped: emits are not retried. */
  stopped(): boolean;
}

/** The receiving side of one Discord bot login. */
export class DiscordInbound {
  constructor(private readonly o: DiscordInboundOptions) {}

  /** Listens to the dispatches that become RemoteEvents. */
  wire(): void {
    const d = this.o.discord;
    const guard = guarded(this.o.ctx);
    d.on(
      Events.MessageCreate,
      guard("message", (m: Message) => this.onMessage(m)),
    );
    d.on(
      Events.MessageUpdate,
      guard("edit", (_o: Message | PartialMessage, m: Message | PartialMessage) => this.onEdit(m)),
    );
    d.on(
      Events.MessageDelete,
      guard("delete", (m: Message | PartialMessage) => this.onDelete(m)),
    );
    d.on(
      Events.MessageReactionAdd,
      guard("reaction", (r, u) => this.onReaction(r.message, r.emoji, u.id, false)),
    );
    d.on(
      Events.MessageReactionRemove,
      guard("reaction", (r, u) => this.onReaction(r.message, r.emoji, u.id, true)),
    );
    d.on(
      Events.TypingStart,
      guard("typing", (t) => this.onTyping(t.channel, t.user.id)),
    );
    d.on(
      Events.GuildMemberRemove,
      guard("member", (m) => this.onMember(m.guild.id, m.user.id, "leave")),
    );
    d.on(
      Events.GuildBanAdd,
      guard("ban", (b) => this.onMember(b.guild.id, b.user.id, "ban")),
    );
    d.on(
      Events.ThreadCreate,
      guard("thread", (t: ThreadChannel, created: boolean) => this.onThreadCreate(t, created)),
    );
    d.on(
      Events.ChannelUpdate,
      guard("channel", (_o, c) => this.onChannelUpdate(c)),
    );
  }

  /** Whether a channel's events are bridged (guild list, channel filter, DMs). */
  allowed(channel: Channel | null | undefined, channelId: string): boolean {
    const { cfg } = this.o;
    if (!channel || channel.isDMBased()) return cfg.dms;
    const base = channel.isThread() && channel.parentId ? channel.parentId : channelId;
    const guildId = "guildId" in channel ? channel.guildId : undefined;
    if (cfg.guilds.size && (!guildId || !cfg.guilds.has(guildId))) return false;
    if (cfg.denyChannels.has(base)) return false;
    return cfg.channels.size === 0 || cfg.channels.has(base);
  }

  /** Hands an event to the core, retried a few times (with backoff) unless the login is stopping. */
  async emit(ev: RemoteEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.ctx.emit(this.o.login, ev);
      } catch (err) {
        if (attempt >= 5 || this.o.stopped()) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  private onMessage(m: Message): Promise<void> {
    if (!this.allowed(m.channel, m.channelId)) return Promise.resolve();
    return this.o.lanes.run(m.channelId, () => this.deliverMessage(m));
  }

  /** Emits one message unless it is older than what the channel already delivered, or our own. */
  private async deliverMessage(m: Message): Promise<void> {
    const { lanes, ctx } = this.o;
    const prev = await lanes.lastOf(m.channelId);
    if (prev && !later(m.id, prev)) return;
    if (!(await this.isEcho(m))) {
      const ev = toRemoteMessage(this.o.deps, m);
      try {
        if (ev) await this.emit(ev);
      } catch (err) {
        // Not accepted even after retries: a catch-up fetches it again later.
        lanes.fellBehind(m.channelId);
        ctx.log.warn("discord: message not queued, it will be fetched again", {
          channel: m.channelId,
          id: m.id,
          err: describe(err),
        });
        setTimeout(() => void lanes.run(m.channelId, () => this.catchUp(m.channelId)), 30_000).unref();
        return;
      }
      if (ev?.threadRoot) await this.o.sender.rememberThread(m.id, m.channelId);
    }
    await lanes.markSeen(m.channelId, m.id);
  }

  private async isEcho(m: Message | PartialMessage): Promise<boolean> {
    if (m.author && m.author.id === this.o.discord.user?.id) return true;
    if (!m.webhookId) return false;
    const { chat } = chatOf(m.channel, m.channelId);
    return this.o.webhooks.isOwn(chat.id, m.webhookId);
  }

  /** Each known channel catches up, in its lane. */
  catchUpAll(): void {
    const { lanes } = this.o;
    void lanes.known().then((channels) => {
      for (const id of channels) void lanes.run(id, () => this.catchUp(id));
    });
  }

  /** Fetches what a channel missed (after its last delivered id) and delivers it in order. */
  private async catchUp(channelId: string): Promise<void> {
    const { lanes, cfg, ctx } = this.o;
    const after = await lanes.lastOf(channelId);
    if (!after || cfg.catchUpLimit === 0) return;
    const channel = await this.o.discord.channels.fetch(channelId).catch(() => null);
    if (!channel?.isTextBased() || !this.allowed(channel, channelId)) return;
    lanes.caughtUp(channelId);
    let cursor = after;
    let total = 0;
    while (total < cfg.catchUpLimit) {
      const limit = Math.min(100, cfg.catchUpLimit - total);
      const page = await channel.messages.fetch({ after: cursor, limit, cache: false });
      const sorted = [...page.values()].sort((a, b) => (later(a.id, b.id) ? 1 : -1));
      for (const m of sorted) await this.deliverMessage(m);
      total += sorted.length;
      if (sorted.length < limit) break;
      cursor = sorted[sorted.length - 1].id;
    }
    if (total) ctx.log.info("discord: caught up", { channel: channelId, messages: total });
    if (total >= cfg.catchUpLimit) {
      const more = await channel.messages.fetch({ after: cursor, limit: 1, cache: false });
      if (more.size) {
        // Older missed messages came over; newer ones stay on Discord: the room is told.
        const { chat } = chatOf(channel, channelId);
        await this.noticeToMatrix(
          chat.id,
          `More than ${cfg.catchUpLimit} messages were posted on Discord while the bridge was away; only the first ${cfg.catchUpLimit} were brought over (see platforms.discord.catch_up_limit).`,
          `catch-up-gap-${channelId}-${cursor}`,
        );
      }
    }
  }

  /** The channel's newest messages for a new portal, oldest first (not the bridge's own). */
  async history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    const channel = await this.o.discord.channels.fetch(chat.id);
    if (!channel?.isTextBased() || !this.allowed(channel, chat.id)) return [];
    const out: RemoteMessage[] = [];
    for (const m of await channelHistory(channel, limit)) {
      if (await this.isEcho(m)) continue;
      const ev = toRemoteMessage(this.o.deps, m);
      if (ev) out.push(ev);
    }
    return out;
  }

  private async onEdit(m: Message | PartialMessage): Promise<void> {
    if (!this.allowed(m.channel, m.channelId) || m.content === null || m.content === undefined) return;
    const content = m.content;
    await this.o.lanes.run(m.channelId, async () => {
      if (await this.isEcho(m)) return;
      if (!m.editedTimestamp) return; // an embed resolved, not an edit
      const { chat } = chatOf(m.channel, m.channelId);
      const t = discordToMatrix(content, resolver(this.o.deps, m, m.guild));
      await this.emit({
        kind: "edit",
        chat,
        sender: { id: m.author?.id ?? "0" },
        timestamp: m.editedTimestamp,
        id: m.id,
        text: t.body,
        ...(t.html ? { html: t.html } : {}),
      });
    });
  }

  private async onDelete(m: Message | PartialMessage): Promise<void> {
    if (!this.allowed(m.channel, m.channelId) || this.o.sender.deletedByUs(m.id)) return;
    const { chat } = chatOf(m.channel, m.channelId);
    await this.o.lanes.run(m.channelId, () =>
      this.emit({
        kind: "delete",
        chat,
        sender: { id: m.author?.id ?? "0" },
        timestamp: Date.now(),
        id: m.id,
      }),
    );
  }

  private async onReaction(
    m: Message | PartialMessage,
    emoji: { id: string | null; name: string | null; animated?: boolean | null },
    userId: string,
    removed: boolean,
  ): Promise<void> {
    const { discord, deps } = this.o;
    if (userId === discord.user?.id || !this.allowed(m.channel, m.channelId)) return;
    const { chat } = chatOf(m.channel, m.channelId);
    const user = discord.users.cache.get(userId);
    const member = m.guild?.members.cache.get(userId);
    await this.o.lanes.run(m.channelId, () =>
      this.emit({
        kind: removed ? "reaction-remove" : "reaction",
        chat,
        sender: { id: userId },
        ...(user && !removed ? { senderInfo: profileOf(user, member) } : {}),
        timestamp: Date.now(),
        target: m.id,
        key: reactionKey(emoji),
        // A custom emoji reacts with its picture in Matrix.
        ...(emoji.id && !removed
          ? { keyImage: emojiRef(deps.cdn, emoji.id, emoji.name ?? emoji.id, emoji.animated === true) }
          : {}),
      }),
    );
  }

  private async onTyping(channel: Channel, userId: string): Promise<void> {
    if (userId === this.o.discord.user?.id || !this.allowed(channel, channel.id)) return;
    const { chat } = chatOf(channel, channel.id);
    await this.o.ctx.emit(this.o.login, {
      kind: "typing",
      chat,
      sender: { id: userId },
      timestamp: Date.now(),
      typing: true,
    });
  }

  private async onMember(guildId: string, userId: string, removal: "leave" | "ban"): Promise<void> {
    const { discord } = this.o;
    const guild = discord.guilds.cache.get(guildId);
    if (!guild || userId === discord.user?.id) return;
    let membership: "leave" | "ban" | "kick" = removal;
    let reason: string | undefined;
    let sender = userId;
    if (removal === "leave") {
      const kick = await this.recentKick(guild, userId);
      if (kick?.by === discord.user?.id) return; // mirrored from Matrix: already done there
      if (kick) {
        membership = "kick";
        reason = kick.reason;
        sender = kick.by;
      }
    }
    for (const c of guild.channels.cache.values()) {
      if (!c.isTextBased() || c.isThread() || !this.allowed(c, c.id)) continue;
      await this.o.lanes.run(c.id, () =>
        this.emit({
          kind: "member",
          chat: { id: c.id },
          sender: { id: sender },
          timestamp: Date.now(),
          target: { id: userId },
          membership,
          ...(reason ? { reason } : {}),
        }),
      );
    }
  }

  /**
   * Discord tells bots only that a member is gone; a kick shows in the audit log (View Audit
   * Log permission). Without the permission every removal counts as leaving.
   */
  private async recentKick(
    guild: Guild,
    userId: string,
  ): Promise<{ by: string; reason?: string } | undefined> {
    try {
      const log = await guild.fetchAuditLogs({ type: AuditLogEvent.MemberKick, limit: 5 });
      const entry = log.entries.find(
        (e) => e.targetId === userId && Date.now() - e.createdTimestamp < 30_000,
      );
      return entry?.executorId ? { by: entry.executorId, reason: entry.reason ?? undefined } : undefined;
    } catch (err) {
      this.o.ctx.log.debug("discord: audit log not readable", { guild: guild.id, err: describe(err) });
      return undefined;
    }
  }

  /**
   * A new thread gets a root event in Matrix for its messages to hang from. A thread started
   * from a message has that message's id, already bridged, so the core drops the duplicate.
   */
  private async onThreadCreate(t: ThreadChannel, created: boolean): Promise<void> {
    if (!created || !t.parentId || !this.allowed(t as Channel, t.id)) return;
    const parentId = t.parentId;
    await this.o.lanes.run(parentId, () =>
      this.emit({
        kind: "message",
        chat: { id: parentId },
        sender: { id: t.ownerId ?? this.o.discord.user?.id ?? "0" },
        timestamp: t.createdTimestamp ?? Date.now(),
        id: t.id,
        text: `🧵 ${t.name}`,
        msgtype: "notice",
      }),
    );
  }

  private async onChannelUpdate(c: Channel): Promise<void> {
    if (c.isDMBased() || c.isThread() || !this.allowed(c, c.id) || !("name" in c)) return;
    const topic = "topic" in c && typeof c.topic === "string" ? c.topic : undefined;
    await this.o.lanes.run(c.id, () =>
      this.emit({
        kind: "chat-info",
        chat: { id: c.id },
        sender: { id: this.o.discord.user?.id ?? "0" },
        timestamp: Date.now(),
        info: { name: c.name, ...(topic !== undefined ? { topic } : {}) },
      }),
    );
  }

  /** A notice from the bot's ghost into a channel's portal (once per cause). */
  async noticeToMatrix(
    channelId: string,
    text: string,
    id = `notice-${channelId}-${text.length}`,
  ): Promise<void> {
    const botId = this.o.discord.user?.id ?? "0";
    await this.o.ctx.emit(this.o.login, {
      kind: "message",
      chat: { id: channelId },
      sender: { id: botId },
      timestamp: Date.now(),
      id,
      text,
      msgtype: "notice",
    });
  }
}
