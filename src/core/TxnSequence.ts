/**
 * Notices a homeserver transaction that was skipped. Synapse numbers its transactions to an
 * appservice 1, 2, 3…; one it created but did not send before it restarted stays in its
 * database, and Synapse sends it only after some later send to the appservice fails, which
 * never happens while the bridge answers. So when the ids jump forward (30, then 32), the later
 * one is refused once, Synapse marks the bridge down and its recovery sends the oldest unsent
 * transaction first (31, then 32), in order. Ids that go back (a counter restarted, as on SQLite)
 * or that are not decimal numbers are taken as they come.
 */
export class TxnSequence {
  private last?: bigint;
  /** The id refused for a gap: taken when it comes again, whatever came in between. */
  private refused?: string;

  /** True when `txnId` comes after a gap and should be refused (once) to get the gap sent. */
  skipsAhead(txnId: string): boolean {
    if (!/^[0-9]{1,18}$/.test(txnId)) return false;
    const n = BigInt(txnId);
    if (this.last !== undefined && n > this.last + 1n && this.refused !== txnId) {
      this.refused = txnId;
      return true;
    }
    if (this.refused === txnId) this.refused = undefined;
    this.last = n;
    return false;
  }

  /** The id after which the gap starts (for the log). */
  get lastSeen(): string | undefined {
    return this.last?.toString();
  }
}

/** The homeserver is asked to send the transactions it skipped first (answered 503). */
export class TransactionGap extends Error {
  readonly status = 503;
  constructor(after: string | undefined, txnId: string) {
    super(`homeserver transaction ${txnId} came after ${after}: the ones between are asked for first`);
    this.name = "TransactionGap";
  }
}
