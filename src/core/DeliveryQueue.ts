import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { NewQueueItem, QueueItem, QueueKind } from "../store/types";
import { retryHint } from "./errors";

const log = new Logger("DeliveryQueue");

export interface DeliveryQueueOptions {
  store: Store;
  metrics: Metrics;
  handlers: Record<QueueKind, (item: QueueItem) => Promise<void>>;
  /** Called once when an item fails for good; the item is then dropped from the queue. */
  onGiveUp(item: QueueItem, err: unknown): Promise<void>;
  initialBackoffMs: number;
  maxBackoffMs: number;
  giveUpAfterMs: number;
}

interface Lane {
  items: QueueItem[];
  running: boolean;
}

/**
 * Durable, ordered delivery. Every item is in PostgreSQL before it is worked on and leaves
 * it only when delivered or given up, so a crash loses nothing; items with the same queue
 * key are delivered one at a time in order, while different keys (chats, rooms) run side
 * by side, so one slow chat never holds up another.
 */
export class DeliveryQueue {
  private readonly lanes = new Map<string, Lane>();
  /** Ids scheduled and not yet finished: an item stored and accepted twice runs once. */
  private readonly scheduled = new Set<string>();
  private depth = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<boolean>>();
  /**
   * Items accepted before `start()`: a connector or the homeserver may hand over new work
   * while the pending items of the last run are still being read, and those are older.
   */
  private held: QueueItem[] | undefined = [];

  constructor(private readonly opts: DeliveryQueueOptions) {}

  /** Resumes whatever was pending when the bridge last stopped. */
  async start(): Promise<number> {
    const pending = (await this.opts.store.pendingQueue()).map((i) => ({ ...i, resumed: true }));
    const held = this.held ?? [];
    this.held = undefined;
    this.accept(pending);
    this.accept(held); // stored too, so mostly among `pending` already; the rest is newer
    if (pending.length) log.info("resuming pending deliveries", { count: pending.length });
    return pending.length;
  }

  /** Stores and then schedules items; resolves once they are durable. */
  async push(items: NewQueueItem[]): Promise<void> {
    if (!items.length) return;
    const ids = await this.opts.store.enqueue(items);
    const now = new Date();
    this.accept(items.map((it, i) => ({ ...it, id: ids[i], attempts: 0, createdAt: now })));
  }

  /** Schedules items already stored (by Store.recordTransaction). */
  accept(items: QueueItem[]): void {
    if (this.held) {
      this.held.push(...items);
      return;
    }
    for (const item of items) {
      if (this.scheduled.has(item.id)) continue;
      this.scheduled.add(item.id);
      let lane = this.lanes.get(item.queueKey);
      if (!lane) {
        lane = { items: [], running: false };
        this.lanes.set(item.queueKey, lane);
      }
      lane.items.push(item);
      this.depth++;
      if (!lane.running) void this.run(item.queueKey, lane);
    }
    this.opts.metrics.queueDepth.set(this.depth);
  }

  get size(): number {
    return this.depth;
  }

  /** Resolves when nothing is queued (for tests and graceful shutdown). */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking up new work and waits (up to `graceMs`) for deliveries under way; items not
   * yet delivered stay in the database for the next start.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    clearTimeout(timer);
  }

  private async run(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.items.length && !this.stopped) {
      const item = lane.items[0];
      const attempt = this.attempt(item);
      this.inflight.add(attempt);
      const done = await attempt.finally(() => this.inflight.delete(attempt));
      if (!done) return; // the lane stays "running": the retry timer resumes it
      lane.items.shift();
      this.scheduled.delete(item.id);
      this.depth--;
      this.opts.metrics.queueDepth.set(this.depth);
    }
    lane.running = false;
    if (!lane.items.length) this.lanes.delete(key);
    if (this.depth === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Returns true when the item is finished (delivered or given up), false when a retry is scheduled. */
  private async attempt(item: QueueItem): Promise<boolean> {
    const { store, handlers, metrics } = this.opts;
    try {
      await handlers[item.kind](item);
      metrics.latency.observe(
        { direction: item.kind === "remote" ? "in" : "out" },
        (Date.now() - item.createdAt.getTime()) / 1000,
      );
      store
        .completeQueueItem(item.id)
        .catch((err: unknown) => log.error("could not mark delivered", { id: item.id, err }));
      return true;
    } catch (err) {
      item.attempts++;
      const hint = retryHint(err);
      const age = Date.now() - item.createdAt.getTime();
      if (!hint.retry || age > this.opts.giveUpAfterMs) {
        log.warn("delivery failed for good", {
          key: item.queueKey,
          id: item.id,
          attempts: item.attempts,
          err,
        });
        try {
          await this.opts.onGiveUp(item, err);
        } catch (reportErr) {
          log.error("could not report a failed delivery", { id: item.id, err: reportErr });
        }
        await store
          .completeQueueItem(item.id)
          .catch((e: unknown) => log.error("could not drop item", { err: e }));
        return true;
      }
      metrics.retries.inc({ direction: item.kind === "remote" ? "in" : "out" });
      const backoff = Math.min(this.opts.initialBackoffMs * 2 ** (item.attempts - 1), this.opts.maxBackoffMs);
      const delay = Math.max(backoff, hint.afterMs ?? 0);
      log.info("delivery failed, will retry", {
        key: item.queueKey,
        attempts: item.attempts,
        delayMs: delay,
        err: String(err),
      });
      store.failQueueItem(item.id, String(err)).catch(() => undefined);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const lane = this.lanes.get(item.queueKey);
        if (lane && !this.stopped) void this.run(item.queueKey, lane);
      }, delay);
      this.timers.add(timer);
      return false;
    }
  }
}
