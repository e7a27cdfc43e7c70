/**
 * Rows as pg returns them (snake_case, NULL) and their mapping to the camelCase types of
 * ./types, where an absent value is an absent key. Used by PgStore only.
 */
import type pg from "pg";
import type {
  Ghost,
  LoginRow,
  MessageRow,
  NewQueueItem,
  Portal,
  QueueItem,
  QueueKind,
  ReactionRow,
  UserRow,
} from "./types";

export interface PortalDb {
  platform: string;
  chat_id: string;
  room_id: string;
  login_id: string;
  kind: Portal["kind"];
  name: string | null;
  topic: string | null;
  avatar_key: string | null;
  linked: boolean;
  created_at: Date;
}
export interface GhostDb {
  mxid: string;
  platform: string;
  remote_id: string;
  display_name: string | null;
  avatar_key: string | null;
  avatar_mxc: string | null;
  registered: boolean;
}
/**
 * A statement of the hot path as a named (prepared) one: PostgreSQL parses and plans it once per
 * connection instead of at every call. Only for constant SQL texts (each name has one text).
 */
export function named(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name: `cb_${name}`, text, values };
}

/** The message table's columns, in the order of {@link MessageDb}. */
export const MESSAGE_COLS =
  'platform, chat_id, remote_id, part, room_id, event_id, sender_mxid, remote_sender, thread_root, "timestamp", order_key';
export interface MessageDb {
  platform: string;
  chat_id: string;
  remote_id: string;
  part: number;
  room_id: string;
  event_id: string;
  sender_mxid: string;
  remote_sender: string | null;
  thread_root: string | null;
  timestamp: Date;
  order_key: string | null;
}
export interface ReactionDb {
  platform: string;
  chat_id: string;
  target_remote_id: string;
  sender: string;
  key: string;
  room_id: string;
  event_id: string;
  target_event_id: string;
}
export interface LoginDb {
  id: string;
  platform: string;
  owner_mxid: string;
  remote_id: string | null;
  credentials: Record<string, unknown>;
  state: string | null;
}
export interface UserDb {
  mxid: string;
  management_room: string | null;
  refused_at: Date | null;
}
export interface QueueDb {
  id: string;
  queue_key: string;
  kind: QueueKind;
  payload: unknown;
  attempts: number;
  created_at: Date;
}

/** Adds `key: value` unless the column was NULL, so that absent stays absent. */
function opt<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | null): T {
  if (value !== null) obj[key] = value;
  return obj;
}

export const toPortal = (r: PortalDb): Portal => {
  const p: Portal = {
    platform: r.platform,
    chatId: r.chat_id,
    roomId: r.room_id,
    loginId: r.login_id,
    kind: r.kind,
    linked: r.linked,
    createdAt: r.created_at,
  };
  opt(p, "name", r.name);
  opt(p, "topic", r.topic);
  return opt(p, "avatarKey", r.avatar_key);
};

export const toGhost = (r: GhostDb): Ghost => {
  const g: Ghost = { mxid: r.mxid, platform: r.platform, remoteId: r.remote_id, registered: r.registered };
  opt(g, "displayName", r.display_name);
  opt(g, "avatarKey", r.avatar_key);
  return opt(g, "avatarMxc", r.avatar_mxc);
};

export const toMessage = (r: MessageDb): MessageRow => {
  const m: MessageRow = {
    platform: r.platform,
    chatId: r.chat_id,
    remoteId: r.remote_id,
    part: r.part,
    roomId: r.room_id,
    eventId: r.event_id,
    senderMxid: r.sender_mxid,
    timestamp: r.timestamp,
  };
  opt(m, "remoteSender", r.remote_sender);
  opt(m, "orderKey", r.order_key);
  return opt(m, "threadRoot", r.thread_root);
};

export const toReaction = (r: ReactionDb): ReactionRow => ({
  platform: r.platform,
  chatId: r.chat_id,
  targetRemoteId: r.target_remote_id,
  sender: r.sender,
  key: r.key,
  roomId: r.room_id,
  eventId: r.event_id,
  targetEventId: r.target_event_id,
});

export const toLogin = (r: LoginDb): LoginRow => {
  const l: LoginRow = { id: r.id, platform: r.platform, ownerMxid: r.owner_mxid, credentials: r.credentials };
  opt(l, "remoteId", r.remote_id);
  return opt(l, "state", r.state);
};

export const toUser = (r: UserDb): UserRow => {
  const u: UserRow = { mxid: r.mxid };
  opt(u, "managementRoom", r.management_room);
  return opt(u, "refusedAt", r.refused_at);
};

export const toQueueItem = (r: QueueDb): QueueItem => ({
  id: r.id,
  queueKey: r.queue_key,
  kind: r.kind,
  payload: r.payload,
  attempts: r.attempts,
  createdAt: r.created_at,
});

/**
 * In JSON.stringify's output (well-formed since ES2019) a NUL is written `\u0000` and a lone
 * surrogate `\udXXX`; a paired one stays literal. Both may stand in keys as well as values; the
 * leading group keeps escaped backslashes (`\\u0000` is the text "\u0000", not a NUL).
 */
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

/**
 * JSON for a jsonb column. jsonb rejects \u0000 and unpaired surrogates, which homeserver and
 * remote events can carry in any key or value; rather than lose the event, those characters
 * become U+FFFD. Throws (RangeError) only for a value too deeply nested to serialize.
 */
export function toJson(value: unknown): string {
  const json = JSON.stringify(value ?? null);
  return json.replace(UNSTORABLE_ESCAPE, "$1\\ufffd");
}

/** A queue item ready to store: its JSON, and the payload as it will be read back. */
export interface PreparedItem {
  item: NewQueueItem;
  json?: string;
  /** Why it cannot be stored at all (not serializable). */
  error?: string;
}

/** Serializes each item on its own, so one that cannot be serialized does not stop the others. */
export function prepareItems(items: NewQueueItem[]): PreparedItem[] {
  return items.map((item) => {
    let raw: string;
    try {
      raw = JSON.stringify(item.payload ?? null);
    } catch (err) {
      return { item, error: `cannot be serialized (${err instanceof Error ? err.message : String(err)})` };
    }
    const json = raw.replace(UNSTORABLE_ESCAPE, "$1\\ufffd");
    // What is delivered must be what is stored: a retry after a restart reads the stored form.
    return json === raw ? { item, json } : { item: { ...item, payload: JSON.parse(json) }, json };
  });
}

/** Column arrays for the unnest() queue inserts. */
export function queueColumns(items: PreparedItem[]): [string[], string[], string[]] {
  return [items.map((i) => i.item.queueKey), items.map((i) => i.item.kind), items.map((i) => i.json!)];
}
