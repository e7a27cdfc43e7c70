import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import type pg from "pg";
import { integerOrderKey } from "../../../src/core/orderKey";
import { type Database, openDatabase } from "../../../src/store/Database";
import { MessageLookup } from "../../../src/store/MessageLookup";
import { PgStore } from "../../../src/store/PgStore";
import type { MessageRow } from "../../../src/store/types";
import { fuzzParams } from "../../harness/fuzz";

describe("MessageLookup: a message newer than everything of its chat is not read for (embedded PostgreSQL)", function () {
  this.timeout(120_000);
  let dir: string;
  let db: Database;
  let store: PgStore;
  let reads = 0;
  /** The pool as MessageLookup sees it, counting statements. */
  let counted: pg.Pool;
  let n = 0;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-lookup-"));
    db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
    store = await PgStore.open(db);
    counted = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop === "query")
          return (...args: unknown[]) => {
            reads++;
            return (target.query as (...a: unknown[]) => unknown).apply(target, args);
          };
        return Reflect.get(target, prop, receiver);
      },
    });
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const row = (chatId: string, remoteId: string, part = 0): MessageRow => ({
    platform: "telegram",
    chatId,
    remoteId,
    part,
    roomId: "!r:x",
    eventId: `$${chatId}-${remoteId}-${part}-${n++}`,
    senderMxid: "@g:x",
    timestamp: new Date(),
    orderKey: integerOrderKey(remoteId),
  });

  it("reads the ceiling once per chat, then answers new messages without a read and old ones with one", async () => {
    const lookup = new MessageLookup(counted);
    await store.insertMessages([row("c1", "10"), row("c1", "12")]); // written before this process knew
    reads = 0;
    assert.deepEqual(await lookup.byRemote("telegram", "c1", "13", integerOrderKey("13")), []);
    assert.equal(reads, 1, "the ceiling");
    assert.deepEqual(await lookup.byRemote("telegram", "c1", "14", integerOrderKey("14")), []);
    assert.equal(reads, 1, "above the ceiling: no read");
    const old = await lookup.byRemote("telegram", "c1", "12", integerOrderKey("12"));
    assert.equal(old.length, 1);
    assert.equal(reads, 2, "at or below the ceiling: read");
    // A write raises the ceiling before it is made: the message is found from then on.
    const r = row("c1", "20");
    lookup.raise([r]);
    await store.insertMessages([r]);
    assert.equal((await lookup.byRemote("telegram", "c1", "20", integerOrderKey("20"))).length, 1);
    // Without an order key (or a key it cannot compare), always read.
    reads = 0;
    await lookup.byRemote("telegram", "c1", "x-no-key");
    await lookup.byRemote("telegram", "c1", "30", "ключ");
    assert.equal(reads, 2);
  });

  it("a write made while the ceiling is being read counts", async () => {
    const lookup = new MessageLookup(counted);
    const r = row("c2", "7");
    const ceiling = lookup.byRemote("telegram", "c2", "8", integerOrderKey("8"));
    lookup.raise([r]); // the ceiling's read is under way
    await store.insertMessages([r]);
    assert.deepEqual(await ceiling, []);
    assert.equal((await lookup.byRemote("telegram", "c2", "7", integerOrderKey("7"))).length, 1);
  });

  it("a read of the map made while a write is under way waits for it (a delivery's write finishes while its lane goes on)", async () => {
    const r = row("c3", "5");
    const write = store.insertMessages([r]); // not awaited, as a finishing delivery's
    const [byRemote, byEvent] = await Promise.all([
      store.getMessageByRemote("telegram", "c3", "5", integerOrderKey("5")),
      store.getMessagesByEvent(r.eventId),
    ]);
    await write;
    assert.equal(byRemote.length, 1);
    assert.equal(byEvent.length, 1);
    // The next message of the chat is newer than the row being written: answered without a read.
    assert.deepEqual(await store.getMessageByRemote("telegram", "c3", "6", integerOrderKey("6")), []);
  });

  it("property: whatever the writes and reads, it answers what a read of the table answers", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            write: fc.boolean(),
            chat: fc.constantFrom("a", "b", "c"),
            id: fc.integer({ min: 1, max: 60 }),
            parts: fc.integer({ min: 1, max: 2 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (steps) => {
          const prefix = `p${n++}-`;
          const lookup = new MessageLookup(db.pool);
          const written = new Set<string>();
          for (const s of steps) {
            const chat = prefix + s.chat;
            const id = String(s.id);
            if (s.write && !written.has(`${chat}/${id}`)) {
              written.add(`${chat}/${id}`);
              const rows = Array.from({ length: s.parts }, (_, part) => row(chat, id, part));
              lookup.raise(rows);
              await store.insertMessages(rows);
              continue;
            }
            const got = await lookup.byRemote("telegram", chat, id, integerOrderKey(id));
            const want = await store.query<{ part: number }>(
              "SELECT part FROM message WHERE platform = 'telegram' AND chat_id = $1 AND remote_id = $2 ORDER BY part",
              [chat, id],
            );
            assert.deepEqual(
              got.map((m) => m.part),
              want.map((w) => w.part),
            );
          }
        },
      ),
      fuzzParams(40),
    ));
});
