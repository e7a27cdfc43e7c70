/**
 * Telegram update → RemoteEvents. Pure except for a small memory that drops the second report
 * of one membership change (groups send a service message and, to admins, a `chat_member`
 * update for the same join or leave).
 */
import type {
  Chat,
  ChatMemberUpdated,
  Message,
  MessageReactionUpdated,
  ReactionType,
  Update,
  User,
} from "grammy/types";
import type {
  MediaRef,
  RemoteChatRef,
  RemoteEvent,
  RemoteMember,
  RemoteMessage,
  RemoteUserRef,
  UserInfo,
} from "../../src/core/connector";
import {
  chatTitle,
  entitiesToHtml,
  locationMessage,
  pickMedia,
  richMessage,
  stickerFallbackText,
  userDisplayName,
  venueMessage,
} from "./convert/index";

/** Update types the connector asks getUpdates for. */
export const ALLOWED_UPDATES = [
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "message_reaction",
  "chat_member",
  "my_chat_member",
  "callback_query",
  "poll",
  "poll_answer",
] as const;

/** What the mapper needs to know about the connector's situation. */
export interface InboundContext {
  /** The bot's own user id (0 before getMe answered): its messages are `fromSelf`. */
  botId(): number;
  /** The Matrix id of a Telegram user's ghost, for mention pills. */
  ghostUserId(telegramUserId: string): string;
  /** False for chats the config excludes. */
  allowed(chatId: string, type: string): boolean;
}

