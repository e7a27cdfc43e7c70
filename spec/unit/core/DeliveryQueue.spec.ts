import assert from "node:assert/strict";
import { DeliveryQueue, type DeliveryQueueOptions } from "../../../src/core/DeliveryQueue";
import { BridgeError } from "../../../src/core/errors";
import { Metrics } from "../../../src/http/Metrics";
import { MatrixError } from "../../../src/matrix/MatrixApi";
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
      maxAttempts: 3,
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

describe("DeliveryQueue: bounded failure per item", () => {
  /** An in-memory queue store that records what was quarantined. */
  function store() {
    let next = 0;
    const quarantined: Array<{ id: string; reason: string }> = [];
    const s = {
      enqueue: async (items: NewQueueItem[]) => items.map(() => String(++next)),
      pendingQueue: async () => [],
      completeQueueItem: async () => {},
      failQueueItem: async () => {},
      quarantineQueueItem: async (item: QueueItem, reason: string) => {
        quarantined.push({ id: item.id, reason });
      },
    };
    return { store: s as unknown as Store, quarantined };
  }

  function queue(
    st: Store,
    handler: (item: QueueItem) => Promise<void>,
    extra: Partial<DeliveryQueueOptions> = {},
  ) {
    const gaveUp: unknown[] = [];
    const q = new DeliveryQueue({
      store: st,
      metrics: new Metrics(false),
      handlers: { remote: handler, matrix: handler },
      onGiveUp: async (item) => {
        gaveUp.push(item.payload);
      },
      initialBackoffMs: 1,
      maxBackoffMs: 5,
      maxAttempts: 3,
      giveUpAfterMs: 60_000,
      ...extra,
    });
    return { q, gaveUp };
  }

  it("gives up an item the other side keeps refusing after max attempts, quarantines it, and the lane moves on", async () => {
    const { store: st, quarantined } = store();
    const tries = new Map<unknown, number>();
    const delivered: unknown[] = [];
    const { q, gaveUp } = queue(st, async (item) => {
      tries.set(item.payload, (tries.get(item.payload) ?? 0) + 1);
      if (item.payload === "bad") throw new MatrixError("refused", 500, "M_UNKNOWN");
      delivered.push(item.payload);
    });
    await q.start();
    await q.push(
      ["bad", "next 1", "next 2"].map((payload) => ({ queueKey: "k", kind: "remote" as const, payload })),
    );
    await q.idle();
    assert.equal(tries.get("bad"), 3);
    assert.deepEqual(gaveUp, ["bad"]);
    assert.deepEqual(delivered, ["next 1", "next 2"]);
    assert.equal(quarantined.length, 1);
    assert.match(quarantined[0].reason, /MatrixError 500: refused/);
  });

  it("holds the lane through an outage instead of giving up, however many attempts", async () => {
    const { store: st, quarantined } = store();
    let down = 8;
    const delivered: unknown[] = [];
    const { q, gaveUp } = queue(st, async (item) => {
      if (down-- > 0) throw new MatrixError("unreachable", 0);
      delivered.push(item.payload);
    });
    await q.start();
    await q.push(["a", "b"].map((payload) => ({ queueKey: "k", kind: "remote" as const, payload })));
    await q.idle();
    assert.deepEqual(delivered, ["a", "b"]);
    assert.deepEqual(gaveUp, []);
    assert.deepEqual(quarantined, []);
  });

  it("keeps waiting on a 5xx while the homeserver is down altogether (isOutage)", async () => {
    const { store: st } = store();
    let failures = 6;
    const asked: unknown[] = [];
    const delivered: unknown[] = [];
    const { q, gaveUp } = queue(
      st,
      async (item) => {
        if (failures-- > 0) throw new MatrixError("bad gateway", 500);
        delivered.push(item.payload);
      },
      {
        isOutage: async (_item, err) => {
          asked.push(err);
          return true;
        },
      },
    );
    await q.start();
    await q.push([{ queueKey: "k", kind: "matrix", payload: "x" }]);
    await q.idle();
    assert.deepEqual(delivered, ["x"]);
    assert.deepEqual(gaveUp, []);
    assert.ok(asked.length >= 1, "the queue asked whether it was an outage before giving up");
  });

  it("gives up at once on a permanent failure", async () => {
    const { store: st, quarantined } = store();
    let tries = 0;
    const { q, gaveUp } = queue(st, async () => {
      tries++;
      throw new BridgeError("the file is too large for the platform");
    });
    await q.start();
    await q.push([{ queueKey: "k", kind: "matrix", payload: "big" }]);
    await q.idle();
    assert.equal(tries, 1);
    assert.deepEqual(gaveUp, ["big"]);
    assert.equal(quarantined.length, 1);
  });

  it("skips items the store quarantined instead of queueing (undefined ids)", async () => {
    const st = {
      enqueue: async () => ["1", undefined, "3"],
      pendingQueue: async () => [],
      completeQueueItem: async () => {},
    } as unknown as Store;
    const delivered: unknown[] = [];
    const { q } = queue(st, async (item) => {
      delivered.push(item.payload);
    });
    await q.start();
    await q.push(["a", "b", "c"].map((payload) => ({ queueKey: "k", kind: "remote" as const, payload })));
    await q.idle();
    assert.deepEqual(delivered, ["a", "c"]);
  });
});

