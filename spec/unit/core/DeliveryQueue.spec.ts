import assert from "node:assert/strict";
import { DeliveryQueue } from "../../../src/core/DeliveryQueue";
import { Metrics } from "../../../src/http/Metrics";
import type { Store } from "../../../src/store/Store";
import type { NewQueueItem, QueueItem } from "../../../src/store/types";

/** The queue's part of a store, in memory; `pendingQueue` can be made slow. */
function memoryQueueStore(initial: string[]) {
  let next = 0;
  const rows = new Map<string, QueueItem>();
  const add = (it: NewQueueItem): string => {
    const id = String(++next).padStart(6, "0");
    rows.set(id, { ...it, id, attempts: 0, createdAt: new Date() });
    return id;
  };
  for (const text of initial) add({ queueKey: "remote:x:chat", kind: "remote", payload: text });
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const store = {
    enqueue: async (items: NewQueueItem[]) => items.map(add),
    pendingQueue: async () => {
      const snapshot = [...rows.values()].sort((a, b) => a.id.localeCompare(b.id));
      await gate;
      return snapshot;
    },
    completeQueueItem: async (id: string) => {
      rows.delete(id);
    },
  };
  return { store: store as unknown as Store, release };
}

describe("DeliveryQueue", () => {
  it("delivers what was pending from the last run before work handed over while it is read", async () => {
    const { store, release } = memoryQueueStore(["old 1", "old 2"]);
    const seen: unknown[] = [];
    const queue = new DeliveryQueue({
      store,
      metrics: new Metrics(),
      handlers: {
        remote: async (i) => {
          seen.push(i.payload);
        },
        matrix: async () => {},
      },
      onGiveUp: async () => {},
      initialBackoffMs: 10,
      maxBackoffMs: 10,
      giveUpAfterMs: 10_000,
    });
    const started = queue.start();
    // A connector that connected first hands over a new event while the pending ones are read.
    await queue.push([{ queueKey: "remote:x:chat", kind: "remote", payload: "new" }]);
    release();
    await started;
    await queue.idle();
    assert.deepEqual(seen, ["old 1", "old 2", "new"]);
  });
});
