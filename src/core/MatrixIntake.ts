import { createHash } from "node:crypto";
import type { AppserviceTransaction } from "../http/HttpServer";
import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import type { MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { DeliveryQueue } from "./DeliveryQueue";
import { storedItems } from "./DeliveryQueue";
import type { Encryption } from "./Encryption";
import { homeserverCatchUp, MatrixCatchUp } from "./MatrixCatchUp";
import { isRoomEvent, OutboundBridge } from "./OutboundBridge";
import { TxnGapWatch } from "./txnGaps";

const log = new Logger("MatrixIntake");

/**
 * The idempotency key of a homeserver transaction: its id plus a digest of what it carries.
 * A retried transaction repeats both; Synapse on SQLite reuses ids after a restart for new
 * transactions, which must not be taken for repeats. Never throws, whatever the body holds.
 *
 * With room events, they alone make the digest: Synapse stores only a transaction's events, so
 * one it sends again after a restart comes without the typing, receipts and to-device messages
 * the first try carried (and with key counts of now), and must still be known as a repeat.
 */
export function transactionKey(txnId: string, txn: AppserviceTransaction): string {
  const h = createHash("sha256");
  const events = Array.isArray(txn.events) ? txn.events : [];
  for (const e of events) {
    const id = (e as { event_id?: unknown } | null)?.event_id;
    h.update(`${typeof id === "string" ? id : "-"}\n`);
  }
  if (events.length) return `${txnId}:${h.digest("base64url").slice(0, 22)}`;
  // Without events, everything else (ephemeral events, to-device messages…) by its JSON;
  // content too deep to serialize counts by its shape only.
  for (const [k, v] of Object.entries(txn)) {
    if (k === "events") continue;
    let json: string;
    try {
      json = JSON.stringify(v) ?? "";
    } catch {
      json = `unserializable ${Array.isArray(v) ? v.length : typeof v}`;
    }
    h.update(`${k}=${json}\n`);
  }
  return `${txnId}:${h.digest("base64url").slice(0, 22)}`;
}

/** The ephemeral events of a transaction, under the stable or the MSC2409 key; never throws. */
function ephemeralOf(txn: AppserviceTransaction): Array<Record<string, unknown>> {
  const list = txn.ephemeral ?? txn["de.sorunome.msc2409.ephemeral"];
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null);
}

/** A short, safe rendering of an event for a log line. */
export function preview(ev: unknown): string | undefined {
  try {
    return JSON.stringify(ev)?.slice(0, 300);
  } catch {
    return `<${typeof ev} too deep to show>`;
  }
}

/** How far ahead of the bridge's clock the homeserver's may be (see MatrixIntake.olderThan). */
const CLOCK_MARGIN_MS = 5000;

/** Answered 503: the homeserver is to send the transactions it kept back first. */
class ResendOlderFirst extends Error {
  readonly status = 503;
  constructor() {
    super("the homeserver was unreachable: transactions it kept back are asked for first");
    this.name = "ResendOlderFirst";
  }
}

/**
 * What the homeserver pushes: each transaction recorded once with its events (a repeat does
 * nothing), typing and receipts relayed as they come; transactions refused once when the
 * homeserver may hold older ones back (it was unreachable; an id was skipped after a recovery);
 * and events it never pushed read back from the rooms (see {@link MatrixCatchUp}).
 */
export class MatrixIntake {
  /** The homeserver was seen unreachable since the last transaction. */
  private homeserverLost = false;
  /** Transactions a recovering homeserver may have stranded. */
  private readonly txnGaps = new TxnGapWatch();
  private readonly catchUp: MatrixCatchUp;
  private refusedWhileCatchingUp = false;
  /**
   * Events from before this (less a margin for a homeserver clock ahead of this one's) may have
   * been handed on by an earlier process's catch-up, which the homeserver does not know of: it
   * may still push them in a transaction it stored.
   */
  private readonly olderThan = Date.now() + CLOCK_MARGIN_MS;

  constructor(
    private readonly opts: {
      api: MatrixApi;
      botUserId: string;
      /** The users whose rooms a catch-up reads: the bot, the AI user. */
      users: string[];
      store: Store;
      metrics: Metrics;
      /** Made after this (they need what this feeds): asked for when used. */
      queue(): DeliveryQueue;
      outbound(): OutboundBridge;
      encryption(): Encryption | undefined;
      /** Asks the homeserver to retry what it holds now (MSC2659 ping). */
      ping(reason: string): Promise<void>;
    },
  ) {
    this.catchUp = new MatrixCatchUp({
      homeserver: homeserverCatchUp(opts.api),
      users: opts.users,
      deliver: async (events) => {
        const txn = { events } as AppserviceTransaction;
        await opts.encryption()?.receive(txn, events);
        return this.accept(transactionKey("catch-up", txn), events, [], true);
      },
      resume: () => {
        if (!this.refusedWhileCatchingUp) return;
        this.refusedWhileCatchingUp = false;
        void opts.ping("caught-up");
      },
    });
    this.txnGaps.onRestart = () => this.catchUp.suspect("the homeserver restarted");
  }

  /** A request could not reach the homeserver; `down`: its probe found it down. */
  lost(down: boolean): void {
    this.homeserverLost = true;
    if (down) this.catchUp.suspect("the homeserver is down");
  }

  /** `PUT /transactions/{txnId}`: resolves once recorded; a refusal is thrown (5xx). */
  async transaction(txnId: string, txn: AppserviceTransaction): Promise<void> {
    try {
      await this.take(txnId, txn);
    } catch (err) {
      this.txnGaps.watch(); // the homeserver recovers after a refusal
      throw err;
    }
  }

