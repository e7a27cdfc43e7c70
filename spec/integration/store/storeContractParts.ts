import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Store } from "../../../src/store/Store";
import type { LoginRow, MessageRow, NewQueueItem } from "../../../src/store/types";

/** What the contract's sections share: the store under test and this test's random id. */
export interface ContractContext {
  store: Store;
  u: string;
}

const message = (u: string, over: Partial<MessageRow> = {}): MessageRow => ({
  platform: `tg${u}`,
  chatId: "chat-1",
  remoteId: "m1",
  part: 0,
  roomId: `!room${u}:example.org`,
  eventId: `$ev${u}-1`,
  senderMxid: "@tg_1:example.org",
  timestamp: new Date("2024-05-01T10:00:00.123Z"),
  ...over,
});

/** Message map: parts order, both unique keys, fan-out by event, last message. */
export function describeMessageMap(ctx: ContractContext): void {
  describe("message map", () => {
    it("returns the parts of a remote message in part order", async () => {
      const { store, u } = ctx;
      await store.insertMessages([
        message(u, { part: 2, eventId: `$ev${u}-c` }),
        message(u, { part: 0, eventId: `$ev${u}-a`, remoteSender: "123", threadRoot: `$root${u}` }),
        message(u, { part: 1, eventId: `$ev${u}-b` }),
      ]);
      const parts = await store.getMessageByRemote(`tg${u}`, "chat-1", "m1");
      assert.deepEqual(
        parts.map((p) => [p.part, p.eventId]),
        [
          [0, `$ev${u}-a`],
          [1, `$ev${u}-b`],
          [2, `$ev${u}-c`],
        ],
      );
      assert.deepEqual(
        parts[0],
        message(u, { eventId: `$ev${u}-a`, remoteSender: "123", threadRoot: `$root${u}` }),
      );
      assert.deepEqual(await store.getMessageByRemote(`tg${u}`, "chat-1", "nope"), []);
      await store.insertMessages([]);
    });

    it("leaves existing rows alone on either unique key", async () => {
      const { store, u } = ctx;
      await store.insertMessages([message(u)]);
      // Same (platform, chat, remote id, part), other event.
      await store.insertMessages([message(u, { eventId: `$dup${u}` })]);
      // Same (event, platform, chat, part), other remote id; plus one new row in the same batch.
      await store.insertMessages([
        message(u, { remoteId: "m-other" }),
        message(u, { remoteId: "m2", eventId: `$ev${u}-2` }),
      ]);
      assert.deepEqual(
        (await store.getMessageByRemote(`tg${u}`, "chat-1", "m1")).map((m) => m.eventId),
        [`$ev${u}-1`],
      );
      assert.deepEqual(await store.getMessageByRemote(`tg${u}`, "chat-1", "m-other"), []);
      assert.equal((await store.getMessageByRemote(`tg${u}`, "chat-1", "m2")).length, 1);
      assert.deepEqual(await store.getMessagesByEvent(`$dup${u}`), []);
    });

    it("finds every remote copy of an event, deletes them, and finds the last message", async () => {
      const { store, u } = ctx;
      const ev = `$fanout${u}`;
      await store.insertMessages([
        message(u, {
          eventId: ev,
          chatId: "chat-2",
          remoteId: "x",
          timestamp: new Date("2024-05-01T10:00:00Z"),
        }),
        message(u, {
          eventId: ev,
          chatId: "chat-1",
          remoteId: "y",
          timestamp: new Date("2024-05-01T10:00:00Z"),
        }),
        message(u, {
          eventId: ev,
          platform: `dc${u}`,
          remoteId: "z",
          timestamp: new Date("2024-05-01T10:00:00Z"),
        }),
        message(u, { eventId: `$older${u}`, remoteId: "w", timestamp: new Date("2024-04-01T10:00:00Z") }),
      ]);
      assert.deepEqual(
        (await store.getMessagesByEvent(ev)).map((m) => `${m.platform}/${m.chatId}/${m.remoteId}`),
        [`dc${u}/chat-1/z`, `tg${u}/chat-1/y`, `tg${u}/chat-2/x`],
      );
      assert.equal((await store.lastMessage(`tg${u}`, "chat-1"))?.remoteId, "y");
      await store.deleteMessagesByEvent(ev, { platform: `tg${u}`, chatId: "chat-2" });
      assert.deepEqual(
        (await store.getMessagesByEvent(ev)).map((m) => `${m.platform}/${m.chatId}/${m.remoteId}`),
        [`dc${u}/chat-1/z`, `tg${u}/chat-1/y`],
        "only the copies in that chat are forgotten",
      );
      await store.deleteMessagesByEvent(ev);
      assert.deepEqual(await store.getMessagesByEvent(ev), []);
      assert.equal((await store.lastMessage(`tg${u}`, "chat-1"))?.remoteId, "w");
      assert.equal(await store.lastMessage(`tg${u}`, "chat-2"), undefined);
    });

    it("takes the newest message and its last part as the last message", async () => {
      const { store, u } = ctx;
      await store.insertMessages([
        message(u, {
          remoteId: "new",
          part: 0,
          eventId: `$n0${u}`,
          timestamp: new Date("2024-06-01T00:00:00Z"),
        }),
        message(u, {
          remoteId: "new",
          part: 1,
          eventId: `$n1${u}`,
          timestamp: new Date("2024-06-01T00:00:00Z"),
        }),
        message(u, { remoteId: "old", eventId: `$o${u}`, timestamp: new Date("2024-05-01T00:00:00Z") }),
      ]);
      const last = await store.lastMessage(`tg${u}`, "chat-1");
      assert.deepEqual([last?.remoteId, last?.part], ["new", 1]);
    });

    it("takes the greatest order key as the last message, whatever the timestamps; rows without a key come after", async () => {
      const { store, u } = ctx;
      const same = new Date("2024-07-01T00:00:00.123Z");
      // Slack-like ts of the same millisecond, written out of order: the key decides.
      const keyed = ["1700000000.123457", "1700000000.123459", "1700000000.123458"];
      await store.insertMessages([
        message(u, {
          remoteId: "keyless-newer",
          eventId: `$k${u}`,
          timestamp: new Date("2024-08-01T00:00:00Z"),
        }),
        ...keyed.map((remoteId, i) =>
          message(u, { remoteId, eventId: `$s${i}${u}`, timestamp: same, orderKey: `10${remoteId}` }),
        ),
      ]);
      const last = await store.lastMessage(`tg${u}`, "chat-1");
      assert.deepEqual([last?.remoteId, last?.orderKey], ["1700000000.123459", "101700000000.123459"]);
      // A longer id ("10", key "0210") after a shorter one ("9", key "019"), and after a keyless row.
      await store.insertMessages([
        message(u, { chatId: "chat-9", remoteId: "9", eventId: `$a${u}`, timestamp: same, orderKey: "019" }),
        message(u, {
          chatId: "chat-9",
          remoteId: "10",
          eventId: `$b${u}`,
          timestamp: same,
          orderKey: "0210",
        }),
        message(u, {
          chatId: "chat-9",
          remoteId: "old",
          eventId: `$c${u}`,
          timestamp: new Date("2030-01-01Z"),
        }),
      ]);
      assert.equal((await store.lastMessage(`tg${u}`, "chat-9"))?.remoteId, "10");
      // Without any key, the timestamp order stays.
      await store.insertMessages([
        message(u, {
          chatId: "chat-8",
          remoteId: "a",
          eventId: `$d${u}`,
          timestamp: new Date("2024-01-01Z"),
        }),
        message(u, {
          chatId: "chat-8",
          remoteId: "b",
          eventId: `$e${u}`,
          timestamp: new Date("2024-02-01Z"),
        }),
      ]);
      assert.equal((await store.lastMessage(`tg${u}`, "chat-8"))?.remoteId, "b");
    });
  });
}

