import type pg from "pg";
import type { Logger } from "../log/Logger";
import type { Database } from "./Database";
import { GroupWrite } from "./GroupWrite";
import { MessageLookup } from "./MessageLookup";
import { Migrator } from "./Migrator";
import {
  type GhostDb,
  type LoginDb,
  MESSAGE_COLS,
  type MessageDb,
  named,
  type PortalDb,
  prepareItems,
  type QueueDb,
  queueColumns,
  type ReactionDb,
  toGhost,
  toJson,
  toLogin,
  toMessage,
  toPortal,
  toQueueItem,
  toReaction,
  toUser,
  type UserDb,
} from "./pgRows";
import * as quarantine from "./QuarantineSql";
import { QueueReplace } from "./QueueReplace";
import type { ChatOf, Store } from "./Store";
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

// ---- SQL. Multi-row inserts pass one array per column to unnest(), so the text never changes. ----

const PORTAL_COLS = "platform, chat_id, room_id, login_id, kind, name, topic, avatar_key, linked, created_at";
const SQL_GET_PORTAL = `SELECT ${PORTAL_COLS} FROM portal WHERE platform = $1 AND chat_id = $2`;
const SQL_PORTALS_BY_ROOM = `SELECT ${PORTAL_COLS} FROM portal WHERE room_id = $1 ORDER BY platform, chat_id`;
const SQL_UPSERT_PORTAL = `INSERT INTO portal (${PORTAL_COLS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()))
  ON CONFLICT (platform, chat_id) DO UPDATE SET room_id = excluded.room_id, login_id = excluded.login_id,
    kind = excluded.kind, name = excluded.name, topic = excluded.topic, avatar_key = excluded.avatar_key,
    linked = excluded.linked`;
const SQL_DELETE_PORTAL = "DELETE FROM portal WHERE platform = $1 AND chat_id = $2";
const SQL_LIST_PORTALS = `SELECT ${PORTAL_COLS} FROM portal WHERE ($1::text IS NULL OR platform = $1)
  AND ($4::text[] IS NULL OR login_id = ANY($4)) ORDER BY platform, chat_id LIMIT $2 OFFSET $3`;
const SQL_COUNT_PORTALS = "SELECT count(*)::int AS n FROM portal";
const SQL_UNLINK_PORTAL = `WITH gone AS (DELETE FROM portal WHERE platform = $1 AND chat_id = $2)
  INSERT INTO unlinked_chat (platform, chat_id, room_id, unlinked_by) VALUES ($1, $2, $3, $4)
  ON CONFLICT (platform, chat_id) DO UPDATE SET room_id = excluded.room_id,
    unlinked_by = excluded.unlinked_by, unlinked_at = now()`;
const SQL_IS_UNLINKED = "SELECT 1 FROM unlinked_chat WHERE platform = $1 AND chat_id = $2";
const SQL_CLEAR_UNLINKED = "DELETE FROM unlinked_chat WHERE platform = $1 AND chat_id = ANY($2::text[])";

const GHOST_COLS = "mxid, platform, remote_id, display_name, avatar_key, avatar_mxc, registered";
const SQL_GET_GHOST = `SELECT ${GHOST_COLS} FROM ghost WHERE mxid = $1`;
const SQL_UPSERT_GHOST = `INSERT INTO ghost (${GHOST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (mxid) DO UPDATE SET platform = excluded.platform, remote_id = excluded.remote_id,
    display_name = excluded.display_name, avatar_key = excluded.avatar_key, avatar_mxc = excluded.avatar_mxc,
    registered = excluded.registered`;
const SQL_GHOST_IN_ROOM = "SELECT 1 FROM ghost_room WHERE mxid = $1 AND room_id = $2";
const SQL_GHOST_JOIN = `INSERT INTO ghost_room (mxid, room_id)
  SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`;
const SQL_GHOST_LEAVE = "DELETE FROM ghost_room WHERE mxid = $1 AND room_id = $2";

