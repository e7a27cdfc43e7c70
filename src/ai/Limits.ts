import type { AiConfig } from "../config/types";
import { type AiStore, startOfUtcDay } from "./AiStore";

const MINUTE = 60_000;

/** Why an answer is refused, as the polite notice says it. */
export interface LimitHit {
  scope: "user" | "room";
  kind: "rate" | "budget";
  text: string;
}

/**
 * Per-user and per-room answers per minute (a sliding window in memory) and daily token
 * budgets (summed from the usage log, so they survive a restart). 0 means unlimited.
 */
export class Limits {
  private readonly windows = new Map<string, number[]>();

  constructor(
    private readonly limits: AiConfig["limits"],
    private readonly store: AiStore,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(key: string): number[] {
    const cutoff = this.now() - MINUTE;
    const list = (this.windows.get(key) ?? []).filter((t) => t > cutoff);
    this.windows.set(key, list);
    return list;
  }

  /** Checks every limit; on success the answer is counted against the rate limits. */
  async check(roomId: string, userId: string): Promise<LimitHit | undefined> {
    const { user_per_minute, room_per_minute, user_daily_tokens, room_daily_tokens } = this.limits;
    const u = this.recent(`u|${userId}`);
    const r = this.recent(`r|${roomId}`);
    if (user_per_minute > 0 && u.length >= user_per_minute)
      return {
        scope: "user",
        kind: "rate",
        text: `Sorry, you have reached the limit of ${user_per_minute} AI answers per minute. Please try again in a minute.`,
      };
    if (room_per_minute > 0 && r.length >= room_per_minute)
      return {
        scope: "room",
        kind: "rate",
        text: `Sorry, this room has reached the limit of ${room_per_minute} AI answers per minute. Please try again in a minute.`,
      };
    const since = startOfUtcDay(new Date(this.now()));
    if (user_daily_tokens > 0 && (await this.store.userUsage(userId, since)).tokens >= user_daily_tokens)
      return {
        scope: "user",
        kind: "budget",
        text: `Sorry, you have used your daily AI budget of ${user_daily_tokens} tokens. It resets at midnight UTC.`,
      };
    if (room_daily_tokens > 0 && (await this.store.roomUsage(roomId, since)).tokens >= room_daily_tokens)
      return {
        scope: "room",
        kind: "budget",
        text: `Sorry, this room has used its daily AI budget of ${room_daily_tokens} tokens. It resets at midnight UTC.`,
      };
    const t = this.now();
    u.push(t);
    r.push(t);
    return undefined;
  }
}
