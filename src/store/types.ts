/**
 * Rows of the core's tables, as the rest of the core sees them. Column names are snake_case
 * in SQL and camelCase here; the store maps between them.
 */

/** A remote chat bridged into a Matrix room. Many portals may share one room. */
export interface Portal {
  platform: string;
  /** Remote chat id; a forum topic or thread bridged as its own room is `<chat>/<thread>`. */
  chatId: string;
  roomId: string;
  /** The login whose client sends into this chat. */
  loginId: string;
  kind: "dm" | "group" | "channel";
  name?: string;
  topic?: string;
  /** MediaRef.key of the avatar last set on the room, to skip unchanged re-uploads. */
  avatarKey?: string;
  /** True when the room was linked by command rather than created by the bridge. */
  linked: boolean;
  createdAt?: Date;
}

export interface Ghost {
  mxid: string;
  platform: string;
  remoteId: string;
  displayName?: string;
  avatarKey?: string;
  avatarMxc?: string;
  /** Set once the homeserver has the user registered. */
  registered: boolean;
}

/** One bridged message part: remote id ↔ Matrix event id, in one chat. */
export interface MessageRow {
  platform: string;
  chatId: string;
  remoteId: string;
  /** 0 for the first part; a remote message with a caption and two photos has three parts. */
  part: number;
  roomId: string;
  eventId: string;
  /** Matrix sender of the event (a ghost for inbound, the real user for outbound). */
  senderMxid: string;
  /** Remote sender id, when known. */
  remoteSender?: string;
  threadRoot?: string;
  timestamp: Date;
  /**
   * The platform's order of `remoteId` (the client's `orderKey`): the newest bridged message of a
   * chat is the greatest key; rows without one come after those with one, by timestamp.
   */
  orderKey?: string;
}

export interface ReactionRow {
  platform: string;
  chatId: string;
  /** Remote id of the message reacted to. */
  targetRemoteId: string;
  /** Who reacted, on the platform (a remote user id, or the Matrix mxid when relayed). */
  sender: string;
  key: string;
  roomId: string;
  /** The m.reaction event. */
  eventId: string;
  targetEventId: string;
}

export interface LoginRow {
  id: string;
  platform: string;
  ownerMxid: string;
  remoteId?: string;
  credentials: Record<string, unknown>;
  /** Last reported ConnectionState. */
  state?: string;
}

export interface UserRow {
  mxid: string;
  managementRoom?: string;
  /** When the user was told they may not use the bridge (so it is said only once). */
  refusedAt?: Date;
}

export type QueueKind = "remote" | "matrix";

/** A durable delivery: one event waiting to be bridged, in order within its queue key. */
export interface QueueItem {
  id: string;
  /**
   * Serialisation key: "remote:<platform>:<chat>" inbound, "profile:<platform>:<user>" for a
   * user's profile changes, "matrix:<room>" outbound (commands and the AI take the event
   * there), then "matrix:<room>|<platform>|<chat>" for each linked chat it is relayed to.
   */
  queueKey: string;
  kind: QueueKind;
  payload: unknown;
  attempts: number;
  createdAt: Date;
  /** Read back from the database at start: it may have been delivered before the bridge stopped. */
  resumed?: boolean;
  /**
   * Set once the item left the queue in the write that recorded its delivery (the `done` of
   * Store.insertMessages): there is nothing left to delete.
   */
  completed?: boolean;
  /**
   * The write that records its delivery and takes it out of the queue, still under way: its lane
   * goes on meanwhile (reads of the message map wait for it). Should it fail, the item is tried
   * again, and finds what it sent.
   */
  finishing?: Promise<void>;
  /** Not to be attempted before this time (ms): it failed once before it was stored. */
  notBefore?: number;
  /** In memory, until the queue takes it: see {@link NewQueueItem.failedWith}. */
  failedWith?: unknown;
}

export interface NewQueueItem {
  queueKey: string;
  kind: QueueKind;
  payload: unknown;
  /** Attempts made already (a successor of an item tried before it was replaced); 0 if unset. */
  attempts?: number;
  /**
   * In memory only: how the last of those attempts failed. The item then waits as a retry
   * would (the backoff, a platform's Retry-After) before its next attempt.
   */
  failedWith?: unknown;
}

/** A key/value entry written together with queue items (a connector's polling offset). */
export interface KvWrite {
  namespace: string;
  key: string;
  value: string;
}

/** An event the bridge could not take or deliver, kept for an admin to read, retry or drop. */
export interface QuarantineRow {
  id: string;
  kind: QueueKind;
  queueKey: string;
  /** The Matrix event id, or `<platform>:<chat>:<remote id>` of a remote event, when known. */
  eventId?: string;
  roomId?: string;
  reason: string;
  attempts: number;
  createdAt: Date;
  /** The stored payload's size in characters; 0 when it could not be stored (so cannot be retried). */
  payloadSize: number;
}
