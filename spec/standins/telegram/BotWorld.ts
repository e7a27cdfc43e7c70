/**
 * The Telegram stand-in's state: users, chats with members, files and every message (injected
 * or sent by the bot), plus the builders that turn them into Bot API objects.
 */
import { BotApiError, badRequest, mimeFromName, type UploadedFile } from "./wire";

/** A Bot API object as JSON. */
export type Obj = Record<string, unknown>;

export type ChatType = "private" | "group" | "supergroup" | "channel";
export type MemberStatus = "creator" | "administrator" | "member" | "restricted" | "left" | "kicked";

/** A user known to the stand-in. `photos` become profile photos (newest first). */
export interface UserSpec {
  id: number;
  first_name?: string;
  last_name?: string;
  username?: string;
  is_bot?: boolean;
  photos?: Buffer[];
}

/** A chat known to the stand-in. `photo` becomes its chat photo (small and big file). */
export interface ChatSpec {
  id: number;
  type?: ChatType;
  title?: string;
  username?: string;
  first_name?: string;
  last_name?: string;
  description?: string;
  is_forum?: boolean;
  photo?: Buffer;
  /** Initial members; the bot is an administrator unless listed otherwise. */
  members?: Record<number, MemberStatus>;
}

/** A stored file served by getFile and `/file/bot<token>/<path>`. */
export interface StoredFile {
  file_id: string;
  file_unique_id: string;
  path: string;
  mimetype: string;
  /** Missing for size-only files (used to test the 20 MB download limit without the bytes). */
  data?: Buffer;
  size: number;
}

/** A message the bot sent, as tests see it: current text (edits applied), reactions, deletion. */
export interface SentMessage {
  method: string;
  chat_id: number;
  message_id: number;
  /** Raw `text` (or `caption`), HTML included when parse_mode was HTML. */
  text?: string;
  /** What a user sees: the HTML parsed down to plain text. */
  plain?: string;
  parse_mode?: string;
  reply_to_message_id?: number;
  message_thread_id?: number;
  /** The Location, for sendLocation. */
  location?: Obj;
  /** The poll as sendPoll asked for it, for sendPoll (`closed` once stopped). */
  poll?: {
    question: string;
    options: string[];
    is_anonymous: boolean;
    allows_multiple_answers: boolean;
    hide_results_until_closes?: true;
    closed?: boolean;
  };
  /** The uploaded file, for media sends. */
  upload?: { name: string; data: Buffer; file_id: string; mimetype: string };
  edits: number;
  deleted: boolean;
  /** The bot's current reactions on this message (emoji). */
  reactions: string[];
  /** The Message object the API returned. */
  message: Obj;
}

/** A callback query and the bot's answer to it (answerCallbackQuery may be called once). */
export interface CallbackQueryState {
  query: Obj;
  answer?: { text?: string; show_alert?: boolean };
}

/** One entry in a chat's message log. */
export interface LoggedMessage {
  message: Obj;
  deleted: boolean;
  /** Reactions set by the bot. */
  botReactions: string[];
  sent?: SentMessage;
}

interface ChatState {
  spec: ChatSpec & { type: ChatType };
  photo?: { small: StoredFile; big: StoredFile };
  members: Map<number, MemberStatus>;
  /** Restricted members (restrictChatMember): until when (0: forever) and what they may do. */
  restrictions: Map<number, { until: number; permissions: Record<string, unknown> }>;
  messages: Map<number, LoggedMessage>;
  nextMessageId: number;
}

const MEDIA_KINDS = ["photo", "document", "video", "audio", "voice", "animation", "sticker"] as const;
/** Media a message can carry; each is a Bot API send method `send<Kind>`. */
export type MediaKind = (typeof MEDIA_KINDS)[number];
export const mediaKinds: readonly MediaKind[] = MEDIA_KINDS;

/** Users, chats, files and messages of the stand-in. */
export class BotWorld {
  readonly users = new Map<number, UserSpec & { photoFiles: StoredFile[][] }>();
  private readonly chats = new Map<number, ChatState>();
  private readonly files = new Map<string, StoredFile>();
  private nextFile = 1;
  /** Callback queries sent to the bot (a user pressed an inline button), by query id. */
  readonly callbackQueries = new Map<string, CallbackQueryState>();

  constructor(readonly bot: Obj & { id: number }) {}

  /** Adds or replaces a user. */
  addUser(u: UserSpec): void {
    const photoFiles = (u.photos ?? []).map((p) => this.photoSizes(p, "profile"));
    this.users.set(u.id, { first_name: `User ${u.id}`, ...u, photoFiles });
  }