describe("DeliveryQueue: an item whose recording write is still under way (QueueItem.finishing)", () => {
  function rig() {
    let next = 0;
    const completed: string[] = [];
    const store = {
      enqueue: async (items: NewQueueItem[]) => items.map(() => String(++next)),
      pendingQueue: async () => [],
      completeQueueItem: async (id: string) => {
        completed.push(id);
      },
      failQueueItem: async () => {},
    } as unknown as Store;
    const writes: Array<{ payload: unknown; settle: (ok: boolean) => void }> = [];
    const runs: Array<{ payload: unknown; attempts: number }> = [];
    const queue = new DeliveryQueue({
      store,
      metrics: new Metrics(),
      handlers: {
        // Like InboundBridge: the write that records the delivery also takes the item out.
        remote: async (item) => {
          runs.push({ payload: item.payload, attempts: item.attempts });
          item.finishing = new Promise<void>((resolve, reject) => {
            writes.push({
              payload: item.payload,
              settle: (ok) => {
                if (!ok) return reject(new Error("connection terminated"));
                item.completed = true;
                resolve();
              },
            });
          });
        },
        matrix: async () => {},
      },
      onGiveUp: async () => {},
      initialBackoffMs: 5,
      maxBackoffMs: 5,
      maxAttempts: 5,
      giveUpAfterMs: 10_000,
    });
    return { queue, writes, runs, completed, started: queue.start() };
  }

  it("goes on with the lane's next item before the write is done, and deletes nothing itself", async () => {
    const { queue, writes, runs, completed, started } = rig();
    await started;
    await queue.push(
      ["a", "b", "c"].map((payload) => ({ queueKey: "remote:x:chat", kind: "remote", payload })),
    );
    await queue.idle();
    assert.deepEqual(
      runs.map((r) => r.payload),
      ["a", "b", "c"],
    );
    for (const w of writes) w.settle(true);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(completed, [], "the writes took the items out");
  });

  it("a write that fails tries its item again, counted, after the delay; the others are not held", async () => {
    const { queue, writes, runs, started } = rig();
    await started;
    await queue.push(["a", "b"].map((payload) => ({ queueKey: "remote:x:chat", kind: "remote", payload })));
    await queue.idle();
    writes[0]!.settle(false);
    writes[1]!.settle(true);
    for (let i = 0; i < 100 && runs.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(runs, [
      { payload: "a", attempts: 0 },
      { payload: "b", attempts: 0 },
      { payload: "a", attempts: 1 },
    ]);
    writes[2]!.settle(true);
    await queue.stop(100);
  });
});
