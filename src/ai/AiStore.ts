import type { AiMode } from "../config/types";
import type { Store } from "../store/Store";
import { PendingStore } from "./PendingStore";

/** Per-room AI settings; undefined fields fall back to the config. */
export interface AiRoom {
  roomId: string;
  joined: boolean;
  mode?: AiMode;
  provider?: string;
  model?: string;
  systemPrompt?: string;
  forgetEventId?: string;
  forgetTs?: number;
  /** Post transcripts of voice messages as replies (`!ai transcribe on`). */
  transcribe?: boolean;
}

/** One answer (or failed attempt) in the usage log. */
export interface AiUsageRow {
  roomId: string;
  userId: string;
  triggerEventId: string;
  provider?: string;
  model?: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  ok: boolean;
  error?: string;
}

const ROOM_COLS =
  "room_id, joined, mode, provider, model, system_prompt, forget_event_id, forget_ts, transcribe";
const SQL_GET_ROOM = `SELECT ${ROOM_COLS} FROM ai_room WHERE room_id = $1`;
const SQL_JOINED_ROOMS = "SELECT room_id FROM ai_room WHERE joined";
const SQL_UPSERT_ROOM = `INSERT INTO ai_room (${ROOM_COLS}, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
  ON CONFLICT (room_id) DO UPDATE SET joined = $2, mode = $3, provider = $4, model = $5,
    system_prompt = $6, forget_event_id = $7, forget_ts = $8, transcribe = $9, updated_at = now()`;
const SQL_INSERT_USAGE = `INSERT INTO ai_usage (room_id, user_id, trigger_event_id, provider, model,
  prompt_tokens, completion_tokens, latency_ms, ok, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
/** The usage row and the end of the pending trigger (migration 007) in one statement. */
const SQL_INSERT_USAGE_SETTLED = `WITH settled AS (DELETE FROM ai_pending WHERE trigger_event_id = $3)
  ${SQL_INSERT_USAGE}`;
const SQL_ANSWERED = "SELECT 1 FROM ai_usage WHERE trigger_event_id = $1 AND ok LIMIT 1";
const SQL_TOKENS_SINCE = (col: "room_id" | "user_id") =>
  `SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint AS tokens, count(*) FILTER (WHERE ok)::bigint AS answers
   FROM ai_usage WHERE ${col} = $1 AND created_at >= $2`;
const SQL_ROOM_TOKENS_SINCE = SQL_TOKENS_SINCE("room_id");
const SQL_USER_TOKENS_SINCE = SQL_TOKENS_SINCE("user_id");

interface RoomDb {
  room_id: string;
  joined: boolean;
  mode: AiMode | null;
  provider: string | null;
  model: string | null;
  system_prompt: string | null;
  forget_event_id: string | null;
  forget_ts: string | null;
  transcribe: boolean;
}

/** Tokens (answers and failed attempts) and answers (completed ones) counted in the usage log. */
export interface UsageTotal {
  tokens: number;
  answers: number;
}

/** The AI's tables (migration 002-ai.sql; pending triggers are PendingStore's), through the core store's raw query access. */
export class AiStore {
  /** Triggers accepted and not answered yet. */
  readonly pending: PendingStore;

  constructor(private readonly store: Store) {
    this.pending = new PendingStore(store);
  }

  async getRoom(roomId: string): Promise<AiRoom> {
    const [r] = await this.store.query<RoomDb>(SQL_GET_ROOM, [roomId]);
    if (!r) return { roomId, joined: false };
    return {
      roomId,
      joined: r.joined,
      mode: r.mode ?? undefined,
      provider: r.provider ?? undefined,
      model: r.model ?? undefined,
      systemPrompt: r.system_prompt ?? undefined,
      forgetEventId: r.forget_event_id ?? undefined,
      forgetTs: r.forget_ts === null ? undefined : Number(r.forget_ts),
      transcribe: r.transcribe || undefined,
    };
  }

  async saveRoom(r: AiRoom): Promise<void> {
    await this.store.query(SQL_UPSERT_ROOM, [
      r.roomId,
      r.joined,
      r.mode ?? null,
      r.provider ?? null,
      r.model ?? null,
      r.systemPrompt ?? null,
      r.forgetEventId ?? null,
      r.forgetTs ?? null,
      r.transcribe === true,
    ]);
  }

  async joinedRooms(): Promise<string[]> {
    return (await this.store.query<{ room_id: string }>(SQL_JOINED_ROOMS)).map((r) => r.room_id);
  }

  /**
   * Logs an answer or failed attempt. `settle`: the trigger is done with (answered, or given up
   * with a notice) and leaves the pending triggers in the same statement.
   */
  async logUsage(u: AiUsageRow, opts: { settle?: boolean } = {}): Promise<void> {
    await this.store.query(opts.settle ? SQL_INSERT_USAGE_SETTLED : SQL_INSERT_USAGE, [
      u.roomId,
      u.userId,
      u.triggerEventId,
      u.provider ?? null,
      u.model ?? null,
      u.promptTokens,
      u.completionTokens,
      u.latencyMs,
      u.ok,
      u.error?.slice(0, 500) ?? null,
    ]);
  }

  /** Whether this event was answered already (a replayed delivery after a restart). */
  async answered(triggerEventId: string): Promise<boolean> {
    return (await this.store.query(SQL_ANSWERED, [triggerEventId])).length > 0;
  }

  async roomUsage(roomId: string, since: Date): Promise<UsageTotal> {
    return this.total(SQL_ROOM_TOKENS_SINCE, roomId, since);
  }

  async userUsage(userId: string, since: Date): Promise<UsageTotal> {
    return this.total(SQL_USER_TOKENS_SINCE, userId, since);
  }

  private async total(sql: string, key: string, since: Date): Promise<UsageTotal> {
    const [r] = await this.store.query<{ tokens: string; answers: string }>(sql, [key, since]);
    return { tokens: Number(r?.tokens ?? 0), answers: Number(r?.answers ?? 0) };
  }
}

/** Midnight UTC of the day `now` is in: daily budgets reset then. */
export function startOfUtcDay(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}
