/**
 * One Discord bot login: the discord.js gateway client and its connection state; what happens
 * on Discord goes to the core through {@link DiscordInbound} (in order per channel, with
 * catch-up of missed messages), and everything the bridge sends through {@link DiscordSender}.
 */
import { Client, DiscordAPIError, Events, GatewayIntentBits, Partials } from "discord.js";
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
  type RemoteMessage,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import { integerOrderKey } from "../../src/core/orderKey";
import { ChannelLanes } from "./ChannelLanes";
import type { DiscordConfig } from "./config";
import { DiscordApprovals } from "./DiscordApprovals";
import { DiscordInbound, describe, guarded } from "./DiscordInbound";
import { DiscordSender } from "./DiscordSender";
import { chatInfoOf, chatOf, fetchDiscordMedia, userInfoOf } from "./inbound";
import { DiscordPolls, readPoll } from "./polls";
import { discordRestAgent } from "./restAgent";
import { typedChannelId } from "./typedChat";
import { Webhooks } from "./Webhooks";

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
  private readonly inbound: DiscordInbound;
  private readonly approvals: DiscordApprovals;
  private readonly polls: DiscordPolls;
  private stopped = false;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    cfg: DiscordConfig,
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
      emit: (ev) => this.inbound.emit(ev),
      chatOf: (id) => {
        const channel = this.discord.channels.cache.get(id);
        return this.inbound.allowed(channel, id) ? chatOf(channel, id).chat : undefined;
      },
      botId: () => this.discord.user?.id,
      readPoll: (channelId, messageId) => readPoll(this.discord.rest, channelId, messageId),
    });
    this.webhooks = new Webhooks(ctx, this.discord, { name: cfg.webhookName, api: cfg.apiRoot });
    const ghost = ctx.ghostUserId("0");
    const domain = ghost.slice(ghost.indexOf(":") + 1);
    const aliasPrefix = typeof ctx.config.alias_prefix === "string" ? ctx.config.alias_prefix : "_discord_";
    this.sender = new DiscordSender({
      ctx,
      cfg,
      discord: this.discord,
      webhooks: this.webhooks,
      domain,
      aliasPrefix,
      notice: (channelId, text) => this.inbound.noticeToMatrix(channelId, text),
    });
    this.inbound = new DiscordInbound({
      ctx,
      login,
      cfg,
      discord: this.discord,
      lanes: this.lanes,
      webhooks: this.webhooks,
      sender: this.sender,
      deps: {
        ghostUserId: (id) => ctx.ghostUserId(id),
        channelAlias: (id) => `#${aliasPrefix}${id}:${domain}`,
        cdn: cfg.cdnRoot,
      },
      stopped: () => this.stopped,
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
    const guard = guarded(this.ctx);
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
        this.inbound.catchUpAll();
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
    this.inbound.wire();
    d.on(
      Events.InteractionCreate,
      guard("interaction", async (i) => {
        if (i.isButton()) await this.approvals.onButton(i);
      }),
    );
  }

  private onReady(): void {
    this.conn.set(ConnectionState.Connected);
    this.ctx.log.info("discord: gateway ready", { guilds: this.discord.guilds.cache.size });
    this.inbound.catchUpAll();
    this.polls.catchUp();
  }

  /** The channel's newest messages for a new portal, oldest first (not the bridge's own). */
  history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    return this.inbound.history(chat, limit);
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