/** Logins (credentials round trip), Matrix users, key/value. */
export function describeAccounts(ctx: ContractContext): void {
  describe("logins", () => {
    it("round-trips credentials and filters by platform", async () => {
      const { store, u } = ctx;
      const token = randomBytes(16).toString("hex");
      const login: LoginRow = {
        id: `tg-${u}`,
        platform: `tg${u}`,
        ownerMxid: "@alice:example.org",
        remoteId: "777",
        credentials: { token, nested: { list: [1, "two", null, true], emoji: "🦀", quote: 'a"b\\c' } },
        state: "connected",
      };
      assert.equal(await store.getLogin(login.id), undefined);
      await store.upsertLogin(login);
      await store.upsertLogin({
        id: `dc-${u}`,
        platform: `dc${u}`,
        ownerMxid: "@bob:example.org",
        credentials: {},
      });
      await store.upsertLogin({ ...login, id: `tg-${u}-0` });
      assert.deepEqual(await store.getLogin(login.id), login);
      assert.deepEqual(
        (await store.listLogins(`tg${u}`)).map((l) => l.id),
        [`tg-${u}`, `tg-${u}-0`],
      );
      assert.deepEqual(await store.getLogin(`dc-${u}`), {
        id: `dc-${u}`,
        platform: `dc${u}`,
        ownerMxid: "@bob:example.org",
        credentials: {},
      });
      const everyone = (await store.listLogins()).map((l) => l.id);
      assert.ok(everyone.includes(`dc-${u}`) && everyone.includes(`tg-${u}`));

      await store.upsertLogin({ ...login, credentials: { token: "rotated" }, state: undefined });
      const rotated = await store.getLogin(login.id);
      assert.deepEqual(rotated?.credentials, { token: "rotated" });
      assert.equal("state" in rotated!, false);

      await store.deleteLogin(login.id);
      assert.equal(await store.getLogin(login.id), undefined);
    });

    it("stores text that jsonb cannot hold (NUL, lone surrogate) instead of failing", async () => {
      const { store, u } = ctx;
      await store.upsertLogin({
        id: `odd-${u}`,
        platform: `tg${u}`,
        ownerMxid: "@alice:example.org",
        credentials: { a: "x\u0000y", b: "\uD800z" },
      });
      assert.deepEqual((await store.getLogin(`odd-${u}`))?.credentials, { a: "x\uFFFDy", b: "\uFFFDz" });
    });
  });

  describe("Matrix users", () => {
    it("round-trips and finds a user by management room", async () => {
      const { store, u } = ctx;
      const mxid = `@u${u}:example.org`;
      assert.equal(await store.getUser(mxid), undefined);
      await store.upsertUser({ mxid });
      assert.deepEqual(await store.getUser(mxid), { mxid });
      const refusedAt = new Date("2024-02-03T04:05:06.789Z");
      await store.upsertUser({ mxid, managementRoom: `!mgmt${u}:example.org`, refusedAt });
      assert.deepEqual(await store.getUser(mxid), {
        mxid,
        managementRoom: `!mgmt${u}:example.org`,
        refusedAt,
      });
      assert.equal((await store.getUserByManagementRoom(`!mgmt${u}:example.org`))?.mxid, mxid);
      assert.equal(await store.getUserByManagementRoom(`!none${u}:example.org`), undefined);
    });
  });

  describe("key/value", () => {
    it("upserts per namespace", async () => {
      const { store, u } = ctx;
      assert.equal(await store.kvGet(`ns${u}`, "k"), undefined);
      await store.kvSet(`ns${u}`, "k", "one");
      await store.kvSet(`other${u}`, "k", "elsewhere");
      await store.kvSet(`ns${u}`, "k", "two");
      assert.equal(await store.kvGet(`ns${u}`, "k"), "two");
      assert.equal(await store.kvGet(`other${u}`, "k"), "elsewhere");
      await store.kvSet(`ns${u}`, "empty", "");
      assert.equal(await store.kvGet(`ns${u}`, "empty"), "");
    });
  });
}

