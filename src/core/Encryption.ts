import type pg from "pg";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import type { CryptoService } from "../matrix/crypto/CryptoService";
import { KeyWaits } from "../matrix/crypto/KeyWaits";
import { cryptoPartsOf, hasCryptoParts } from "../matrix/crypto/transaction";
import { type Intent, type MatrixApi, MatrixError, type RoomEvent } from "../matrix/MatrixApi";
import { isDataError } from "../store/QuarantineSql";
import type { Store } from "../store/Store";
import type { QueueItem } from "../store/types";
import { txnIdFor } from "./InboundBridge";

const log = new Logger("Encryption");

export interface EncryptionOptions {
  config: BridgeConfig;
  asToken: string;
  api: MatrixApi;
  pool: pg.Pool;
  store: Store;
  bot: Intent;
  aiUserId?: string;
  /** Puts events back on the delivery queue (their room key arrived). */
  requeue(events: RoomEvent[]): Promise<void>;
}

/**
 * The bridge's side of end-to-end encryption: with `encryption.allow` the crypto (devices,
 * keys, decryption on the way in, encryption on the way out); without it, one plain notice in
 * each encrypted room the bridge finds itself in, saying it cannot read it.
 */
export class Encryption {
  readonly crypto?: CryptoService;
  private readonly waits?: KeyWaits;
  /**
   * Settles once the devices are loaded ({@link start}). The listener takes transactions
   * before that (the bot's profile update at start brings some): their to-device messages
   * wait for it, or they would find no device and be lost (the homeserver sends them once).
   */
  private readonly started = Promise.withResolvers<void>();

  constructor(private readonly opts: EncryptionOptions) {
    const { config, api, pool, bot, aiUserId } = opts;
    if (!config.encryption.allow) return;
    // The crypto (its WebAssembly, the IndexedDB it keeps its store in) is loaded only when allowed.
    const service =
      require("../matrix/crypto/CryptoService") as typeof import("../matrix/crypto/CryptoService");
    const store = require("../matrix/crypto/CryptoStore") as typeof import("../matrix/crypto/CryptoStore");
    this.crypto = new service.CryptoService({
      api,
      pool,
      store: store.CryptoStore.install(pool),
      readers: aiUserId ? [bot.userId, aiUserId] : [bot.userId],
      pickleKey: config.encryption.pickle_key ?? opts.asToken,
      deviceName: config.bridge.bot.displayname,
      onKeys: (events) => void this.keysArrived(events),
    });
    this.waits = new KeyWaits({
      pool,
      waitMs: config.encryption.key_wait_seconds * 1000,
      tell: (ev, text) => this.tell(ev.room_id, text, ev.event_id),
    });
    api.crypto = this.crypto;
    this.started.promise.catch(() => undefined);
  }

  /**
   * Waits (bounded) until the homeserver delivers to-device messages to the bridge again: room
   * keys sent before that would be lost. Called after the start ping that makes it retry.
   */
  async awaitToDevice(timeoutMs = 15_000): Promise<void> {
    if (!this.crypto) return;
    const t0 = Date.now();
    const ok = await this.crypto.toDeviceFlowing(this.opts.bot.userId, timeoutMs).catch(() => false);
    if (ok) log.info("the homeserver delivers to-device messages", { ms: Date.now() - t0 });
    else
      log.warn(
        "no to-device message came back from the homeserver: room keys may be missed (is it still retrying held-back transactions, or are its appservice encryption settings missing? see doctor)",
        { ms: Date.now() - t0 },
      );
  }

  /** Loads the readers' devices and takes up events that waited for keys before a restart. */
  async start(): Promise<void> {
    if (!this.crypto || !this.waits) return;
    try {
      await this.crypto.start();
    } catch (err) {
      this.started.reject(err);
      throw err;
    }
    this.started.resolve();
    const waiting = await this.waits.all();
    const ready: RoomEvent[] = [];
    for (const ev of waiting) if ((await this.crypto.decrypt(ev)).kind === "clear") ready.push(ev);
    if (ready.length) await this.keysArrived(ready);
    this.waits.start();
  }

  /**
   * A transaction's encryption parts and state changes, taken before anything else of it and
   * even when the transaction is then refused: the homeserver does not send to-device
   * messages again (a refused transaction is retried with its room events only). Resolves once
   * the crypto state they changed is stored, or, with the database away, kept in memory until
   * it is back. Never throws.
   */
  async receive(txn: unknown, events: RoomEvent[]): Promise<void> {
    if (!this.crypto) return;
    try {
      await this.started.promise;
      for (const ev of events) {
        if (ev.state_key !== undefined && (await this.crypto.observe(ev)))
          log.info("room is now encrypted", { room: ev.room_id });
      }
      const parts = cryptoPartsOf(txn);
      if (hasCryptoParts(parts)) await this.crypto.receive(parts);
    } catch (err) {
      log.warn("encryption data of a transaction not stored yet; it is kept in memory", { err: String(err) });
    }
  }

