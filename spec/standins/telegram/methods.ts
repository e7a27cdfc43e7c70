/**
 * Bot API methods of the Telegram stand-in (everything but getUpdates, which the server owns).
 * Each handler validates like the real API where it matters to a bridge (unknown chat, missing
 * reply target, bad HTML, unknown reaction, lengths) and answers with Bot API objects.
 */

import sharp from "sharp";
import {
  type BotWorld,
  type LoggedMessage,
  type MediaKind,
  mediaKinds,
  type Obj,
  type SentMessage,
} from "./BotWorld";
import { type Ballots, pollMethods } from "./polls";
import { BotApiError, badRequest, isUpload, type Params, telegramHtmlToPlain } from "./wire";

/** Emoji Telegram accepts in `setMessageReaction` (ReactionTypeEmoji). */
export const ALLOWED_REACTIONS: ReadonlySet<string> = new Set(
  "👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡".split(
    " ",
  ),
);

const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

type Handler = (p: Params) => unknown;

/** The fields of a ChatPermissions object (Bot API 7.x). */
const CHAT_PERMISSIONS = new Set([
  "can_send_messages",
  "can_send_audios",
  "can_send_documents",
  "can_send_photos",
  "can_send_videos",
  "can_send_video_notes",
  "can_send_voice_notes",
  "can_send_polls",
  "can_send_other_messages",
  "can_add_web_page_previews",
  "can_change_info",
  "can_invite_users",
  "can_pin_messages",
  "can_manage_topics",
]);

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

