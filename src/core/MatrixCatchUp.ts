import { Logger } from "../log/Logger";
import type { MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import { isRoomEvent } from "./OutboundBridge";

const log = new Logger("MatrixCatchUp");

/** How far back a catch-up reads: from this long before the last transaction received. */
export const LOOK_BACK_MS = 30_000;
/** How far before this process's first transaction a catch-up may read. */
const FIRST_MARGIN_MS = 2_000;
/** How long received event ids are kept, counted back from the last transaction. */
export const REMEMBER_MS = 120_000;
/** Most received event ids kept (the oldest go first). */
export const MAX_REMEMBERED = 20_000;
/** Most events read back per room in one catch-up. */
export const MAX_PER_ROOM = 500;
/** Rooms read at once. */
const ROOMS_AT_ONCE = 8;
/** Longest one catch-up may hold transactions back. */
export const MAX_HOLD_MS = 30_000;

/** The homeserver calls a catch-up makes, as one of the bridge's own users. */
export interface CatchUpHomeserver {
  /** The rooms the user is joined to. */
  joinedRooms(userId: string): Promise<string[]>;
  /** A room's events backwards from `from` (from the newest without it): newest first. */
  back(userId: string, roomId: string, from?: string): Promise<{ events: RoomEvent[]; end?: string }>;
}

/**
 * Matrix events the homeserver never pushed. Synapse queues a room's events for an appservice
 * in memory while a transaction to it is in flight, and marks them handed over as it queues
 * them: stopped or crashed then, it never sends them (after a restart it sends only what it had
 * stored as transactions, and even those only once another event comes). So when the homeserver
 * may have lost something — a transaction's connection closed before the bridge answered it,
 * the homeserver found down, its transaction ids starting again — the bridge reads the newest
 * events of every room its bot (and AI user) is joined to, back to {@link LOOK_BACK_MS} before
 * the last transaction it received, and hands on those it has not received, in each room's
 * order, as one more transaction through the same path. Transactions that come while it reads
 * are refused (the homeserver sends them again, after), so a room's older events are queued
 * before newer ones; an event received twice (caught up, then pushed after all) goes on once.
 *
 * Synapse serves neither `/sync` nor `/events` to an appservice's own user, so the rooms are
 * read one by one (a handful at once): a catch-up of 10k rooms is 10k requests, made only when
 * something may have been lost. Events whose timestamps are older than the window (a remote
 * server's skewed clock) and rooms where neither user is joined (a ghost invited alone) are not
 * read.
 */
export class MatrixCatchUp {
  /** Event id → when it was received (a transaction or a catch-up). */
  private readonly seen = new Map<string, number>();
  /** When this process received its first transaction, and its last. */
  private firstTxnAt = 0;
  private lastTxnAt = 0;
  /** Set when a catch-up is wanted: the time from which it must read. */
  private wantedFrom?: number;
  private running?: Promise<void>;
  private holding = false;
  private stopped = false;

  constructor(
    private readonly opts: {
      homeserver: CatchUpHomeserver;
      /** The users whose rooms are read: the bot first. */
      users: string[];
      /**
       * Hands on events not received, in each room's order; resolves once they are recorded, with
       * those that go on (not the bridge's own, not echoes of what it sent).
       */
      deliver(events: RoomEvent[]): Promise<RoomEvent[]>;
      /** A catch-up is done: transactions it held back are to be sent now. */
      resume(): void;
      now?: () => number;
      retryMs?: number;
    },
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  stop(): void {
    this.stopped = true;
  }

  /** True while a catch-up reads: transactions are to be refused until it is done. */
  get busy(): boolean {
    return this.holding;
  }

  /** A transaction came; `relayed` are its events the bridge acts on (not echoes of its own). */
  received(relayed: ReadonlyArray<{ event_id?: unknown }>): void {
    const now = this.now();
    this.firstTxnAt ||= now;
    this.lastTxnAt = now;
    for (const e of relayed) {
      if (typeof e.event_id !== "string") continue;
      this.seen.delete(e.event_id); // re-inserted: the Map's order stays by time
      this.seen.set(e.event_id, now);
    }
    // Kept back from the last transaction, not from now: a catch-up after a quiet hour reads
    // from before that transaction, and must know what it brought.
    for (const [id, at] of this.seen) {
      if (at >= now - REMEMBER_MS && this.seen.size <= MAX_REMEMBERED) break;
      this.seen.delete(id);
    }
  }

  /** The events not received before (by a transaction or a catch-up). */
  unseen<T extends { event_id?: unknown }>(events: T[]): T[] {
    return events.filter((e) => typeof e.event_id !== "string" || !this.seen.has(e.event_id));
  }

  /**
   * The homeserver may have lost events not yet pushed: catch up as soon as it answers, from
   * before the last transaction received.
   */
  suspect(reason: string): void {
    // Before this process received anything, nothing was in flight to it: what the homeserver
    // held for the bridge then it stored as transactions (each failed send makes one).
    if (this.stopped || !this.lastTxnAt) return;
    // Not before this process's first transaction (less what Synapse may have queued behind it):
    // what came earlier went to the process before, which is not to see it again.
    const from = Math.max(
      this.firstTxnAt - FIRST_MARGIN_MS,
      Math.min(this.lastTxnAt, this.now()) - LOOK_BACK_MS,
    );
    if (this.wantedFrom === undefined && !this.running)
      log.info("reading the rooms for events the homeserver may not have pushed", { reason });
    this.wantedFrom = Math.min(this.wantedFrom ?? from, from);
    this.running ??= this.catchUpUntilDone().finally(() => {
      this.running = undefined;
    });
  }

  /** Until no catch-up is under way or wanted. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async catchUpUntilDone(): Promise<void> {
    while (this.wantedFrom !== undefined && !this.stopped) {
      const from = this.wantedFrom;
      this.wantedFrom = undefined;
      try {
        await this.catchUp(from);
      } catch (err) {
        this.wantedFrom = Math.min(this.wantedFrom ?? from, from);
        log.info("catch-up failed; trying again", { err: String(err) });
        await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 2_000).unref());
      }
    }
  }

  private async catchUp(from: number): Promise<void> {
    this.holding = true;
    const hold = setTimeout(() => {
      this.holding = false;
    }, MAX_HOLD_MS);
    hold.unref();
    try {
      const rooms = new Map<string, string>(); // room → the user who reads it
      for (const user of this.opts.users)
        for (const room of await this.opts.homeserver.joinedRooms(user))
          if (!rooms.has(room)) rooms.set(room, user);
      const found: RoomEvent[][] = [];
      const queue = [...rooms];
      await Promise.all(
        Array.from({ length: Math.min(ROOMS_AT_ONCE, queue.length) }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const events = await this.readRoom(next[1], next[0], from);
            if (events.length) found.push(events);
          }
        }),
      );
      const unseen = found.flat();
      const missed = unseen.length ? await this.opts.deliver(unseen) : [];
      this.received(unseen);
      if (missed.length)
        log.warn("events the homeserver did not push are handed on now", {
          events: missed.length,
          rooms: new Set(missed.map((e) => e.room_id)).size,
        });
      else log.info("caught up: the homeserver had pushed everything", { rooms: rooms.size });
    } finally {
      clearTimeout(hold);
      this.holding = false;
    }
    this.opts.resume();
  }

  /** A room's events since `from` not received yet, oldest first. */
  private async readRoom(user: string, roomId: string, from: number): Promise<RoomEvent[]> {
    const out: RoomEvent[] = [];
    let at: string | undefined;
    let read = 0;
    while (read < MAX_PER_ROOM) {
      const page = await this.opts.homeserver.back(user, roomId, at);
      for (const e of page.events) {
        if (typeof e.origin_server_ts === "number" && e.origin_server_ts < from) return out.reverse();
        if (!this.seen.has(e.event_id)) out.push(e);
      }
      read += page.events.length;
      if (!page.events.length || !page.end || page.end === at) break;
      at = page.end;
    }
    if (read >= MAX_PER_ROOM) log.warn("a room had more events to catch up than are read back", { roomId });
    return out.reverse();
  }
}

/** A page's room events, with their room; malformed ones dropped. */
function roomEvents(list: unknown, roomId: string): RoomEvent[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null && !Array.isArray(e))
    .map((e) => ({ ...e, room_id: roomId }))
    .filter(isRoomEvent);
}

/** The catch-up's homeserver calls over the client-server API, as appservice users. */
export function homeserverCatchUp(api: MatrixApi): CatchUpHomeserver {
  return {
    async joinedRooms(userId) {
      const res = await api.request("GET", "/_matrix/client/v3/joined_rooms", { userId });
      return Array.isArray(res.joined_rooms)
        ? res.joined_rooms.filter((r): r is string => typeof r === "string")
        : [];
    },
    async back(userId, roomId, from) {
      const res = await api.request(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages`,
        {
          userId,
          query: { dir: "b", from, limit: 20 },
        },
      );
      return {
        events: roomEvents(res.chunk, roomId),
        end: typeof res.end === "string" ? res.end : undefined,
      };
    },
  };
}