// No conflict target: a row clashing with either unique key is skipped.
const SQL_INSERT_MESSAGES = `INSERT INTO message (${MESSAGE_COLS})
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::timestamptz[], $11::text[])
  ON CONFLICT DO NOTHING`;
// The same, and the queue items whose delivery the rows record leave the queue in that write.
const SQL_INSERT_MESSAGES_COMPLETING = `WITH done AS (DELETE FROM delivery_queue WHERE id = ANY($12::bigint[]))
  ${SQL_INSERT_MESSAGES}`;
const SQL_MESSAGES_BY_EVENT = `SELECT ${MESSAGE_COLS} FROM message WHERE event_id = $1
  ORDER BY platform, chat_id, part`;
const SQL_DELETE_MESSAGES_BY_EVENT = `DELETE FROM message WHERE event_id = $1
  AND ($2::text IS NULL OR (platform = $2 AND chat_id = $3))`;
const SQL_LAST_MESSAGE = `SELECT ${MESSAGE_COLS} FROM message WHERE platform = $1 AND chat_id = $2
  ORDER BY order_key DESC NULLS LAST, "timestamp" DESC, part DESC LIMIT 1`;

const REACTION_COLS = "platform, chat_id, target_remote_id, sender, key, room_id, event_id, target_event_id";
const SQL_UPSERT_REACTION = `INSERT INTO reaction (${REACTION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (platform, chat_id, target_remote_id, sender, key) DO UPDATE SET room_id = excluded.room_id,
    event_id = excluded.event_id, target_event_id = excluded.target_event_id`;
const SQL_GET_REACTION = `SELECT ${REACTION_COLS} FROM reaction WHERE platform = $1 AND chat_id = $2
  AND target_remote_id = $3 AND sender = $4 AND key = $5`;
const SQL_REACTION_BY_EVENT = `SELECT ${REACTION_COLS} FROM reaction WHERE event_id = $1
  AND ($2::text IS NULL OR (platform = $2 AND chat_id = $3)) ORDER BY platform, chat_id LIMIT 1`;
const SQL_DELETE_REACTION_BY_EVENT = `DELETE FROM reaction WHERE event_id = $1
  AND ($2::text IS NULL OR (platform = $2 AND chat_id = $3))`;

const LOGIN_COLS = "id, platform, owner_mxid, remote_id, credentials, state";
const SQL_LIST_LOGINS = `SELECT ${LOGIN_COLS} FROM login WHERE ($1::text IS NULL OR platform = $1)
  ORDER BY platform, id`;
const SQL_GET_LOGIN = `SELECT ${LOGIN_COLS} FROM login WHERE id = $1`;
const SQL_UPSERT_LOGIN = `INSERT INTO login (${LOGIN_COLS}) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
  ON CONFLICT (id) DO UPDATE SET platform = excluded.platform, owner_mxid = excluded.owner_mxid,
    remote_id = excluded.remote_id, credentials = excluded.credentials, state = excluded.state,
    updated_at = now()`;
const SQL_DELETE_LOGIN = "DELETE FROM login WHERE id = $1";

const SQL_GET_USER = "SELECT mxid, management_room, refused_at FROM matrix_user WHERE mxid = $1";
const SQL_UPSERT_USER = `INSERT INTO matrix_user (mxid, management_room, refused_at) VALUES ($1, $2, $3)
  ON CONFLICT (mxid) DO UPDATE SET management_room = excluded.management_room, refused_at = excluded.refused_at`;
const SQL_USER_BY_MANAGEMENT_ROOM = `SELECT mxid, management_room, refused_at FROM matrix_user
  WHERE management_room = $1 ORDER BY mxid LIMIT 1`;

const SQL_KV_GET = "SELECT value FROM kv WHERE namespace = $1 AND key = $2";
const SQL_KV_DELETE = "DELETE FROM kv WHERE namespace = $1 AND key = $2";
const SQL_KV_SET = `INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3)
  ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()`;

