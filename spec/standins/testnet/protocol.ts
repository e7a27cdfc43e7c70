/**
 * The testnet wire protocol, shared by the stand-in server and the connector: the JSON shapes
 * of updates, chats and users, the mapping of an update event to a core {@link RemoteEvent},
 * and a small REST client that turns non-2xx answers into {@link TestnetHttpError}s.
 */
import type { ChatInfo, MediaRef, RemoteEvent, RemoteMessage, UserInfo } from "../../../src/core/connector";

/** An attachment as the stand-in describes it: `url` is fetched with the bot token. */
export interface WireAttachment {
  url: string;
  mimetype?: string;
  name?: string;
  size?: number;
}

/** A message as it travels in updates and in backfill answers. `date` is ms since the epoch. */
export interface WireMessage {
  type: "message";
  chat: string;
  sender: string;
  sender_profile?: WireProfile;
  id: string;
  text: string;
  html?: string;
  msgtype?: "text" | "emote" | "notice";
  reply_to?: string;
  thread_root?: string;
  attachments?: WireAttachment[];
  date: number;
}

/** The sender's profile, sent along with each event the way most platforms do. */
export interface WireProfile {
  name: string;
  avatar_url?: string;
}

interface WireBase {
  chat: string;
  sender: string;
  sender_profile?: WireProfile;
  date: number;
}

/** Every event kind the stand-in puts into `GET /updates`. */
export type WireEvent =
  | WireMessage
  | (WireBase & { type: "edit"; id: string; text: string; html?: string })
  | (WireBase & { type: "delete"; id: string })
  | (WireBase & { type: "reaction" | "reaction_remove"; target: string; key: string })
  | (WireBase & { type: "typing"; typing: boolean })
  | (WireBase & { type: "read"; up_to: string })
  | (WireBase & {
      type: "member";
      user: string;
      membership: "join" | "leave" | "kick" | "ban";
      reason?: string;
    })
  | (WireBase & { type: "chat_info"; name?: string; topic?: string; avatar_url?: string })
  | { type: "profile"; sender: string; date: number; name: string; avatar_url?: string };

/** `GET /chats/:id`. */
export interface WireChat {
  id: string;
  name: string;
  topic?: string;
  kind: "dm" | "group" | "channel";
  avatar_url?: string;
  members?: string[];
  /**
   * Whether the bot may moderate the chat (kick, ban, mute); default true. When false those
   * calls answer 403, as a platform does for a bot without the right.
   */
  bot_admin?: boolean;
}

/** `GET /users/:id`. */
export interface WireUser {
  id: string;
  name: string;
  avatar_url?: string;
  is_bot?: boolean;
}

/** What REST calls throw on a non-2xx answer. */
export type TestnetHttpError = Error & { status: number; retryAfterMs?: number };

/** A plain JSON object. */
export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const str = (o: Obj, k: string): string | undefined =>
  typeof o[k] === "string" ? (o[k] as string) : undefined;
const optStr = (o: Obj, k: string): { ok: boolean; v?: string } =>
  o[k] === undefined || typeof o[k] === "string"
    ? { ok: true, v: o[k] as string | undefined }
    : { ok: false };

function parseAttachments(v: unknown): MediaRef[] | undefined | null {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return null;
  const out: MediaRef[] = [];
  for (const a of v) {
    if (!isObj(a) || !str(a, "url")) return null;
    out.push({
      key: str(a, "url")!,
      mimetype: str(a, "mimetype"),
      name: str(a, "name"),
      size: typeof a.size === "number" ? a.size : undefined,
    });
  }
  return out;
}

/** `senderInfo` from an optional `sender_profile`; a malformed profile is ignored. */
function senderInfo(p: unknown, isSelf: boolean): { senderInfo?: UserInfo } {
  if (!isObj(p) || !str(p, "name")) return {};
  const info: UserInfo = { displayName: str(p, "name")! };
  if (str(p, "avatar_url")) info.avatar = { key: str(p, "avatar_url")! };
  if (isSelf) info.isBot = true;
  return { senderInfo: info };
}

/**
 * Maps one stand-in event to a {@link RemoteEvent}; `undefined` when a required field is
 * missing or has the wrong type. `selfId` marks the bot's own actions as `fromSelf`.
 */
