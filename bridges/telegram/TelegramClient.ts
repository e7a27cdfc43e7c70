/**
 * One Telegram bot login: updates come in through {@link TelegramUpdates} (polling or webhook;
 * grammy's `Bot` is used only for `bot.api`), and every outbound capability the Bot API offers
 * a bot goes out from here.
 */
import { Bot, InputFile } from "grammy";
import type { ReactionTypeEmoji, User } from "grammy/types";
import type {
  ApprovalDecision,
  ApprovalHandling,
  ApprovalRequest,
  ChatIdHandling,
  ChatInfo,
  ChatInfoHandling,
  ConnectionState,
  ConnectorContext,
  DirectChatHandling,
  EditHandling,
  LoginRef,
  MatrixSender,
  Media,
  MediaRef,
  ModerationHandling,
  MuteHandling,
  NetworkClient,
  OrderedIds,
  OutboundMessage,
  PollHandling,
  ReactionHandling,
  RedactionHandling,
  RemoteChatRef,
  RemoteLocation,
  RemoteUserRef,
  SentRef,
  TypingHandling,
  UserInfo,
} from "../../src/core/connector";
import { fitImage } from "../../src/core/downscale";
import { BridgeError } from "../../src/core/errors";
import { integerOrderKey } from "../../src/core/orderKey";
import { botClient } from "./botFetch";
import { chatAllowed, type TelegramConfig } from "./config";
import {
  chatTitle,
  escapeHtml,
  matrixToTelegramHtml,
  relayText,
  telegramMethodFor,
  userDisplayName,
} from "./convert/index";
import { describe, isBadRequest, tg } from "./errors";
import { InboundMapper } from "./inbound";
import { ALLOWED_REACTIONS, MAX_CAPTION, MAX_TEXT, PHOTO_LIMITS, splitPlain } from "./limits";
import { TelegramPolls, telegramPollFits } from "./polls";
import { TelegramApprovals } from "./TelegramApprovals";
import { TelegramFiles } from "./TelegramFiles";
import { TelegramUpdates } from "./TelegramUpdates";
import type { TelegramWebhook } from "./TelegramWebhook";
import { parseTypedChat } from "./typedChat";

const MEDIA_MESSAGES_KEPT = 10_000;