// One statement, so one implicit transaction: the items are queued only if the id is new.
const SQL_RECORD_TXN = `WITH txn AS (
    INSERT INTO appservice_txn (txn_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1
  ), queued AS (
    INSERT INTO delivery_queue (queue_key, kind, payload)
    SELECT i.queue_key, i.kind, i.payload
    FROM unnest($2::text[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS i(queue_key, kind, payload, ord)
    WHERE EXISTS (SELECT 1 FROM txn)
    ORDER BY i.ord
    RETURNING id
  )
  SELECT EXISTS (SELECT 1 FROM txn) AS recorded,
    coalesce((SELECT array_agg(id::text ORDER BY id) FROM queued), '{}') AS ids`;
// Anchored to the newest recorded transaction, not the clock: after a long outage the ids the
// homeserver may still retry (the last ones before it) are kept until new traffic arrives.
const SQL_PRUNE_TXNS = `DELETE FROM appservice_txn
  WHERE received_at < (SELECT max(received_at) FROM appservice_txn) - $1::bigint * interval '1 millisecond'`;
const SQL_ENQUEUE = `INSERT INTO delivery_queue (queue_key, kind, payload)
  SELECT i.queue_key, i.kind, i.payload
  FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS i(queue_key, kind, payload, ord)
  ORDER BY i.ord
  RETURNING id`;
// The same with a key/value entry (a polling offset) in the one statement: both or neither.
const SQL_ENQUEUE_WITH_KV = `WITH kv_set AS (
    INSERT INTO kv (namespace, key, value) VALUES ($4, $5, $6)
    ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()
  )
  ${SQL_ENQUEUE}`;
const SQL_PENDING_QUEUE =
  "SELECT id, queue_key, kind, payload, attempts, created_at FROM delivery_queue ORDER BY id";
const SQL_COMPLETE_QUEUE_ITEMS = "DELETE FROM delivery_queue WHERE id = ANY($1::bigint[])";
const SQL_FAIL_QUEUE_ITEM =
  "UPDATE delivery_queue SET attempts = attempts + 1, last_error = $2 WHERE id = $1";
const SQL_QUEUE_DEPTH = "SELECT count(*)::int AS n FROM delivery_queue";

/** A bigserial id as text: what the quarantine and queue ids are. */
function isRowId(id: string): boolean {
  return /^[1-9][0-9]{0,17}$/.test(id);
}

function messageColumns(rows: MessageRow[]): unknown[] {
  return [
    rows.map((r) => r.platform),
    rows.map((r) => r.chatId),
    rows.map((r) => r.remoteId),
    rows.map((r) => r.part),
    rows.map((r) => r.roomId),
    rows.map((r) => r.eventId),
    rows.map((r) => r.senderMxid),
    rows.map((r) => r.remoteSender ?? null),
    rows.map((r) => r.threadRoot ?? null),
    rows.map((r) => r.timestamp),
    rows.map((r) => r.orderKey ?? null),
  ];
}

export interface PgStoreOptions {
  /** Called by close() instead of ending the pool, e.g. to stop the embedded server too. */
  onClose?: () => Promise<void>;
}

/**
 * {@link Store} on PostgreSQL: one pool, SQL above, no ORM. The schema must already be migrated
 * (see {@link Migrator} or {@link PgStore.open}).
 */
export class PgStore implements Store {
  private readonly migrator: Migrator;
  /** Delivered queue items waiting for the delete under way to finish (see completeQueueItem). */
  private nextDelete?: { ids: string[]; done: Promise<void>; settle(err?: unknown): void };
  private deleting = false;
  /** Message map rows and ghost joins from concurrent deliveries share one statement each. */
  private readonly messageWrites = new GroupWrite<MessageRow | { done: string }>((entries) => {
    const rows = entries.filter((e): e is MessageRow => !("done" in e));
    const done = entries.flatMap((e) => ("done" in e ? [e.done] : []));
    return done.length
      ? this.pool.query(
          named("insert_messages_completing", SQL_INSERT_MESSAGES_COMPLETING, [
            ...messageColumns(rows),
            done,
          ]),
        )
      : this.pool.query(named("insert_messages", SQL_INSERT_MESSAGES, messageColumns(rows)));
  });
  /** Reads of concurrent inbound deliveries share one statement (see MessageLookup). */
  private readonly messageLookup: MessageLookup;
  /** Message-map writes under way: reads of the map wait for them. */
  private readonly pendingMessageWrites = new Set<Promise<unknown>>();
  /** Fan-outs of concurrent deliveries share one statement (see QueueReplace). */
  private readonly replaceWrites: QueueReplace;
  private readonly joinWrites = new GroupWrite<[string, string]>((pairs) =>
    this.pool.query(named("ghost_join", SQL_GHOST_JOIN, [pairs.map((p) => p[0]), pairs.map((p) => p[1])])),
  );

