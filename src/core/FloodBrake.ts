import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import type { RemoteEvent } from "./connector";
import type { RemotePayload } from "./InboundBridge";
import { chatKey } from "./PortalService";

const log = new Logger("FloodBrake");

const WINDOW_MS = 60_000;
/** Decisions kept per message id, so a retried delivery gets the same answer. */
const DECISIONS_KEPT = 10_000;
/** Counters kept before idle ones are swept. */
const COUNTERS_KEPT = 10_000;

export type FloodConfig = BridgeConfig["flood"];

/** What the brake made of one message. */
export type FloodVerdict =
  | { pass: true }
  /** `muted`: this message started a mute (the room is told once); otherwise one was running. */
  | { pass: false; muted?: { scope: "ghost" | "chat"; until: number } };

interface Counter {
  /** Timestamps of recent admitted messages, oldest first (at most limit + 1 kept). */
  times: number[];
  mutedUntil: number;
}

/**
 * Sliding one-minute windows per sender and per chat, on the platform's timestamps (clamped to
 * now): a backlog delivered at once after an outage (catch-up, queued retries) is counted as the
 * platform saw it, not as a flood. A sender (or a chat) over its limit is muted for
 * `mute_seconds` of platform time; the message that tips it over starts the mute, and nothing
 * from it passes until a message stamped after the mute. Messages dropped during a mute do not
 * count. In memory: a restart forgets counters and mutes.
 */
export class FloodCounter {
  private readonly ghosts = new Map<string, Counter>();
  private readonly chats = new Map<string, Counter>();
  private readonly decisions = new Map<string, FloodVerdict>();

  constructor(
    private readonly config: FloodConfig,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.config.ghost_per_minute > 0 || this.config.chat_per_minute > 0;
  }

  /**
   * One message: `id` identifies it for retries (the same id gets the same verdict), `ghost`
   * its sender and `chat` where it was sent.
   */
  check(id: string, ghost: string, chat: string, timestamp: number): FloodVerdict {
    const known = this.decisions.get(id);
    if (known) return known.pass ? known : { pass: false };
    const verdict = this.decide(ghost, chat, this.clamp(timestamp));
    this.decisions.set(id, verdict);
    if (this.decisions.size > DECISIONS_KEPT) this.decisions.delete(this.decisions.keys().next().value!);
    return verdict;
  }

  private clamp(ts: number): number {
    const now = this.now();
    return Number.isFinite(ts) && ts <= now ? ts : now;
  }

  private decide(ghost: string, chat: string, ts: number): FloodVerdict {
    const { ghost_per_minute, chat_per_minute, mute_seconds } = this.config;
    const c = chat_per_minute > 0 ? counter(this.chats, chat) : undefined;
    const g = ghost_per_minute > 0 ? counter(this.ghosts, ghost) : undefined;
    if ((c && ts < c.mutedUntil) || (g && ts < g.mutedUntil)) return { pass: false };
    const until = ts + mute_seconds * 1000;
    if (c && recent(c, ts) >= chat_per_minute) {
      c.mutedUntil = until;
      c.times = [];
      this.sweep();
      return { pass: false, muted: { scope: "chat", until } };
    }
    if (g && recent(g, ts) >= ghost_per_minute) {
      g.mutedUntil = until;
      g.times = [];
      this.sweep();
      return { pass: false, muted: { scope: "ghost", until } };
    }
    if (c) push(c, ts, chat_per_minute);
    if (g) push(g, ts, ghost_per_minute);
    return { pass: true };
  }

  /** Forgets counters with nothing in the window and no mute running, once there are many. */
  private sweep(): void {
    const cutoff = this.now() - WINDOW_MS;
    for (const map of [this.ghosts, this.chats]) {
      if (map.size <= COUNTERS_KEPT) continue;
      for (const [k, v] of map)
        if (v.mutedUntil <= this.now() && (v.times[v.times.length - 1] ?? 0) < cutoff) map.delete(k);
    }
  }
}

function counter(map: Map<string, Counter>, key: string): Counter {
  let c = map.get(key);
  if (!c) {
    c = { times: [], mutedUntil: 0 };
    map.set(key, c);
  }
  return c;
}

/** Admitted messages within the minute before `ts` (timestamps may come slightly out of order). */
function recent(c: Counter, ts: number): number {
  c.times = c.times.filter((t) => t > ts - WINDOW_MS);
  return c.times.filter((t) => t <= ts).length;
}

function push(c: Counter, ts: number, limit: number): void {
  c.times.push(ts);
  if (c.times.length > limit + 1) c.times.shift();
}

/**
 * The flood brake on messages from the platforms (`flood` config): a muted sender's or chat's
 * messages are not bridged into Matrix, so they reach no other platform either; the room gets
 * one notice when a mute starts, and the mute ends by itself.
 *
 * Dropping, not a power level: a ghost muted by power level could not send, so its messages
 * would fail, be retried and end in the quarantine; and a power-level change per flood would
 * churn the room's state and need the bot to outrank every ghost.
 */
export class FloodBrake {
  private readonly counter: FloodCounter;

  constructor(
    private readonly opts: {
      config: FloodConfig;
      /** The Matrix room of a remote chat, if it has a portal. */
      roomOf(platform: string, chatId: string): Promise<string | undefined>;
      /** Tells a room, as the bridge bot. */
      notice(roomId: string, text: string, key: string): Promise<void>;
      now?: () => number;
    },
  ) {
    this.counter = new FloodCounter(opts.config, opts.now);
  }

  /** True when this remote event is to be dropped (a message from a muted sender or chat). */
  async drop(payload: RemotePayload): Promise<boolean> {
    const { platform, event } = payload;
    if (!this.counter.enabled || event.kind !== "message") return false;
    const chat = chatKey(event.chat);
    const verdict = this.counter.check(
      `${platform}\n${chat}\n${event.id}`,
      `${platform}\n${event.sender.id}`,
      `${platform}\n${chat}`,
      event.timestamp,
    );
    if (verdict.pass) return false;
    log.info("message dropped by the flood brake", { platform, chat, sender: event.sender.id, id: event.id });
    if (verdict.muted) await this.tell(platform, chat, event, verdict.muted);
    return true;
  }

  private async tell(
    platform: string,
    chat: string,
    event: RemoteEvent & { kind: "message" },
    muted: { scope: "ghost" | "chat"; until: number },
  ): Promise<void> {
    const roomId = await this.opts.roomOf(platform, chat);
    if (!roomId) return;
    const seconds = this.opts.config.mute_seconds;
    const who = event.senderInfo?.displayName?.slice(0, 80) || event.sender.id;
    const text =
      muted.scope === "ghost"
        ? `⏸️ ${who} (${platform}) is sending too fast: their messages are not bridged for ${seconds} s.`
        : `⏸️ This ${platform} chat is sending too fast: its messages are not bridged for ${seconds} s.`;
    await this.opts
      .notice(roomId, text, `flood\n${muted.scope}\n${chat}\n${event.sender.id}\n${muted.until}`)
      .catch((err: unknown) =>
        log.warn("could not tell the room about a flood", { room: roomId, err: String(err) }),
      );
  }
}
