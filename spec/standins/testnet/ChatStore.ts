/**
 * The stand-in's platform state: chats, users, files and each chat's message history, with the
 * semantics of the REST routes that change them. {@link ./TestnetServer} owns the HTTP side.
 */
import type { WireAttachment, WireChat, WireMessage, WireUser } from "./protocol";

/** A message the bridge posted, with later edits, deletion and reactions applied. */
export interface SentMessage {
  id: string;
  chat: string;
  text: string;
  html?: string;
  sender_name: string;
  sender_mxid: string;
  reply_to?: string;
  thread_root?: string;
  msgtype: string;
  attachment?: WireAttachment & { kind: string };
  /** Every PATCH, in order; `text`/`html` above hold the latest. */
  edits: Array<{ text: string; html?: string }>;
  deleted: boolean;
  /** `sender` is `sender_mxid` when given, else `sender_name`. */
  reactions: Array<{ key: string; sender: string; sender_name: string }>;
}

/** Thrown by route semantics to answer with an HTTP error status. */
export class HttpReply extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Stored {
  wire: WireMessage;
  deleted: boolean;
  sent?: SentMessage;
  /** Reactions the bridge put on this message (the same array as `sent.reactions` for sent ones). */
  reactions: SentMessage["reactions"];
}

/** A JSON request body. */
export type Body = Record<string, unknown>;
/** True for a plain JSON object. */
export const isBody = (v: unknown): v is Body => typeof v === "object" && v !== null && !Array.isArray(v);
const s = (b: Body, k: string): string | undefined =>
  typeof b[k] === "string" ? (b[k] as string) : undefined;

/** Longest text a posted message may carry (the connector splits longer texts). */
export const MAX_TEXT = 4000;

