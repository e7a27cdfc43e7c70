/**
 * Group commit for one kind of write: runs one write at a time, and everything added while a
 * write is under way goes together in the next one, so concurrent deliveries (different chats
 * or rooms) share one statement and one commit instead of each paying its own. Alone, an
 * item is written at once. Each caller's promise resolves once the write holding its item has
 * committed (or rejects with that write's error), so awaiting it is as durable as before.
 */
export class GroupWrite<T> {
  private next?: { items: T[]; done: Promise<void>; settle(err?: unknown): void };
  private writing = false;

  /** `write` must accept any number of items in one statement. */
  constructor(private readonly write: (items: T[]) => Promise<unknown>) {}

  add(...items: T[]): Promise<void> {
    if (!this.next) {
      let settle!: (err?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err === undefined ? resolve() : reject(err));
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
    let run: Promise<unknown>;
    try {
      run = this.write(batch.items);
    } catch (err) {
      run = Promise.reject(err);
    }
    run
      .then(
        () => batch.settle(),
        (err: unknown) => batch.settle(err ?? new Error("write failed")),
      )
      .finally(() => {
        this.writing = false;
        this.flush();
      });
  }
}
