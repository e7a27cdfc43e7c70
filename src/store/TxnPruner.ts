import { Pruner } from "./Pruner";
import type { Store } from "./Store";

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
export class TxnPruner extends Pruner {
  constructor(store: Pick<Store, "pruneTransactions">, opts: TxnPrunerOptions = {}) {
    const retentionMs = opts.retentionMs ?? TXN_RETENTION_MS;
    super({
      what: "old transaction ids",
      prune: () => store.pruneTransactions(retentionMs),
      intervalMs: opts.intervalMs ?? TXN_PRUNE_INTERVAL_MS,
    });
  }
}
