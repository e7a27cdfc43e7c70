/**
 * Slack event ids already handled, so a delivery Slack retries (`X-Slack-Retry-Num`, a
 * Socket Mode `retry_attempt`) is bridged once. Ids live in the connector's key/value space
 * (they survive restarts) and are pruned after a day: Slack stops retrying within the hour.
 */
import type { ConnectorStore } from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";

const PREFIX = "event:";
const KEEP_HOURS = 24;
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** The connector's rows of the core's kv table (namespace = platform name). */
export const SQL_PRUNE_EVENTS = `DELETE FROM kv WHERE namespace = $1 AND key LIKE '${PREFIX}%' AND updated_at < now() - make_interval(hours => $2)`;

export class EventLedger {
  private lastPrune = 0;

  constructor(
    private readonly store: ConnectorStore,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {}

  async seen(eventId: string): Promise<boolean> {
    return (await this.store.kvGet(PREFIX + eventId)) !== undefined;
  }

  async mark(eventId: string): Promise<void> {
    await this.store.kvSet(PREFIX + eventId, String(Date.now()));
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    await this.store.query(SQL_PRUNE_EVENTS, [this.namespace, KEEP_HOURS]).catch((err: unknown) => {
      this.log.debug("slack: old event ids not pruned", { err: String(err) });
    });
  }
}