  /**
   * Delivers a queued Matrix event: an encrypted one decrypted first (or set aside to wait for
   * its key), then handed to `next`.
   */
  async handle(item: QueueItem, ev: RoomEvent, next: (item: QueueItem) => Promise<void>): Promise<void> {
    if (!this.crypto || !this.waits) {
      if (ev.type === "m.room.encryption" || ev.type === "m.room.encrypted")
        return this.cannotRead(ev.room_id);
      await next(item);
      return this.arrived(ev);
    }
    if (ev.type !== "m.room.encrypted") return next(item);
    if (ev.state_key !== undefined) {
      // Encrypted state is no state the homeserver's auth rules checked (membership, names).
      log.info("encrypted state event ignored", { room: ev.room_id, eventId: ev.event_id });
      return;
    }
    let d = await this.crypto.decrypt(ev);
    if (d.kind === "waiting") {
      try {
        return await this.waits.park(ev, d.sessionId, d.reason);
      } catch (err) {
        if (!isDataError(err)) throw err; // the database is down: the item is retried
        d = { kind: "failed", reason: "it cannot wait for its key" };
      }
    }
    if (d.kind === "failed") {
      log.warn("encrypted event could not be decrypted", {
        room: ev.room_id,
        eventId: ev.event_id,
        reason: d.reason,
      });
      return this.tell(
        ev.room_id,
        `⚠️ A message from ${ev.sender} could not be decrypted by the bridge (${d.reason}), so it was not bridged.`,
        ev.event_id,
      );
    }
    if (d.event.type === "m.room.redaction") {
      // Only a redaction in the clear was checked by the homeserver (the sender's power to
      // redact); one inside ciphertext could come from anyone in the room.
      log.warn("redaction inside an encrypted event ignored", {
        room: ev.room_id,
        eventId: ev.event_id,
        sender: ev.sender,
      });
      return;
    }
    return next({ ...item, payload: d.event });
  }

  private async keysArrived(events: RoomEvent[]): Promise<void> {
    try {
      await this.opts.requeue(events);
      await this.waits?.done(events.map((e) => e.event_id));
      log.info("room keys arrived: waiting events taken up", { count: events.length });
    } catch (err) {
      log.warn("events whose keys arrived not taken up yet; they are at the next start", {
        err: String(err),
      });
    }
  }

  /**
   * Without encryption: the bot (invited, the invite just handled) or the AI user (joined) has
   * come into a room that is already encrypted, whose `m.room.encryption` it never saw. Said at
   * once rather than at the first message nobody would get an answer to. Best effort: the event
   * is handled either way.
   */
  private async arrived(ev: RoomEvent): Promise<void> {
    if (ev.type !== "m.room.member") return;
    const { bot, api, aiUserId } = this.opts;
    const membership = ev.content.membership;
    let member: Intent | undefined;
    if (ev.state_key === bot.userId && membership === "invite") member = bot;
    else if (aiUserId && ev.state_key === aiUserId && membership === "join") member = api.intent(aiUserId);
    if (!member) return;
    try {
      // Refused invites leave the room again: not a member, nothing to say.
      if (await member.getState(ev.room_id, "m.room.encryption")) await this.cannotRead(ev.room_id);
    } catch (err) {
      log.debug("encryption of a room joined not checked", { room: ev.room_id, err: String(err) });
    }
  }

  /** Once per room: the bridge cannot read it (encryption is not allowed in its config). */
  private async cannotRead(roomId: string): Promise<void> {
    const { store } = this.opts;
    if (await store.kvGet("told-encrypted", roomId)) return;
    await this.tell(
      roomId,
      "🔒 This room is encrypted, and this bridge is not set up to take part in encrypted rooms: what is said here is not bridged and the AI cannot read it. A bridge admin can set `encryption.allow: true` in its config (see the README).",
    );
    await store.kvSet("told-encrypted", roomId, new Date().toISOString());
  }

  /** A notice from the bot, or from the AI user in a room the bot is not in. */
  private async tell(roomId: string, text: string, eventId?: string): Promise<void> {
    const content: Record<string, unknown> = { msgtype: "m.notice", body: text };
    if (eventId) content["m.relates_to"] = { "m.in_reply_to": { event_id: eventId } };
    const txn = txnIdFor("crypto-notice", roomId, eventId ?? "", text);
    const senders = [
      this.opts.bot,
      ...(this.opts.aiUserId ? [this.opts.api.intent(this.opts.aiUserId)] : []),
    ];
    for (const [i, intent] of senders.entries()) {
      try {
        await intent.sendEvent(roomId, "m.room.message", content, txn);
        return;
      } catch (err) {
        const notMember = err instanceof MatrixError && err.status === 403;
        if (!notMember || i === senders.length - 1) throw err;
      }
    }
  }

  async stop(): Promise<void> {
    await this.waits?.stop();
    await this.crypto?.stop();
  }
}
