import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { KvWrite, NewQueueItem, QueueItem, QueueKind } from "../store/types";
import { isDatabaseUnavailable } from "../store/unavailable";
import { classifyFailure } from "./errors";

const log = new Logger("DeliveryQueue");
/** Longest wait between attempts while the database is unreachable, so work resumes soon after. */
const OUTAGE_RETRY_MAX_MS = 2_000;

export interface DeliveryQueueOptions {
  store: Store;
  metrics: Metrics;
  handlers: Record<QueueKind, (item: QueueItem) => Promise<void>>;
  /**
   * Called once when an item fails for good, before it moves from the queue to the quarantine
   * (where an admin can list and retry it).
   */
  onGiveUp(item: QueueItem, err: unknown): Promise<void>;
  /**
   * Asked before giving up on a refusal that may be the other side's own trouble (a 5xx): true
   * when that side is in fact unreachable, so the item waits like in any outage.
   */
  isOutage?(item: QueueItem, err: unknown): Promise<boolean>;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Attempts at an item the other side keeps refusing (4xx, 5xx, our own errors). */
  maxAttempts: number;
  /** How long an outage (unreachable, 429, 502–504) may hold an item before it is given up. */
  giveUpAfterMs: number;
}

/** Queue items built from what the store accepted; ids left undefined were quarantined. */
export function storedItems(items: NewQueueItem[], ids: Array<string | undefined>): QueueItem[] {
  const now = new Date();
  const out: QueueItem[] = [];
  items.forEach((it, i) => {
    const id = ids[i];
    if (id !== undefined) out.push({ ...it, id, attempts: it.attempts ?? 0, createdAt: now });
  });
  return out;
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
  private readonly wakers = new Set<() => void>();
  private readonly inflight = new Set<Promise<boolean>>();
  /** Items finished whose removal from the database has not gone through yet (it is retried). */
  private readonly completing = new Set<Promise<void>>();
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

  /**
   * Stores and then schedules items; resolves once they are durable. `kv` is written in the
   * same transaction (a connector's polling offset), even when there are no items.
   */
  async push(items: NewQueueItem[], kv?: KvWrite): Promise<void> {
    if (!items.length && !kv) return;
    this.accept(storedItems(items, await this.opts.store.enqueue(items, kv)));
  }

  /**
   * Puts `items` in the place of `item`, which is being worked on: its removal and their
   * storing are one write, so a crash in between neither loses them nor makes them twice.
   * They run on their own lanes; `item` then finishes as usual. They are `resumed` when `item`
   * is: what it stands for may have gone out before.
   */
  async replace(item: QueueItem, items: NewQueueItem[]): Promise<void> {
    if (!items.length) return;
    const ids = await this.opts.store.replaceQueueItem(item.id, items);
    item.completed = true; // the same write took it out of the queue (or it was out already)
    const stored = storedItems(items, ids);
    this.accept(item.resumed ? stored.map((i) => ({ ...i, resumed: true })) : stored);
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
      if (item.failedWith !== undefined) {
        item.notBefore = Date.now() + this.retryDelay(item, item.failedWith);
        item.failedWith = undefined;
      }
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

  /** True when nothing is queued or under way in lane `key` (and the pending items are read). */
  laneIdle(key: string): boolean {
    return !this.held && !this.lanes.has(key);
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
    for (const wake of this.wakers) wake();
    this.wakers.clear();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    // Completions still failing stop retrying now: those items are delivered again at the next
    // start (the handlers recognise what was delivered already).
    await Promise.race([Promise.allSettled([...this.completing]), grace]);
    clearTimeout(timer);
  }

  /**
   * Removes a finished item from the database, retrying (with backoff, until stop()) while the
   * database is unreachable: a row left behind would be delivered again at the next start.
   */
  private complete(item: QueueItem): void {
    if (item.finishing) {
      this.finishing(item, item.finishing);
      return;
    }
    if (item.completed) return; // removed with the write that recorded its delivery
    const { store } = this.opts;
    const done = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await store.completeQueueItem(item.id);
          if (attempt > 1) log.info("marked delivered after retrying", { id: item.id, attempts: attempt });
          return;
        } catch (err) {
          if (this.stopped) {
            log.warn("could not mark delivered before stopping; it is checked again at the next start", {
              id: item.id,
              err: String(err),
            });
            return;
          }
          if (attempt === 1)
            log.warn("could not mark delivered, retrying", { id: item.id, err: String(err) });
          await this.sleep(Math.min(this.opts.initialBackoffMs * 2 ** (attempt - 1), OUTAGE_RETRY_MAX_MS));
        }
      }
    })();
    this.completing.add(done);
    void done.finally(() => this.completing.delete(done));
  }

  /**
   * An item whose recording write is still under way (see QueueItem.finishing): done when it
   * succeeds; tried again after the usual delay when it fails (at the next start when stopping).
   */
  private finishing(item: QueueItem, write: Promise<void>): void {
    item.finishing = undefined;
    const done = write.then(
      () => {
        if (!item.completed) this.complete(item); // a store whose write does not take it out
      },
      (err: unknown) => {
        if (this.stopped) return; // still in the database: resumed at the next start
        log.info("recording a delivery failed; the item is tried again", { id: item.id, err: String(err) });
        item.attempts++;
        item.failedWith = err;
        this.accept([item]);
      },
    );
    this.completing.add(done);
    void done.finally(() => this.completing.delete(done));
  }

  /** A pause that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.wakers.delete(wake);
        resolve();
      }, ms);
      const wake = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        resolve();
      };
      this.timers.add(timer);
      this.wakers.add(wake);
    });
  }

  private async run(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.items.length && !this.stopped) {
      const item = lane.items[0];
      const wait = (item.notBefore ?? 0) - Date.now();
      if (wait > 0) {
        this.resumeAfter(key, wait); // the lane stays "running" until then
        return;
      }
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
      metrics.observeDelivery(
        item.kind === "remote" ? "in" : "out",
        (Date.now() - item.createdAt.getTime()) / 1000,
      );
      this.complete(item);
      return true;
    } catch (err) {
      item.attempts++;
      const failure = classifyFailure(err);
      const age = Date.now() - item.createdAt.getTime();
      // The database being unreachable says nothing about the item, and giving up could not
      // even be recorded: it waits for the database, however long.
      const dbOutage = isDatabaseUnavailable(err);
      let giveUp =
        !dbOutage &&
        (failure.kind === "permanent" ||
          (failure.kind === "refused" && item.attempts >= this.opts.maxAttempts) ||
          age > this.opts.giveUpAfterMs);
      if (giveUp && failure.kind === "refused" && age <= this.opts.giveUpAfterMs && this.opts.isOutage) {
        giveUp = !(await this.opts.isOutage(item, err).catch(() => false));
      }
      if (giveUp) {
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
          .quarantineQueueItem(item, describeFailure(err))
          .catch((e: unknown) =>
            log.error("could not quarantine a failed delivery", { id: item.id, err: e }),
          );
        metrics.quarantined.inc({ direction: item.kind === "remote" ? "in" : "out" });
        return true;
      }
      metrics.retries.inc({ direction: item.kind === "remote" ? "in" : "out" });
      const delay = this.retryDelay(item, err);
      log.info(dbOutage ? "database unreachable, delivery will be retried" : "delivery failed, will retry", {
        key: item.queueKey,
        attempts: item.attempts,
        delayMs: delay,
        err: String(err),
      });
      store.failQueueItem(item.id, String(err)).catch(() => undefined);
      this.resumeAfter(item.queueKey, delay);
      return false;
    }
  }

  /** How long an item waits after failing with `err`: the backoff, or longer if the other side asks. */
  private retryDelay(item: QueueItem, err: unknown): number {
    // The database being away is waited out in short steps, so work resumes soon after.
    const maxBackoff = isDatabaseUnavailable(err)
      ? Math.min(OUTAGE_RETRY_MAX_MS, this.opts.maxBackoffMs)
      : this.opts.maxBackoffMs;
    const backoff = Math.min(this.opts.initialBackoffMs * 2 ** (Math.max(1, item.attempts) - 1), maxBackoff);
    return Math.max(backoff, classifyFailure(err).afterMs ?? 0);
  }

  /** Runs lane `key` again after `delay` ms (unless stopped meanwhile). */
  private resumeAfter(key: string, delay: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const lane = this.lanes.get(key);
      if (lane && !this.stopped) void this.run(key, lane);
    }, delay);
    this.timers.add(timer);
  }
}

/** The reason kept with a quarantined item: the error's name, status and message. */
function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as { status?: unknown }).status;
    return `${err.name}${typeof status === "number" ? ` ${status}` : ""}: ${err.message}`;
  }
  return String(err);
}
