/**
 * The tables of disappearing messages (migration 017), used by src/core/Disappearing.ts: each
 * remote chat's timer, and the Matrix events to redact when their messages expire.
 */
import type pg from "pg";

const SQL_GET_TIMER = "SELECT seconds FROM disappearing_chat WHERE platform = $1 AND chat_id = $2";
const SQL_SET_TIMER = `INSERT INTO disappearing_chat (platform, chat_id, seconds) VALUES ($1, $2, $3)
  ON CONFLICT (platform, chat_id) DO UPDATE SET seconds = excluded.seconds, updated_at = now()`;
const SQL_CLEAR_TIMER = "DELETE FROM disappearing_chat WHERE platform = $1 AND chat_id = $2";
// An event tracked twice (a retried delivery) keeps its first expiry.
const SQL_TRACK = `INSERT INTO disappearing_event
    (event_id, room_id, platform, chat_id, redact_as, expires_at, due_at)
  VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING`;
const SQL_DUE = `SELECT event_id, room_id, platform, chat_id, redact_as, expires_at, attempts
  FROM disappearing_event WHERE due_at <= now() ORDER BY due_at LIMIT $1`;
const SQL_NEXT_DUE = "SELECT min(due_at) AS due FROM disappearing_event";
const SQL_DONE = "DELETE FROM disappearing_event WHERE event_id = $1";
const SQL_LATER = `UPDATE disappearing_event SET attempts = attempts + 1,
  due_at = now() + make_interval(secs => $2::double precision / 1000) WHERE event_id = $1`;

/** A Matrix event waiting for its message to expire. */
export interface ExpiringEvent {
  eventId: string;
  roomId: string;
  platform: string;
  chatId: string;
  /** The ghost that sent it (redacts it); undefined: the bridge bot redacts. */
  redactAs?: string;
  expiresAt: Date;
  /** Redactions tried and failed so far. */
  attempts: number;
}

interface Row {
  event_id: string;
  room_id: string;
  platform: string;
  chat_id: string;
  redact_as: string | null;
  expires_at: Date;
  attempts: number;
}

export class DisappearingSql {
  constructor(private readonly pool: pg.Pool) {}

  /** The chat's timer in seconds; 0 when off. */
  async timer(platform: string, chatId: string): Promise<number> {
    const res = await this.pool.query<{ seconds: number }>(SQL_GET_TIMER, [platform, chatId]);
    return res.rows[0]?.seconds ?? 0;
  }

  /** Sets the chat's timer (0: off). */
  async setTimer(platform: string, chatId: string, seconds: number): Promise<void> {
    if (seconds > 0) await this.pool.query(SQL_SET_TIMER, [platform, chatId, seconds]);
    else await this.pool.query(SQL_CLEAR_TIMER, [platform, chatId]);
  }

  async track(e: Omit<ExpiringEvent, "attempts">): Promise<void> {
    await this.pool.query(SQL_TRACK, [
      e.eventId,
      e.roomId,
      e.platform,
      e.chatId,
      e.redactAs ?? null,
      e.expiresAt,
    ]);
  }

  /** Events due now, earliest first, at most `limit`. */
  async due(limit: number): Promise<ExpiringEvent[]> {
    const res = await this.pool.query<Row>(SQL_DUE, [limit]);
    return res.rows.map((r) => ({
      eventId: r.event_id,
      roomId: r.room_id,
      platform: r.platform,
      chatId: r.chat_id,
      redactAs: r.redact_as ?? undefined,
      expiresAt: r.expires_at,
      attempts: r.attempts,
    }));
  }

  /** When the next event is due; undefined when none waits. */
  async nextDue(): Promise<Date | undefined> {
    const res = await this.pool.query<{ due: Date | null }>(SQL_NEXT_DUE);
    return res.rows[0]?.due ?? undefined;
  }

  /** The event was redacted (or given up): forgotten. */
  async done(eventId: string): Promise<void> {
    await this.pool.query(SQL_DONE, [eventId]);
  }

  /** The redaction failed for a passing reason: tried again after `delayMs`. */
  async later(eventId: string, delayMs: number): Promise<void> {
    await this.pool.query(SQL_LATER, [eventId, delayMs]);
  }
}
