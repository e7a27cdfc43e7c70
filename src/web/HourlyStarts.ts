import { BoundedMap } from "../core/Bounded";

const HOUR = 3_600_000;

/**
 * How many things (logins, direct chats) each user started in the last hour, to refuse one past
 * `perHour`: a sliding window per user, in memory (a restart forgets it).
 */
export class HourlyStarts {
  private readonly starts = new BoundedMap<string, number[]>(10_000);

  constructor(
    private readonly perHour: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a start of `user`'s, or refuses it with how long until one more is allowed. */
  take(user: string): { ok: true } | { ok: false; retryAfterMs: number } {
    const now = this.now();
    const recent = (this.starts.get(user) ?? []).filter((t) => t > now - HOUR);
    if (recent.length >= this.perHour) {
      this.starts.set(user, recent);
      return { ok: false, retryAfterMs: recent[0]! + HOUR - now };
    }
    this.starts.set(user, [...recent, now]);
    return { ok: true };
  }
}
