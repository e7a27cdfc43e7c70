import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CatchUpHomeserver,
  homeserverCatchUp,
  LOOK_BACK_MS,
  MAX_REMEMBERED,
  MatrixCatchUp,
} from "../../../src/core/MatrixCatchUp";
import type { MatrixApi, RoomEvent } from "../../../src/matrix/MatrixApi";
import { fuzzParams } from "../../harness/fuzz";

const BOT = "@bot:hs";
const AI = "@ai:hs";

function ev(room: string, n: number, ts: number, sender = "@alice:hs"): RoomEvent {
  return {
    event_id: `$${room}-${n}`,
    room_id: room,
    sender,
    type: "m.room.message",
    origin_server_ts: ts,
    content: { msgtype: "m.text", body: `${room} ${n}` },
  } as RoomEvent;
}

/** Rooms as a homeserver keeps them (oldest first), read back in pages of `page`. */
class FakeHomeserver implements CatchUpHomeserver {
  readonly timelines = new Map<string, RoomEvent[]>();
  readonly joined = new Map<string, string[]>();
  calls = 0;
  failNext = 0;
  constructor(private readonly page = 20) {}

  async joinedRooms(userId: string): Promise<string[]> {
    this.calls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("homeserver unreachable (ECONNREFUSED)");
    }
    return this.joined.get(userId) ?? [];
  }

  async back(userId: string, roomId: string, from?: string): Promise<{ events: RoomEvent[]; end?: string }> {
    this.calls++;
    assert.ok(this.joined.get(userId)?.includes(roomId), `${userId} reads ${roomId}, which it is not in`);
    const all = this.timelines.get(roomId) ?? [];
    const top = from === undefined ? all.length : Number(from);
    const start = Math.max(0, top - this.page);
    return { events: all.slice(start, top).reverse(), end: start > 0 ? String(start) : undefined };
  }
}

