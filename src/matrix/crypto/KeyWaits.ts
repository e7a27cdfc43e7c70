import type pg from "pg";
import { Logger } from "../../log/Logger";
import type { RoomEvent } from "../MatrixApi";

const log = new Logger("Crypto");

export interface KeyWaitsOptions {
  pool: pg.Pool;
  /** How long an event waits for its key. */
  waitMs: number;
  /** Tells the room an event could not be bridged. */
  tell(ev: RoomEvent, text: string): Promise<void>;
}

/**
 * Encrypted events whose room key has not reached the bridge yet. They wait in the database
 * (across restarts) and are taken up again when the key arrives; one that waited
 * `waitMs` is given up and its room told, so nothing is dropped silently.
 */
export class KeyWaits {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(private readonly opts: KeyWaitsOptions) {}

  async park(ev: RoomEvent, sessionId: string, reason: string): Promise<void> {
    await this.opts.pool.query(
      "INSERT INTO crypto_waiting (event_id, room_id, session_id, event) VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
      [ev.event_id, ev.room_id, sessionId, JSON.stringify(ev)],
    );
    log.info("encrypted event waits for its key", {
      room: ev.room_id,
      eventId: ev.event_id,
      session: sessionId,
      reason,
    });
  }

  async done(eventIds: string[]): Promise<void> {
    if (eventIds.length)
      await this.opts.pool.query("DELETE FROM crypto_waiting WHERE event_id = ANY($1)", [eventIds]);
  }

  /** Every event waiting, oldest first (to try again at start). */
  async all(): Promise<RoomEvent[]> {
    const res = await this.opts.pool.query<{ event: RoomEvent }>(
      "SELECT event FROM crypto_waiting ORDER BY first_seen",
    );
    return res.rows.map((r) => r.event);
  }

  start(): void {
    const every = Math.max(1_000, Math.min(5_000, this.opts.waitMs / 4));
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep().finally(() => {
        this.sweeping = undefined;
      });
    }, every);
    this.timer.unref();
  }

  /** Gives up on events that waited too long: their rooms are told. */
  async sweep(): Promise<void> {
    let res: pg.QueryResult<{ event: RoomEvent }>;
    try {
      res = await this.opts.pool.query<{ event: RoomEvent }>(
        "SELECT event FROM crypto_waiting WHERE first_seen < now() - make_interval(secs => $1) ORDER BY first_seen",
        [this.opts.waitMs / 1000],
      );
    } catch (err) {
      log.debug("waiting encrypted events not checked", { err: String(err) });
      return;
    }
    for (const { event } of res.rows) {
      try {
        await this.opts.tell(
          event,
          `⚠️ A message from ${event.sender} could not be decrypted by the bridge (its key never reached it), so it was not bridged. Sending it again may help.`,
        );
      } catch (err) {
        log.warn("could not tell a room about an undecryptable message", {
          room: event.room_id,
          err: String(err),
        });
      }
      await this.done([event.event_id]).catch(() => undefined);
      log.warn("encrypted event given up: its key never arrived", {
        room: event.room_id,
        eventId: event.event_id,
      });
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }
}
