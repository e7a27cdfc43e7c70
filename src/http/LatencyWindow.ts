/** One minute of delivery latency, as the web page's chart draws it. */
export interface LatencyMinute {
  /** Start of the minute, in ms since the epoch. */
  minute: number;
  /** Deliveries finished in that minute. */
  count: number;
  /** Mean and largest latency in that minute, in milliseconds. */
  mean_ms: number;
  max_ms: number;
}

interface Slot {
  minute: number;
  count: number;
  sumMs: number;
  maxMs: number;
}

/**
 * Per-minute delivery latency of the last `minutes` minutes, in a ring of fixed size fed where
 * the Prometheus histogram is observed (so the page and `/metrics` see the same deliveries).
 */
export class LatencyWindow {
  private readonly slots: Slot[];

  constructor(
    private readonly minutes = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = Array.from({ length: minutes }, () => ({ minute: -1, count: 0, sumMs: 0, maxMs: 0 }));
  }

  private index(minute: number): number {
    return ((minute % this.minutes) + this.minutes) % this.minutes;
  }

  observe(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const minute = Math.floor(this.now() / 60_000);
    const slot = this.slots[this.index(minute)]!;
    if (slot.minute !== minute) Object.assign(slot, { minute, count: 0, sumMs: 0, maxMs: 0 });
    const ms = seconds * 1000;
    slot.count++;
    slot.sumMs += ms;
    slot.maxMs = Math.max(slot.maxMs, ms);
  }

  /** Every minute of the window, oldest first; minutes without deliveries have count 0. */
  recent(): LatencyMinute[] {
    const current = Math.floor(this.now() / 60_000);
    const out: LatencyMinute[] = [];
    for (let m = current - this.minutes + 1; m <= current; m++) {
      const slot = this.slots[this.index(m)]!;
      const live = slot.minute === m && slot.count > 0;
      out.push({
        minute: m * 60_000,
        count: live ? slot.count : 0,
        mean_ms: live ? Math.round((slot.sumMs / slot.count) * 10) / 10 : 0,
        max_ms: live ? Math.round(slot.maxMs * 10) / 10 : 0,
      });
    }
    return out;
  }
}
