import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import { isDatabaseUnavailable } from "../store/unavailable";
import { BoundedMap } from "./Bounded";
import {
  canReadHistory,
  type HistoryHandling,
  type NetworkClient,
  type RemoteChatRef,
  type RemoteMessage,
} from "./connector";
import { classifyFailure, retryHint, userText } from "./errors";
import { chatKey } from "./PortalService";

const log = new Logger("Backfill");

/** Store namespace of the portals whose backfill is due (value {@link PENDING}). */
const NS = "core.backfill";
const PENDING = "pending";
/** Tries of the history read that the platform refused for a passing reason (429, 5xx, network). */
const FETCH_TRIES = 3;

/** Platform names are [a-z0-9_]: the first colon ends one. */
const keyOf = (platform: string, chatId: string) => `${platform}:${chatId}`;

/**
 * A queue item (kind `remote`, in the chat's lane) that runs a portal's due backfill without
 * waiting for the chat's next message: for portals made from Matrix (`pm`, the web API, an
 * invite of a ghost). `since`: when the portal was made; what the chat holds from then on is
 * live, not history.
 */
export interface BackfillWake {
  platform: string;
  loginId: string;
  backfill: { chat: RemoteChatRef; since: number };
}

/** Whether a queue item's payload is a {@link BackfillWake} (it is read back from the database). */
export function isBackfillWake(payload: unknown): payload is BackfillWake {
  const p = payload as Partial<BackfillWake> | null;
  const b = p?.backfill as Partial<BackfillWake["backfill"]> | undefined;
  return (
    typeof p?.platform === "string" &&
    typeof p.loginId === "string" &&
    typeof b?.chat?.id === "string" &&
    (b.chat.threadId === undefined || typeof b.chat.threadId === "string") &&
    typeof b.since === "number"
  );
}

/**
 * What a connector's history answer may put into a portal: messages of this chat only, each id
 * once, well formed, the newest `limit` of them, in the order given (oldest first). The answer
 * comes from the platform through the connector and is not trusted blindly.
 */
export function acceptHistory(answer: unknown, chatId: string, limit: number): RemoteMessage[] {
  if (!Array.isArray(answer) || limit <= 0) return [];
  const seen = new Set<string>();
  const out: RemoteMessage[] = [];
  for (const m of answer as unknown[]) {
    if (typeof m !== "object" || m === null) continue;
    const msg = m as Partial<RemoteMessage>;
    if (msg.kind !== "message" || typeof msg.id !== "string" || !msg.id) continue;
    if (typeof msg.text !== "string" || typeof msg.sender?.id !== "string" || !msg.sender.id) continue;
    if (typeof msg.chat?.id !== "string" || typeof msg.timestamp !== "number") continue;
    if (msg.attachments !== undefined && !Array.isArray(msg.attachments)) continue;
    if (chatKey(msg.chat) !== chatId || msg.fromSelf || seen.has(msg.id)) continue;
    seen.add(msg.id);
    out.push(msg as RemoteMessage);
  }
  return out.slice(-limit);
}

/**
 * Recent history for a new portal (`backfill.initial_limit`): when a portal is made for a chat
 * whose client implements {@link HistoryHandling}, its room gets the chat's newest messages from
 * their senders' ghosts, with their original times, before the message that made the portal.
 *
 * It runs in the chat's serial lane, inside the delivery of that first message, so every live
 * message of the chat lands after it; one that is also in the history is bridged once, in its
 * history place (the message map keys both by the remote id). That the backfill is due is stored
 * before the room is made and cleared when it is done: a bridge killed in between does the rest
 * on the chat's next delivery (the first message's, retried), skipping what the map already holds.
 *
 * A portal made from Matrix has no first message: {@link soon} queues a {@link BackfillWake} in
 * the chat's lane once the portal exists, so its history comes at once and still before any
 * live message queued after it. The stored marker stays the one record of what is due: a wake
 * finding none does nothing, and one queued twice (a command delivered again after a crash)
 * runs once.
 */
export class Backfill {
  /** Portals known to have no backfill due, by platform and chat. */
  private readonly settled = new BoundedMap<string, true>(20_000);
  /** Backfills marked due by this process and not yet started: a first run, not a resumed one. */
  private readonly fresh = new Set<string>();

  constructor(
    private readonly opts: {
      store: Store;
      /** Most messages per new portal; 0 turns backfill off. */
      limit: number;
      /** Stores a wake in the delivery queue (in its chat's lane); without it, {@link soon} does nothing. */
      enqueue?(wake: BackfillWake): Promise<void>;
    },
  ) {}

