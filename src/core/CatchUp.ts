import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import {
  type BackfillHandling,
  canBackfill,
  type LoginRef,
  type RemoteEvent,
  type RemoteMessage,
} from "./connector";
import { retryHint } from "./errors";
import { chatRefOf } from "./OutboundBridge";
import { chatKey } from "./PortalService";

const log = new Logger("CatchUp");

/** Messages asked for per call of `fetchMessagesAfter`. */
export const CATCH_UP_PAGE = 100;
/**
 * Most messages brought over per chat and connect: a chat missed for days must not flood its
 * room (nor hold its live messages back for long); the oldest this many come, and the log says so.
 */
export const CATCH_UP_LIMIT = 500;
/** Longest a live event waits behind its chat's catch-up before it goes ahead anyway. */
export const CATCH_UP_WAIT_MS = 30_000;
/** Tries of one page that the platform refused for a passing reason (429, 5xx, network). */
const PAGE_TRIES = 3;

type Gate = { done: Promise<void>; open(): void };

function gate(): Gate {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { done, open };
}

/**
 * Messages missed while a login was away. When a login connects (at start or after a
 * disconnect) and its client implements {@link BackfillHandling}, each of its portals asks for
 * the messages after the newest remote id in the message map (by the platform's order where the
 * client gives one, see `OrderedIds`; else by timestamp); they enter the chat's lane of the
 * durable queue in order, where ids already bridged are skipped. Live events of a chat wait until
 * its catch-up is queued, so a missed message never lands after a newer one.
 */
export class CatchUp {
  /** Per login: open once its portals' gates are set. */
  private readonly listing = new Map<string, Promise<void>>();
  /** Per login and chat: open once the chat's missed messages are queued. */
  private readonly gates = new Map<string, Gate>();
  private readonly running = new Set<Promise<void>>();
  /** Logins that connected again while their catch-up ran: one more run follows. */
  private readonly again = new Set<string>();
  private stopped = false;

  constructor(
    private readonly opts: {
      store: Store;
      registry: ConnectorRegistry;
      /** Queues remote events of one login in order (the durable path). */
      enqueue(login: LoginRef, events: RemoteEvent[]): Promise<void>;
    },
  ) {}

  /** A login is connected: catches its portals up, unless that is already under way. */
  connected(login: LoginRef): void {
    const entry = this.opts.registry.client(login.id);
    if (this.stopped || !entry || !canBackfill(entry.client)) return;
    if (this.listing.has(login.id)) {
      this.again.add(login.id); // chats already done may have missed more meanwhile
      return;
    }
    const client = entry.client;
    let listed!: () => void;
    this.listing.set(
      login.id,
      new Promise<void>((r) => {
        listed = r;
      }),
    );
    const run = this.run(login, client, listed)
      .catch((err: unknown) =>
        log.warn("catch-up failed", { platform: login.platform, login: login.id, err: String(err) }),
      )
      .finally(() => {
        listed();
        this.listing.delete(login.id);
        this.running.delete(run);
        if (this.again.delete(login.id)) this.connected(login);
      });
    this.running.add(run);
  }

  /** Resolves when `event` may be queued: after the catch-up of its chat, if one is running. */
  async before(login: LoginRef, event: RemoteEvent): Promise<void> {
    const listing = this.listing.get(login.id);
    if (!listing && this.gates.size === 0) return;
    const wait = async () => {
      await listing;
      if (event.chat) await this.gates.get(this.key(login, chatKey(event.chat)))?.done;
    };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), CATCH_UP_WAIT_MS);
    });
    const result = await Promise.race([wait(), late]).finally(() => clearTimeout(timer));
    if (result === "late")
      log.warn("catch-up is slow: a live event goes ahead of it", {
        platform: login.platform,
        kind: event.kind,
      });
  }

  private key(login: LoginRef, chatId: string): string {
    return `${login.id}\u0000${chatId}`;
  }

  private async portalsOf(login: LoginRef): Promise<Portal[]> {
    const out: Portal[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await this.opts.store.listPortals({ platform: login.platform, limit: 500, offset });
      out.push(...page.filter((p) => p.loginId === login.id));
      if (page.length < 500) return out;
    }
  }

  private async run(login: LoginRef, client: BackfillHandling, listed: () => void): Promise<void> {
    const portals = await this.portalsOf(login);
    const mine = portals.map((p) => {
      const g = gate();
      this.gates.set(this.key(login, p.chatId), g);
      return { portal: p, gate: g };
    });
    listed();
    let total = 0;
    for (const { portal, gate: g } of mine) {
      try {
        if (!this.stopped) total += await this.chat(login, client, portal);
      } catch (err) {
        // One chat that cannot be read (gone, no access) must not stop the others.
        log.warn("catch-up of a chat failed", {
          platform: login.platform,
          chat: portal.chatId,
          err: String(err),
        });
      } finally {
        g.open();
        if (this.gates.get(this.key(login, portal.chatId)) === g)
          this.gates.delete(this.key(login, portal.chatId));
      }
    }
    log.info("catch-up done", {
      platform: login.platform,
      login: login.id,
      portals: mine.length,
      messages: total,
    });
  }

  /** Queues the chat's missed messages, oldest first; returns how many. */
  private async chat(login: LoginRef, client: BackfillHandling, portal: Portal): Promise<number> {
    const last = await this.opts.store.lastMessage(portal.platform, portal.chatId);
    if (!last) return 0; // nothing bridged yet: no point to resume from, and no history import
    const chat = chatRefOf(portal);
    let after = last.remoteId;
    let count = 0;
    while (count < CATCH_UP_LIMIT && !this.stopped) {
      const batch = await this.page(client, chat, after);
      // Only messages of this chat, and none repeated: a connector's answer is not trusted blindly.
      const fresh = batch.filter((m) => m.kind === "message" && m.chat && chatKey(m.chat) === portal.chatId);
      const take = fresh.slice(0, CATCH_UP_LIMIT - count);
      if (take.length) await this.opts.enqueue(login, take);
      count += take.length;
      if (batch.length < CATCH_UP_PAGE || !take.length) break;
      const next = take[take.length - 1]!.id;
      if (next === after) break;
      after = next;
    }
    if (count >= CATCH_UP_LIMIT)
      log.warn("catch-up stopped at its limit: messages after these may be missing", {
        platform: portal.platform,
        chat: portal.chatId,
        limit: CATCH_UP_LIMIT,
      });
    if (count) log.info("missed messages queued", { platform: portal.platform, chat: portal.chatId, count });
    return count;
  }

  /** One page, tried again after a passing failure (a rate limit's wait is kept, up to a minute). */
  private async page(
    client: BackfillHandling,
    chat: ReturnType<typeof chatRefOf>,
    after: string,
  ): Promise<RemoteMessage[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.fetchMessagesAfter(chat, after, CATCH_UP_PAGE);
      } catch (err) {
        const hint = retryHint(err);
        if (!hint.retry || attempt >= PAGE_TRIES || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, Math.min(hint.afterMs ?? 1000 * attempt, 60_000)));
      }
    }
  }

  /** Resolves when no catch-up is running. */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  /** Stops starting new fetches and waits for the running catch-ups to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running]);
  }
}