  /** Adds or replaces a chat; the bot becomes an administrator unless `members` says otherwise. */
  addChat(c: ChatSpec): void {
    const type = c.type ?? (c.id > 0 ? "private" : "supergroup");
    const members = new Map<number, MemberStatus>([[this.bot.id, "administrator"]]);
    for (const [id, s] of Object.entries(c.members ?? {})) members.set(Number(id), s);
    const state: ChatState = {
      spec: { ...c, type, title: c.title ?? (type === "private" ? undefined : `Chat ${c.id}`) },
      members,
      restrictions: new Map(),
      messages: this.chats.get(c.id)?.messages ?? new Map(),
      nextMessageId: this.chats.get(c.id)?.nextMessageId ?? 1,
    };
    if (c.photo) {
      const [small, big] = [this.addFile(c.photo, { path: "chat" }), this.addFile(c.photo, { path: "chat" })];
      state.photo = { small: this.files.get(small)!, big: this.files.get(big)! };
    }
    this.chats.set(c.id, state);
  }

  /** Stores bytes (or only a size) as a file; returns its file_id. */
  /** Custom emoji by id: their sticker's file id (a still WebP picture). */
  readonly customEmoji = new Map<string, string>();

  /** A custom emoji with its picture; returns its id. */
  addCustomEmoji(id: string, picture: Buffer): string {
    this.customEmoji.set(id, this.addFile(picture, { mimetype: "image/webp", path: "stickers" }));
    return id;
  }

  addFile(data: Buffer | undefined, opts: { mimetype?: string; path?: string; size?: number } = {}): string {
    const n = this.nextFile++;
    const f: StoredFile = {
      file_id: `FILE${n}x${Math.random().toString(36).slice(2, 10)}`,
      file_unique_id: `U${n}`,
      path: `${opts.path ?? "documents"}/file_${n}`,
      mimetype: opts.mimetype ?? "application/octet-stream",
      data,
      size: opts.size ?? data?.length ?? 0,
    };
    this.files.set(f.file_id, f);
    return f.file_id;
  }

  file(fileId: string): StoredFile | undefined {
    return this.files.get(fileId);
  }

  fileByPath(path: string): StoredFile | undefined {
    return [...this.files.values()].find((f) => f.path === path);
  }

  /** The chat, created with defaults when unknown (private for positive ids). */
  ensureChat(id: number): ChatState {
    if (!this.chats.has(id)) this.addChat({ id });
    return this.chats.get(id)!;
  }

  /**
   * The chat, or the API's refusal: a person the bot knows but who never started it (no private
   * chat) is 403 "bot can't initiate conversation"; anything else unknown is "chat not found".
   */
  chat(id: unknown): ChatState {
    const c = this.chats.get(Number(id));
    if (c) return c;
    if (Number(id) > 0 && this.users.has(Number(id)))
      throw new BotApiError(403, "Forbidden: bot can't initiate conversation with a user");
    throw badRequest("chat not found");
  }

  /** A public group or channel by its username (any case), as getChat("@name") finds it. */
  chatByUsername(name: string): ChatState | undefined {
    const lower = name.toLowerCase();
    return [...this.chats.values()].find(
      (c) => c.spec.type !== "private" && c.spec.username?.toLowerCase() === lower,
    );
  }

  hasChat(id: number): boolean {
    return this.chats.has(id);
  }

  ensureUser(id: number): UserSpec {
    if (!this.users.has(id)) this.addUser({ id });
    return this.users.get(id)!;
  }

  /** A `User` object. */
  userObj(id: number): Obj {
    if (id === this.bot.id) return { ...this.bot };
    const { photos: _p, photoFiles: _f, ...u } = this.users.get(id) ?? { id, first_name: `User ${id}` };
    return { is_bot: false, ...u };
  }

  /** The short `Chat` object carried in messages. */
  chatObj(c: ChatState): Obj {
    const { id, type, title, username, first_name, last_name, is_forum } = c.spec;
    return strip({ id, type, title, username, first_name, last_name, is_forum: is_forum || undefined });
  }

  /** `ChatFullInfo` for getChat. */
  chatFullInfo(c: ChatState): Obj {
    const photo = c.photo && {
      small_file_id: c.photo.small.file_id,
      small_file_unique_id: c.photo.small.file_unique_id,
      big_file_id: c.photo.big.file_id,
      big_file_unique_id: c.photo.big.file_unique_id,
    };
    return strip({ ...this.chatObj(c), description: c.spec.description, photo, accent_color_id: 0 });
  }

  member(c: ChatState, userId: number): MemberStatus {
    return c.members.get(userId) ?? "left";
  }

  setMember(c: ChatState, userId: number, status: MemberStatus): MemberStatus {
    const old = this.member(c, userId);
    c.members.set(userId, status);
    return old;
  }

  memberObj(c: ChatState, userId: number): Obj {
    const status = this.member(c, userId);
    const r = c.restrictions.get(userId);
    const extra =
      status === "kicked"
        ? { until_date: 0 }
        : status === "administrator"
          ? adminRights
          : status === "restricted" && r
            ? { is_member: true, until_date: r.until, ...r.permissions }
            : {};
    return { status, user: this.userObj(userId), ...extra };
  }