  /** A portal is about to be made for the chat: its backfill is due, if its platform has history. */
  async willCreate(platform: string, chatId: string, client: NetworkClient): Promise<void> {
    if (this.opts.limit <= 0 || !canReadHistory(client)) return;
    const k = keyOf(platform, chatId);
    await this.opts.store.kvSet(NS, k, PENDING);
    this.settled.delete(k);
    this.fresh.add(k);
  }

  /**
   * A portal was made from Matrix (or found so, when a command is delivered again): when its
   * backfill is due, it runs now in the chat's lane instead of with the chat's next message.
   * Resolves once the wake is stored.
   */
  async soon(platform: string, loginId: string, chat: RemoteChatRef): Promise<void> {
    if (!this.opts.enqueue) return;
    const k = keyOf(platform, chatKey(chat));
    if (this.settled.get(k) || (await this.opts.store.kvGet(NS, k)) !== PENDING) return;
    await this.opts.enqueue({
      platform,
      loginId,
      backfill: { chat: { id: chat.id, threadId: chat.threadId }, since: Date.now() },
    });
    log.info("backfill of a portal made from Matrix queued", { platform, chat: chatKey(chat) });
  }

  /**
   * Brings the portal's history over when its backfill is due, before `trigger` (the message
   * that made the portal, or for a wake the time the portal was made); `deliver` bridges one message as the live path does (`resumed`: an
   * earlier run may have sent it already; `history`: it came before `trigger`). A history the
   * platform will not give is logged and given up (the room starts with its live messages); when
   * the homeserver or database is away the run throws, and resumes on the next try; a message
   * refused for what it is is left out.
   */
  async run(
    portal: Portal,
    client: NetworkClient,
    trigger: { chat: RemoteChatRef; id?: string; timestamp: number },
    deliver: (msg: RemoteMessage, how: { resumed: boolean; history: boolean }) => Promise<void>,
  ): Promise<void> {
    const chat = trigger.chat;
    const k = keyOf(portal.platform, portal.chatId);
    if (this.settled.get(k)) return;
    if ((await this.opts.store.kvGet(NS, k)) !== PENDING) {
      this.settled.set(k, true);
      return;
    }
    const resumed = !this.fresh.delete(k);
    const ctx = { platform: portal.platform, chat: portal.chatId, room: portal.roomId };
    let messages: RemoteMessage[] = [];
    if (canReadHistory(client) && this.opts.limit > 0) {
      try {
        messages = acceptHistory(await this.read(client, chat), portal.chatId, this.opts.limit);
      } catch (err) {
        log.warn("the chat's history could not be read: its new room starts with the live messages", {
          ...ctx,
          err: String(err),
          text: userText(err),
        });
      }
    }
    // The message that made the portal, and any after it, are live ones the history also holds:
    // bridged in their place, but not as history.
    const at = trigger.id === undefined ? -1 : messages.findIndex((m) => m.id === trigger.id);
    let skipped = 0;
    for (const [i, msg] of messages.entries()) {
      const history = at >= 0 ? i < at : msg.timestamp < trigger.timestamp;
      try {
        await deliver(msg, { resumed, history });
      } catch (err) {
        // Homeserver or database away: the whole run is tried again (and resumes) later. A
        // message refused for what it is must not hold the chat back: it is left out (a live
        // one among them is tried again on its own, after the backfill).
        if (classifyFailure(err).kind === "outage" || isDatabaseUnavailable(err)) throw err;
        skipped++;
        log.warn("a message of the chat's history could not be bridged: left out", {
          ...ctx,
          id: msg.id,
          err: String(err),
        });
      }
    }
    await this.opts.store.kvDelete(NS, k);
    this.settled.set(k, true);
    log.info("new portal backfilled", { ...ctx, messages: messages.length - skipped, skipped, resumed });
  }

  /** The history, read again after a passing failure (a rate limit's wait is kept, up to a minute). */
  private async read(client: HistoryHandling, chat: RemoteChatRef): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.history(chat, this.opts.limit);
      } catch (err) {
        const hint = retryHint(err);
        if (!hint.retry || attempt >= FETCH_TRIES) throw err;
        await new Promise((r) => setTimeout(r, Math.min(hint.afterMs ?? 1000 * attempt, 60_000)));
      }
    }
  }
}