  /** The homeserver gave up on a transaction (it stopped, crashed or timed out): what it had queued behind it may be lost. */
  cut(txnId: string): void {
    this.catchUp.suspect(`the homeserver closed transaction ${txnId.slice(0, 20)} unanswered`);
  }

  stop(): void {
    this.catchUp.stop();
  }

  /**
   * A homeserver transaction is taken whole and each event on its own: a malformed event is
   * skipped, one the database cannot hold is quarantined, and neither fails the transaction
   * (which the homeserver would then retry forever, holding back every room). Only a database
   * that cannot be reached fails it.
   */
  private async take(txnId: string, txn: AppserviceTransaction): Promise<void> {
    const all = (Array.isArray(txn.events) ? txn.events : []).filter((e): e is RoomEvent => {
      if (isRoomEvent(e)) return true;
      log.warn("malformed event in a transaction skipped", { txnId, event: preview(e) });
      return false;
    });
    // Keys, device lists and room encryption state first (the events may need them), and even
    // for a transaction refused below: the homeserver never sends to-device messages again.
    await this.opts.encryption()?.receive(txn, all);
    const skipped = this.txnGaps.skips(txnId);
    if (this.catchUp.busy) {
      // The room's older events, which the homeserver did not push, are being read: this one after.
      this.refusedWhileCatchingUp = true;
      throw new ResendOlderFirst();
    }
    if (this.homeserverLost || skipped) {
      // The homeserver was unreachable (stopped, restarting): a transaction it made but did not
      // send before it went down stays in its database until a send to the bridge fails. One
      // refusal makes Synapse mark the bridge down and send its oldest unsent transaction
      // first, this one after it, in order; a ping makes it start at once. The same for a
      // transaction that skips an id while Synapse may have just recovered (src/core/txnGaps.ts).
      if (this.homeserverLost) this.catchUp.suspect("the homeserver was unreachable");
      this.homeserverLost = false;
      log.info(
        skipped
          ? "transaction skips an id after a recovery: asking for the skipped one first"
          : "first transaction after the homeserver was unreachable: asking for any it kept first",
        { txnId },
      );
      setTimeout(() => void this.opts.ping("homeserver-back"), 250).unref();
      throw new ResendOlderFirst();
    }
    // Events a catch-up handed on already (or an earlier try of this transaction) are left out.
    const relayed = await this.accept(transactionKey(txnId, txn), this.catchUp.unseen(all), ephemeralOf(txn));
    this.catchUp.received(relayed);
  }

  /**
   * Records a transaction's events (or a catch-up's, `resumed`: they may have gone out before) and
   * queues what is to be relayed; nothing when `key` was recorded before. Returns the events to
   * be relayed (those neither the bot's nor echoes).
   */
  private async accept(
    key: string,
    all: RoomEvent[],
    ephemeral: Array<Record<string, unknown>>,
    resumed = false,
  ): Promise<RoomEvent[]> {
    // The bot's redactions of messages deleted on a platform go on to the room's other chats.
    const events = all.filter((e) => e.sender !== this.opts.botUserId || e.type === "m.room.redaction");
    const echo = await Promise.all(
      events.map((e) =>
        this.opts
          .outbound()
          .isEcho(e)
          .catch((err: unknown) => {
            log.debug("echo check failed; the event is queued", { eventId: e.event_id, err: String(err) });
            return false;
          }),
      ),
    );
    const relayed = events.filter((_, i) => !echo[i]);
    const items = relayed.map((e) => ({
      queueKey: OutboundBridge.queueKey(e),
      kind: "matrix" as const,
      payload: e,
    }));
    // Nothing to deliver (only echoes): nothing a repeat could duplicate, so no record either.
    if (!items.length && !ephemeral.length) {
      this.opts.metrics.transactions.inc({ result: "new" });
      return relayed;
    }
    const ids = await this.opts.store.recordTransaction(key, items);
    if (!ids) {
      this.opts.metrics.transactions.inc({ result: "duplicate" });
      log.info("repeated transaction ignored", { key });
      return relayed;
    }
    this.opts.metrics.transactions.inc({ result: "new" });
    ids.forEach((id, i) => {
      if (id !== undefined) return;
      this.opts.metrics.quarantined.inc({ direction: "out" });
      log.warn("event quarantined: the database could not store it", { key, eventId: relayed[i].event_id });
    });
    // Checked against what went out before: a catch-up's events, and events older than this
    // process (an earlier one's catch-up may have handed them on).
    this.opts
      .queue()
      .accept(
        storedItems(items, ids).map((i) =>
          resumed || (i.payload as RoomEvent).origin_server_ts < this.olderThan ? { ...i, resumed: true } : i,
        ),
      );
    for (const ev of ephemeral) this.onEphemeral(ev);
    return relayed;
  }

  /** Typing and read receipts from Matrix, relayed as they come (nothing is stored). */
  private onEphemeral(ev: Record<string, unknown>): void {
    const content = ev.content as Record<string, unknown> | null | undefined;
    if (typeof ev.room_id !== "string" || typeof content !== "object" || content === null) return;
    const roomId = ev.room_id;
    if (ev.type === "m.typing" && Array.isArray(content.user_ids)) {
      this.opts
        .outbound()
        .typing(
          roomId,
          content.user_ids.filter((u): u is string => typeof u === "string"),
        )
        .catch((err: unknown) => log.debug("typing not relayed", { err: String(err) }));
    }
    if (ev.type === "m.receipt") {
      for (const [eventId, kinds] of Object.entries(content)) {
        const read = (kinds as Record<string, unknown> | null)?.["m.read"];
        if (typeof read !== "object" || read === null) continue;
        this.opts
          .outbound()
          .receipt(roomId, eventId, Object.keys(read))
          .catch((err: unknown) => log.debug("read receipt not relayed", { err: String(err) }));
      }
    }
  }
}
