import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { QuarantineRow, QueueItem } from "../store/types";

const log = new Logger("Quarantine");

/** The outcome of a retry, as an admin is told it. */
export type RetryResult = "queued" | "not-found" | "not-retryable";

/**
 * Events the bridge could not take or deliver, kept with their reason: listed, retried (back
 * to the end of their chat's queue) or dropped by an admin, through the `quarantine` command
 * and the provisioning API.
 */
export class Quarantine {
  constructor(
    private readonly opts: {
      store: Store;
      /** Schedules an item put back into the durable queue. */
      accept(items: QueueItem[]): void;
    },
  ) {}

  async list(
    opts: { limit?: number; offset?: number } = {},
  ): Promise<{ total: number; items: QuarantineRow[] }> {
    const [items, total] = await Promise.all([
      this.opts.store.listQuarantine(opts),
      this.opts.store.countQuarantine(),
    ]);
    return { total, items };
  }

  async retry(id: string): Promise<RetryResult> {
    const item = await this.opts.store.requeueQuarantined(id);
    if (item === undefined) return "not-found";
    if (item === "not-retryable") return item;
    log.info("quarantined item queued again", { id, newId: item.id, key: item.queueKey });
    this.opts.accept([item]);
    return "queued";
  }

  drop(id: string): Promise<boolean> {
    return this.opts.store.dropQuarantined(id);
  }
}
