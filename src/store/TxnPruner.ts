import { Logger } from "../log/Logger";
import type { Store } from "./Store";

const log = new Logger("TxnPruner");

/**
 * How long an accepted transaction id is remembered. A homeserver retries only its oldest
 * unacknowledged transaction, with a backoff that Synapse caps at 2^9 s (about 8.5 minutes),
 * so a retry arrives within minutes of the bridge answering again; a week is a wide margin. The
 * age counts from the newest recorded transaction (see Store.pruneTransactions), so an outage
 * of any length does not forget the ids just before it.
 */
export const TXN_RETENTION_MS = 7 * 24 * 3600_000;
/** Pruning is one indexed DELETE; hourly keeps the table at about a week of traffic. */
export const TXN_PRUNE_INTERVAL_MS = 3600_000;

export interface TxnPrunerOptions {
  retentionMs?: number;
  intervalMs?: number;
}

/** Prunes `appservice_txn` once at start and then periodically; failures are logged, never thrown. */
export class TxnPruner {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly retentionMs: number;
  private readonly intervalMs: number;

  constructor(
    private readonly store: Pick<Store, "pruneTransactions">,
    opts: TxnPrunerOptions = {},
  ) {
    this.retentionMs = opts.retentionMs ?? TXN_RETENTION_MS;
    this.intervalMs = opts.intervalMs ?? TXN_PRUNE_INTERVAL_MS;
  }

  /**
   * Starts a first pass now, in the background (the first one after an upgrade may delete a
   * long history, which must not hold up the bridge's start), and schedules the next ones.
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.prune(), this.intervalMs);
    this.timer.unref();
    void this.prune();
  }

  /** One pass; a pass still under way is joined rather than doubled. */
  prune(): Promise<void> {
    this.running ??= this.store
      .pruneTransactions(this.retentionMs)
      .then((n) => {
        if (n > 0) log.info("pruned old transaction ids", { rows: n });
      })
      .catch((err: unknown) => log.warn("could not prune old transaction ids", { err: String(err) }))
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
