/**
 * Disappearing messages (a WhatsApp chat's ephemeral timer; any platform may report one).
 *
 * The timer of each remote chat is remembered (table `disappearing_chat`) and announced in the
 * room when it changes; Matrix messages relayed into the chat carry it, so they disappear on the
 * platform too. The Matrix copies of disappearing messages, the platform's and the ones relayed
 * from Matrix alike, are redacted when they expire, counted from the message's time (WhatsApp
 * starts a received message's clock when it is read; the bridge does not know when that is, so
 * the time it was sent is the one rule). What is to be redacted is stored (`disappearing_event`)
 * before anything else about the message, so a crash or restart loses none; each redaction has
 * a transaction id of its own, so one repeated after a crash is not made twice. One timer waits
 * for the next expiry, however many are pending.
 */
import { Logger } from "../log/Logger";
import type { Intent } from "../matrix/MatrixApi";
import type { DisappearingSql } from "../store/DisappearingSql";
import type { ChatOf } from "../store/Store";
import { BoundedMap } from "./Bounded";
import type { RemoteDisappearingChange } from "./connector";
import { classifyFailure } from "./errors";
import { DELETED_IN, txnIdFor } from "./InboundBridge";

const log = new Logger("Disappearing");

/** The longest timer taken (a year); WhatsApp's longest is 90 days. */
export const MAX_TIMER_SECONDS = 366 * 24 * 3600;
/** setTimeout's longest delay; a later expiry is waited for in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Events redacted per database read. */
const BATCH = 50;

/** A timer in seconds as the platform stated it, or undefined when it is not one (logged by the caller). */
export function timerSeconds(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 && value <= MAX_TIMER_SECONDS
    ? value
    : undefined;
}

/** "7 days", "24 hours", "90 seconds": how a timer reads in the room. */
export function durationText(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (seconds % 86400 === 0 && seconds >= 2 * 86400) return unit(seconds / 86400, "day");
  if (seconds % 3600 === 0) return unit(seconds / 3600, "hour");
  if (seconds % 60 === 0) return unit(seconds / 60, "minute");
  return unit(seconds, "second");
}

/** The notice for a timer (0: off). */
export function timerNotice(seconds: number): string {
  return seconds > 0
    ? `Disappearing messages are on in this chat: messages disappear after ${durationText(seconds)}.`
    : "Disappearing messages are off in this chat.";
}

export interface DisappearingOptions {
  sql: DisappearingSql;
  bot: Intent;
  ghosts: { intentOf(mxid: string): Intent; isGhost(mxid: string): boolean };
  /** Forgets the message-map rows of a redacted event (for that chat). */
  forget(eventId: string, chat: ChatOf): Promise<void>;
  /** The delivery queue's backoff (`delivery.*`): first and longest wait, attempts at a refusal. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
}

/** A portal as this module needs it. */
export type PortalOf = ChatOf & { roomId: string };

export class Disappearing {
  private timer?: NodeJS.Timeout;
  /** When the armed timer fires (ms since the epoch). */
  private armedFor?: number;
  private running?: Promise<void>;
  private runAgain = false;
  private stopped = true;
  /** Timers read or set, per platform and chat: one process writes them (this one). */
  private readonly timers = new BoundedMap<string, number>(10_000);

  constructor(private readonly opts: DisappearingOptions) {}

  /** Arms the timer for what was pending at the last stop (redacting what fell due meanwhile). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.rearm();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }

  /** The chat's timer in seconds (0: off), for messages relayed into it. */
  async timerOf(portal: ChatOf): Promise<number> {
    const key = `${portal.platform}\n${portal.chatId}`;
    const known = this.timers.get(key);
    if (known !== undefined) return known;
    const seconds = await this.opts.sql.timer(portal.platform, portal.chatId);
    this.timers.set(key, seconds);
    return seconds;
  }

  /** The chat's timer changed on the platform: remembered, and the room told (once per change). */
  async changed(portal: PortalOf, event: RemoteDisappearingChange): Promise<void> {
    const seconds = event.seconds === 0 ? 0 : timerSeconds(event.seconds);
    if (seconds === undefined) {
      log.warn("disappearing-messages timer that is no number of seconds ignored", {
        platform: portal.platform,
        chat: portal.chatId,
        seconds: String(event.seconds).slice(0, 40),
      });
      return;
    }
    const { sql, bot } = this.opts;
    if ((await this.timerOf(portal)) === seconds) return;
    const txnId = txnIdFor(portal.platform, portal.chatId, "disappearing", event.timestamp, seconds);
    await bot.sendEvent(
      portal.roomId,
      "m.room.message",
      { msgtype: "m.notice", body: timerNotice(seconds) },
      txnId,
    );
    await sql.setTimer(portal.platform, portal.chatId, seconds);
    this.timers.set(`${portal.platform}\n${portal.chatId}`, seconds);
    log.info("disappearing-messages timer changed", {
      platform: portal.platform,
      chat: portal.chatId,
      seconds,
    });
  }