const num = (p: Params, k: string): number | undefined => {
  const v = p[k];
  if (v === undefined || v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw badRequest(`field "${k}" must be a number`);
  return n;
};
const need = (p: Params, k: string): number => {
  const n = num(p, k);
  if (n === undefined) throw badRequest(`${k} is empty`);
  return n;
};
const text = (p: Params, k: string): string | undefined => (p[k] === undefined ? undefined : String(p[k]));

/** Parses text/caption by parse_mode: the HTML is validated and reduced to plain text. */
function formatted(value: string, parseMode: unknown): string {
  if (parseMode === undefined) return value;
  if (parseMode !== "HTML") throw badRequest(`unsupported parse_mode ${String(parseMode)} in the stand-in`);
  return telegramHtmlToPlain(value);
}

/**
 * A sendLocation call's `Location`, checked like the Bot API: latitude -90..90, longitude
 * -180..180, horizontal_accuracy 0..1500, live_period 60..86400 (or 0x7FFFFFFF), heading 1..360,
 * proximity_alert_radius 1..100000.
 */
function locationParams(p: Params): Obj {
  const latitude = num(p, "latitude");
  const longitude = num(p, "longitude");
  if (latitude === undefined) throw badRequest("latitude is empty");
  if (longitude === undefined) throw badRequest("longitude is empty");
  if (latitude < -90 || latitude > 90) throw badRequest("wrong latitude specified");
  if (longitude < -180 || longitude > 180) throw badRequest("wrong longitude specified");
  const accuracy = num(p, "horizontal_accuracy");
  if (accuracy !== undefined && (accuracy < 0 || accuracy > 1500))
    throw badRequest("wrong horizontal accuracy specified");
  const live = num(p, "live_period");
  if (live !== undefined && live !== 0x7fffffff && (live < 60 || live > 86400))
    throw badRequest("wrong live period specified");
  const heading = num(p, "heading");
  if (heading !== undefined && (heading < 1 || heading > 360)) throw badRequest("wrong heading specified");
  const radius = num(p, "proximity_alert_radius");
  if (radius !== undefined && (radius < 1 || radius > 100000))
    throw badRequest("wrong proximity alert radius specified");
  const out: Obj = { latitude, longitude };
  if (accuracy !== undefined) out.horizontal_accuracy = accuracy;
  if (live !== undefined) out.live_period = live;
  if (heading !== undefined) out.heading = heading;
  if (radius !== undefined) out.proximity_alert_radius = radius;
  return out;
}

/** The Bot API methods, bound to one world. */
export function botMethods(
  world: BotWorld,
  polls: { push(update: Obj): void; ballots: Ballots } = { push: () => undefined, ballots: new Map() },
): Record<string, Handler> {
  const bot = world.bot.id;

  /** Reply target and thread from `reply_parameters` / `reply_to_message_id` / `message_thread_id`. */
  function context(p: Params, chatId: number): Obj {
    const c = world.chat(chatId);
    const rp =
      typeof p.reply_parameters === "object" && p.reply_parameters !== null
        ? (p.reply_parameters as Obj)
        : undefined;
    const replyId = rp ? Number(rp.message_id) : num(p, "reply_to_message_id");
    const allowMissing = rp
      ? rp.allow_sending_without_reply === true
      : p.allow_sending_without_reply === true;
    const out: Obj = { from: world.userObj(bot) };
    if (replyId !== undefined) {
      const target = world.message(c, replyId);
      if (target) out.reply_to_message = target.message;
      else if (!allowMissing) throw badRequest("message to be replied not found");
    }
    const thread = num(p, "message_thread_id");
    if (thread !== undefined) {
      if (!c.spec.is_forum) throw badRequest("message thread not found");
      out.message_thread_id = thread;
      out.is_topic_message = true;
    }
    return out;
  }

  function record(
    method: string,
    entry: LoggedMessage,
    p: Params,
    raw: string | undefined,
    extra: Partial<SentMessage> = {},
  ): Obj {
    entry.sent = {
      method,
      chat_id: Number(p.chat_id),
      message_id: entry.message.message_id as number,
      text: raw,
      plain: raw === undefined ? undefined : formatted(raw, p.parse_mode),
      parse_mode: text(p, "parse_mode"),
      reply_to_message_id: (entry.message.reply_to_message as Obj | undefined)?.message_id as
        | number
        | undefined,
      message_thread_id: entry.message.message_thread_id as number | undefined,
      edits: 0,
      deleted: false,
      reactions: entry.botReactions,
      message: entry.message,
      ...extra,
    };
    return entry.message;
  }

  function sendMedia(kind: MediaKind): Handler {
    return (p) => {
      const chatId = need(p, "chat_id");
      const c = world.chat(chatId);
      const caption = text(p, "caption");
      const plain = caption === undefined ? undefined : formatted(caption, p.parse_mode);
      if (plain !== undefined && plain.length > 1024) throw badRequest("message caption is too long");
      const raw = p[kind];
      const input = world.resolveInputFile(
        kind,
        typeof raw === "string" && raw.startsWith("attach://") ? p[raw.slice(9)] : raw,
      );
      const media = world.mediaField(kind, input.file, input.name);
      const entry = world.newMessage(c, {
        ...context(p, chatId),
        [media.field]: media.value,
        ...(caption !== undefined ? { caption: plain } : {}),
      });
      const upload = input.upload && {
        name: input.upload.name,
        data: input.upload.data,
        file_id: input.file.file_id,
        mimetype: input.file.mimetype,
      };
      return record(`send${kind[0]!.toUpperCase()}${kind.slice(1)}`, entry, p, caption, { upload });
    };
  }

  /**
   * `reply_markup` as the real API checks it for an inline keyboard: rows of buttons, each with
   * a text and exactly one action; `callback_data` 1-64 bytes. JSON text (multipart) or object.
   */
  function inlineKeyboard(p: Params): Obj | undefined {
    let raw = p.reply_markup;
    if (raw === undefined) return undefined;
    if (typeof raw === "string") {
      try {
        raw = JSON.parse(raw);
      } catch {
        throw badRequest("can't parse reply keyboard markup JSON object");
      }
    }
    const rows = (raw as Obj | null)?.inline_keyboard;
    if (!Array.isArray(rows))
      throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array');
    for (const row of rows) {
      if (!Array.isArray(row))
        throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
      for (const b of row as Obj[]) {
        if (typeof b?.text !== "string" || !b.text)
          throw badRequest(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
          );
        const actions = ["callback_data", "url", "switch_inline_query", "login_url", "pay"].filter(
          (k) => b[k] !== undefined,
        );
        if (actions.length !== 1)
          throw badRequest(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
          );
        if (b.callback_data !== undefined) {
          const n = Buffer.byteLength(String(b.callback_data));
          if (typeof b.callback_data !== "string" || n < 1 || n > 64) throw badRequest("BUTTON_DATA_INVALID");
        }
      }
    }
    return { inline_keyboard: rows };
  }

  function botMessage(p: Params): LoggedMessage {
    const c = world.chat(need(p, "chat_id"));
    const m = world.message(c, need(p, "message_id"));
    if (!m) throw badRequest("message to edit not found");
    if ((m.message.from as Obj | undefined)?.id !== bot) throw badRequest("message can't be edited");
    return m;
  }

  const methods: Record<string, Handler> = {
    ...pollMethods({ world, context, record, push: polls.push }, polls.ballots),
    getMe: () => world.userObj(bot),
    logOut: () => true,
    sendMessage: (p) => {
      const chatId = need(p, "chat_id");
      const t = text(p, "text") ?? "";
      const plain = formatted(t, p.parse_mode);
      if (!plain.trim()) throw badRequest("message text is empty");
      if (plain.length > 4096) throw badRequest("message is too long");
      const markup = inlineKeyboard(p);
      const entry = world.newMessage(world.chat(chatId), {
        ...context(p, chatId),
        text: plain,
        ...(markup ? { reply_markup: markup } : {}),
      });
      return record("sendMessage", entry, p, t);
    },
    sendLocation: (p) => {
      const chatId = need(p, "chat_id");
      const c = world.chat(chatId);
      const location = locationParams(p);
      const entry = world.newMessage(c, { ...context(p, chatId), location });
      return record("sendLocation", entry, p, undefined, { location });
    },
    editMessageText: (p) => {
      const m = botMessage(p);
      if (typeof m.message.text !== "string") throw badRequest("there is no text in the message to edit");
      const t = text(p, "text") ?? "";
      const plain = formatted(t, p.parse_mode);
      const markup = inlineKeyboard(p);
      if (
        plain === m.message.text &&
        m.sent?.text === t &&
        JSON.stringify(markup) === JSON.stringify(m.message.reply_markup)
      )
        throw badRequest(
          "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
      // As on Telegram, an edit without reply_markup removes the inline keyboard.
      if (markup) m.message.reply_markup = markup;
      else delete m.message.reply_markup;
      Object.assign(m.message, { text: plain, edit_date: Math.floor(Date.now() / 1000) });
      if (m.sent)
        Object.assign(m.sent, { text: t, plain, edits: m.sent.edits + 1, parse_mode: text(p, "parse_mode") });
      return m.message;
    },
    editMessageCaption: (p) => {
      const m = botMessage(p);
      if (typeof m.message.text === "string") throw badRequest("there is no caption in the message to edit");
      const t = text(p, "caption") ?? "";
      const plain = formatted(t, p.parse_mode);
      Object.assign(m.message, { caption: plain, edit_date: Math.floor(Date.now() / 1000) });
      if (m.sent) Object.assign(m.sent, { text: t, plain, edits: m.sent.edits + 1 });
      return m.message;
    },
    deleteMessage: (p) => {
      const c = world.chat(need(p, "chat_id"));
      const m = world.message(c, need(p, "message_id"));
      if (!m) throw badRequest("message to delete not found");
      const from = (m.message.from as Obj | undefined)?.id;
      if (from !== bot && c.spec.type !== "private" && world.member(c, bot) !== "administrator")
        throw badRequest("message can't be deleted");
      m.deleted = true;
      if (m.sent) m.sent.deleted = true;
      return true;
    },
    setMessageReaction: (p) => {
      const c = world.chat(need(p, "chat_id"));
      const m = world.message(c, need(p, "message_id"));
      if (!m) throw badRequest("message to react not found");
      const list = Array.isArray(p.reaction) ? (p.reaction as Obj[]) : [];
      const emoji = list.map((r) => {
        if (r.type !== "emoji" || typeof r.emoji !== "string" || !ALLOWED_REACTIONS.has(r.emoji))
          throw badRequest("REACTION_INVALID");
        return r.emoji;
      });
      if (emoji.length > 1) throw badRequest("REACTIONS_TOO_MANY");
      m.botReactions.splice(0, m.botReactions.length, ...emoji);
      return true;
    },
    sendChatAction: (p) => {
      world.chat(need(p, "chat_id"));
      if (!CHAT_ACTIONS.has(String(p.action))) throw badRequest("wrong parameter action in request");
      return true;
    },
    getCustomEmojiStickers: (p) => {
      const ids =
        typeof p.custom_emoji_ids === "string" ? JSON.parse(p.custom_emoji_ids) : p.custom_emoji_ids;
      if (!Array.isArray(ids)) throw badRequest("custom_emoji_ids must be an array");
      if (ids.length > 200) throw badRequest("too many custom emoji identifiers specified");
      // Unknown ids are left out, as the Bot API does.
      return ids.flatMap((id: unknown) => {
        const fileId = world.customEmoji.get(String(id));
        const f = fileId ? world.file(fileId) : undefined;
        if (!fileId || !f) return [];
        return [
          {
            file_id: fileId,
            file_unique_id: f.file_unique_id,
            type: "custom_emoji",
            width: 100,
            height: 100,
            is_animated: false,
            is_video: false,
            custom_emoji_id: String(id),
            file_size: f.size,
          },
        ];
      });
    },
    getFile: (p) => {
      const f = world.file(String(p.file_id ?? "").replace(/_thumb$/, ""));
      if (!f) throw badRequest("invalid file_id");
      if (f.size > 20 * 1024 * 1024) throw badRequest("file is too big");
      return { file_id: p.file_id, file_unique_id: f.file_unique_id, file_size: f.size, file_path: f.path };
    },
    getChat: (p) => {
      // Like the Bot API: "@name" finds a public group or channel by its username (any case);
      // private chats and users cannot be looked up by name.
      if (typeof p.chat_id === "string" && p.chat_id.startsWith("@")) {
        const found = world.chatByUsername(p.chat_id.slice(1));
        if (!found) throw badRequest("chat not found");
        return world.chatFullInfo(found);
      }
      const id = need(p, "chat_id");
      if (world.hasChat(id)) return world.chatFullInfo(world.chat(id));
      // A person the bot has met (but who may not have started it: then it cannot write to them).
      if (world.users.has(id)) {
        const u = world.userObj(id);
        return {
          id,
          type: "private",
          first_name: u.first_name,
          last_name: u.last_name,
          username: u.username,
          accent_color_id: 0,
        };
      }
      throw badRequest("chat not found");
    },
    setChatTitle: (p) => {
      const c = world.chat(need(p, "chat_id"));
      if (c.spec.type === "private") throw badRequest("chat is private");
      c.spec.title = String(p.title ?? "");
      return true;
    },
    setChatPhoto: (p) => {
      const c = world.chat(need(p, "chat_id"));
      const raw = p.photo;
      const part = typeof raw === "string" && raw.startsWith("attach://") ? p[raw.slice(9)] : raw;
      const data = (part as { data?: unknown } | undefined)?.data;
      if (!Buffer.isBuffer(data)) throw badRequest("there is no photo in the request");
      c.spec.photo = data;
      return true;
    },
    setChatDescription: (p) => {
      const c = world.chat(need(p, "chat_id"));
      c.spec.description = String(p.description ?? "");
      return true;
    },
    editMessageReplyMarkup: (p) => {
      const m = botMessage(p);
      const markup = inlineKeyboard(p);
      if (JSON.stringify(markup) === JSON.stringify(m.message.reply_markup))
        throw badRequest(
          "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
      if (markup) m.message.reply_markup = markup;
      else delete m.message.reply_markup;
      return m.message;
    },
    answerCallbackQuery: (p) => {
      const q = world.callbackQueries.get(String(p.callback_query_id ?? ""));
      if (!q || q.answer)
        throw badRequest("query is too old and response timeout expired or query ID is invalid");
      const answerText = text(p, "text");
      if (answerText !== undefined && answerText.length > 200) throw badRequest("MESSAGE_TOO_LONG");
      q.answer = { text: answerText, show_alert: p.show_alert === true || p.show_alert === "true" };
      return true;
    },
    getChatMember: (p) => world.memberObj(world.chat(need(p, "chat_id")), need(p, "user_id")),
    getChatAdministrators: (p) => world.admins(world.chat(need(p, "chat_id"))),
    getChatMemberCount: (p) =>
      [...world.chat(need(p, "chat_id")).members.values()].filter((s) => s !== "left" && s !== "kicked")
        .length,
    getUserProfilePhotos: (p) => world.profilePhotos(need(p, "user_id"), num(p, "offset"), num(p, "limit")),
    banChatMember: (p) => {
      const c = world.chat(need(p, "chat_id"));
      if (c.spec.type === "private")
        throw badRequest("method is available for supergroup and channel chats only");
      if (world.member(c, bot) !== "administrator" && world.member(c, bot) !== "creator")
        throw badRequest("not enough rights to restrict/unrestrict chat member");
      const user = need(p, "user_id");
      if (world.member(c, user) === "creator") throw badRequest("can't remove chat owner");
      world.setMember(c, user, "kicked");
      return true;
    },
    restrictChatMember: (p) => {
      const c = world.chat(need(p, "chat_id"));
      if (c.spec.type !== "supergroup") throw badRequest("method is available only for supergroups");
      if (world.member(c, bot) !== "administrator" && world.member(c, bot) !== "creator")
        throw badRequest("not enough rights to restrict/unrestrict chat member");
      const user = need(p, "user_id");
      if (user === bot) throw badRequest("can't restrict self");
      const status = world.member(c, user);
      if (status === "creator" || status === "administrator")
        throw badRequest("user is an administrator of the chat");
      if (status === "left" || status === "kicked") throw badRequest("user not found");
      const raw = typeof p.permissions === "string" ? safeJson(p.permissions) : p.permissions;
      if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        throw badRequest('parameter "permissions" is required');
      const perms = raw as Record<string, unknown>;
      for (const [k, v] of Object.entries(perms))
        if (!CHAT_PERMISSIONS.has(k) || typeof v !== "boolean")
          throw badRequest("invalid permissions specified");
      const until = num(p, "until_date") ?? 0;
      // Every right to post granted (the chat's defaults here) lifts the restriction; anything
      // less restricts (until 0: forever).
      const all = [...CHAT_PERMISSIONS]
        .filter((k) => k.startsWith("can_send") || k === "can_add_web_page_previews")
        .every((k) => perms[k] === true);
      world.setMember(c, user, all ? "member" : "restricted");
      if (all) c.restrictions.delete(user);
      else c.restrictions.set(user, { until, permissions: perms });
      return true;
    },
    unbanChatMember: (p) => {
      const c = world.chat(need(p, "chat_id"));
      const user = need(p, "user_id");
      const status = world.member(c, user);
      // Like the real API: without only_if_banned, "unbanning" a current member removes them.
      if (status === "kicked" || (p.only_if_banned !== true && status !== "creator"))
        world.setMember(c, user, "left");
      return true;
    },
  };
  for (const kind of mediaKinds) methods[`send${kind[0]!.toUpperCase()}${kind.slice(1)}`] = sendMedia(kind);
  const sendPhoto = methods.sendPhoto!;
  methods.sendPhoto = async (p) => {
    const raw = p.photo;
    const part = typeof raw === "string" && raw.startsWith("attach://") ? p[raw.slice(9)] : raw;
    if (isUpload(part)) await checkPhoto(part.data);
    return sendPhoto(p);
  };
  return methods;
}

/**
 * sendPhoto's limits, as the real API keeps them: at most 10 MB, width plus height at most 10000,
 * the longer side at most 20 times the shorter.
 */
async function checkPhoto(data: Buffer): Promise<void> {
  if (data.length > 10_000_000) throw badRequest("PHOTO_SAVE_FILE_INVALID");
  const meta = await sharp(data, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  // Bytes that do not decode are let through: tests send small stand-in pictures.
  if (!meta?.width || !meta.height) return;
  const { width: w, height: h } = meta;
  if (w + h > 10_000 || Math.max(w, h) / Math.min(w, h) > 20) throw badRequest("PHOTO_INVALID_DIMENSIONS");
}

/** Turns a thrown value into the Bot API's error answer. */
export function errorAnswer(err: unknown): { status: number; body: Obj } {
  if (err instanceof BotApiError) {
    const body: Obj = { ok: false, error_code: err.errorCode, description: err.description };
    if (err.parameters) body.parameters = err.parameters;
    return { status: err.errorCode, body };
  }
  return {
    status: 500,
    body: { ok: false, error_code: 500, description: `Internal Server Error: ${String(err)}` },
  };
}
