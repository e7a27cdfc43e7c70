/**
 * Rows as pg returns them (snake_case, NULL) and their mapping to the camelCase types of
 * ./types, where an absent value is an absent key. Used by PgStore only.
 */
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

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * JSON for a jsonb column. jsonb rejects \u0000 and unpaired surrogates, which remote texts can
 * carry; rather than lose a whole transaction, those characters become U+FFFD.
 */
export function toJson(value: unknown): string {
  const json = JSON.stringify(value ?? null);
  if (!/\\u0000|\\ud[89a-f]/i.test(json)) return json;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "string" ? v.replaceAll("\u0000", "\uFFFD").replace(LONE_SURROGATE, "\uFFFD") : v,
  );
}

/** Column arrays for the unnest() queue inserts. */
export function queueColumns(items: NewQueueItem[]): [string[], string[], string[]] {
  return [items.map((i) => i.queueKey), items.map((i) => i.kind), items.map((i) => toJson(i.payload))];
}
