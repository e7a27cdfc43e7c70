import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";
import { prepareItems } from "../../../src/store/pgRows";
import { enqueueEachApart } from "../../../src/store/QuarantineSql";
import type { NewQueueItem } from "../../../src/store/types";

/** Nested arrays deeper than JSON.stringify can serialize. */
function tooDeep(): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < 100_000; i++) v = [v];
  return v;
}

describe("PgStore: per-item isolation and the quarantine (embedded PostgreSQL)", function () {
  this.timeout(60_000);
  let dir: string;
  let db: Awaited<ReturnType<typeof openDatabase>>;
  let store: PgStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-quarantine-"));
    db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
    store = await PgStore.open(db);
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await store.query("DELETE FROM delivery_queue");
    await store.query("DELETE FROM quarantine");
  });

  const ev = (n: number, content: Record<string, unknown> = { body: `m${n}` }): NewQueueItem => ({
    queueKey: "matrix:!r:example.org",
    kind: "matrix",
    payload: {
      event_id: `$e${n}`,
      room_id: "!r:example.org",
      sender: "@a:example.org",
      type: "m.room.message",
      content,
    },
  });

  it("stores NUL and lone surrogates in keys and values as U+FFFD, and hands back what it stored", async () => {
    const items = [ev(1, { ["bo\u0000dy"]: "a\uD800b", "\uDC00": { ["x\u0000"]: ["\u0000"] } }), ev(2)];
    const ids = await store.recordTransaction(`t-${Date.now()}`, items);
    assert.equal(ids?.length, 2);
    assert.ok(ids!.every((id) => typeof id === "string"));
    const [first] = await store.pendingQueue();
    const want = { "bo\uFFFDdy": "a\uFFFDb", "\uFFFD": { "x\uFFFD": ["\uFFFD"] } };
    assert.deepEqual((first.payload as { content: unknown }).content, want);
    assert.deepEqual(
      (items[0].payload as { content: unknown }).content,
      want,
      "the caller delivers the stored form",
    );
  });

  it("quarantines an item that cannot be serialized and queues the rest of the transaction, once", async () => {
    const key = `t-deep-${Date.now()}`;
    const ids = await store.recordTransaction(key, [ev(1), ev(2, { body: "deep", deep: tooDeep() }), ev(3)]);
    assert.equal(ids?.length, 3);
    assert.equal(typeof ids![0], "string");
    assert.equal(ids![1], undefined);
    assert.equal(typeof ids![2], "string");
    assert.equal(
      await store.recordTransaction(key, [ev(1), ev(3)]),
      undefined,
      "the transaction is recorded",
    );
    assert.deepEqual(
      (await store.pendingQueue()).map((p) => (p.payload as { event_id: string }).event_id),
      ["$e1", "$e3"],
    );
    const [q] = await store.listQuarantine();
    assert.equal(await store.countQuarantine(), 1);
    assert.equal(q.eventId, "$e2");
    assert.equal(q.roomId, "!r:example.org");
    assert.match(q.reason, /cannot be serialized/);
    assert.equal(q.payloadSize, 0);
    assert.equal(await store.requeueQuarantined(q.id), "not-retryable", "nothing stored, nothing to retry");
    assert.equal(await store.dropQuarantined(q.id), true);
    assert.equal(await store.countQuarantine(), 0);
  });

  it("quarantines what PostgreSQL refuses under a savepoint, keeping the others in order", async () => {
    const prepared = prepareItems([ev(1), ev(2), ev(3)]);
    prepared[1].json = '{"not json'; // as if jsonb refused the value
    const ids = await enqueueEachApart(db.pool, prepared);
    assert.equal(ids?.[1], undefined);
    assert.deepEqual(
      (await store.pendingQueue()).map((p) => (p.payload as { event_id: string }).event_id),
      ["$e1", "$e3"],
    );
    const [q] = await store.listQuarantine();
    assert.match(q.reason, /the database refused it: invalid input syntax for type json/);
    assert.equal(q.payloadSize, '{"not json'.length);
    assert.equal(
      await store.requeueQuarantined(q.id),
      "not-retryable",
      "a payload jsonb refuses is not put back",
    );
    assert.equal(await store.countQuarantine(), 1, "and stays quarantined");
  });

  it("moves a given-up queue item to the quarantine in one step, and back to the end of its queue on retry", async () => {
    const [a, b] = (await store.enqueue([ev(1), ev(2)])) as string[];
    const [item] = (await store.pendingQueue()).filter((p) => p.id === a);
    await store.failQueueItem(a, "refused");
    await store.quarantineQueueItem({ ...item, attempts: 1 }, "MatrixError 500: refused");
    assert.deepEqual(
      (await store.pendingQueue()).map((p) => p.id),
      [b],
    );
    const [q] = await store.listQuarantine();
    assert.equal(q.reason, "MatrixError 500: refused");
    assert.equal(q.attempts, 1);
    assert.equal(q.eventId, "$e1");
    const back = await store.requeueQuarantined(q.id);
    assert.ok(back && back !== "not-retryable");
    assert.equal((back.payload as { event_id: string }).event_id, "$e1");
    assert.ok(BigInt(back.id) > BigInt(b), "behind what was queued meanwhile");
    assert.equal(await store.countQuarantine(), 0);
    assert.equal(await store.requeueQuarantined(q.id), undefined, "gone once requeued");
    assert.equal(await store.requeueQuarantined("not-a-number"), undefined);
    assert.equal(await store.dropQuarantined("-1"), false);
  });

  it("isolates an item in a platform batch too (enqueue)", async () => {
    const ids = await store.enqueue([
      {
        queueKey: "remote:tg:1",
        kind: "remote",
        payload: { platform: "tg", event: { id: "9", chat: { id: "1" } }, x: tooDeep() },
      },
      {
        queueKey: "remote:tg:1",
        kind: "remote",
        payload: { platform: "tg", event: { id: "10", chat: { id: "1" } } },
      },
    ]);
    assert.equal(ids[0], undefined);
    assert.equal(typeof ids[1], "string");
    const [q] = await store.listQuarantine();
    assert.equal(q.eventId, "tg:1:9");
    assert.equal(q.kind, "remote");
  });
});
