import assert from "node:assert/strict";
import { GroupWrite } from "../../../src/store/GroupWrite";

/** A write that records its batches and finishes when the test says so. */
function controlled() {
  const batches: number[][] = [];
  const pending: Array<(err?: Error) => void> = [];
  const gw = new GroupWrite<number>(
    (items) =>
      new Promise<void>((resolve, reject) => {
        batches.push([...items]);
        pending.push((err) => (err ? reject(err) : resolve()));
      }),
  );
  return { gw, batches, pending };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("GroupWrite", () => {
  it("writes a lone item at once", async () => {
    const { gw, batches, pending } = controlled();
    const p = gw.add(1);
    assert.deepEqual(batches, [[1]]);
    pending[0]!();
    await p;
  });

  it("puts items added during a write into one next write, and each promise waits for its own", async () => {
    const { gw, batches, pending } = controlled();
    let firstDone = false;
    let laterDone = 0;
    const first = gw.add(1).then(() => {
      firstDone = true;
    });
    const later = [2, 3, 4].map((i) =>
      gw.add(i).then(() => {
        laterDone++;
      }),
    );
    assert.deepEqual(batches, [[1]]);
    pending[0]!();
    await first;
    await tick();
    assert.ok(firstDone);
    assert.equal(laterDone, 0, "the second batch has not committed yet");
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
    pending[1]!();
    await Promise.all(later);
    assert.equal(laterDone, 3);
  });

  it("rejects only the callers of the failed write and goes on with the next", async () => {
    const { gw, batches, pending } = controlled();
    const a = gw.add(1);
    const b = gw.add(2);
    pending[0]!(new Error("boom"));
    await assert.rejects(a, /boom/);
    await tick();
    assert.deepEqual(batches, [[1], [2]]);
    pending[1]!();
    await b;
  });

  it("turns a write that throws synchronously into a rejection", async () => {
    const gw = new GroupWrite<number>(() => {
      throw new Error("sync");
    });
    await assert.rejects(gw.add(1), /sync/);
    await assert.rejects(gw.add(2), /sync/);
  });
});
