import type { RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";

/** A trigger accepted for an answer and not answered yet (migration 007-ai-pending.sql). */
export interface PendingTrigger {
  event: RoomEvent;
  asReply: boolean;
  /** The answer's first message, when one was sent before the bridge stopped. */
  firstEventId?: string;
  /** Generations started so far. */
  attempts: number;
  createdAt: Date;
}

const SQL_ADD = `INSERT INTO ai_pending (trigger_event_id, room_id, event, as_reply)
  VALUES ($1, $2, $3, $4) ON CONFLICT (trigger_event_id) DO NOTHING`;
const SQL_ALL = `SELECT event, as_reply, first_event_id, attempts, created_at FROM ai_pending
  ORDER BY created_at, trigger_event_id`;
const SQL_START = `UPDATE ai_pending SET attempts = attempts + 1 WHERE trigger_event_id = $1
  RETURNING first_event_id, attempts`;
const SQL_FIRST = "UPDATE ai_pending SET first_event_id = $2 WHERE trigger_event_id = $1";
const SQL_DROP = "DELETE FROM ai_pending WHERE trigger_event_id = $1";
const SQL_DROP_ROOM = "DELETE FROM ai_pending WHERE room_id = $1";

interface PendingDb {
  event: RoomEvent;
  as_reply: boolean;
  first_event_id: string | null;
  attempts: number;
  created_at: Date;
}

/**
 * Durable triggers: what the AI accepted to answer survives a crash. The row goes with the
 * answer's usage row ({@link AiStore.logUsage} with `settle`) in one statement, so a trigger is
 * either pending or answered, never both and never neither.
 */
export class PendingStore {
  constructor(private readonly store: Store) {}

  async add(event: RoomEvent, asReply: boolean): Promise<void> {
    await this.store.query(SQL_ADD, [event.event_id, event.room_id, JSON.stringify(event), asReply]);
  }

  async all(): Promise<PendingTrigger[]> {
    return (await this.store.query<PendingDb>(SQL_ALL)).map((r) => ({
      event: r.event,
      asReply: r.as_reply,
      firstEventId: r.first_event_id ?? undefined,
      attempts: r.attempts,
      createdAt: new Date(r.created_at),
    }));
  }

  /** Counts a generation that starts now; undefined when the trigger is no longer pending. */
  async startAttempt(
    triggerEventId: string,
  ): Promise<{ attempt: number; firstEventId?: string } | undefined> {
    const [r] = await this.store.query<{ first_event_id: string | null; attempts: number }>(SQL_START, [
      triggerEventId,
    ]);
    if (!r) return undefined;
    return { attempt: r.attempts - 1, firstEventId: r.first_event_id ?? undefined };
  }

  async setFirstEvent(triggerEventId: string, eventId: string): Promise<void> {
    await this.store.query(SQL_FIRST, [triggerEventId, eventId]);
  }

  async drop(triggerEventId: string): Promise<void> {
    await this.store.query(SQL_DROP, [triggerEventId]);
  }

  async dropRoom(roomId: string): Promise<void> {
    await this.store.query(SQL_DROP_ROOM, [roomId]);
  }
}
