/**
 * Group commit for one kind of write: runs one write at a time, and everything added while a
 * write is under way goes together in the next one, so concurrent deliveries (different chats
 * or rooms) share one statement and one commit instead of each paying its own. Alone, an
 * item is written at once. Each caller's promise resolves once the write holding its item has
 * committed (or rejects with that write's error), so awaiting it is as durable as before.
 */
export class GroupWrite<T, R = unknown> {
  private next?: { items: T[]; done: Promise<R>; settle(err: unknown, result?: R): void };
  private writing = false;

  /**
   * `write` must accept any number of items in one statement; what it resolves with is what
   * every caller of the group gets (each picks its own part out of it).
   */
  constructor(private readonly write: (items: T[]) => Promise<R>) {}

  add(...items: T[]): Promise<R> {
    if (!this.next) {
      let settle!: (err: unknown, result?: R) => void;
      const done = new Promise<R>((resolve, reject) => {
        settle = (err, result) => (err === undefined ? resolve(result as R) : reject(err));
      });
      this.next = { items: [], done, settle };
    }
    this.next.items.push(...items);
    const { done } = this.next;
    if (!this.writing) this.flush();
    return done;
  }

  private flush(): void {
    const batch = this.next;
    if (!batch) return;
    this.next = undefined;
    this.writing = true;
    let run: Promise<R>;
    try {
      run = this.write(batch.items);
    } catch (err) {
      run = Promise.reject(err);
    }
    run
      .then(
        (result) => batch.settle(undefined, result),
        (err: unknown) => batch.settle(err ?? new Error("write failed")),
      )
      .finally(() => {
        this.writing = false;
        this.flush();
      });
  }
}
