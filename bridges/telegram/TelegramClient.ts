/**
 * One Telegram bot login: its own getUpdates loop (grammy's `Bot` is used only for `bot.api`)
 * and every outbound capability the Bot API offers a bot.
 *
 * Delivery rule: updates are emitted in order, and `offset:<bot id>` is stored only after the
 * update's events were accepted by `await ctx.emit`. Telegram learns of the confirmation with
 * the next poll, so a crash before the store re-delivers, and the core dedupes by remote id.
 */
import { Bot, InputFile } from "grammy";
import type { ReactionTypeEmoji, Update, User } from "grammy/types";
import {
  type ChatInfo,
  type ChatInfoHandling,
  ConnectionState,
  type ConnectorContext,
  type EditHandling,
  type LoginRef,
  type MatrixSender,
  type Media,
  type MediaRef,
  type ModerationHandling,
  type NetworkClient,
  type OutboundMessage,
  type ReactionHandling,
  type RedactionHandling,
  type RemoteChatRef,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../src/core/connector";
import { chatAllowed, type TelegramConfig } from "./config";
import {
  chatTitle,
  escapeHtml,
  matrixToTelegramHtml,
  relayText,
  telegramMethodFor,
  userDisplayName,
} from "./convert/index";
import { describe, isBadRequest, mapTelegramError, type TelegramError, tg } from "./errors";
import { ALLOWED_UPDATES, InboundMapper } from "./inbound";
import { ALLOWED_REACTIONS, MAX_CAPTION, MAX_TEXT, splitPlain } from "./limits";
import { TelegramFiles } from "./TelegramFiles";

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });

type GrammySignal = Parameters<Bot["api"]["getMe"]>[0];