/** A Telegram bot login: polling, mapping and sending. */
export class TelegramClient
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
    PollHandling
{
  private readonly bot: Bot;
  private readonly updates: TelegramUpdates;
  private readonly mapper: InboundMapper;
  /** Users seen in updates (for userInfo without a call); bounded. */
  private readonly users = new Map<string, User>();
  private readonly files: TelegramFiles;
  /** Messages this client sent as media (edits go to editMessageCaption). */
  private readonly mediaMessages = new Set<string>();
  private readonly approvals: TelegramApprovals;
  private readonly polls: TelegramPolls;

  constructor(
    private readonly ctx: ConnectorContext,
    login: LoginRef,
    private readonly cfg: TelegramConfig,
    token: string,
    webhook?: TelegramWebhook,
  ) {
    this.bot = new Bot(token, { client: botClient(cfg.apiRoot) });
    this.files = new TelegramFiles(this.bot.api, cfg.apiRoot, token);
    this.polls = new TelegramPolls(ctx.store, ctx.log);
    this.mapper = new InboundMapper({
      botId: () => this.me?.id ?? 0,
      ghostUserId: (id) => ctx.ghostUserId(id),
      allowed: (id, type) => chatAllowed(cfg, id, type),
    });
    this.updates = new TelegramUpdates({
      ctx,
      login,
      cfg,
      bot: this.bot,
      mapper: this.mapper,
      files: this.files,
      polls: this.polls,
      users: this.users,
      webhook,
      onCallbackQuery: (q) => this.approvals.onCallbackQuery(q),
    });
    this.approvals = new TelegramApprovals(this.bot, ctx);
  }

  /** Asks the chat's admins with Approve / Deny buttons (see {@link TelegramApprovals}). */
  requestApproval(chat: RemoteChatRef, request: ApprovalRequest): Promise<ApprovalDecision> {
    return this.approvals.request(chat, request);
  }

  private get me(): User | undefined {
    return this.updates.me;
  }

  /** Starts receiving updates in the background (polling, or the webhook in webhook mode). */
  connect(): Promise<void> {
    return this.updates.start();
  }

  /** Stops receiving; an emit in progress finishes and stores its offset, nothing follows. */
  disconnect(): Promise<void> {
    return this.updates.stop();
  }

  /** Message ids grow by one within a chat: their numeric order is the chat's order. */
  orderKey(remoteId: string): string | undefined {
    return integerOrderKey(remoteId);
  }

  state(): ConnectionState {
    return this.updates.state();
  }

  private target(chat: RemoteChatRef): { chatId: number; thread: { message_thread_id?: number } } {
    return {
      chatId: Number(chat.id),
      thread: chat.threadId !== undefined ? { message_thread_id: Number(chat.threadId) } : {},
    };
  }

  /** A public group's or channel's `@name` is looked up with getChat; ids are taken as given. */
  async resolveChatId(typed: string): Promise<string> {
    const named = parseTypedChat(typed);
    if ("id" in named) return named.id;
    try {
      return String((await tg(() => this.bot.api.getChat(`@${named.username}`))).id);
    } catch (err) {
      if (!isBadRequest(err, "chat not found")) throw err;
      throw new BridgeError(
        `Telegram knows no public group or channel @${named.username} (a bot finds only those by name): give the chat's id or a link to one of its messages instead.`,
        err,
      );
    }
  }

  sameChatIds(): string[] {
    return [];
  }

  /**
   * A person's private chat with the bot, by their user id (`tg://user?id=` links too): someone
   * the bot has met. Bots cannot look people up by @name, and may write only to those who
   * started them (Telegram does not say which those are until a message is refused).
   */
  async openDirectChat(typed: string): Promise<{ chat: RemoteChatRef; note?: string }> {
    const id = typed.trim().replace(/^tg:\/\/user\?id=/i, "");
    if (!/^\d{1,15}$/.test(id))
      throw new BridgeError(
        "Give the person's Telegram user id (a number: `pm telegram 123456789`); a bot cannot look people up by @name.",
      );
    try {
      const c = await tg(() => this.bot.api.getChat(Number(id)));
      if (c.type !== "private")
        throw new BridgeError(`${id} is a ${c.type} chat, not a person: \`link\` bridges it to a room.`);
      return {
        chat: { id: String(c.id) },
        note: `Telegram delivers your messages only once they have started ${await this.botName()}.`,
      };
    } catch (err) {
      if (!isBadRequest(err, "chat not found")) throw err;
      throw new BridgeError(
        `Telegram knows no person ${id} the bot has met: ask them to send /start to ${await this.botName()} first.`,
        err,
      );
    }
  }

  private async botName(): Promise<string> {
    const me = await tg(() => this.bot.api.getMe()).catch(() => undefined);
    return me?.username ? `@${me.username}` : "the bot";
  }

  async chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    const c = await tg(() => this.bot.api.getChat(Number(chat.id)));
    const kind = c.type === "private" ? "dm" : c.type === "channel" ? "channel" : "group";
    const info: ChatInfo = { kind, name: chatTitle(c) || chat.id };
    if (chat.threadId !== undefined) info.name = `${info.name} (topic ${chat.threadId})`;
    if (c.description) info.topic = c.description;
    if (c.photo) {
      info.avatar = this.files.avatarRef(c.photo.big_file_unique_id, c.photo.big_file_id);
    }
    if (kind === "group") {
      // Bots cannot list members; administrators are the ones the Bot API gives.
      const admins = await tg(() => this.bot.api.getChatAdministrators(Number(chat.id))).catch(() => []);
      const ids = admins.filter((a) => !a.user.is_bot).map((a) => ({ id: String(a.user.id) }));
      if (ids.length) info.members = ids;
    }
    return info;
  }

  async userInfo(user: RemoteUserRef): Promise<UserInfo> {
    const id = Number(user.id);
    if (this.me && id === this.me.id) return { displayName: userDisplayName(this.me), isBot: true };
    let name = this.users.has(user.id) ? userDisplayName(this.users.get(user.id)!) : undefined;
    const isBot = this.users.get(user.id)?.is_bot || id === this.me?.id;
    if (name === undefined) {
      const c = await tg(() => this.bot.api.getChat(id));
      name = chatTitle(c);
    }
    const info: UserInfo = { displayName: name || user.id };
    if (isBot) info.isBot = true;
    if (id > 0) {
      try {
        const p = await tg(() => this.bot.api.getUserProfilePhotos(id, { limit: 1 }));
        const largest = p.photos[0]?.at(-1);
        if (largest) {
          info.avatar = this.files.avatarRef(largest.file_unique_id, largest.file_id, largest.file_size);
        }
      } catch (err) {
        this.ctx.log.debug("telegram: no profile photos", { user: user.id, err: describe(err) });
      }
    }
    return info;
  }

  /** getFile + download; over the Bot API's 20 MB download limit is refused with status 413. */
  fetchMedia(ref: MediaRef): Promise<Media> {
    return this.files.download(ref);
  }

  /** Relays a Matrix message; text over 4096 characters goes out as several plain parts. */
  async sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const sent = await this.send(chat, msg);
    // Reactions to it will arrive without the topic: remember where it went.
    if (chat.threadId !== undefined)
      for (const id of sent.ids) this.mapper.rememberTopic(chat.id, id, chat.threadId);
    return sent;
  }

  private async send(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const { chatId, thread } = this.target(chat);
    const reply =
      msg.replyTo !== undefined
        ? { reply_parameters: { message_id: Number(msg.replyTo), allow_sending_without_reply: true } }
        : {};
    let a = msg.attachment;
    const bodyText = a && (msg.text === a.media.name || msg.text === "") ? "" : msg.text;
    const bodyHtml = bodyText === "" ? "" : this.toTelegramHtml(bodyText, msg.html);
    const html = relayText(this.cfg.relayTemplate, msg.sender, bodyHtml, msg.msgtype).trim();
    const ids: string[] = [];
    if (msg.poll && !a) {
      // Who asks goes in front of the question where it fits; else the question alone.
      const asked = `${msg.sender.displayName}: ${msg.poll.question}`;
      const question = telegramPollFits(msg.poll, asked) ? asked : msg.poll.question;
      const sent = telegramPollFits(msg.poll, question)
        ? await this.polls.send(this.bot.api, chat, msg.poll, question, { ...reply, ...thread }, msg.eventId)
        : undefined;
      if (sent) return { ids: [String(sent.message_id)], timestamp: sent.date * 1000 };
    }
    if (msg.location && !a) return this.sendLocation(chatId, thread, reply, html, msg.location);
    if (a) {
      const method = telegramMethodFor(a.kind, a.media.mimetype, a.voice);
      // A photo past sendPhoto's size or shape is downscaled rather than refused.
      if (method === "sendPhoto") a = await fitImage(a, PHOTO_LIMITS);
      const file = new InputFile(a.media.data, a.media.name);
      if (method === "sendSticker") {
        // Stickers take no caption: the relay line goes first, so Telegram users see who sent it.
        const line = await tg(() =>
          this.bot.api.sendMessage(chatId, html.slice(0, MAX_TEXT), {
            parse_mode: "HTML",
            ...reply,
            ...thread,
          }),
        );
        const sent = await tg(() => this.files.upload(method, chatId, file, thread));
        return { ids: [String(line.message_id), String(sent.message_id)], timestamp: sent.date * 1000 };
      }
      const fits = html.length <= MAX_CAPTION;
      const caption = fits ? { caption: html, parse_mode: "HTML" as const } : {};
      const sent = await tg(() =>
        this.files.upload(method, chatId, file, { ...caption, ...reply, ...thread }),
      );
      ids.push(String(sent.message_id));
      this.mediaMessages.add(`${chatId}:${sent.message_id}`);
      // Only a shortcut (an edit of an older one finds out from Telegram's answer): kept bounded.
      if (this.mediaMessages.size > MEDIA_MESSAGES_KEPT)
        this.mediaMessages.delete(this.mediaMessages.values().next().value!);
      if (fits || bodyText === "") return { ids, timestamp: sent.date * 1000 };
    }
    const parts =
      html.length <= MAX_TEXT ? [html] : splitPlain(`${msg.sender.displayName}: ${msg.text}`).map(escapeHtml);
    let timestamp = Date.now();
    for (const [i, text] of parts.entries()) {
      const r = i === 0 && !a ? reply : {};
      const sent = await tg(() =>
        this.bot.api.sendMessage(chatId, text, { parse_mode: "HTML", ...r, ...thread }),
      );
      ids.push(String(sent.message_id));
      timestamp = sent.date * 1000;
    }
    return { ids, timestamp };
  }

  /**
   * A place: sendLocation takes no caption, so the relay line (who, and the body) goes first,
   * then the pin. Telegram takes an accuracy of at most 1500 m.
   */
  private async sendLocation(
    chatId: number,
    thread: { message_thread_id?: number },
    reply: object,
    html: string,
    loc: RemoteLocation,
  ): Promise<SentRef> {
    const line = await tg(() =>
      this.bot.api.sendMessage(chatId, html.slice(0, MAX_TEXT), { parse_mode: "HTML", ...reply, ...thread }),
    );
    const accuracy =
      loc.accuracyM !== undefined ? { horizontal_accuracy: Math.min(1500, Math.max(0, loc.accuracyM)) } : {};
    const sent = await tg(() =>
      this.bot.api.sendLocation(chatId, loc.lat, loc.lon, { ...accuracy, ...thread }),
    );
    return { ids: [String(line.message_id), String(sent.message_id)], timestamp: sent.date * 1000 };
  }

  /** Matrix body (and formatted body) → Telegram HTML; ghost pills become Telegram mentions. */
  private toTelegramHtml(body: string, html: string | undefined): string {
    const content = html ? { body, format: "org.matrix.custom.html", formatted_body: html } : { body };
    return matrixToTelegramHtml(content, {
      pillToTelegramUser: (mxid) => {
        const id = this.ctx.remoteUserIdOf(mxid);
        if (id === undefined || !/^\d+$/.test(id)) return undefined;
        const known = this.users.get(id);
        return { id: Number(id), name: known ? userDisplayName(known) : id };
      },
    });
  }

  /** editMessageText, or editMessageCaption for media; "not modified" counts as done. */
  async editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const chatId = Number(chat.id);
    const id = Number(remoteId);
    const body = this.toTelegramHtml(msg.text, msg.html);
    const html = relayText(this.cfg.relayTemplate, msg.sender, body, msg.msgtype);
    const caption = (): Promise<unknown> =>
      tg(() =>
        this.bot.api.editMessageCaption(chatId, id, {
          caption: html.slice(0, MAX_CAPTION),
          parse_mode: "HTML",
        }),
      );
    try {
      if (this.mediaMessages.has(`${chatId}:${id}`)) await caption();
      else {
        await tg(() =>
          this.bot.api.editMessageText(chatId, id, html.slice(0, MAX_TEXT), { parse_mode: "HTML" }),
        ).catch((err: unknown) => {
          if (isBadRequest(err, "no text in the message")) return caption();
          throw err;
        });
      }
    } catch (err) {
      if (!isBadRequest(err, "message is not modified")) throw err;
    }
  }

  /** Stops a poll the bot sent (`stopPoll`); one that went out as text is left. */
  endPoll(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.polls.stop(this.bot.api, chat, remoteId);
  }

  async deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    await tg(() => this.bot.api.deleteMessage(Number(chat.id), Number(remoteId)));
  }

  /**
   * Sets the bot's reaction when Telegram allows the emoji; otherwise replies with a short text
   * ("Alice reacted with 🦜"), since bots may only use Telegram's fixed reaction set.
   */
  async sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    const emoji = key.replace(/\uFE0F/g, "");
    if (ALLOWED_REACTIONS.has(emoji)) {
      const reaction: ReactionTypeEmoji[] = [{ type: "emoji", emoji: emoji as ReactionTypeEmoji["emoji"] }];
      await tg(() => this.bot.api.setMessageReaction(Number(chat.id), Number(target), reaction));
      return;
    }
    const { chatId, thread } = this.target(chat);
    const text = `${escapeHtml(sender.displayName || sender.mxid)} reacted with ${escapeHtml(key)}`;
    await tg(() =>
      this.bot.api.sendMessage(chatId, text, {
        parse_mode: "HTML",
        reply_parameters: { message_id: Number(target), allow_sending_without_reply: true },
        ...thread,
      }),
    );
  }

  /** Clears the bot's reaction (a fallback text reply stays). */
  async removeReaction(
    chat: RemoteChatRef,
    target: string,
    key: string,
    _sender: MatrixSender,
  ): Promise<void> {
    if (!ALLOWED_REACTIONS.has(key.replace(/\uFE0F/g, ""))) return;
    await tg(() => this.bot.api.setMessageReaction(Number(chat.id), Number(target), []));
  }

  /** Needs the bot to be an admin with "change group info"; private chats cannot be renamed. */
  async setChatName(chat: RemoteChatRef, name: string): Promise<void> {
    await tg(() => this.bot.api.setChatTitle(this.target(chat).chatId, name.slice(0, 128)));
  }

  async setChatTopic(chat: RemoteChatRef, topic: string): Promise<void> {
    await tg(() => this.bot.api.setChatDescription(this.target(chat).chatId, topic.slice(0, 255)));
  }

  async setChatAvatar(chat: RemoteChatRef, image: Media): Promise<void> {
    await tg(() =>
      this.bot.api.setChatPhoto(this.target(chat).chatId, new InputFile(image.data, image.name)),
    );
  }

  /** Telegram shows "typing" for about 5 s per call and has no "stopped typing". */
  async setTyping(chat: RemoteChatRef, typing: boolean): Promise<void> {
    if (!typing) return;
    const { chatId, thread } = this.target(chat);
    await tg(() => this.bot.api.sendChatAction(chatId, "typing", thread));
  }

  /** Removes without a lasting ban: ban, then unban with `only_if_banned`. */
  async kick(chat: RemoteChatRef, user: RemoteUserRef, _reason?: string): Promise<void> {
    this.moderationOn();
    await this.moderate(() => this.bot.api.banChatMember(Number(chat.id), Number(user.id)));
    await this.moderate(() =>
      this.bot.api.unbanChatMember(Number(chat.id), Number(user.id), { only_if_banned: true }),
    );
  }

  async ban(chat: RemoteChatRef, user: RemoteUserRef, _reason?: string): Promise<void> {
    this.moderationOn();
    await this.moderate(() => this.bot.api.banChatMember(Number(chat.id), Number(user.id)));
  }

  async unban(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    this.moderationOn();
    await this.moderate(() =>
      this.bot.api.unbanChatMember(Number(chat.id), Number(user.id), { only_if_banned: true }),
    );
  }

  /** Takes every right to post away (`until`: when it ends; absent: until lifted). Supergroups only. */
  async mute(chat: RemoteChatRef, user: RemoteUserRef, until?: number): Promise<void> {
    this.moderationOn();
    const until_date = until !== undefined ? Math.ceil(until / 1000) : 0;
    await this.moderate(() =>
      this.bot.api.restrictChatMember(Number(chat.id), Number(user.id), permissions(false), {
        until_date,
        use_independent_chat_permissions: true,
      }),
    );
  }

  /** Gives every right back: the member then has the chat's default permissions. */
  async unmute(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    this.moderationOn();
    await this.moderate(() =>
      this.bot.api.restrictChatMember(Number(chat.id), Number(user.id), permissions(true), {
        use_independent_chat_permissions: true,
      }),
    );
  }

  private moderationOn(): void {
    if (!this.cfg.moderation)
      throw new BridgeError(
        "moderation is off for this bridge (a bridge admin can set platforms.telegram.moderation: true)",
      );
  }

  /** A moderation call; Telegram's refusals become a text that says what the bot lacks. */
  private async moderate(call: () => Promise<unknown>): Promise<void> {
    try {
      await tg(call);
    } catch (err) {
      if (isBadRequest(err, "not enough rights") || isBadRequest(err, "CHAT_ADMIN_REQUIRED"))
        throw new BridgeError(
          "the bot is not an administrator of the Telegram chat with the right to ban users",
          err,
        );
      if (isBadRequest(err, "available for supergroup and channel chats only"))
        throw new BridgeError(
          "Telegram only lets bots remove people from groups, not from private chats",
          err,
        );
      if (isBadRequest(err, "can't remove chat owner"))
        throw new BridgeError("the chat's owner cannot be removed", err);
      if (isBadRequest(err, "method is available only for supergroups"))
        throw new BridgeError("Telegram only lets bots mute people in supergroups", err);
      if (isBadRequest(err, "user is an administrator of the chat"))
        throw new BridgeError(
          "they are an administrator of the Telegram chat; the bot cannot restrict them",
          err,
        );
      throw err;
    }
  }
}

/** A ChatPermissions object granting (or denying) every right to post. */
function permissions(on: boolean) {
  return {
    can_send_messages: on,
    can_send_audios: on,
    can_send_documents: on,
    can_send_photos: on,
    can_send_videos: on,
    can_send_video_notes: on,
    can_send_voice_notes: on,
    can_send_polls: on,
    can_send_other_messages: on,
    can_add_web_page_previews: on,
  };
}
