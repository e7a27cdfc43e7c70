import { Logger } from "../log/Logger";

const log = new Logger("Pruner");

export interface PrunerOptions {
  /** What is pruned, for the log ("old transaction ids"). */
  what: string;
  /** One pass; resolves with the number of rows removed. */
  prune(): Promise<number>;
  intervalMs: number;
}

/**
 * Runs a pruning pass once at start and then periodically: one indexed DELETE that keeps a
 * table bounded. Failures are logged, never thrown; a pass under way is joined, not doubled.
 */
export class Pruner {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly opts: PrunerOptions) {}

  /**
   * Starts a first pass now, in the background (the first one after an upgrade may delete a
   * long history, which must not hold up the bridge's start), and schedules the next ones.
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.prune(), this.opts.intervalMs);
    this.timer.unref();
    void this.prune();
  }

  /** One pass; a pass still under way is joined rather than doubled. */
  prune(): Promise<void> {
    const { what } = this.opts;
    this.running ??= this.opts
      .prune()
      .then((n) => {
        if (n > 0) log.info(`pruned ${what}`, { rows: n });
      })
      .catch((err: unknown) => log.warn(`could not prune ${what}`, { err: String(err) }))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Stops the timer and waits for a pass under way, so the pool can close after it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