/** A Telegram bot login: polling, mapping and sending. */
export class TelegramClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    TypingHandling,
    ModerationHandling,
    ChatInfoHandling
{
  private current = ConnectionState.Connecting;
  private abort?: AbortController;
  private loopDone: Promise<void> = Promise.resolve();
  private emitting = false;
  private me?: User;
  private readonly bot: Bot;
  private readonly mapper: InboundMapper;
  /** Users seen in updates (for userInfo without a call); bounded. */
  private readonly users = new Map<string, User>();
  private readonly files: TelegramFiles;
  /** Messages this client sent as media (edits go to editMessageCaption). */
  private readonly mediaMessages = new Set<string>();

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    private readonly cfg: TelegramConfig,
    token: string,
  ) {
    this.bot = new Bot(token, { client: { apiRoot: cfg.apiRoot } });
    this.files = new TelegramFiles(this.bot.api, cfg.apiRoot, token);
    this.mapper = new InboundMapper({
      botId: () => this.me?.id ?? 0,
      ghostUserId: (id) => ctx.ghostUserId(id),
      allowed: (id, type) => chatAllowed(cfg, id, type),
    });
  }

  /** Starts the polling loop in the background (the stored offset is read first). */
  async connect(): Promise<void> {
    if (this.abort && !this.abort.signal.aborted) return;
    const abort = new AbortController();
    this.abort = abort;
    await this.loopDone; // an old loop still inside emit must not run beside the new one
    if (abort.signal.aborted) return;
    this.setState(ConnectionState.Connecting);
    this.loopDone = this.loop(abort.signal).catch((err: unknown) => {
      this.ctx.log.error("telegram poll loop crashed", { err: describe(err) });
      this.setState(ConnectionState.TransientDisconnect, describe(err));
    });
  }

  /** Stops polling now; an emit in progress finishes and stores its offset, nothing follows. */
  async disconnect(): Promise<void> {
    this.abort?.abort();
    if (!this.emitting) await this.loopDone;
  }

  state(): ConnectionState {
    return this.current;
  }

  private setState(s: ConnectionState, message?: string): void {
    if (s === this.current && s !== ConnectionState.Connecting) return;
    this.current = s;
    this.ctx.stateChanged(this.login, s, message);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    // grammy types its signal with the abort-controller polyfill; node-fetch takes the native one.
    const apiSignal = signal as unknown as GrammySignal;
    let backoff = this.cfg.backoffInitialMs;
    let offsetKey: string | undefined;
    let offset = 0;
    while (!signal.aborted) {
      try {
        if (!this.me) {
          this.me = await this.bot.api.getMe(apiSignal);
          await this.bot.api.deleteWebhook({ drop_pending_updates: false }, apiSignal);
          offsetKey = `offset:${this.me.id}`;
          const stored = await this.ctx.store.kvGet(offsetKey);
          offset = stored !== undefined && /^\d+$/.test(stored) ? Number(stored) : 0;
        }
        const updates = await this.bot.api.getUpdates(
          { offset, timeout: this.cfg.pollTimeoutSeconds, allowed_updates: [...ALLOWED_UPDATES] },
          apiSignal,
        );
        this.setState(ConnectionState.Connected);
        backoff = this.cfg.backoffInitialMs;
        const stored = offset;
        try {
          for (const u of updates) {
            if (signal.aborted) return;
            const id = (u as Partial<Update>).update_id;
            if (typeof id === "number" && id < offset) continue;
            if (!(await this.deliver(u, signal))) break; // emit failed: fetch the same update again
            if (typeof id === "number") offset = id + 1;
          }
        } finally {
          // Once per batch, not per update (each is a commit): a crash before it hands the
          // batch out again, and the core skips what it already delivered by remote id.
          if (offset !== stored) await this.ctx.store.kvSet(offsetKey!, String(offset));
        }
      } catch (raw) {
        if (signal.aborted) return;
        const err = mapTelegramError(raw) as TelegramError;
        if (err.status === 401 || err.status === 404) {
          const why = "Telegram rejected bot_token (401): check platforms.telegram.bot_token with @BotFather";
          this.ctx.log.error(why);
          this.setState(ConnectionState.BadCredentials, why);
          return;
        }
        const message =
          err.status === 409
            ? "another process is polling with this bot token (409 Conflict)"
            : describe(err);
        this.setState(ConnectionState.TransientDisconnect, message);
        this.ctx.log.warn("telegram: poll failed, retrying", { err: message, backoffMs: backoff });
        await sleep(Math.max(backoff, err.retryAfterMs ?? 0), signal);
        backoff = Math.min(backoff * 2, this.cfg.backoffMaxMs);
      }
    }
  }

  /** Emits an update's events in order; false when the core did not accept them (retry later). */
  private async deliver(u: Update, signal: AbortSignal): Promise<boolean> {
    const mapped = this.mapper.map(u);
    if (!mapped.ok) {
      this.ctx.log.warn("telegram: malformed update skipped", {
        updateId: u?.update_id,
        reason: mapped.reason,
      });
      return true;
    }
    if ("skipped" in mapped)
      this.ctx.log.debug("telegram: update skipped", { updateId: u.update_id, why: mapped.skipped });
    this.remember(u);
    for (const ev of mapped.events) {
      this.emitting = true;
      try {
        await this.ctx.emit(this.login, ev);
      } catch (err) {
        this.ctx.log.warn("telegram: emit failed, the update will be fetched again", {
          err: describe(err),
          updateId: u.update_id,
        });
        await sleep(this.cfg.backoffInitialMs, signal);
        return false;
      } finally {
        this.emitting = false;
      }
    }
    return true;
  }

  private remember(u: Update): void {
    const from = u.message?.from ?? u.edited_message?.from ?? u.message_reaction?.user ?? u.chat_member?.from;
    if (!from) return;
    if (this.users.size > 5000) this.users.delete(this.users.keys().next().value!);
    this.users.set(String(from.id), from);
  }

  private target(chat: RemoteChatRef): { chatId: number; thread: { message_thread_id?: number } } {
    return {
      chatId: Number(chat.id),
      thread: chat.threadId !== undefined ? { message_thread_id: Number(chat.threadId) } : {},
    };
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
    const { chatId, thread } = this.target(chat);
    const reply =
      msg.replyTo !== undefined
        ? { reply_parameters: { message_id: Number(msg.replyTo), allow_sending_without_reply: true } }
        : {};
    const a = msg.attachment;
    const bodyText = a && (msg.text === a.media.name || msg.text === "") ? "" : msg.text;
    const bodyHtml = bodyText === "" ? "" : this.toTelegramHtml(bodyText, msg.html);
    const html = relayText(this.cfg.relayTemplate, msg.sender, bodyHtml, msg.msgtype).trim();
    const ids: string[] = [];
    if (a) {
      const method = telegramMethodFor(a.kind, a.media.mimetype);
      const file = new InputFile(a.media.data, a.media.name);
      const fits = html.length <= MAX_CAPTION && method !== "sendSticker";
      const caption = fits ? { caption: html, parse_mode: "HTML" as const } : {};
      const sent = await tg(() =>
        this.files.upload(method, chatId, file, { ...caption, ...reply, ...thread }),
      );
      ids.push(String(sent.message_id));
      this.mediaMessages.add(`${chatId}:${sent.message_id}`);
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
    await tg(() => this.bot.api.banChatMember(Number(chat.id), Number(user.id)));
    await tg(() => this.bot.api.unbanChatMember(Number(chat.id), Number(user.id), { only_if_banned: true }));
  }

  async ban(chat: RemoteChatRef, user: RemoteUserRef, _reason?: string): Promise<void> {
    this.moderationOn();
    await tg(() => this.bot.api.banChatMember(Number(chat.id), Number(user.id)));
  }

  async unban(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    this.moderationOn();
    await tg(() => this.bot.api.unbanChatMember(Number(chat.id), Number(user.id), { only_if_banned: true }));
  }

  private moderationOn(): void {
    if (!this.cfg.moderation)
      throw Object.assign(
        new Error("moderation is off in platforms.telegram (set moderation: true to mirror kicks and bans)"),
        {
          status: 403,
        },
      );
  }
}