/** In-memory platform state. Message ids are increasing numeric strings per chat. */
export class ChatStore {
  readonly chats = new Map<string, WireChat>();
  readonly users = new Map<string, WireUser>();
  private readonly files = new Map<string, { data: Buffer; mimetype: string }>();
  private readonly history = new Map<string, Stored[]>();
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly baseUrl: string,
    private readonly botId: string,
  ) {}

  addChat(chat: Partial<WireChat> & { id: string }): void {
    this.chats.set(chat.id, { name: chat.id, kind: "group", ...chat });
  }
  addUser(user: Partial<WireUser> & { id: string }): void {
    this.users.set(user.id, { name: user.id, ...user });
  }
  addFile(key: string, data: Buffer, mimetype: string): string {
    this.files.set(key, { data, mimetype });
    return this.fileUrl(key);
  }
  file(key: string): { data: Buffer; mimetype: string } | undefined {
    return this.files.get(key);
  }
  fileUrl(key: string): string {
    return `${this.baseUrl}/files/${encodeURIComponent(key)}`;
  }
  /** Creates the chat and user with default fields when unknown. */
  ensure(chat: string, user: string): WireChat {
    if (!this.chats.has(chat)) this.addChat({ id: chat });
    if (!this.users.has(user)) this.addUser({ id: user });
    return this.chats.get(chat)!;
  }
  nextId(chat: string): string {
    const n = (this.counters.get(chat) ?? 0) + 1;
    this.counters.set(chat, n);
    return String(n);
  }
  /** Keeps a message a platform user wrote (for backfill and later edits). */
  keep(wire: WireMessage): void {
    this.messages(wire.chat).push({ wire, deleted: false, reactions: [] });
  }
  /** A platform user's edit or delete of a stored message (no-op when unknown). */
  applyRemote(chat: string, id: string, change: { text?: string; html?: string; deleted?: boolean }): void {
    const st = this.messages(chat).find((x) => x.wire.id === id);
    if (!st) return;
    if (change.text !== undefined) Object.assign(st.wire, { text: change.text, html: change.html });
    if (change.deleted) st.deleted = true;
  }
  /** Messages the bridge posted to `chat`, in order. */
  sent(chat: string): SentMessage[] {
    return this.messages(chat).flatMap((m) => (m.sent ? [m.sent] : []));
  }

  /** `POST /chats/:id/messages`. */
  post(chat: string, b: Body): { id: string } {
    const text = s(b, "text");
    const senderName = s(b, "sender_name");
    const senderMxid = s(b, "sender_mxid");
    if (text === undefined || !senderName || !senderMxid) {
      throw new HttpReply(400, "text, sender_name and sender_mxid required");
    }
    if (text.length > MAX_TEXT) throw new HttpReply(400, "text too long");
    const id = this.nextId(chat);
    let attachment: SentMessage["attachment"];
    if (isBody(b.attachment)) {
      const a = b.attachment;
      const key = `sent-${chat}-${id}`;
      const mimetype = s(a, "mimetype") ?? "application/octet-stream";
      const data = Buffer.from(s(a, "data") ?? "", "base64");
      const url = this.addFile(key, data, mimetype);
      attachment = {
        kind: s(a, "kind") ?? "file",
        url,
        mimetype,
        name: s(a, "name") ?? key,
        size: data.length,
      };
    }
    const sent: SentMessage = {
      id,
      chat,
      text,
      html: s(b, "html"),
      sender_name: senderName,
      sender_mxid: senderMxid,
      reply_to: s(b, "reply_to"),
      thread_root: s(b, "thread_root"),
      msgtype: s(b, "msgtype") ?? "text",
      attachment,
      edits: [],
      deleted: false,
      reactions: [],
    };
    // How the platform shows a relayed message: posted by the bot, prefixed with the sender.
    const wire: WireMessage = {
      type: "message",
      chat,
      sender: this.botId,
      id,
      text: `${senderName}: ${text}`,
      reply_to: sent.reply_to,
      thread_root: sent.thread_root,
      attachments: attachment && [attachment],
      date: Date.now(),
    };
    this.messages(chat).push({ wire, deleted: false, sent, reactions: sent.reactions });
    return { id };
  }

  /** `PATCH /chats/:id/messages/:mid`. */
  edit(chat: string, mid: string, b: Body): void {
    const st = this.find(chat, mid);
    const text = s(b, "text");
    if (text === undefined) throw new HttpReply(400, "text required");
    if (text.length > MAX_TEXT) throw new HttpReply(400, "text too long");
    const html = s(b, "html");
    st.wire.text = text;
    st.wire.html = html;
    if (st.sent) {
      Object.assign(st.sent, { text, html });
      st.sent.edits.push({ text, html });
    }
  }

  /** `DELETE /chats/:id/messages/:mid`. */
  remove(chat: string, mid: string): void {
    const st = this.find(chat, mid);
    st.deleted = true;
    if (st.sent) st.sent.deleted = true;
  }

  /** `PUT /chats/:id/messages/:mid/reactions`. */
  react(chat: string, mid: string, b: Body): void {
    const st = this.find(chat, mid);
    const key = s(b, "key");
    const name = s(b, "sender_name");
    if (!key || !name) throw new HttpReply(400, "key and sender_name required");
    st.reactions.push({ key, sender: s(b, "sender_mxid") ?? name, sender_name: name });
  }

  /** `DELETE /chats/:id/messages/:mid/reactions?key=&sender=` (sender: mxid or name). */
  unreact(chat: string, mid: string, q: Record<string, string>): void {
    const list = this.find(chat, mid).reactions;
    const i = list.findIndex((r) => r.key === q.key && (r.sender === q.sender || r.sender_name === q.sender));
    if (i < 0) throw new HttpReply(404, "unknown reaction");
    list.splice(i, 1);
  }

  /** `GET /chats/:id/messages?after=&limit=`: not deleted, oldest first. */
  backfill(chat: string, q: Record<string, string>): { messages: WireMessage[] } {
    const after = q.after !== undefined ? Number(q.after) : 0;
    const limit = q.limit !== undefined ? Number(q.limit) : 50;
    const list = this.messages(chat).filter((m) => !m.deleted && Number(m.wire.id) > after);
    return { messages: list.slice(0, limit).map((m) => m.wire) };
  }

  private messages(chat: string): Stored[] {
    let list = this.history.get(chat);
    if (!list) {
      list = [];
      this.history.set(chat, list);
    }
    return list;
  }
  private find(chat: string, id: string): Stored {
    const m = this.messages(chat).find((x) => x.wire.id === id && !x.deleted);
    if (!m) throw new HttpReply(404, "unknown message");
    return m;
  }
}
