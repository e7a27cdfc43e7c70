import assert from "node:assert/strict";
import { DeliveryQueue } from "../../../src/core/DeliveryQueue";
import { Metrics } from "../../../src/http/Metrics";
import type { Store } from "../../../src/store/Store";
import type { QueueItem } from "../../../src/store/types";

const stored = (id: string): QueueItem => ({
  id,
  queueKey: "matrix:!room:hs.test",
  kind: "matrix",
  payload: { n: id },
  attempts: 0,
  createdAt: new Date(),
});

describe("DeliveryQueue: resumed items", () => {
  it("marks items read back at start as resumed, and items accepted later as fresh", async () => {
    const seen: QueueItem[] = [];
    const completed: string[] = [];
    // Only what start/accept/complete use.
    const store = {
      pendingQueue: async () => [stored("1"), stored("2")],
      completeQueueItem: async (id: string) => {
        completed.push(id);
      },
    } as unknown as Store;
    const queue = new DeliveryQueue({
      store,
      metrics: new Metrics(false),
      handlers: {
        matrix: async (item) => {
          seen.push(item);
        },
        remote: async () => undefined,
      },
      onGiveUp: async () => undefined,
      initialBackoffMs: 10,
      maxBackoffMs: 10,
      maxAttempts: 3,
      giveUpAfterMs: 1000,
    });
    assert.equal(await queue.start(), 2);
    queue.accept([stored("3")]);
    await queue.idle();
    assert.deepEqual(
      seen.map((i) => [i.id, i.resumed === true]),
      [
        ["1", true],
        ["2", true],
        ["3", false],
      ],
    );
    assert.deepEqual(completed, ["1", "2", "3"]);
    await queue.stop(0);
  });
});
