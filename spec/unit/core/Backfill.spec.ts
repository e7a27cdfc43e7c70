import { strict as assert } from "node:assert";
import fc from "fast-check";
import { acceptHistory, Backfill, type BackfillWake, isBackfillWake } from "../../../src/core/Backfill";
import type { NetworkClient, RemoteMessage } from "../../../src/core/connector";
import type { Store } from "../../../src/store/Store";
import type { Portal } from "../../../src/store/types";
import { fuzzParams } from "../../harness/fuzz";

const msg = (id: string, extra: Partial<RemoteMessage> = {}): RemoteMessage => ({
  kind: "message",
  chat: { id: "c1" },
  sender: { id: "u1" },
  timestamp: 1_700_000_000_000,
  id,
  text: `text ${id}`,
  ...extra,
});

describe("acceptHistory (a connector's history answer at the core's edge)", () => {
  it("keeps this chat's well-formed messages, each id once, the newest `limit`, in the order given", () => {
    const answer = [
      msg("1"),
      msg("2", { chat: { id: "other" } }),
      msg("3", { fromSelf: true }),
      msg("4"),
      msg("1"),
      { ...msg("5"), kind: "edit" },
      { ...msg("6"), text: 42 },
      { ...msg("7"), sender: {} },
      { ...msg("8"), attachments: "x" },
      msg("9", { chat: { id: "c1", threadId: "t" } }),
      null,
      "junk",
      msg("10"),
      msg("11"),
    ];
    assert.deepEqual(
      acceptHistory(answer, "c1", 10).map((m) => m.id),
      ["1", "4", "10", "11"],
    );
    assert.deepEqual(
      acceptHistory(answer, "c1", 2).map((m) => m.id),
      ["10", "11"],
    );
    assert.deepEqual(
      acceptHistory(answer, "c1/t", 5).map((m) => m.id),
      ["9"],
    );
    assert.deepEqual(acceptHistory(answer, "c1", 0), []);
    assert.deepEqual(acceptHistory({ length: 3 }, "c1", 5), []);
    assert.deepEqual(acceptHistory(undefined, "c1", 5), []);
  });

  it("never lets through anything but distinct messages of the chat, at most `limit`, whatever the answer holds (fuzz)", () => {
    const good = fc
      .record({
        id: fc.string({ maxLength: 4 }),
        text: fc.string({ maxLength: 8 }),
        chat: fc.constantFrom("c1", "c2"),
      })
      .map(({ id, text, chat }) => msg(id, { text, chat: { id: chat } }));
    const item = fc.oneof(
      good,
      fc.anything(),
      fc.record({ kind: fc.constant("message"), id: fc.anything() }),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.integer({ min: -2, max: 30 }), (answer, limit) => {
        const out = acceptHistory(answer, "c1", limit);
        assert.ok(out.length <= Math.max(0, limit));
        assert.equal(new Set(out.map((m) => m.id)).size, out.length);
        let from = 0;
        for (const m of out) {
          assert.equal(m.kind, "message");
          assert.equal(m.chat.id, "c1");
          assert.equal(m.chat.threadId, undefined);
          assert.ok(typeof m.id === "string" && m.id.length > 0);
          assert.equal(typeof m.text, "string");
          assert.equal(typeof m.timestamp, "number");
          // A subsequence of the answer: the connector's order (oldest first) is kept.
          const at = answer.indexOf(m, from);
          assert.ok(at >= from, "kept in the answer's order");
          from = at + 1;
        }
        // Nothing acceptable is lost below the limit: the newest distinct ones are all there.
        const acceptable = new Set(
          answer
            .filter(
              (a): a is RemoteMessage =>
                typeof a === "object" && a !== null && (a as RemoteMessage).kind === "message",
            )
            .filter(
              (a) => typeof a.id === "string" && a.id && a.chat?.id === "c1" && typeof a.text === "string",
            )
            .map((a) => a.id),
        );
        if (limit > 0) assert.equal(out.length, Math.min(limit, acceptable.size));
      }),
      fuzzParams(300),
    );
  });
});

