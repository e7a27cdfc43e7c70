import type {
  Ghost,
  KvWrite,
  LoginRow,
  MessageRow,
  NewQueueItem,
  Portal,
  QuarantineRow,
  QueueItem,
  ReactionRow,
  UserRow,
} from "./types";

/** One linked chat (a portal's platform and chat id). */
export type ChatOf = Pick<Portal, "platform" | "chatId">;

/**
 * Everything the core keeps in PostgreSQL, grouped by entity. One implementation (PgStore);
 * the contract suite in spec/integration runs against embedded and external PostgreSQL.
 */
export interface Store {
  // ---- portals: (platform, chat) → room, many to one ----
  getPortal(platform: string, chatId: string): Promise<Portal | undefined>;
  getPortalsByRoom(roomId: string): Promise<Portal[]>;
  /** Insert or update by (platform, chatId). */
  upsertPortal(portal: Portal): Promise<void>;
  /** Returns true when a portal was removed. */
  deletePortal(platform: string, chatId: string): Promise<boolean>;
  /** Portals in (platform, chat) order; `loginIds`: only those bridged through these logins. */
  listPortals(opts?: {
    platform?: string;
    limit?: number;
    offset?: number;
    loginIds?: string[];
  }): Promise<Portal[]>;
  countPortals(): Promise<number>;
  /**
   * Removes the portal and remembers the chat as unlinked, in one statement: its messages are
   * not bridged and no portal is created for it until {@link clearUnlinked}.
   */
  unlinkPortal(portal: Portal, by: string): Promise<void>;
  isChatUnlinked(platform: string, chatId: string): Promise<boolean>;
  /** The chats may be bridged again (a `link`). */
  clearUnlinked(platform: string, chatIds: string[]): Promise<void>;

  // ---- ghosts ----
  getGhost(mxid: string): Promise<Ghost | undefined>;
  upsertGhost(ghost: Ghost): Promise<void>;
  /** Whether the ghost is known to be joined to the room. */
  isGhostInRoom(mxid: string, roomId: string): Promise<boolean>;
  setGhostInRoom(mxid: string, roomId: string, joined: boolean): Promise<void>;

  // ---- message map ----
  /**
   * Insert parts; an existing (platform, chat, remote id, part) or (event, platform, chat) row is
   * left as is. `done`: the queue item whose delivery these rows record, when nothing of its
   * delivery follows; it leaves the queue in the same write (and is marked `completed`).
   */
  insertMessages(rows: MessageRow[], done?: QueueItem): Promise<void>;
  /**
   * All parts of a remote message, part 0 first. With the message's order key, a message newer
   * than every row of its chat is known to have none without a read.
   */
  getMessageByRemote(
    platform: string,
    chatId: string,
    remoteId: string,
    orderKey?: string,
  ): Promise<MessageRow[]>;
  /** Every remote copy of a Matrix event (one per linked chat and part). */
  getMessagesByEvent(eventId: string): Promise<MessageRow[]>;
  /** Forgets the remote copies of a Matrix event: all of them, or only those in `chat`. */
  deleteMessagesByEvent(eventId: string, chat?: ChatOf): Promise<void>;
  /** The newest bridged message of a chat (for backfill after a restart). */
  lastMessage(platform: string, chatId: string): Promise<MessageRow | undefined>;

  // ---- reactions ----
  insertReaction(row: ReactionRow): Promise<void>;
  getReaction(
    platform: string,
    chatId: string,
    targetRemoteId: string,
    sender: string,
    key: string,
  ): Promise<ReactionRow | undefined>;
  /** A reaction row of a Matrix reaction event (one per linked chat): any, or the one in `chat`. */
  getReactionByEvent(eventId: string, chat?: ChatOf): Promise<ReactionRow | undefined>;
  deleteReactionByEvent(eventId: string, chat?: ChatOf): Promise<void>;

  // ---- logins ----
  listLogins(platform?: string): Promise<LoginRow[]>;
  getLogin(id: string): Promise<LoginRow | undefined>;
  upsertLogin(login: LoginRow): Promise<void>;
  deleteLogin(id: string): Promise<void>;

  // ---- Matrix users ----
  getUser(mxid: string): Promise<UserRow | undefined>;
  upsertUser(user: UserRow): Promise<void>;
  /** The user whose management room this is, if any. */
  getUserByManagementRoom(roomId: string): Promise<UserRow | undefined>;

  // ---- key/value, namespaced ----
  kvGet(namespace: string, key: string): Promise<string | undefined>;
  kvSet(namespace: string, key: string, value: string): Promise<void>;
  kvDelete(namespace: string, key: string): Promise<void>;

  // ---- appservice transactions + durable queue ----
  /**
   * Records a homeserver transaction's key (its id and a digest of its content) and queues its
   * items, atomically. Resolves with each item's queue id in order — undefined for an item the
   * database could not take, which is quarantined instead — or undefined as a whole (queueing
   * nothing) when the key was already recorded: a retried transaction. Payloads are replaced
   * by what was stored (characters PostgreSQL cannot hold become U+FFFD).
   */
  recordTransaction(txnKey: string, items: NewQueueItem[]): Promise<Array<string | undefined> | undefined>;
  /**
   * Forgets transaction ids recorded more than `retentionMs` before the newest one, so the
   * table stays bounded; resolves with the number of rows removed.
   */
  pruneTransactions(retentionMs: number): Promise<number>;
  /**
   * Queues items in the given order; resolves with their ids once committed (undefined for an
   * item the database could not take: it is quarantined). Payloads are replaced as above.
   * With `kv`, that entry is set in the same transaction (also when `items` is empty).
   */
  enqueue(items: NewQueueItem[], kv?: KvWrite): Promise<Array<string | undefined>>;
  /**
   * Removes item `id` and queues `items` in its place, atomically; resolves with their ids,
   * none when the item was no longer queued (it was replaced or finished before).
   */
  replaceQueueItem(id: string, items: NewQueueItem[]): Promise<string[]>;
  /** Every pending item, oldest first. */
  pendingQueue(): Promise<QueueItem[]>;
  completeQueueItem(id: string): Promise<void>;
  /** Records a failed attempt; the item stays pending. */
  failQueueItem(id: string, error: string): Promise<void>;
  queueDepth(): Promise<number>;

  // ---- quarantine: events that could not be taken or delivered ----
  /** Moves a queued item to the quarantine with the reason, in one step. */
  quarantineQueueItem(item: QueueItem, reason: string): Promise<void>;
  listQuarantine(opts?: { limit?: number; offset?: number }): Promise<QuarantineRow[]>;
  countQuarantine(): Promise<number>;
  /**
   * Puts a quarantined item back at the end of its queue; "not-retryable" when it was never
   * stored whole, undefined when there is no such item.
   */
  requeueQuarantined(id: string): Promise<QueueItem | "not-retryable" | undefined>;
  dropQuarantined(id: string): Promise<boolean>;

  // ---- migrations ----
  /** [applied, latest known] migration numbers. */
  migrationStatus(): Promise<{ applied: number; latest: number }>;

  /** Raw access for connector-owned tables. */
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}