/** The result of mapping one update. */
export type Mapped =
  | { ok: true; events: RemoteEvent[] }
  /** Not something the bridge handles (unknown type, excluded chat, bot's own membership). */
  | { ok: true; events: []; skipped: string }
  | { ok: false; reason: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const validChat = (c: unknown): c is Chat =>
  isObj(c) && typeof c.id === "number" && typeof c.type === "string";
const validMessage = (m: unknown): m is Message =>
  isObj(m) && typeof m.message_id === "number" && typeof m.date === "number" && validChat(m.chat);

/** The MediaRef key prefix of a custom emoji's picture (fetched with getCustomEmojiStickers). */
export const CUSTOM_EMOJI_PREFIX = "custom_emoji:";

/**
 * Key of a reaction: the emoji, or `custom:<id>` for a custom emoji (an image reaction in
 * Matrix); paid reactions have no Matrix equivalent and are left out.
 */
export function reactionKey(r: ReactionType): string | undefined {
  if (r.type === "emoji") return r.emoji;
  if (r.type === "custom_emoji" && /^\d{1,30}$/.test(r.custom_emoji_id)) return `custom:${r.custom_emoji_id}`;
  return undefined;
}

/** Maps updates to events; one instance per client (it keeps the membership dedupe memory). */
export class InboundMapper {
  private readonly recentMembership = new Map<string, number>();
  /**
   * `<chat>:<message>` → forum topic of messages seen or sent here: `message_reaction` updates
   * carry no topic, and each topic is a room of its own. Bounded and in memory, so after a
   * restart reactions to older topic messages go to the chat's room, where they find no
   * message and are skipped.
   */
  private readonly topicOf = new Map<string, string>();

  constructor(private readonly ctx: InboundContext) {}

  /** Notes that a message (received or sent by the bot) is in a forum topic. */
  rememberTopic(chatId: string, messageId: string, threadId: string): void {
    if (this.topicOf.size >= 50_000) this.topicOf.delete(this.topicOf.keys().next().value!);
    this.topicOf.set(`${chatId}:${messageId}`, threadId);
  }

  /** Maps one update; never throws. */
  map(u: Update): Mapped {
    try {
      return this.mapUnsafe(u);
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private mapUnsafe(u: Update): Mapped {
    if (!isObj(u) || typeof u.update_id !== "number") return { ok: false, reason: "no update_id" };
    const msg = u.message ?? u.channel_post;
    const edit = u.edited_message ?? u.edited_channel_post;
    if (msg !== undefined || edit !== undefined) {
      const m = msg ?? edit;
      if (!validMessage(m)) return { ok: false, reason: "message without message_id, date or chat" };
      if (!this.ctx.allowed(String(m.chat.id), m.chat.type))
        return { ok: true, events: [], skipped: "chat not allowed" };
      return { ok: true, events: msg ? this.message(m) : this.edit(m) };
    }
    if (u.message_reaction !== undefined) {
      const r = u.message_reaction;
      if (!isObj(r) || !validChat(r.chat) || typeof r.message_id !== "number")
        return { ok: false, reason: "bad message_reaction" };
      if (!this.ctx.allowed(String(r.chat.id), r.chat.type))
        return { ok: true, events: [], skipped: "chat not allowed" };
      return { ok: true, events: this.reactions(r) };
    }
    if (u.chat_member !== undefined) {
      const c = u.chat_member;
      if (!isObj(c) || !validChat(c.chat) || !isObj(c.new_chat_member) || !isObj(c.old_chat_member))
        return { ok: false, reason: "bad chat_member" };
      if (!this.ctx.allowed(String(c.chat.id), c.chat.type))
        return { ok: true, events: [], skipped: "chat not allowed" };
      const ev = this.chatMember(c);
      return { ok: true, events: ev ? [ev] : [] };
    }
    if (u.my_chat_member !== undefined) return { ok: true, events: [], skipped: "the bot's own membership" };
    return {
      ok: true,
      events: [],
      skipped: `update type ${Object.keys(u).find((k) => k !== "update_id") ?? "?"}`,
    };
  }

  /** The chat (and forum topic) an event belongs to. */
  private chatRef(m: Message): RemoteChatRef {
    // Forum topics: one Matrix room per topic. The General topic carries no thread id and maps to
    // the chat itself; reply threads in ordinary groups also set message_thread_id and are ignored.
    if (m.chat.is_forum && m.is_topic_message && m.message_thread_id !== undefined) {
      this.rememberTopic(String(m.chat.id), String(m.message_id), String(m.message_thread_id));
      return { id: String(m.chat.id), threadId: String(m.message_thread_id) };
    }
    return { id: String(m.chat.id) };
  }

  private sender(m: Message): { sender: RemoteUserRef; senderInfo?: UserInfo; fromSelf?: true } {
    if (m.from) return fromUser(m.from, this.ctx.botId());
    const chat = m.sender_chat ?? m.chat;
    return { sender: { id: String(chat.id) }, senderInfo: { displayName: chatTitle(chat) } };
  }

  private body(text: string, entities: Message["entities"]): { text: string; html?: string } {
    const html = entitiesToHtml(text, entities, { userPill: (id) => this.ctx.ghostUserId(String(id)) });
    return html === undefined ? { text } : { text, html };
  }

  private message(m: Message): RemoteEvent[] {
    const base = { chat: this.chatRef(m), timestamp: m.date * 1000, ...this.sender(m) };
    if (m.new_chat_members?.length) {
      return m.new_chat_members.flatMap((user) => this.member(base, user, "join"));
    }
    if (m.left_chat_member) {
      const kicked = m.from !== undefined && m.from.id !== m.left_chat_member.id;
      return this.member(base, m.left_chat_member, kicked ? "kick" : "leave");
    }
    if (m.new_chat_title !== undefined)
      return [{ ...base, kind: "chat-info", info: { name: m.new_chat_title } }];
    if (m.new_chat_photo?.length) {
      const big = m.new_chat_photo.at(-1)!;
      return [
        {
          ...base,
          kind: "chat-info",
          info: { avatar: { key: big.file_id, mimetype: "image/jpeg", size: big.file_size } },
        },
      ];
    }
    if (m.delete_chat_photo) return [{ ...base, kind: "chat-info", info: {}, avatarRemoved: true }];
    const media = pickMedia(m);
    const text = m.text ?? m.caption ?? stickerFallbackText(m) ?? "";
    const rich = text === "" && !media ? richMessage(m, this.senderName(m, base)) : undefined;
    if (text === "" && !media && !rich) return []; // other service messages (pins, topics, …)
    const out: RemoteMessage = {
      ...base,
      kind: "message",
      id: String(m.message_id),
      msgtype: "text",
      ...(rich ? { text: rich.text } : this.body(text, m.entities ?? m.caption_entities)),
    };
    if (rich?.msgtype) out.msgtype = rich.msgtype;
    if (rich?.location) out.location = rich.location;
    if (rich?.poll) out.poll = rich.poll;
    if (rich?.attachment) out.attachments = [rich.attachment];
    const reply = m.reply_to_message;
    // In a topic every message "replies" to the topic's root; that is not a reply.
    if (reply && !(m.is_topic_message && reply.message_id === m.message_thread_id))
      out.replyTo = String(reply.message_id);
    if (media) {
      const ref: MediaRef = {
        key: media.fileId,
        mimetype: media.mimetype,
        name: media.name,
        size: media.size,
        width: media.width,
        height: media.height,
        durationMs: media.durationMs,
        voice: media.kind === "voice" || undefined,
        thumbnail: media.thumbnail && {
          ref: { key: media.thumbnail.fileId, mimetype: "image/jpeg", size: media.thumbnail.size },
          width: media.thumbnail.width,
          height: media.thumbnail.height,
        },
      };
      out.attachments = [strip(ref)];
    }
    return [out];
  }

  /** Edits; a live location's new position moves the Matrix location (an unreadable one is skipped). */
  private edit(m: Message): RemoteEvent[] {
    const base = {
      kind: "edit" as const,
      chat: this.chatRef(m),
      timestamp: (m.edit_date ?? m.date) * 1000,
      id: String(m.message_id),
      ...this.sender(m),
    };
    if (m.venue !== undefined || m.location !== undefined) {
      const moved = m.venue !== undefined ? venueMessage(m.venue) : locationMessage(m.location);
      return moved?.location ? [{ ...base, text: moved.text, location: moved.location }] : [];
    }
    const text = m.text ?? m.caption ?? "";
    return [{ ...base, ...this.body(text, m.entities ?? m.caption_entities) }];
  }

  /** The sender's name as notices show it. */
  private senderName(m: Message, base: { senderInfo?: UserInfo; sender: RemoteUserRef }): string {
    return base.senderInfo?.displayName || (m.from ? String(m.from.id) : base.sender.id);
  }

  private reactions(r: MessageReactionUpdated): RemoteEvent[] {
    const who = r.user
      ? fromUser(r.user, this.ctx.botId())
      : { sender: { id: String(r.actor_chat?.id ?? r.chat.id) } };
    const keys = (l: ReactionType[] | undefined): Set<string> =>
      new Set((l ?? []).map(reactionKey).filter((k): k is string => k !== undefined));
    const before = keys(r.old_reaction);
    const after = keys(r.new_reaction);
    const threadId = this.topicOf.get(`${r.chat.id}:${r.message_id}`);
    const base = {
      chat: threadId === undefined ? { id: String(r.chat.id) } : { id: String(r.chat.id), threadId },
      timestamp: r.date * 1000,
      target: String(r.message_id),
      ...who,
    };
    return [
      ...[...before]
        .filter((k) => !after.has(k))
        .map((key): RemoteEvent => ({ ...base, kind: "reaction-remove", key })),
      ...[...after]
        .filter((k) => !before.has(k))
        .map(
          (key): RemoteEvent =>
            key.startsWith("custom:")
              ? {
                  ...base,
                  kind: "reaction",
                  key,
                  keyImage: { key: `${CUSTOM_EMOJI_PREFIX}${key.slice(7)}`, name: "emoji.webp" },
                }
              : { ...base, kind: "reaction", key },
        ),
    ];
  }

  private chatMember(c: ChatMemberUpdated): RemoteEvent | undefined {
    const inChat = (s: ChatMemberUpdated["new_chat_member"]): boolean =>
      s.status === "member" ||
      s.status === "administrator" ||
      s.status === "creator" ||
      (s.status === "restricted" && s.is_member);
    const was = inChat(c.old_chat_member);
    const is = inChat(c.new_chat_member);
    if (was === is) return undefined; // promotions, restrictions
    const user = c.new_chat_member.user;
    const membership = is
      ? "join"
      : c.new_chat_member.status === "kicked"
        ? "ban"
        : c.from.id !== user.id
          ? "kick"
          : "leave";
    const base = {
      chat: { id: String(c.chat.id) },
      timestamp: c.date * 1000,
      ...fromUser(c.from, this.ctx.botId()),
    };
    return this.member(base, user, membership)[0];
  }

  private member(
    base: Omit<RemoteMember, "kind" | "target" | "membership">,
    user: User,
    membership: RemoteMember["membership"],
  ): RemoteEvent[] {
    // A join or leave arrives twice in groups where the bot is admin; keep the first.
    const now = Date.now();
    for (const [k, t] of this.recentMembership) if (now - t > 60_000) this.recentMembership.delete(k);
    const same =
      membership === "kick" || membership === "ban" ? "out" : membership === "leave" ? "out" : "in";
    const key = `${base.chat.id}:${user.id}:${same}`;
    if (this.recentMembership.has(key)) return [];
    this.recentMembership.set(key, now);
    this.recentMembership.delete(`${base.chat.id}:${user.id}:${same === "in" ? "out" : "in"}`);
    return [{ ...base, kind: "member", target: { id: String(user.id) }, membership }];
  }
}

/** Sender fields for a Telegram user. */
export function fromUser(
  u: User,
  botId: number,
): { sender: RemoteUserRef; senderInfo: UserInfo; fromSelf?: true } {
  const info: UserInfo = { displayName: userDisplayName(u) || String(u.id) };
  if (u.is_bot) info.isBot = true;
  return {
    sender: { id: String(u.id) },
    senderInfo: info,
    ...(u.id === botId ? { fromSelf: true as const } : {}),
  };
}

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
