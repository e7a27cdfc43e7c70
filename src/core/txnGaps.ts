/**
 * Synapse numbers an appservice's transactions from one sequence and sends them one at a time.
 * When a send fails it marks the appservice down and a recoverer resends what it holds, oldest
 * first, then marks it up again. A transaction made between the recoverer's last look and that
 * mark is stored as unsent and stays so until the next failure: its id is then missing from
 * what arrives. After the bridge refused or failed a transaction (Synapse recovers from that),
 * the first transaction that skips an id is refused once, so Synapse recovers again and sends the
 * skipped one first, then this one, in order.
 *
 * Several appservices on one homeserver share the sequence, so a skip may be another's: that
 * costs one needless refusal (the homeserver resends at once after the bridge's ping), never a
 * message in a transaction. But while Synapse holds the bridge for down it drops to-device
 * messages (room keys) meant for it, so the watch is not armed at the bridge's start, when most
 * recoveries are harmless, only after a refusal. Each transaction is refused at most once, and
 * at most `maxRefusals` per watch.
 */
export class TxnGapWatch {
  private last?: number;
  private until = 0;
  private left = 0;
  private readonly refusedIds = new Set<number>();
  /** Told when the ids start again lower: the homeserver restarted (SQLite Synapse does so). */
  onRestart?: () => void;

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxRefusals = 3,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The homeserver may be recovering now (a transaction was refused, the bridge started): watch
   * for `windowMs` from now. A watch that had ended starts afresh.
   */
  watch(): void {
    const now = this.now();
    if (now > this.until) {
      this.left = this.maxRefusals;
      this.refusedIds.clear();
    }
    this.until = now + this.windowMs;
  }

  /**
   * True when `txnId` is to be refused: it skips an id while watching. Ids that are not plain
   * numbers are not Synapse's; an id lower than the last is a restarted homeserver's sequence.
   */
  skips(txnId: string): boolean {
    if (!/^\d{1,15}$/.test(txnId)) return false;
    const id = Number(txnId);
    const last = this.last;
    if (
      last !== undefined &&
      id > last + 1 &&
      this.now() <= this.until &&
      this.left > 0 &&
      !this.refusedIds.has(id)
    ) {
      this.left--;
      this.refusedIds.add(id);
      this.watch(); // the refusal starts a recovery of its own
      return true; // `last` stays: the skipped one is to come first
    }
    if (last !== undefined && id < last) this.onRestart?.();
    this.last = id;
    return false;
  }
}