/** Idempotent transactions and the durable queue's order, attempts and completion. */
export function describeQueue(ctx: ContractContext): void {
  const drainQueue = async () => {
    for (const item of await ctx.store.pendingQueue()) await ctx.store.completeQueueItem(item.id);
  };
  describe("transactions and delivery queue", () => {
    const items = (n: number, key = `matrix:!q${ctx.u}:example.org`): NewQueueItem[] =>
      Array.from({ length: n }, (_, i) => ({
        queueKey: key,
        kind: "matrix",
        payload: { seq: i, body: `m${i}` },
      }));

    it("records a transaction once and queues its items in order", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const txn = `txn-${u}`;
      const ids = await store.recordTransaction(txn, items(3));
      assert.equal(ids?.length, 3);
      assert.deepEqual(await store.recordTransaction(txn, items(5)), undefined, "a retry queues nothing");
      const pending = await store.pendingQueue();
      assert.deepEqual(
        pending.map((p) => [p.id, (p.payload as { seq: number }).seq]),
        ids!.map((id, i) => [id, i]),
      );
      assert.equal(await store.queueDepth(), 3);
      assert.ok(pending.every((p) => p.attempts === 0 && p.kind === "matrix" && p.createdAt instanceof Date));
    });

    it("replaces an item by its successors in one write, once", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const [parent] = (await store.enqueue(items(1))) as string[];
      const later = (await store.enqueue(items(1, `matrix:!later${u}:example.org`))) as string[];
      const children = ["a", "b", "c"].map((c, i) => ({
        queueKey: `matrix:!q${u}:example.org|${c}`,
        kind: "matrix" as const,
        payload: { chat: c },
        // A successor of an item tried before it was replaced carries its attempts.
        ...(i === 1 ? { attempts: 1 } : {}),
      }));
      const ids = await store.replaceQueueItem(parent!, children);
      assert.equal(ids.length, 3);
      assert.ok(
        ids.every((id) => BigInt(id) > BigInt(later[0]!)),
        "successors queue after what is already there",
      );
      const pending = await store.pendingQueue();
      assert.deepEqual(
        pending.map((p) => p.id),
        [later[0], ...ids],
        "the replaced item is gone",
      );
      assert.deepEqual(
        pending.slice(1).map((p) => (p.payload as { chat: string }).chat),
        ["a", "b", "c"],
      );
      assert.deepEqual(
        pending.slice(1).map((p) => p.attempts),
        [0, 1, 0],
      );
      assert.deepEqual(
        await store.replaceQueueItem(parent!, children),
        [],
        "a second replacement adds nothing",
      );
      assert.equal(await store.queueDepth(), 4);
    });

    it("replaces concurrent items in one statement, each by its own successors, a repeated one once", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const parents = (await store.enqueue(items(4))) as string[];
      const kids = (tag: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          queueKey: `matrix:!q${u}:example.org|${tag}${i}`,
          kind: "matrix" as const,
          payload: { of: tag, i },
        }));
      // Started together: the first write goes alone, the rest share the next statement.
      const [a, b, again, c, gone] = await Promise.all([
        store.replaceQueueItem(parents[0]!, kids("a", 2)),
        store.replaceQueueItem(parents[1]!, kids("b", 3)),
        store.replaceQueueItem(parents[1]!, kids("b-again", 2)),
        store.replaceQueueItem(parents[2]!, kids("c", 1)),
        store.replaceQueueItem(`${BigInt(parents[3]!) + 1000n}`, kids("none", 2)),
      ]);
      assert.deepEqual([a.length, b.length, again.length, c.length, gone.length], [2, 3, 0, 1, 0]);
      const pending = await store.pendingQueue();
      const byId = new Map(pending.map((p) => [p.id, p.payload as { of: string; i: number }]));
      for (const [tag, ids] of [
        ["a", a],
        ["b", b],
        ["c", c],
      ] as const)
        assert.deepEqual(
          ids.map((id) => byId.get(id)),
          ids.map((_, i) => ({ of: tag, i })),
          `${tag}'s successors are its own, in order`,
        );
      assert.deepEqual(
        pending.map((p) => p.id).sort(),
        [parents[3]!, ...a, ...b, ...c].sort(),
        "the replaced items are gone, nothing else was added",
      );
      // One that PostgreSQL refuses (no row id) fails alone; the one sharing its statement goes through.
      // (The first, of an item replaced before, occupies the writer so that the next two share.)
      const [first, bad, ok] = await Promise.allSettled([
        store.replaceQueueItem(parents[0]!, kids("a", 1)),
        store.replaceQueueItem("not-a-row-id", kids("bad", 1)),
        store.replaceQueueItem(parents[3]!, kids("d", 1)),
      ]);
      assert.deepEqual(first, { status: "fulfilled", value: [] });
      assert.equal(bad.status, "rejected");
      assert.equal(ok.status, "fulfilled");
      assert.equal((ok as PromiseFulfilledResult<string[]>).value.length, 1);
    });

    const DAY = 24 * 3600_000;
    const age = (ids: string[], days: number) =>
      ctx.store.query(
        "UPDATE appservice_txn SET received_at = now() - $2::int * interval '1 day' WHERE txn_id = ANY($1)",
        [ids, days],
      );
    const stored = async (ids: string[]) =>
      (
        await ctx.store.query<{ txn_id: string }>(
          "SELECT txn_id FROM appservice_txn WHERE txn_id = ANY($1)",
          [ids],
        )
      )
        .map((r) => r.txn_id)
        .sort();

    it("prunes transaction ids older than the retention and keeps recent ones idempotent", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const [old1, old2, week, fresh] = ["old1", "old2", "six-days", "fresh"].map((n) => `prune-${n}-${u}`);
      for (const id of [old1, old2, week, fresh]) assert.ok(await store.recordTransaction(id!, items(1)));
      await age([old1!, old2!], 8);
      await age([week!], 6);
      const removed = await store.pruneTransactions(7 * DAY);
      assert.ok(removed >= 2, `removed ${removed}`);
      assert.deepEqual(await stored([old1!, old2!, week!, fresh!]), [fresh!, week!].sort());
      assert.equal(
        await store.recordTransaction(fresh!, items(2)),
        undefined,
        "a recent retry still queues nothing",
      );
      assert.equal(await store.recordTransaction(week!, items(2)), undefined, "within the retention too");
      assert.equal(await store.queueDepth(), 4, "only the first recording queued");
      assert.equal(await store.pruneTransactions(7 * DAY), 0, "a second pass finds nothing");
    });

    it("counts the retention back from the newest transaction, so an outage forgets nothing recent", async () => {
      const { store, u } = ctx;
      const [before, last] = [`outage-before-${u}`, `outage-last-${u}`];
      assert.ok(await store.recordTransaction(before, []));
      assert.ok(await store.recordTransaction(last, []));
      await age([before], 1);
      // As if nothing had arrived for a month: every recorded id ages alike.
      await store.query("UPDATE appservice_txn SET received_at = received_at - interval '30 days'");
      await store.pruneTransactions(7 * DAY);
      assert.deepEqual(await stored([before, last]), [before, last].sort());
      assert.equal(await store.recordTransaction(before, []), undefined, "still a retry after the outage");
    });

    it("records a transaction without items, and lets one of two concurrent retries win", async () => {
      const { store, u } = ctx;
      await drainQueue();
      assert.deepEqual(await store.recordTransaction(`empty-${u}`, []), []);
      assert.equal(await store.recordTransaction(`empty-${u}`, []), undefined);
      const results = await Promise.all([
        store.recordTransaction(`race-${u}`, items(2)),
        store.recordTransaction(`race-${u}`, items(2)),
      ]);
      assert.equal(results.filter((r) => r !== undefined).length, 1);
      assert.equal(await store.queueDepth(), 2);
    });

    it("enqueues a batch in order with ascending string ids and payloads intact", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const batch: NewQueueItem[] = [
        ...items(40, `remote:tg:${u}`),
        { queueKey: "k", kind: "remote", payload: "a string" },
        { queueKey: "k", kind: "remote", payload: 42 },
        { queueKey: "k", kind: "remote", payload: null },
        { queueKey: "k", kind: "remote", payload: [1, { deep: ["x"] }] },
      ];
      const ids = (await store.enqueue(batch)) as string[];
      assert.equal(ids.length, batch.length);
      assert.ok(ids.every((id) => typeof id === "string" && /^\d+$/.test(id)));
      assert.deepEqual(
        [...ids].sort((a, b) => Number(BigInt(a) - BigInt(b))),
        ids,
      );
      const pending = await store.pendingQueue();
      assert.deepEqual(
        pending.map((p) => p.id),
        ids,
      );
      assert.deepEqual(
        pending.map((p) => p.payload),
        batch.map((b) => b.payload),
      );
      assert.deepEqual(await store.enqueue([]), []);
      const later = await store.enqueue(items(1));
      assert.ok(BigInt(later[0]!) > BigInt(ids[ids.length - 1]!));
    });

    it("queues items and writes a key/value entry (a polling offset) in the same transaction", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const kv = { namespace: `ns${u}`, key: "offset:1", value: "42" };
      const ids = await store.enqueue(items(2), kv);
      assert.equal(ids.length, 2);
      assert.equal(await store.kvGet(kv.namespace, kv.key), "42");
      assert.deepEqual(await store.enqueue([], { ...kv, value: "43" }), []);
      assert.equal(await store.kvGet(kv.namespace, kv.key), "43", "an empty batch still moves the offset");
      // An item PostgreSQL refuses (NUL in a text column) is quarantined apart; the entry is still written.
      const bad: NewQueueItem = { queueKey: "matrix:!nul\u0000:example.org", kind: "matrix", payload: {} };
      const mixed = await store.enqueue([...items(1), bad], { ...kv, value: "44" });
      assert.equal(mixed.length, 2);
      assert.ok(mixed[0] !== undefined && mixed[1] === undefined);
      assert.equal(await store.kvGet(kv.namespace, kv.key), "44");
      assert.deepEqual(
        (await store.pendingQueue()).map((p) => p.id),
        [...ids, mixed[0]],
      );
    });

    it("removes the item whose delivery a message-map write records, in that write", async () => {
      const { store, u } = ctx;
      await drainQueue();
      const [a, b] = (await store.enqueue(items(2))) as string[];
      const [itemA, itemB] = await store.pendingQueue();
      assert.deepEqual([itemA!.id, itemB!.id], [a, b]);
      // Two deliveries at once share one statement; each takes only its own item out.
      await Promise.all([
        store.insertMessages([message(u, { remoteId: "done-a", eventId: `$done${u}-a` })], itemA),
        store.insertMessages([message(u, { remoteId: "done-x", eventId: `$done${u}-x` })]),
      ]);
      assert.equal(itemA!.completed, true);
      assert.equal(itemB!.completed, undefined);
      assert.deepEqual(
        (await store.pendingQueue()).map((p) => p.id),
        [b],
      );
      assert.equal((await store.getMessageByRemote(`tg${u}`, "chat-1", "done-a")).length, 1);
      assert.equal((await store.getMessageByRemote(`tg${u}`, "chat-1", "done-x")).length, 1);
      // Rows already there (a delivery recorded before a crash) still take the item out.
      await store.insertMessages([message(u, { remoteId: "done-a", eventId: `$done${u}-a` })], itemB);
      assert.deepEqual(await store.pendingQueue(), []);
    });

    it("counts failed attempts and removes completed items", async () => {
      const { store } = ctx;
      await drainQueue();
      const [a, b] = await store.enqueue(items(2));
      await store.failQueueItem(a!, "HTTP 502 from homeserver");
      await store.failQueueItem(a!, "HTTP 502 again");
      let pending = await store.pendingQueue();
      assert.deepEqual(
        pending.map((p) => [p.id, p.attempts]),
        [
          [a, 2],
          [b, 0],
        ],
      );
      await store.completeQueueItem(a!);
      pending = await store.pendingQueue();
      assert.deepEqual(
        pending.map((p) => p.id),
        [b],
      );
      assert.equal(await store.queueDepth(), 1);
      await store.completeQueueItem(a!);
    });
  });
}