  /** `migrator` answers migrationStatus(); by default one on the same pool and the bundled files. */
  constructor(
    private readonly pool: pg.Pool,
    migrator?: Migrator,
    private readonly opts: PgStoreOptions = {},
  ) {
    this.migrator = migrator ?? new Migrator({ pool });
    this.replaceWrites = new QueueReplace(pool);
    this.messageLookup = new MessageLookup(pool, () => this.messageWritesSettled());
  }

  /** Migrates `db` and returns a store whose close() closes the database (and embedded server). */
  static async open(db: Database, opts: { log?: Logger; migrationsDir?: string } = {}): Promise<PgStore> {
    const migrator = new Migrator({ pool: db.pool, dir: opts.migrationsDir, log: opts.log });
    await migrator.migrate();
    return new PgStore(db.pool, migrator, { onClose: () => db.close() });
  }

  private async rows<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query(sql, params)).rows as R[];
  }

  private async first<R extends object>(sql: string, params: unknown[]): Promise<R | undefined> {
    return (await this.rows<R>(sql, params))[0];
  }

  // ---- portals ----

  async getPortal(platform: string, chatId: string): Promise<Portal | undefined> {
    const r = await this.first<PortalDb>(SQL_GET_PORTAL, [platform, chatId]);
    return r && toPortal(r);
  }

  async getPortalsByRoom(roomId: string): Promise<Portal[]> {
    return (await this.rows<PortalDb>(SQL_PORTALS_BY_ROOM, [roomId])).map(toPortal);
  }

  async upsertPortal(p: Portal): Promise<void> {
    await this.pool.query(SQL_UPSERT_PORTAL, [
      p.platform,
      p.chatId,
      p.roomId,
      p.loginId,
      p.kind,
      p.name ?? null,
      p.topic ?? null,
      p.avatarKey ?? null,
      p.linked,
      p.createdAt ?? null,
    ]);
  }

  async deletePortal(platform: string, chatId: string): Promise<boolean> {
    return ((await this.pool.query(SQL_DELETE_PORTAL, [platform, chatId])).rowCount ?? 0) > 0;
  }

  async listPortals(
    opts: { platform?: string; limit?: number; offset?: number; loginIds?: string[] } = {},
  ): Promise<Portal[]> {
    const params = [opts.platform ?? null, opts.limit ?? null, opts.offset ?? 0, opts.loginIds ?? null];
    return (await this.rows<PortalDb>(SQL_LIST_PORTALS, params)).map(toPortal);
  }

  async countPortals(): Promise<number> {
    return (await this.first<{ n: number }>(SQL_COUNT_PORTALS, []))!.n;
  }

  async unlinkPortal(p: Portal, by: string): Promise<void> {
    await this.pool.query(SQL_UNLINK_PORTAL, [p.platform, p.chatId, p.roomId, by]);
  }

  async isChatUnlinked(platform: string, chatId: string): Promise<boolean> {
    return (await this.first(SQL_IS_UNLINKED, [platform, chatId])) !== undefined;
  }

  async clearUnlinked(platform: string, chatIds: string[]): Promise<void> {
    await this.pool.query(SQL_CLEAR_UNLINKED, [platform, chatIds]);
  }

  // ---- ghosts ----

  async getGhost(mxid: string): Promise<Ghost | undefined> {
    const r = await this.first<GhostDb>(SQL_GET_GHOST, [mxid]);
    return r && toGhost(r);
  }

  async upsertGhost(g: Ghost): Promise<void> {
    await this.pool.query(SQL_UPSERT_GHOST, [
      g.mxid,
      g.platform,
      g.remoteId,
      g.displayName ?? null,
      g.avatarKey ?? null,
      g.avatarMxc ?? null,
      g.registered,
    ]);
  }

  async isGhostInRoom(mxid: string, roomId: string): Promise<boolean> {
    return ((await this.pool.query(SQL_GHOST_IN_ROOM, [mxid, roomId])).rowCount ?? 0) > 0;
  }

  async setGhostInRoom(mxid: string, roomId: string, joined: boolean): Promise<void> {
    if (joined) await this.joinWrites.add([mxid, roomId]);
    else await this.pool.query(SQL_GHOST_LEAVE, [mxid, roomId]);
  }

  // ---- message map ----

  async insertMessages(rows: MessageRow[], done?: QueueItem): Promise<void> {
    if (rows.length === 0) return;
    this.messageLookup.raise(rows);
    const completing = done !== undefined && isRowId(done.id);
    const write = completing
      ? this.messageWrites.add(...rows, { done: done.id })
      : this.messageWrites.add(...rows);
    this.pendingMessageWrites.add(write);
    void write.then(
      () => this.pendingMessageWrites.delete(write),
      () => this.pendingMessageWrites.delete(write),
    );
    await write;
    if (completing) done.completed = true;
  }

  /** Until the message-map writes under way are done (a delivery's may be: QueueItem.finishing). */
  private async messageWritesSettled(): Promise<void> {
    if (this.pendingMessageWrites.size) await Promise.allSettled([...this.pendingMessageWrites]);
  }

  async getMessageByRemote(
    platform: string,
    chatId: string,
    remoteId: string,
    orderKey?: string,
  ): Promise<MessageRow[]> {
    return this.messageLookup.byRemote(platform, chatId, remoteId, orderKey);
  }

  async getMessagesByEvent(eventId: string): Promise<MessageRow[]> {
    await this.messageWritesSettled();
    return (await this.rows<MessageDb>(SQL_MESSAGES_BY_EVENT, [eventId])).map(toMessage);
  }

  async deleteMessagesByEvent(eventId: string, chat?: ChatOf): Promise<void> {
    await this.messageWritesSettled();
    await this.pool.query(SQL_DELETE_MESSAGES_BY_EVENT, [
      eventId,
      chat?.platform ?? null,
      chat?.chatId ?? null,
    ]);
  }

  async lastMessage(platform: string, chatId: string): Promise<MessageRow | undefined> {
    await this.messageWritesSettled();
    const r = await this.first<MessageDb>(SQL_LAST_MESSAGE, [platform, chatId]);
    return r && toMessage(r);
  }

  // ---- reactions ----

  /** Inserts, or re-points an existing (chat, target, sender, key) reaction at the new event. */
  async insertReaction(r: ReactionRow): Promise<void> {
    await this.pool.query(SQL_UPSERT_REACTION, [
      r.platform,
      r.chatId,
      r.targetRemoteId,
      r.sender,
      r.key,
      r.roomId,
      r.eventId,
      r.targetEventId,
    ]);
  }

  async getReaction(
    platform: string,
    chatId: string,
    targetRemoteId: string,
    sender: string,
    key: string,
  ): Promise<ReactionRow | undefined> {
    const r = await this.first<ReactionDb>(SQL_GET_REACTION, [platform, chatId, targetRemoteId, sender, key]);
    return r && toReaction(r);
  }

  async getReactionByEvent(eventId: string, chat?: ChatOf): Promise<ReactionRow | undefined> {
    const r = await this.first<ReactionDb>(SQL_REACTION_BY_EVENT, [
      eventId,
      chat?.platform ?? null,
      chat?.chatId ?? null,
    ]);
    return r && toReaction(r);
  }

  async deleteReactionByEvent(eventId: string, chat?: ChatOf): Promise<void> {
    await this.pool.query(SQL_DELETE_REACTION_BY_EVENT, [
      eventId,
      chat?.platform ?? null,
      chat?.chatId ?? null,
    ]);
  }

  // ---- logins ----

  async listLogins(platform?: string): Promise<LoginRow[]> {
    return (await this.rows<LoginDb>(SQL_LIST_LOGINS, [platform ?? null])).map(toLogin);
  }

  async getLogin(id: string): Promise<LoginRow | undefined> {
    const r = await this.first<LoginDb>(SQL_GET_LOGIN, [id]);
    return r && toLogin(r);
  }

  async upsertLogin(l: LoginRow): Promise<void> {
    await this.pool.query(SQL_UPSERT_LOGIN, [
      l.id,
      l.platform,
      l.ownerMxid,
      l.remoteId ?? null,
      toJson(l.credentials),
      l.state ?? null,
    ]);
  }

  async deleteLogin(id: string): Promise<void> {
    await this.pool.query(SQL_DELETE_LOGIN, [id]);
  }

  // ---- Matrix users ----

  async getUser(mxid: string): Promise<UserRow | undefined> {
    const r = await this.first<UserDb>(SQL_GET_USER, [mxid]);
    return r && toUser(r);
  }

  async upsertUser(u: UserRow): Promise<void> {
    await this.pool.query(SQL_UPSERT_USER, [u.mxid, u.managementRoom ?? null, u.refusedAt ?? null]);
  }

  async getUserByManagementRoom(roomId: string): Promise<UserRow | undefined> {
    const r = await this.first<UserDb>(SQL_USER_BY_MANAGEMENT_ROOM, [roomId]);
    return r && toUser(r);
  }

  // ---- key/value ----

  async kvGet(namespace: string, key: string): Promise<string | undefined> {
    return (await this.first<{ value: string }>(SQL_KV_GET, [namespace, key]))?.value;
  }

  async kvSet(namespace: string, key: string, value: string): Promise<void> {
    await this.pool.query(SQL_KV_SET, [namespace, key, value]);
  }

  async kvDelete(namespace: string, key: string): Promise<void> {
    await this.pool.query(SQL_KV_DELETE, [namespace, key]);
  }

  // ---- appservice transactions + durable queue ----

  async recordTransaction(
    txnKey: string,
    items: NewQueueItem[],
  ): Promise<Array<string | undefined> | undefined> {
    const prepared = prepareItems(items);
    if (prepared.every((p) => p.error === undefined)) {
      try {
        const r = (
          await this.pool.query<{ recorded: boolean; ids: string[] }>(
            named("record_txn", SQL_RECORD_TXN, [txnKey, ...queueColumns(prepared)]),
          )
        ).rows[0];
        if (!r!.recorded) return undefined;
        this.adoptPayloads(items, prepared);
        return r!.ids;
      } catch (err) {
        if (!quarantine.isDataError(err)) throw err;
      }
    }
    const ids = await quarantine.enqueueEachApart(this.pool, prepared, txnKey);
    if (ids) this.adoptPayloads(items, prepared);
    return ids;
  }

  async pruneTransactions(retentionMs: number): Promise<number> {
    const res = await this.pool.query(SQL_PRUNE_TXNS, [Math.max(0, Math.floor(retentionMs))]);
    return res.rowCount ?? 0;
  }

  async enqueue(items: NewQueueItem[], kv?: KvWrite): Promise<Array<string | undefined>> {
    if (items.length === 0) {
      if (kv) await this.kvSet(kv.namespace, kv.key, kv.value);
      return [];
    }
    const prepared = prepareItems(items);
    if (prepared.every((p) => p.error === undefined)) {
      try {
        const rows = kv
          ? (
              await this.pool.query<{ id: string }>(
                named("enqueue_kv", SQL_ENQUEUE_WITH_KV, [
                  ...queueColumns(prepared),
                  kv.namespace,
                  kv.key,
                  kv.value,
                ]),
              )
            ).rows
          : (await this.pool.query<{ id: string }>(named("enqueue", SQL_ENQUEUE, queueColumns(prepared))))
              .rows;
        this.adoptPayloads(items, prepared);
        // ids follow insertion order; sorting guards against RETURNING listing them otherwise.
        return rows
          .map((r) => BigInt(r.id))
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .map(String);
      } catch (err) {
        if (!quarantine.isDataError(err)) throw err;
      }
    }
    const ids = (await quarantine.enqueueEachApart(
      this.pool,
      prepared,
      undefined,
      kv && { sql: SQL_KV_SET, params: [kv.namespace, kv.key, kv.value] },
    ))!;
    this.adoptPayloads(items, prepared);
    return ids;
  }

  async replaceQueueItem(id: string, items: NewQueueItem[]): Promise<string[]> {
    const prepared = prepareItems(items);
    const bad = prepared.find((p) => p.error !== undefined);
    if (bad) throw new Error(`a queue item ${bad.error}`);
    const ids = await this.replaceWrites.replace(id, prepared);
    this.adoptPayloads(items, prepared);
    return ids;
  }

  /** The caller delivers what was stored: payloads with characters jsonb refused replaced. */
  private adoptPayloads(items: NewQueueItem[], prepared: ReturnType<typeof prepareItems>): void {
    for (let i = 0; i < items.length; i++) items[i].payload = prepared[i].item.payload;
  }

  // ---- quarantine ----

  async quarantineQueueItem(item: QueueItem, reason: string): Promise<void> {
    await quarantine.quarantineQueued(this.pool, item, reason);
  }

  listQuarantine(opts: { limit?: number; offset?: number } = {}): Promise<QuarantineRow[]> {
    return quarantine.listQuarantine(this.pool, opts);
  }

  countQuarantine(): Promise<number> {
    return quarantine.countQuarantine(this.pool);
  }

  async requeueQuarantined(id: string): Promise<QueueItem | "not-retryable" | undefined> {
    return isRowId(id) ? quarantine.requeueQuarantined(this.pool, id) : undefined;
  }

  async dropQuarantined(id: string): Promise<boolean> {
    return isRowId(id) && quarantine.dropQuarantined(this.pool, id);
  }

  async pendingQueue(): Promise<QueueItem[]> {
    return (await this.rows<QueueDb>(SQL_PENDING_QUEUE)).map(toQueueItem);
  }

  /**
   * Deletes run one at a time: items finished while a delete is under way go together in the
   * next one, so under load many deliveries share one statement (and one commit) instead of
   * each paying its own; alone, an item is deleted at once. Resolves once its own batch is done.
   */
  completeQueueItem(id: string): Promise<void> {
    if (!this.nextDelete) {
      let settle!: (err?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err === undefined ? resolve() : reject(err));
      });
      this.nextDelete = { ids: [], done, settle };
    }
    this.nextDelete.ids.push(id);
    const { done } = this.nextDelete;
    if (!this.deleting) this.deleteNext();
    return done;
  }

  private deleteNext(): void {
    const batch = this.nextDelete;
    if (!batch) return;
    this.nextDelete = undefined;
    this.deleting = true;
    this.pool
      .query(named("complete_queue_items", SQL_COMPLETE_QUEUE_ITEMS, [batch.ids]))
      .then(
        () => batch.settle(),
        (err: unknown) => batch.settle(err ?? new Error("delete failed")),
      )
      .finally(() => {
        this.deleting = false;
        this.deleteNext();
      });
  }

  async failQueueItem(id: string, error: string): Promise<void> {
    await this.pool.query(SQL_FAIL_QUEUE_ITEM, [id, error]);
  }

  async queueDepth(): Promise<number> {
    return (await this.first<{ n: number }>(SQL_QUEUE_DEPTH, []))!.n;
  }

  // ---- migrations, raw access ----

  migrationStatus(): Promise<{ applied: number; latest: number }> {
    return this.migrator.status();
  }

  async query<R extends object = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.rows<R>(sql, params);
  }

  async close(): Promise<void> {
    if (this.opts.onClose) await this.opts.onClose();
    else if (!this.pool.ended) await this.pool.end();
  }
}
