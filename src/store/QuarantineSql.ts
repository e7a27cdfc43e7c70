/**
 * The per-item write path of the durable queue and the quarantine table, used by PgStore.
 * The fast path queues a whole batch in one statement; when PostgreSQL refuses the batch for
 * its data (one payload it cannot take), each item is written on its own under a savepoint
 * and the ones refused go to the quarantine with the reason, so one event never costs the
 * others (nor the homeserver transaction that carried them).
 */
import type pg from "pg";
import { type PreparedItem, type QueueDb, toQueueItem } from "./pgRows";
import type { NewQueueItem, QuarantineRow, QueueItem, QueueKind } from "./types";

/** Longest payload kept in the quarantine: a larger one is cut (and cannot be retried). */
const MAX_QUARANTINE_PAYLOAD = 1024 * 1024;
/** Longest reason kept. */
const MAX_REASON = 2000;

const SQL_INSERT_TXN = "INSERT INTO appservice_txn (txn_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1";
const SQL_INSERT_ITEM =
  "INSERT INTO delivery_queue (queue_key, kind, payload) VALUES ($1, $2, $3::jsonb) RETURNING id";
const SQL_QUARANTINE = `INSERT INTO quarantine (kind, queue_key, event_id, room_id, payload, reason, attempts)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`;
// One statement, so the item is either still queued or quarantined, never both nor neither.
const SQL_QUARANTINE_QUEUED = `WITH moved AS (DELETE FROM delivery_queue WHERE id = $1
    RETURNING queue_key, kind, payload, attempts)
  INSERT INTO quarantine (kind, queue_key, event_id, room_id, payload, reason, attempts)
  SELECT kind, queue_key, $2, $3, payload::text, $4, greatest(attempts, $5) FROM moved`;
const QUARANTINE_COLS = "id, kind, queue_key, event_id, room_id, reason, attempts, created_at";
const SQL_LIST_QUARANTINE = `SELECT ${QUARANTINE_COLS}, coalesce(length(payload), 0) AS payload_size
  FROM quarantine ORDER BY id LIMIT $1 OFFSET $2`;
const SQL_QUARANTINED_EXISTS = "SELECT 1 FROM quarantine WHERE id = $1";
const SQL_COUNT_QUARANTINE = "SELECT count(*)::int AS n FROM quarantine";
const SQL_DROP_QUARANTINED = "DELETE FROM quarantine WHERE id = $1";
// Back to the end of its lane, in one statement; a payload that jsonb refuses stays quarantined.
const SQL_REQUEUE_QUARANTINED = `WITH taken AS (DELETE FROM quarantine WHERE id = $1 AND payload IS NOT NULL
    RETURNING queue_key, kind, payload)
  INSERT INTO delivery_queue (queue_key, kind, payload) SELECT queue_key, kind, payload::jsonb FROM taken
  RETURNING id, queue_key, kind, payload, attempts, created_at`;

interface QuarantineDb {
  id: string;
  kind: QueueKind;
  queue_key: string;
  event_id: string | null;
  room_id: string | null;
  reason: string;
  attempts: number;
  created_at: Date;
  payload_size: number;
}

/**
 * PostgreSQL refused the value, not the request: a data exception (class 22: bad encoding,
 * invalid JSON) or a program limit (class 54: nesting too deep for its parser).
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^(22|54)/.test(code);
}

/** The ids that say which event an item was: Matrix event and room, or the remote message. */
export function describeItem(item: NewQueueItem): { eventId?: string; roomId?: string } {
  const p = item.payload as Record<string, unknown> | null;
  if (typeof p !== "object" || p === null) return {};
  if (item.kind === "matrix") {
    return {
      eventId: typeof p.event_id === "string" ? clean(p.event_id, 255) : undefined,
      roomId: typeof p.room_id === "string" ? clean(p.room_id, 255) : undefined,
    };
  }
  const ev = p.event as { id?: unknown; chat?: { id?: unknown } } | undefined;
  const parts = [p.platform, ev?.chat?.id, ev?.id];
  return parts.every((x) => typeof x === "string") ? { eventId: clean(parts.join(":"), 255) } : {};
}

/** Text PostgreSQL takes: no NUL, no lone surrogate, at most `max` characters. */
function clean(text: string, max: number): string {
  return text.slice(0, max).replaceAll("\u0000", "\uFFFD").toWellFormed();
}