  /**
   * Event `eventId` in the portal's room is to be redacted `seconds` after `sentAt` (ms).
   * `sender`: who sent it (a ghost redacts its own; anyone else's the bot). Call it before the
   * event's message-map row is written: a delivery retried after a crash then tracks it again.
   */
  async track(
    portal: PortalOf,
    eventId: string,
    sender: string,
    sentAt: number,
    seconds: unknown,
  ): Promise<void> {
    const s = timerSeconds(seconds);
    if (s === undefined) {
      log.warn("disappearing message with a timer that is no number of seconds kept", {
        platform: portal.platform,
        event: eventId,
        seconds: String(seconds).slice(0, 40),
      });
      return;
    }
    const from = Number.isSafeInteger(sentAt) && sentAt > 0 ? sentAt : Date.now();
    const expiresAt = new Date(from + s * 1000);
    await this.opts.sql.track({
      eventId,
      roomId: portal.roomId,
      platform: portal.platform,
      chatId: portal.chatId,
      redactAs: this.opts.ghosts.isGhost(sender) ? sender : undefined,
      expiresAt,
    });
    this.arm(expiresAt.getTime());
  }

  /** Sets the one timer for `at`, unless it already fires sooner. */
  private arm(at: number): void {
    if (this.stopped || (this.armedFor !== undefined && this.armedFor <= at)) return;
    clearTimeout(this.timer);
    this.armedFor = at;
    const delay = Math.min(Math.max(at - Date.now(), 0), MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      void this.run();
    }, delay);
  }

  /** Arms the timer for the next pending expiry in the database. */
  private async rearm(): Promise<void> {
    try {
      const next = await this.opts.sql.nextDue();
      if (next) this.arm(next.getTime());
    } catch (err) {
      log.warn("pending disappearing messages not read; trying again later", { err: String(err) });
      this.arm(Date.now() + this.opts.maxBackoffMs);
    }
  }

  /** Redacts everything due, then waits for the next. Runs once at a time. */
  run(): Promise<void> {
    if (this.running) {
      this.runAgain = true;
      return this.running;
    }
    let failed = false;
    this.running = (async () => {
      do {
        this.runAgain = false;
        try {
          const { sql } = this.opts;
          for (let due = await sql.due(BATCH); due.length && !this.stopped; due = await sql.due(BATCH))
            for (const e of due) await this.expire(e);
        } catch (err) {
          // The database, most likely: what is due stays stored and is tried again after a wait.
          failed = true;
          log.warn("redacting disappeared messages failed; trying again later", { err: String(err) });
        }
      } while (this.runAgain && !this.stopped && !failed);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running.then(() => (failed ? this.arm(Date.now() + this.opts.maxBackoffMs) : this.rearm()));
  }

  private async expire(e: {
    eventId: string;
    roomId: string;
    platform: string;
    chatId: string;
    redactAs?: string;
    attempts: number;
  }): Promise<void> {
    const { sql, bot, ghosts } = this.opts;
    const intent = e.redactAs ? ghosts.intentOf(e.redactAs) : bot;
    const context = { platform: e.platform, chat: e.chatId, room: e.roomId, event: e.eventId };
    try {
      // Marked as deleted in the chat: the redaction goes on to other chats linked to the room,
      // never back to this one (where the message disappeared by itself).
      await intent.redact(e.roomId, e.eventId, txnIdFor("disappeared", e.eventId), "disappearing message", {
        [DELETED_IN]: { platform: e.platform, chat_id: e.chatId },
      });
    } catch (err) {
      const failure = classifyFailure(err);
      const attempts = e.attempts + 1;
      if (failure.kind === "permanent" || (failure.kind === "refused" && attempts >= this.opts.maxAttempts)) {
        log.warn("disappeared message not redacted; given up", { ...context, attempts, err: String(err) });
        await sql.done(e.eventId);
        return;
      }
      const backoff = Math.min(this.opts.initialBackoffMs * 2 ** (attempts - 1), this.opts.maxBackoffMs);
      const delay = Math.max(backoff, failure.afterMs ?? 0);
      log.info("disappeared message not redacted yet; will retry", {
        ...context,
        attempts,
        delayMs: delay,
        err: String(err),
      });
      await sql.later(e.eventId, delay);
      return;
    }
    await this.opts.forget(e.eventId, { platform: e.platform, chatId: e.chatId });
    await sql.done(e.eventId);
    log.info("disappeared message redacted", context);
  }
}