function rig(hs: FakeHomeserver, users = [BOT]) {
  let clock = 1_000_000;
  const delivered: RoomEvent[][] = [];
  let resumed = 0;
  const catchUp = new MatrixCatchUp({
    homeserver: hs,
    users,
    now: () => clock,
    retryMs: 1,
    deliver: async (events) => {
      delivered.push(events);
      return events;
    },
    resume: () => {
      resumed++;
    },
  });
  return {
    catchUp,
    delivered,
    resumed: () => resumed,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe("MatrixCatchUp: events the homeserver never pushed", () => {
  it("hands on, in each room's order, the events since the window that were not received; nothing twice", async () => {
    const hs = new FakeHomeserver(3);
    const r = rig(hs, [BOT, AI]);
    hs.joined.set(BOT, ["!a", "!b"]);
    hs.joined.set(AI, ["!b", "!ai"]);
    const t = r.now();
    // Old history (before the window), then a burst, part of it pushed.
    hs.timelines.set("!a", [
      ev("!a", 0, t - LOOK_BACK_MS - 5_000),
      ...[1, 2, 3, 4, 5, 6, 7].map((n) => ev("!a", n, t + n)),
    ]);
    hs.timelines.set("!b", [ev("!b", 1, t + 1), ev("!b", 2, t + 2)]);
    hs.timelines.set("!ai", [ev("!ai", 1, t + 3)]);
    r.advance(10);
    r.catchUp.received(hs.timelines.get("!a")!.slice(1, 4)); // !a 1–3 were pushed
    r.catchUp.received([ev("!b", 1, t + 1)]);
    r.catchUp.suspect("test");
    assert.equal(r.catchUp.busy, true, "transactions are held while it reads");
    await r.catchUp.settled();
    assert.equal(r.catchUp.busy, false);
    assert.equal(r.resumed(), 1);
    const ids = r.delivered.flat().map((e) => e.event_id);
    assert.deepEqual(
      ids.filter((i) => i.startsWith("$!a-")),
      ["$!a-4", "$!a-5", "$!a-6", "$!a-7"],
    );
    assert.deepEqual(ids.filter((i) => !i.startsWith("$!a-")).sort(), ["$!ai-1", "$!b-2"]);
    // What a catch-up handed on counts as received: a transaction that brings it after all is
    // left with nothing, and a second catch-up hands on nothing more.
    assert.deepEqual(r.catchUp.unseen(hs.timelines.get("!a")!.slice(4)), []);
    r.catchUp.suspect("again");
    await r.catchUp.settled();
    assert.equal(r.delivered.length, 1);
  });

  it("reads from before the last transaction, not from now: a quiet hour later it still finds what was lost", async () => {
    const hs = new FakeHomeserver();
    const r = rig(hs);
    hs.joined.set(BOT, ["!q"]);
    const t = r.now();
    hs.timelines.set("!q", [ev("!q", 1, t), ev("!q", 2, t + 5)]);
    r.catchUp.received([ev("!q", 1, t)]);
    r.advance(3_600_000);
    r.catchUp.suspect("the homeserver restarted");
    await r.catchUp.settled();
    assert.deepEqual(
      r.delivered.flat().map((e) => e.event_id),
      ["$!q-2"],
    );
  });

  it("reads no further back than just before this process's first transaction (the last process had those)", async () => {
    const hs = new FakeHomeserver();
    const r = rig(hs);
    hs.joined.set(BOT, ["!s"]);
    const t = r.now();
    hs.timelines.set("!s", [ev("!s", 1, t - 10_000), ev("!s", 2, t - 1_000), ev("!s", 3, t + 5)]);
    r.catchUp.received([]); // this process's first transaction
    r.advance(20);
    r.catchUp.suspect("the homeserver restarted");
    await r.catchUp.settled();
    assert.deepEqual(
      r.delivered.flat().map((e) => e.event_id),
      ["$!s-2", "$!s-3"],
    );
  });

  it("a homeserver still down: tries again until it answers, then resumes the held transactions once", async () => {
    const hs = new FakeHomeserver();
    const r = rig(hs);
    hs.joined.set(BOT, ["!d"]);
    hs.timelines.set("!d", [ev("!d", 1, r.now())]);
    r.catchUp.suspect("down");
    assert.equal(hs.calls, 0, "nothing was received yet: nothing can have been in flight");
    r.catchUp.received([]);
    hs.failNext = 3;
    r.catchUp.suspect("down");
    await r.catchUp.settled();
    assert.equal(hs.failNext, 0);
    assert.deepEqual(
      r.delivered.flat().map((e) => e.event_id),
      ["$!d-1"],
    );
    assert.equal(r.resumed(), 1);
  });

  it("keeps at most MAX_REMEMBERED received ids, the newest", () => {
    const r = rig(new FakeHomeserver());
    const many = Array.from({ length: MAX_REMEMBERED + 10 }, (_, i) => ev("!m", i, r.now()));
    r.catchUp.received(many);
    assert.equal(r.catchUp.unseen(many).length, 10);
    assert.deepEqual(
      r.catchUp.unseen(many).map((e) => e.event_id),
      many.slice(0, 10).map((e) => e.event_id),
    );
  });

  it("property: for any timelines, pushed subset and page size, exactly the unpushed events in the window, each once, in room order", () => {
    const room = fc.record({
      // Offsets from the last transaction: some before the window, most in it.
      offsets: fc.array(fc.integer({ min: -LOOK_BACK_MS * 2, max: 5_000 }), { maxLength: 40 }),
      pushed: fc.array(fc.boolean(), { maxLength: 40 }),
      reader: fc.constantFrom(BOT, AI, "both"),
    });
    return fc.assert(
      fc.asyncProperty(
        fc.array(room, { maxLength: 6 }),
        fc.integer({ min: 1, max: 25 }),
        async (rooms, page) => {
          const hs = new FakeHomeserver(page);
          const r = rig(hs, [BOT, AI]);
          hs.joined.set(BOT, []);
          hs.joined.set(AI, []);
          r.catchUp.received([]); // this process's first transaction, long before
          r.advance(LOOK_BACK_MS * 3);
          const t = r.now();
          const want: string[] = [];
          const pushed: RoomEvent[] = [];
          rooms.forEach((spec, i) => {
            const id = `!r${i}`;
            const sorted = [...spec.offsets].sort((a, b) => a - b);
            const events = sorted.map((o, n) => ev(id, n, t + o));
            hs.timelines.set(id, events);
            for (const who of spec.reader === "both" ? [BOT, AI] : [spec.reader])
              hs.joined.get(who)!.push(id);
            // Read back newest first, it stops at the first event older than the window.
            const firstOld = [...events].reverse().findIndex((e) => e.origin_server_ts < t - LOOK_BACK_MS);
            const inWindow = firstOld === -1 ? events : events.slice(events.length - firstOld);
            events.forEach((e, n) => {
              if (spec.pushed[n]) pushed.push(e);
              else if (inWindow.includes(e)) want.push(e.event_id);
            });
          });
          r.catchUp.received(pushed);
          r.catchUp.suspect("property");
          await r.catchUp.settled();
          const got = r.delivered.flat().map((e) => e.event_id);
          assert.deepEqual([...got].sort(), [...want].sort());
          assert.equal(new Set(got).size, got.length);
          for (let i = 0; i < rooms.length; i++) {
            const mine = got.filter((g) => g.startsWith(`$!r${i}-`)).map((g) => Number(g.split("-").pop()));
            assert.deepEqual(
              mine,
              [...mine].sort((a, b) => a - b),
            );
          }
        },
      ),
      fuzzParams(100),
    );
  });

  it("fuzzed homeserver answers: the reader keeps only well-formed room events of the room asked, or fails with an error", () =>
    fc.assert(
      fc.asyncProperty(fc.anything(), fc.anything(), async (joined, page) => {
        const api = {
          request: async (_m: string, path: string) => (path.endsWith("joined_rooms") ? joined : page),
        } as unknown as MatrixApi;
        const hs = homeserverCatchUp(api);
        try {
          const rooms = await hs.joinedRooms(BOT);
          assert.ok(rooms.every((x) => typeof x === "string"));
        } catch (err) {
          assert.ok(err instanceof Error);
        }
        try {
          const res = await hs.back(BOT, "!x:hs");
          for (const e of res.events) {
            assert.equal(e.room_id, "!x:hs");
            assert.equal(typeof e.event_id, "string");
            assert.equal(typeof e.content, "object");
          }
          assert.ok(res.end === undefined || typeof res.end === "string");
        } catch (err) {
          assert.ok(err instanceof Error);
        }
      }),
      fuzzParams(300),
    ));
});
