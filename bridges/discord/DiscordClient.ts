/**
 * One Discord bot login: the discord.js gateway client, inbound events in order per channel,
 * catch-up of missed messages, and everything the bridge sends.
 *
 * Delivery rule: each channel (a thread counts as its own channel) has one serial lane. A
 * message's id is stored as `last:<channel>` only after `ctx.emit` accepted it; after every
 * (re)identify and on start, each known channel is read with `after=<last>` and what was
 * missed is emitted in order, before any live event queued behind it.
 */
import {
  AuditLogEvent,
  type Channel,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  type Guild,
  type Message,
  type PartialMessage,
  Partials,
  type ThreadChannel,
} from "discord.js";
import { ConnectionStateCell } from "../../src/core/ConnectionStateCell";
import {
  type ApprovalDecision,
  type ApprovalHandling,
  type ApprovalRequest,
  type ChatIdHandling,
  type ChatInfo,
  type ChatInfoHandling,
  ConnectionState,
  type ConnectorContext,
  type DirectChatHandling,
  type EditHandling,
  type HistoryHandling,
  type LoginRef,
  type MatrixSender,
  type Media,
  type MediaRef,
  type ModerationHandling,
  type MuteHandling,
  type NetworkClient,
  type OrderedIds,
  type OutboundMessage,
  type PollHandling,
  type ReactionHandling,
  type RedactionHandling,
  type RemoteChatRef,
  type RemoteEvent,
  type RemoteMessage,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import { integerOrderKey } from "../../src/core/orderKey";
import { ChannelLanes, later } from "./ChannelLanes";
import type { DiscordConfig } from "./config";
import { discordToMatrix } from "./convert/index";
import { DiscordApprovals } from "./DiscordApprovals";
import { DiscordSender } from "./DiscordSender";
import { channelHistory } from "./history";
import {
  chatInfoOf,
  chatOf,
  emojiRef,
  fetchDiscordMedia,
  type InboundDeps,
  profileOf,
  reactionKey,
  resolver,
  toRemoteMessage,
  userInfoOf,
} from "./inbound";
import { DiscordPolls } from "./polls";
import { discordRestAgent } from "./restAgent";
import { typedChannelId } from "./typedChat";
import { Webhooks } from "./Webhooks";

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class DiscordClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    TypingHandling,
    ModerationHandling,
    MuteHandling,
    ChatInfoHandling,
    ApprovalHandling,
    OrderedIds,
    ChatIdHandling,
    DirectChatHandling,
    HistoryHandling,
    PollHandling
{
  private readonly conn = new ConnectionStateCell((s, m) => this.ctx.stateChanged(this.login, s, m));
  readonly discord: Client;
  private readonly lanes: ChannelLanes;
  private readonly webhooks: Webhooks;
  private readonly sender: DiscordSender;
  private readonly deps: InboundDeps;
  private readonly approvals: DiscordApprovals;
  private readonly polls: DiscordPolls;
  private stopped = false;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    private readonly cfg: DiscordConfig,
    private readonly token: string,
  ) {
    this.discord = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.MessageContent,
        GatewayIntentBits.GuildMessageReactions,
        GatewayIntentBits.GuildMessageTyping,
        GatewayIntentBits.GuildMembers,
        GatewayIntentBits.GuildModeration,
        GatewayIntentBits.DirectMessages,
        GatewayIntentBits.DirectMessageReactions,
        GatewayIntentBits.DirectMessageTyping,
        GatewayIntentBits.GuildMessagePolls,
        GatewayIntentBits.DirectMessagePolls,
      ],
      partials: [Partials.Channel, Partials.Message, Partials.Reaction, Partials.User, Partials.GuildMember],
      rest: { api: cfg.apiRoot, cdn: cfg.cdnRoot, agent: discordRestAgent() },
    });
    this.lanes = new ChannelLanes(ctx.store, ctx.log);
    this.polls = new DiscordPolls({
      store: ctx.store,
      log: ctx.log,
      emit: (ev) => this.emit(ev),
      chatOf: (id) => {
        const channel = this.discord.channels.cache.get(id);
        return this.allowed(channel, id) ? chatOf(channel, id).chat : undefined;
      },
      botId: () => this.discord.user?.id,
    });
    this.webhooks = new Webhooks(ctx, this.discord, { name: cfg.webhookName, api: cfg.apiRoot });
    const ghost = ctx.ghostUserId("0");
    const domain = ghost.slice(ghost.indexOf(":") + 1);
    const aliasPrefix = typeof ctx.config.alias_prefix === "string" ? ctx.config.alias_prefix : "_discord_";
    this.deps = {
      ghostUserId: (id) => ctx.ghostUserId(id),
      channelAlias: (id) => `#${aliasPrefix}${id}:${domain}`,
      cdn: cfg.cdnRoot,
    };
    this.sender = new DiscordSender({
      ctx,
      cfg,
      discord: this.discord,
      webhooks: this.webhooks,
      domain,
      aliasPrefix,
      notice: (channelId, text) => this.noticeToMatrix(channelId, text),
    });
    this.approvals = new DiscordApprovals(this.discord, ctx);
    this.wire();
  }

  /** Asks the channel's moderators with Approve / Deny buttons (see {@link DiscordApprovals}). */
  requestApproval(chat: RemoteChatRef, request: ApprovalRequest): Promise<ApprovalDecision> {
    return this.approvals.request(chat, request);
  }

  async connect(): Promise<void> {
    this.stopped = false;
    this.conn.set(ConnectionState.Connecting);
    try {
      await this.discord.login(this.token);
    } catch (err) {
      const bad = /token/i.test(describe(err)) || (err as { status?: number }).status === 401;
      const why = bad
        ? "Discord rejected platforms.discord.bot_token: reset the token on the Bot page of the developer portal"
        : describe(err);
      this.conn.set(bad ? ConnectionState.BadCredentials : ConnectionState.TransientDisconnect, why);
      throw new Error(why);
    }
  }

  async disconnect(): Promise<void> {
    this.stopped = true;
    await this.lanes.idle();
    this.webhooks.destroy();
    await this.discord.destroy();
    this.conn.set(ConnectionState.LoggedOut);
  }

  /** Message ids are snowflakes: their numeric order is the channel's order. */
  orderKey(remoteId: string): string | undefined {
    return integerOrderKey(remoteId);
  }

  state(): ConnectionState {
    return this.conn.get();
  }

  private wire(): void {
    const d = this.discord;
    const guard =
      <A extends unknown[]>(what: string, fn: (...a: A) => Promise<void> | void) =>
      (...a: A): void => {
        try {
          const r = fn(...a);
          if (r)
            r.catch((err: unknown) => this.ctx.log.warn(`discord: ${what} skipped`, { err: describe(err) }));
        } catch (err) {
          this.ctx.log.warn(`discord: malformed ${what} skipped`, { err: describe(err) });
        }
      };
    // A dispatch discord.js cannot digest throws out of its packet handler (and would end the
    // process): skip it with a warning instead.
    const ws = d.ws as unknown as { handlePacket(packet: unknown, shard: unknown): boolean };
    const handle = ws.handlePacket.bind(ws);
    ws.handlePacket = (packet, shard) => {
      try {
        return handle(packet, shard);
      } catch (err) {
        const p = packet as { t?: unknown; s?: unknown } | null;
        this.ctx.log.warn("discord: malformed dispatch skipped", {
          type: String(p?.t),
          seq: String(p?.s),
          err: describe(err),
        });
        return true;
      }
    };
    d.on(Events.Error, (err) => this.ctx.log.warn("discord client error", { err: describe(err) }));
    d.on(Events.Raw, (packet: unknown) => this.polls.onDispatch(packet));
    d.on(
      Events.ShardReady,
      guard("ready", () => this.onReady()),
    );
    d.on(
      Events.ShardResume,
      guard("resume", () => {
        this.conn.set(ConnectionState.Connected);
        this.catchUpAll();
      }),
    );
    d.on(Events.ShardDisconnect, (event: { code: number }) => {
      if (event.code === 4004) {
        const why =
          "Discord rejected platforms.discord.bot_token (4004): reset the token on the Bot page of the developer portal";
        this.ctx.log.error(why);
        this.conn.set(ConnectionState.BadCredentials, why);
      } else this.conn.set(ConnectionState.TransientDisconnect, `gateway closed (${event.code})`);
    });
    d.on(Events.ShardReconnecting, () => this.conn.set(ConnectionState.TransientDisconnect, "reconnecting"));
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
      Events.InteractionCreate,
      guard("interaction", async (i) => {
        if (i.isButton()) await this.approvals.onButton(i);
      }),
    );
    d.on(
      Events.ChannelUpdate,
      guard("channel", (_o, c) => this.onChannelUpdate(c)),
    );
  }

  private onReady(): void {
    this.conn.set(ConnectionState.Connected);
    this.ctx.log.info("discord: gateway ready", { guilds: this.discord.guilds.cache.size });
    this.catchUpAll();
  }

  /** Whether a channel's events are bridged (guild list, channel filter, DMs). */
  private allowed(channel: Channel | null | undefined, channelId: string): boolean {
    if (!channel || channel.isDMBased()) return this.cfg.dms;
    const base = channel.isThread() && channel.parentId ? channel.parentId : channelId;
    const guildId = "guildId" in channel ? channel.guildId : undefined;
    if (this.cfg.guilds.size && (!guildId || !this.cfg.guilds.has(guildId))) return false;
    if (this.cfg.denyChannels.has(base)) return false;
    return this.cfg.channels.size === 0 || this.cfg.channels.has(base);
  }

  private async emit(ev: RemoteEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ctx.emit(this.login, ev);
      } catch (err) {
        if (attempt >= 5 || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  private onMessage(m: Message): Promise<void> {
    if (!this.allowed(m.channel, m.channelId)) return Promise.resolve();
    return this.lanes.run(m.channelId, () => this.deliverMessage(m));
  }

  /** Emits one message unless it is older than what the channel already delivered, or our own. */
  private async deliverMessage(m: Message): Promise<void> {
    const prev = await this.lanes.lastOf(m.channelId);
    if (prev && !later(m.id, prev)) return;
    if (!(await this.isEcho(m))) {
      const ev = toRemoteMessage(this.deps, m);
      try {
        if (ev) await this.emit(ev);
      } catch (err) {
        // Not accepted even after retries: a catch-up fetches it again later.
        this.lanes.fellBehind(m.channelId);
        this.ctx.log.warn("discord: message not queued, it will be fetched again", {
          channel: m.channelId,
          id: m.id,
          err: describe(err),
        });
        setTimeout(() => void this.lanes.run(m.channelId, () => this.catchUp(m.channelId)), 30_000).unref();
        return;
      }
      if (ev?.threadRoot) await this.sender.rememberThread(m.id, m.channelId);
    }
    await this.lanes.markSeen(m.channelId, m.id);
  }

  private async isEcho(m: Message | PartialMessage): Promise<boolean> {
    if (m.author && m.author.id === this.discord.user?.id) return true;
    if (!m.webhookId) return false;
    const { chat } = chatOf(m.channel, m.channelId);
    return this.webhooks.isOwn(chat.id, m.webhookId);
  }

  private catchUpAll(): void {
    void this.lanes.known().then((channels) => {
      for (const id of channels) void this.lanes.run(id, () => this.catchUp(id));
    });
  }

  /** Fetches what a channel missed (after its last delivered id) and delivers it in order. */
  private async catchUp(channelId: string): Promise<void> {
    const after = await this.lanes.lastOf(channelId);
    if (!after || this.cfg.catchUpLimit === 0) return;
    const channel = await this.discord.channels.fetch(channelId).catch(() => null);
    if (!channel?.isTextBased() || !this.allowed(channel, channelId)) return;
    this.lanes.caughtUp(channelId);
    let cursor = after;
    let total = 0;
    while (total < this.cfg.catchUpLimit) {
      const limit = Math.min(100, this.cfg.catchUpLimit - total);
      const page = await channel.messages.fetch({ after: cursor, limit, cache: false });
      const sorted = [...page.values()].sort((a, b) => (later(a.id, b.id) ? 1 : -1));
      for (const m of sorted) await this.deliverMessage(m);
      total += sorted.length;
      if (sorted.length < limit) break;
      cursor = sorted[sorted.length - 1].id;
    }
    if (total) this.ctx.log.info("discord: caught up", { channel: channelId, messages: total });
    if (total >= this.cfg.catchUpLimit) {
      const more = await channel.messages.fetch({ after: cursor, limit: 1, cache: false });
      if (more.size) {
        // Older missed messages came over; newer ones stay on Discord: the room is told.
        const { chat } = chatOf(channel, channelId);
        await this.noticeToMatrix(
          chat.id,
          `More than ${this.cfg.catchUpLimit} messages were posted on Discord while the bridge was away; only the first ${this.cfg.catchUpLimit} were brought over (see platforms.discord.catch_up_limit).`,
          `catch-up-gap-${channelId}-${cursor}`,
        );
      }
    }
  }

  /** The channel's newest messages for a new portal, oldest first (not the bridge's own). */
  async history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    const channel = await this.discord.channels.fetch(chat.id);
    if (!channel?.isTextBased() || !this.allowed(channel, chat.id)) return [];
    const out: RemoteMessage[] = [];
    for (const m of await channelHistory(channel, limit)) {
      if (await this.isEcho(m)) continue;
      const ev = toRemoteMessage(this.deps, m);
      if (ev) out.push(ev);
    }
    return out;
  }

  private async onEdit(m: Message | PartialMessage): Promise<void> {
    if (!this.allowed(m.channel, m.channelId) || m.content === null || m.content === undefined) return;
    const content = m.content;
    await this.lanes.run(m.channelId, async () => {
      if (await this.isEcho(m)) return;
      if (!m.editedTimestamp) return; // an embed resolved, not an edit
      const { chat } = chatOf(m.channel, m.channelId);
      const t = discordToMatrix(content, resolver(this.deps, m, m.guild));
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
    if (!this.allowed(m.channel, m.channelId) || this.sender.deletedByUs(m.id)) return;
    const { chat } = chatOf(m.channel, m.channelId);
    await this.lanes.run(m.channelId, () =>
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
    if (userId === this.discord.user?.id || !this.allowed(m.channel, m.channelId)) return;
    const { chat } = chatOf(m.channel, m.channelId);
    const user = this.discord.users.cache.get(userId);
    const member = m.guild?.members.cache.get(userId);
    await this.lanes.run(m.channelId, () =>
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
          ? { keyImage: emojiRef(this.deps.cdn, emoji.id, emoji.name ?? emoji.id, emoji.animated === true) }
          : {}),
      }),
    );
  }

  private async onTyping(channel: Channel, userId: string): Promise<void> {
    if (userId === this.discord.user?.id || !this.allowed(channel, channel.id)) return;
    const { chat } = chatOf(channel, channel.id);
    await this.ctx.emit(this.login, {
      kind: "typing",
      chat,
      sender: { id: userId },
      timestamp: Date.now(),
      typing: true,
    });
  }

  private async onMember(guildId: string, userId: string, removal: "leave" | "ban"): Promise<void> {
    const guild = this.discord.guilds.cache.get(guildId);
    if (!guild || userId === this.discord.user?.id) return;
    let membership: "leave" | "ban" | "kick" = removal;
    let reason: string | undefined;
    let sender = userId;
    if (removal === "leave") {
      const kick = await this.recentKick(guild, userId);
      if (kick?.by === this.discord.user?.id) return; // mirrored from Matrix: already done there
      if (kick) {
        membership = "kick";
        reason = kick.reason;
        sender = kick.by;
      }
    }
    for (const c of guild.channels.cache.values()) {
      if (!c.isTextBased() || c.isThread() || !this.allowed(c, c.id)) continue;
      await this.lanes.run(c.id, () =>
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
      this.ctx.log.debug("discord: audit log not readable", { guild: guild.id, err: describe(err) });
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
    await this.lanes.run(parentId, () =>
      this.emit({
        kind: "message",
        chat: { id: parentId },
        sender: { id: t.ownerId ?? this.discord.user?.id ?? "0" },
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
    await this.lanes.run(c.id, () =>
      this.emit({
        kind: "chat-info",
        chat: { id: c.id },
        sender: { id: this.discord.user?.id ?? "0" },
        timestamp: Date.now(),
        info: { name: c.name, ...(topic !== undefined ? { topic } : {}) },
      }),
    );
  }

  /** A notice from the bot's ghost into a channel's portal (once per cause). */
  private async noticeToMatrix(
    channelId: string,
    text: string,
    id = `notice-${channelId}-${text.length}`,
  ): Promise<void> {
    const botId = this.discord.user?.id ?? "0";
    await this.ctx.emit(this.login, {
      kind: "message",
      chat: { id: channelId },
      sender: { id: botId },
      timestamp: Date.now(),
      id,
      text,
      msgtype: "notice",
    });
  }

  async resolveChatId(typed: string): Promise<string> {
    return typedChannelId(typed);
  }

  sameChatIds(): string[] {
    return [];
  }

  /** The bot's DM channel with a user (their id, a mention, or a link to their profile). */
  async openDirectChat(typed: string): Promise<{ chat: RemoteChatRef }> {
    const id =
      /^(?:<@!?(\d{1,20})>|(\d{1,20})|https:\/\/(?:\w+\.)?discord(?:app)?\.com\/users\/(\d{1,20}))$/.exec(
        typed.trim(),
      );
    const userId = id?.[1] ?? id?.[2] ?? id?.[3];
    if (!userId)
      throw new BridgeError(
        "Give the person's Discord user id, a mention (<@123…>) or a link to their profile (https://discord.com/users/123…).",
      );
    try {
      const dm = await this.discord.users.createDM(userId);
      return { chat: { id: dm.id } };
    } catch (err) {
      if (err instanceof DiscordAPIError && (err.code === 10013 || err.status === 400))
        throw new BridgeError(`Discord knows no user ${userId}.`, err);
      throw err;
    }
  }

  chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    return chatInfoOf(this.discord, chat);
  }

  userInfo(user: RemoteUserRef): Promise<UserInfo> {
    return userInfoOf(this.discord, user);
  }

  fetchMedia(ref: MediaRef): Promise<Media> {
    return fetchDiscordMedia(ref);
  }

  async sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const poll = msg.poll && !msg.attachment ? await this.polls.send(this.sender, chat, msg) : undefined;
    if (poll) return poll;
    return this.sender.send(chat, msg);
  }

  /** Ends a poll the bot sent, at once; a poll that went out as text is left. */
  endPoll(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.sender.endPoll(chat, remoteId);
  }

  editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    return this.sender.edit(chat, remoteId, msg);
  }

  deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.sender.delete(chat, remoteId);
  }

  sendReaction(chat: RemoteChatRef, target: string, key: string, _sender: MatrixSender): Promise<void> {
    return this.sender.react(chat, target, key, false);
  }

  removeReaction(chat: RemoteChatRef, target: string, key: string, _sender: MatrixSender): Promise<void> {
    return this.sender.react(chat, target, key, true);
  }

  async setTyping(chat: RemoteChatRef, typing: boolean): Promise<void> {
    if (typing) await this.sender.typing(chat);
  }

  kick(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void> {
    return this.sender.moderate(chat, user, "kick", reason);
  }

  ban(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void> {
    return this.sender.moderate(chat, user, "ban", reason);
  }

  unban(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    return this.sender.moderate(chat, user, "unban");
  }

  /** A Discord timeout; without `until`, the longest Discord allows (28 days). */
  mute(chat: RemoteChatRef, user: RemoteUserRef, until?: number, reason?: string): Promise<void> {
    return this.sender.timeout(chat, user, until ?? Number.POSITIVE_INFINITY, reason);
  }

  unmute(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    return this.sender.timeout(chat, user, null);
  }

  setChatName(chat: RemoteChatRef, name: string): Promise<void> {
    return this.sender.editChannel(chat, { name });
  }

  setChatTopic(chat: RemoteChatRef, topic: string): Promise<void> {
    return this.sender.editChannel(chat, { topic });
  }

  async setChatAvatar(_chat: RemoteChatRef, _image: Media): Promise<void> {
    throw Object.assign(new Error("Discord channels have no picture of their own"), { status: 400 });
  }
}