describe("Backfill.soon and a wake's run (a portal made from Matrix)", () => {
  /** The key/value part of the store, in memory. */
  function kvStore() {
    const kv = new Map<string, string>();
    return {
      kv,
      store: {
        kvGet: async (ns: string, k: string) => kv.get(`${ns}|${k}`),
        kvSet: async (ns: string, k: string, v: string) => void kv.set(`${ns}|${k}`, v),
        kvDelete: async (ns: string, k: string) => void kv.delete(`${ns}|${k}`),
      } as unknown as Store,
    };
  }
  const history = (msgs: RemoteMessage[]) => ({ history: async () => msgs }) as unknown as NetworkClient;
  const portal = { platform: "discord", chatId: "c1", roomId: "!r:x", loginId: "l1" } as Portal;

  it("queues a wake only while the portal's backfill is due; the run marks nothing after `since` as history", async () => {
    const { store, kv } = kvStore();
    const wakes: BackfillWake[] = [];
    const backfill = new Backfill({ store, limit: 10, enqueue: async (w) => void wakes.push(w) });
    await backfill.soon("discord", "l1", { id: "c1" });
    assert.equal(wakes.length, 0, "nothing due: no wake");
    const client = history([
      msg("1", { timestamp: 1000 }),
      msg("2", { timestamp: 2000 }),
      msg("3", { timestamp: 3000 }),
    ]);
    await backfill.willCreate("discord", "c1", client);
    await backfill.soon("discord", "l1", { id: "c1" });
    assert.equal(wakes.length, 1);
    const wake = JSON.parse(JSON.stringify(wakes[0])) as unknown; // as read back from the queue
    assert.ok(isBackfillWake(wake));
    assert.deepEqual(wake.backfill.chat, { id: "c1" });
    const got: Array<[string, boolean, boolean]> = [];
    await backfill.run(portal, client, { chat: wake.backfill.chat, timestamp: 2500 }, async (m, how) => {
      got.push([m.id, how.history, how.resumed]);
    });
    assert.deepEqual(got, [
      ["1", true, false],
      ["2", true, false],
      ["3", false, false],
    ]);
    assert.equal(kv.size, 0, "the marker is cleared once done");
    // A second wake (a command delivered again) finds nothing due.
    await backfill.soon("discord", "l1", { id: "c1" });
    assert.equal(wakes.length, 1);
    let again = 0;
    await backfill.run(portal, client, { chat: { id: "c1" }, timestamp: 9 }, async () => void again++);
    assert.equal(again, 0);
  });

  it("a marker left by an earlier process is a resumed run; a platform without history is never due", async () => {
    const { store, kv } = kvStore();
    kv.set("core.backfill|discord:c1", "pending");
    const wakes: BackfillWake[] = [];
    const backfill = new Backfill({ store, limit: 10, enqueue: async (w) => void wakes.push(w) });
    await backfill.soon("discord", "l1", { id: "c1" });
    assert.equal(wakes.length, 1);
    const resumed: boolean[] = [];
    await backfill.run(
      portal,
      history([msg("1")]),
      { chat: { id: "c1" }, timestamp: Date.now() },
      async (_m, how) => {
        resumed.push(how.resumed);
      },
    );
    assert.deepEqual(resumed, [true]);
    await backfill.willCreate("telegram", "c2", {} as NetworkClient);
    await backfill.soon("telegram", "l2", { id: "c2" });
    assert.equal(wakes.length, 1);
  });

  it("isBackfillWake takes only the shape soon() writes", () => {
    const good = { platform: "slack", loginId: "l", backfill: { chat: { id: "D1" }, since: 5 } };
    assert.ok(isBackfillWake(good));
    assert.ok(isBackfillWake({ ...good, backfill: { chat: { id: "C1", threadId: "t" }, since: 5 } }));
    for (const bad of [
      null,
      "x",
      { ...good, platform: 1 },
      { ...good, backfill: { chat: { id: 1 }, since: 5 } },
      { ...good, backfill: { chat: { id: "D1", threadId: 3 }, since: 5 } },
      { ...good, backfill: { chat: { id: "D1" } } },
      { platform: "slack", loginId: "l", event: { kind: "message" } },
    ])
      assert.equal(isBackfillWake(bad), false, JSON.stringify(bad));
  });
});