function quarantineParams(p: PreparedItem, reason: string, attempts = 0): unknown[] {
  const { eventId, roomId } = describeItem(p.item);
  const payload = p.json && p.json.length <= MAX_QUARANTINE_PAYLOAD ? p.json : null;
  const why = payload === null && p.json ? `${reason}; payload too large to keep` : reason;
  return [
    p.item.kind,
    clean(p.item.queueKey, 1000),
    eventId ?? null,
    roomId ?? null,
    payload,
    clean(why, MAX_REASON),
    attempts,
  ];
}

/**
 * Queues items one by one in a single database transaction (recording `txnKey` first, when
 * given), quarantining each item PostgreSQL refuses. Resolves with each item's queue id, or
 * undefined for a quarantined one; undefined as a whole when `txnKey` was already recorded.
 * `also`, when given, is one more statement of the same transaction (a polling offset).
 */
export async function enqueueEachApart(
  pool: pg.Pool,
  prepared: PreparedItem[],
  txnKey?: string,
  also?: { sql: string; params: unknown[] },
): Promise<Array<string | undefined> | undefined> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (txnKey !== undefined && !(await client.query(SQL_INSERT_TXN, [txnKey])).rowCount) {
      await client.query("ROLLBACK");
      return undefined;
    }
    const ids: Array<string | undefined> = [];
    for (const p of prepared) {
      if (p.error !== undefined) {
        await client.query(SQL_QUARANTINE, quarantineParams(p, p.error));
        ids.push(undefined);
        continue;
      }
      await client.query("SAVEPOINT item");
      try {
        const r = await client.query<{ id: string }>(SQL_INSERT_ITEM, [p.item.queueKey, p.item.kind, p.json]);
        await client.query("RELEASE SAVEPOINT item");
        ids.push(r.rows[0].id);
      } catch (err) {
        if (!isDataError(err)) throw err;
        await client.query("ROLLBACK TO SAVEPOINT item");
        await client.query(
          SQL_QUARANTINE,
          quarantineParams(p, `the database refused it: ${(err as Error).message}`),
        );
        ids.push(undefined);
      }
    }
    if (also) await client.query(also.sql, also.params);
    await client.query("COMMIT");
    return ids;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function quarantineQueued(pool: pg.Pool, item: QueueItem, reason: string): Promise<void> {
  const { eventId, roomId } = describeItem(item);
  await pool.query(SQL_QUARANTINE_QUEUED, [
    item.id,
    eventId ?? null,
    roomId ?? null,
    clean(reason, MAX_REASON),
    item.attempts,
  ]);
}

export async function listQuarantine(
  pool: pg.Pool,
  opts: { limit?: number; offset?: number },
): Promise<QuarantineRow[]> {
  const res = await pool.query<QuarantineDb>(SQL_LIST_QUARANTINE, [opts.limit ?? 100, opts.offset ?? 0]);
  return res.rows.map((r) => {
    const row: QuarantineRow = {
      id: r.id,
      kind: r.kind,
      queueKey: r.queue_key,
      reason: r.reason,
      attempts: r.attempts,
      createdAt: r.created_at,
      payloadSize: r.payload_size,
    };
    if (r.event_id !== null) row.eventId = r.event_id;
    if (r.room_id !== null) row.roomId = r.room_id;
    return row;
  });
}

export async function countQuarantine(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ n: number }>(SQL_COUNT_QUARANTINE)).rows[0].n;
}

export async function dropQuarantined(pool: pg.Pool, id: string): Promise<boolean> {
  return ((await pool.query(SQL_DROP_QUARANTINED, [id])).rowCount ?? 0) > 0;
}

/**
 * Moves a quarantined item back into the queue; "not-retryable" when it was never stored whole
 * (or jsonb still refuses it), undefined when there is no such item.
 */
export async function requeueQuarantined(
  pool: pg.Pool,
  id: string,
): Promise<QueueItem | "not-retryable" | undefined> {
  let res: pg.QueryResult<QueueDb>;
  try {
    res = await pool.query(SQL_REQUEUE_QUARANTINED, [id]);
  } catch (err) {
    if (isDataError(err)) return "not-retryable"; // jsonb still refuses it: it stays quarantined
    throw err;
  }
  const r = res.rows[0];
  if (!r) return (await pool.query(SQL_QUARANTINED_EXISTS, [id])).rowCount ? "not-retryable" : undefined;
  return toQueueItem(r);
}