export function parseWireEvent(raw: unknown, selfId?: string): RemoteEvent | undefined {
  if (!isObj(raw)) return undefined;
  if (raw.type === "profile") {
    // A user's own profile change: it belongs to no chat.
    const user = str(raw, "sender");
    const name = str(raw, "name");
    const avatar = optStr(raw, "avatar_url");
    if (!user || !name || !avatar.ok || typeof raw.date !== "number") return undefined;
    const info: UserInfo = { displayName: name };
    if (avatar.v) info.avatar = { key: avatar.v };
    return { kind: "profile", sender: { id: user }, timestamp: raw.date, info };
  }
  const chat = str(raw, "chat");
  const sender = str(raw, "sender");
  if (!chat || !sender || typeof raw.date !== "number") return undefined;
  const base = {
    chat: { id: chat },
    sender: { id: sender },
    timestamp: raw.date,
    ...(selfId !== undefined && sender === selfId ? { fromSelf: true } : {}),
    ...senderInfo(raw.sender_profile, sender === selfId),
  };
  const id = str(raw, "id");
  const text = str(raw, "text");
  const html = optStr(raw, "html");
  switch (raw.type) {
    case "message": {
      const reply = optStr(raw, "reply_to");
      const thread = optStr(raw, "thread_root");
      const atts = parseAttachments(raw.attachments);
      const mt = raw.msgtype;
      if (!id || text === undefined || !html.ok || !reply.ok || !thread.ok || atts === null) return undefined;
      if (mt !== undefined && mt !== "text" && mt !== "emote" && mt !== "notice") return undefined;
      const m: RemoteMessage = { ...base, kind: "message", id, text, msgtype: mt ?? "text" };
      if (html.v !== undefined) m.html = html.v;
      if (reply.v !== undefined) m.replyTo = reply.v;
      if (thread.v !== undefined) m.threadRoot = thread.v;
      if (atts?.length) m.attachments = atts;
      return m;
    }
    case "edit":
      if (!id || text === undefined || !html.ok) return undefined;
      return { ...base, kind: "edit", id, text, ...(html.v !== undefined ? { html: html.v } : {}) };
    case "delete":
      return id ? { ...base, kind: "delete", id } : undefined;
    case "reaction":
    case "reaction_remove": {
      const target = str(raw, "target");
      const key = str(raw, "key");
      if (!target || !key) return undefined;
      return { ...base, kind: raw.type === "reaction" ? "reaction" : "reaction-remove", target, key };
    }
    case "typing":
      return typeof raw.typing === "boolean" ? { ...base, kind: "typing", typing: raw.typing } : undefined;
    case "read": {
      const upTo = str(raw, "up_to");
      return upTo ? { ...base, kind: "read", upTo } : undefined;
    }
    case "member": {
      const user = str(raw, "user");
      const ms = raw.membership;
      if (!user || (ms !== "join" && ms !== "leave" && ms !== "kick" && ms !== "ban")) return undefined;
      const reason = optStr(raw, "reason");
      if (!reason.ok) return undefined;
      return { ...base, kind: "member", target: { id: user }, membership: ms, reason: reason.v };
    }
    case "chat_info": {
      const name = optStr(raw, "name");
      const topic = optStr(raw, "topic");
      const avatar = optStr(raw, "avatar_url");
      if (!name.ok || !topic.ok || !avatar.ok) return undefined;
      const info: Partial<ChatInfo> = {};
      if (name.v !== undefined) info.name = name.v;
      if (topic.v !== undefined) info.topic = topic.v;
      if (avatar.v !== undefined) info.avatar = { key: avatar.v };
      return { ...base, kind: "chat-info", info };
    }
    default:
      return undefined;
  }
}

/** Builds the error REST calls throw: `Error & { status, retryAfterMs? }`. */
export function httpError(status: number, message: string, retryAfterMs?: number): TestnetHttpError {
  return Object.assign(new Error(message), {
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** Minimal REST client for the stand-in. */
export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async fetch(method: string, pathOrUrl: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const url = pathOrUrl.startsWith("/") ? this.baseUrl + pathOrUrl : pathOrUrl;
    const headers: Record<string, string> = {};
    // The token only goes to the stand-in itself, never to a foreign URL.
    if (url.startsWith(`${this.baseUrl}/`)) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ?? AbortSignal.timeout(30_000),
    });
    if (res.ok) return res;
    const textBody = await res.text().catch(() => "");
    let retryAfterMs: number | undefined;
    const header = Number(res.headers.get("retry-after"));
    if (res.headers.has("retry-after") && Number.isFinite(header)) retryAfterMs = header * 1000;
    let detail = textBody;
    try {
      const j: unknown = JSON.parse(textBody);
      if (isObj(j)) {
        if (retryAfterMs === undefined && typeof j.retry_after === "number")
          retryAfterMs = j.retry_after * 1000;
        detail = str(j, "error") ?? textBody;
      }
    } catch {
      // not JSON: keep the text
    }
    throw httpError(
      res.status,
      `testnet ${method} ${new URL(url).pathname}: ${res.status} ${detail}`,
      retryAfterMs,
    );
  }

  async json(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Obj> {
    const res = await this.fetch(method, path, body, signal);
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (!isObj(parsed)) throw new Error(`testnet ${method} ${path}: answer is not an object`);
    return parsed;
  }
}

/** Shorthand for path segments. */
export const enc = encodeURIComponent;

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
