import assert from "node:assert/strict";
import { DeliveryQueue } from "../../../src/core/DeliveryQueue";
import { Metrics } from "../../../src/http/Metrics";
import type { Store } from "../../../src/store/Store";
import type { NewQueueItem, QueueItem } from "../../../src/store/types";

/** The queue's part of a store, in memory, with the atomic replacement. */
function memoryStore() {
  let next = 0;
  const rows = new Map<string, QueueItem>();
  const completed: string[] = [];
  const add = (it: NewQueueItem): string => {
    const id = String(++next);
    rows.set(id, { ...it, id, attempts: 0, createdAt: new Date() });
    return id;
  };
  const store = {
    enqueue: async (items: NewQueueItem[]) => items.map(add),
    replaceQueueItem: async (id: string, items: NewQueueItem[]) => (rows.delete(id) ? items.map(add) : []),
    pendingQueue: async () => [],
    completeQueueItem: async (id: string) => {
      completed.push(id);
      rows.delete(id);
    },
    failQueueItem: async () => {},
    quarantineQueueItem: async () => {},
  };
  return { store: store as unknown as Store, rows, completed };
}

/** A queue over `store` whose Matrix items go to `matrix` (given the queue, to replace items). */
function queueOver(
  store: Store,
  matrix: (item: QueueItem, queue: DeliveryQueue) => Promise<void>,
): DeliveryQueue {
  const queue: DeliveryQueue = new DeliveryQueue({
    store,
    metrics: new Metrics(),
    handlers: { remote: async () => {}, matrix: (item) => matrix(item, queue) },
    onGiveUp: async () => assert.fail("nothing is given up"),
    initialBackoffMs: 20,
    maxBackoffMs: 40,
    maxAttempts: 3,
    giveUpAfterMs: 60_000,
  });
  return queue;
}

/** One item per linked chat (slack, telegram) for a room's event. */
function perChat(item: QueueItem, p: { text: string }): NewQueueItem[] {
  return ["slack", "telegram"].map((chat) => ({
    queueKey: `${item.queueKey}|${chat}`,
    kind: "matrix" as const,
    payload: { ...p, chat },
  }));
}

describe("DeliveryQueue: a room's event replaced by one item per linked chat", () => {
  it("delivers each chat on its own: one chat down holds back neither the others nor the room's next event", async () => {
    const { store, rows, completed } = memoryStore();
    const log: string[] = [];
    let slackUp = false;
    const queue = queueOver(store, async (item, queue) => {
      const p = item.payload as { text: string; chat?: string };
      if (!p.chat) {
        log.push(`room ${p.text}`);
        await queue.replace(item, perChat(item, p));
        return;
      }
      if (p.chat === "slack" && !slackUp) throw Object.assign(new Error("down"), { status: 503 });
      log.push(`${p.chat} ${p.text}`);
    });
    await queue.start();
    await queue.push([
      { queueKey: "matrix:!r", kind: "matrix", payload: { text: "one" } },
      { queueKey: "matrix:!r", kind: "matrix", payload: { text: "two" } },
    ]);
    const deadline = Date.now() + 5_000;
    while (!log.includes("telegram two")) {
      assert.ok(Date.now() < deadline, `telegram got both while slack is down: ${log}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      log.filter((l) => l.startsWith("telegram")),
      ["telegram one", "telegram two"],
    );
    assert.ok(!log.some((l) => l.startsWith("slack")));
    slackUp = true;
    await queue.idle();
    assert.deepEqual(
      log.filter((l) => l.startsWith("slack")),
      ["slack one", "slack two"],
      "slack gets both once it is back, in order",
    );
    assert.deepEqual(
      log.filter((l) => l.startsWith("room")),
      ["room one", "room two"],
    );
    assert.equal(rows.size, 0, "every item left the queue");
    // The room's items (ids 1 and 2) left it with their replacement: no second write for them.
    assert.deepEqual(completed.sort(), ["3", "4", "5", "6"]);
    await queue.stop(100);
  });

  it("a successor whose attempt failed before it was stored waits as a retry would (a Retry-After too)", async () => {
    const { store } = memoryStore();
    const at: number[] = [];
    let replacedAt = 0;
    const queue = queueOver(store, async (item, queue) => {
      if ((item.payload as { chat?: string }).chat) {
        at.push(Date.now() - replacedAt);
        assert.equal(item.attempts, 1, "the attempt made before counts");
        return;
      }
      replacedAt = Date.now();
      await queue.replace(item, [
        {
          queueKey: `${item.queueKey}|slack`,
          kind: "matrix" as const,
          payload: { chat: "slack" },
          attempts: 1,
          failedWith: Object.assign(new Error("rate limited"), { status: 429, retryAfterMs: 400 }),
        },
      ]);
    });
    await queue.start();
    await queue.push([{ queueKey: "matrix:!r", kind: "matrix", payload: { text: "one" } }]);
    await queue.idle();
    assert.equal(at.length, 1);
    assert.ok(at[0]! >= 390, `waited ${at[0]} ms for the 400 ms Retry-After`);
    await queue.stop(100);
  });

  it("each chat's item of a resumed event is resumed too (checked against what went out before); of a fresh one, fresh", async () => {
    const { store } = memoryStore();
    const seen: Array<[string, boolean]> = [];
    const queue = queueOver(store, async (item, queue) => {
      const p = item.payload as { text: string; chat?: string };
      if (p.chat) {
        seen.push([`${p.text} ${p.chat}`, item.resumed === true]);
        return;
      }
      await queue.replace(item, perChat(item, p));
    });
    await queue.start();
    const [old, fresh] = await store.enqueue([
      { queueKey: "matrix:!r", kind: "matrix", payload: { text: "old" } },
      { queueKey: "matrix:!q", kind: "matrix", payload: { text: "fresh" } },
    ]);
    const stored = (id: string, text: string) => ({
      queueKey: text === "old" ? "matrix:!r" : "matrix:!q",
      kind: "matrix" as const,
      payload: { text },
      id,
      attempts: 0,
      createdAt: new Date(),
    });
    queue.accept([{ ...stored(old!, "old"), resumed: true }, stored(fresh!, "fresh")]);
    await queue.idle();
    assert.deepEqual(seen.sort(), [
      ["fresh slack", false],
      ["fresh telegram", false],
      ["old slack", true],
      ["old telegram", true],
    ]);
    await queue.stop(100);
  });
});