  admins(c: ChatState): Obj[] {
    return [...c.members.entries()]
      .filter(([, s]) => s === "administrator" || s === "creator")
      .map(([id]) => this.memberObj(c, id));
  }

  /** Stores a new message in the chat log and returns it (ids count per chat). */
  newMessage(c: ChatState, fields: Obj): LoggedMessage {
    const message: Obj = {
      message_id: c.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: this.chatObj(c),
      ...fields,
    };
    const entry: LoggedMessage = { message, deleted: false, botReactions: [] };
    c.messages.set(message.message_id as number, entry);
    return entry;
  }

  message(c: ChatState, id: unknown): LoggedMessage | undefined {
    const m = c.messages.get(Number(id));
    return m && !m.deleted ? m : undefined;
  }

  /** Messages the bot sent to a chat, oldest first. */
  sent(chatId: number): SentMessage[] {
    const c = this.chats.get(chatId);
    if (!c) return [];
    return [...c.messages.values()].flatMap((m) => (m.sent ? [m.sent] : []));
  }

  /** Builds the media field of a message (`photo: PhotoSize[]`, `document: {...}`, …). */
  mediaField(kind: MediaKind, f: StoredFile, name?: string): { field: MediaKind; value: Obj | Obj[] } {
    const base = { file_id: f.file_id, file_unique_id: f.file_unique_id, file_size: f.size };
    const mime =
      f.mimetype !== "application/octet-stream" ? f.mimetype : name ? mimeFromName(name) : undefined;
    switch (kind) {
      case "photo":
        return {
          field: kind,
          value: [
            { ...base, file_id: `${f.file_id}_thumb`, width: 90, height: 90 },
            { ...base, width: 800, height: 600 },
          ],
        };
      case "sticker":
        // The file's type says which sticker it is: Lottie .tgs animated, WebM video, else WebP.
        return {
          field: kind,
          value: {
            ...base,
            width: 512,
            height: 512,
            emoji: "👍",
            type: "regular",
            is_animated: f.mimetype === "application/x-tgsticker",
            is_video: f.mimetype === "video/webm",
          },
        };
      case "voice":
        return { field: kind, value: strip({ ...base, duration: 1, mime_type: mime ?? "audio/ogg" }) };
      case "video":
      case "animation":
        return {
          field: kind,
          value: strip({ ...base, width: 640, height: 480, duration: 1, file_name: name, mime_type: mime }),
        };
      case "audio":
        return { field: kind, value: strip({ ...base, duration: 1, file_name: name, mime_type: mime }) };
      default:
        return { field: kind, value: strip({ ...base, file_name: name, mime_type: mime }) };
    }
  }

  /** Stores an upload or resolves an existing file_id; URLs are refused (no internet here). */
  resolveInputFile(kind: MediaKind, v: unknown): { file: StoredFile; name?: string; upload?: UploadedFile } {
    if (typeof v === "object" && v !== null && (v as UploadedFile).upload) {
      const up = v as UploadedFile;
      const mimetype =
        up.contentType && up.contentType !== "application/octet-stream"
          ? up.contentType
          : mimeFromName(up.name);
      const id = this.addFile(up.data, { mimetype, path: `${kind}s` });
      return { file: this.files.get(id)!, name: up.name, upload: up };
    }
    if (typeof v === "string" && this.files.has(v)) return { file: this.files.get(v)! };
    if (typeof v === "string" && this.files.has(v.replace(/_thumb$/, "")))
      return { file: this.files.get(v.replace(/_thumb$/, ""))! };
    throw badRequest("wrong file identifier/HTTP URL specified");
  }

  private photoSizes(data: Buffer, path: string): StoredFile[] {
    const small = this.files.get(this.addFile(data, { mimetype: "image/jpeg", path }))!;
    const big = this.files.get(this.addFile(data, { mimetype: "image/jpeg", path }))!;
    return [small, big];
  }

  /** `UserProfilePhotos` for getUserProfilePhotos. */
  profilePhotos(userId: number, offset = 0, limit = 100): Obj {
    const u = this.users.get(userId);
    if (!u) throw badRequest("user not found");
    const photos = u.photoFiles.slice(offset, offset + limit).map((sizes) =>
      sizes.map((f, i) => ({
        file_id: f.file_id,
        file_unique_id: f.file_unique_id,
        file_size: f.size,
        width: i ? 640 : 160,
        height: i ? 640 : 160,
      })),
    );
    return { total_count: u.photoFiles.length, photos };
  }
}

const adminRights = {
  can_be_edited: false,
  is_anonymous: false,
  can_manage_chat: true,
  can_delete_messages: true,
  can_restrict_members: true,
  can_promote_members: false,
  can_change_info: true,
  can_invite_users: true,
};

/** Drops undefined fields so objects look like the API's. */
export function strip<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
