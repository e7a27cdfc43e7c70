/** Serial lanes by key: a task runs after every task queued before it under the same key. */
export class Lanes {
  private readonly lanes = new Map<string, Promise<void>>();

  /** Runs `task` after the key's earlier tasks (whether they failed or not); settles as it does. */
  run(key: string, task: () => Promise<void>): Promise<void> {
    const next = (this.lanes.get(key) ?? Promise.resolve()).then(task, task);
    const settled = next.catch(() => undefined);
    this.lanes.set(key, settled);
    void settled.then(() => {
      if (this.lanes.get(key) === settled) this.lanes.delete(key);
    });
    return next;
  }
}
