import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";

describe("PgStore.completeQueueItem batching (embedded PostgreSQL)", function () {
  this.timeout(120_000);
  let dir: string;
  let store: PgStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-complete-"));
    store = await PgStore.open(await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 }));
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The next transaction id; every write transaction (and each reading) takes one. */
  const xact = async () =>
    Number((await store.query<{ x: string }>("SELECT pg_current_xact_id()::text AS x"))[0]!.x);

  it("deletes items finished together in fewer statements, and each caller's promise waits for its own row", async () => {
    const ids = await store.enqueue(
      Array.from({ length: 40 }, (_, i) => ({
        queueKey: `k${i % 4}`,
        kind: "matrix" as const,
        payload: { i },
      })),
    );
    const before = await xact();
    await Promise.all(ids.map((id) => store.completeQueueItem(id!)));
    const commits = (await xact()) - before - 1;
    assert.equal(await store.queueDepth(), 0);
    // The first id goes alone, the 39 finished while it ran go in one more.
    assert.ok(commits <= 2, `expected at most 2 delete transactions for 40 items, got ${commits}`);
  });

  it("deletes a lone item at once", async () => {
    const [id] = await store.enqueue([{ queueKey: "k", kind: "remote", payload: {} }]);
    await store.completeQueueItem(id!);
    assert.equal(await store.queueDepth(), 0);
  });

  it("writes message map rows and ghost joins of concurrent deliveries in fewer statements, each readable once its promise resolves", async () => {
    const before = await xact();
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await store.insertMessages([
          {
            platform: "p",
            chatId: `c${i % 4}`,
            remoteId: `r${i}`,
            part: 0,
            roomId: `!room${i % 4}:x`,
            eventId: `$e${i}`,
            senderMxid: `@g${i}:x`,
            timestamp: new Date(),
          },
        ]);
        assert.equal((await store.getMessageByRemote("p", `c${i % 4}`, `r${i}`))[0]?.eventId, `$e${i}`);
      }),
    );
    const mid = await xact();
    // The first row goes alone, the 39 added while it ran go in one more (reads take no id).
    assert.ok(
      mid - before - 1 <= 2,
      `expected at most 2 insert transactions for 40 rows, got ${mid - before - 1}`,
    );
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.setGhostInRoom(`@g${i}:x`, "!room:x", true)),
    );
    const joins = (await xact()) - mid - 1;
    assert.ok(joins <= 2, `expected at most 2 join transactions for 40 ghosts, got ${joins}`);
    for (let i = 0; i < 40; i++) assert.ok(await store.isGhostInRoom(`@g${i}:x`, "!room:x"));
  });

  it("reads the message map of concurrent deliveries in one statement, each caller getting its own rows", async () => {
    const weird = ["", "'; DROP TABLE message; --", "\u00e9\u{1F600}", "a".repeat(500)];
    const rows = weird.flatMap((remoteId, i) =>
      [0, 1, 2].slice(0, i + 1).map((part) => ({
        platform: "q",
        chatId: `c${i}`,
        remoteId,
        part,
        roomId: "!r:x",
        eventId: `$w${i}.${part}`,
        senderMxid: "@g:x",
        timestamp: new Date(),
      })),
    );
    await store.insertMessages(rows);
    const pool = (store as unknown as { pool: { query: (...a: unknown[]) => unknown } }).pool;
    const real = pool.query.bind(pool);
    let reads = 0;
    pool.query = (...a: unknown[]) => {
      if (typeof a[0] === "string" && a[0].includes("FROM message")) reads++;
      return real(...a);
    };
    try {
      // Each key asked for three times (twice missing chats), all at once.
      const asks = [0, 1, 2].flatMap(() =>
        weird.flatMap((remoteId, i) => [
          { chat: `c${i}`, remoteId, want: Math.min(i + 1, 3) },
          { chat: `none${i}`, remoteId, want: 0 },
        ]),
      );
      const got = await Promise.all(asks.map((a) => store.getMessageByRemote("q", a.chat, a.remoteId)));
      got.forEach((r, n) => {
        const a = asks[n]!;
        assert.equal(r.length, a.want, `rows of ${a.chat}`);
        r.forEach((m, part) => {
          assert.equal(m.part, part);
          assert.equal(m.remoteId, a.remoteId);
          assert.equal(m.chatId, a.chat);
        });
      });
      assert.ok(reads <= 2, `expected at most 2 reads for ${asks.length} lookups, got ${reads}`);
    } finally {
      pool.query = real;
    }
  });
});
