/**
 * What happens in one workspace, into the core: Events API payloads (from the Socket Mode or
 * HTTP receiver) one at a time in arrival order, and channel history for the core's catch-up.
 * An event resolves only once its RemoteEvents were accepted by `ctx.emit`, so the receiver
 * acknowledges it only then; an event id already handled is dropped (Slack retries deliveries).
 */
import type { webApi } from "@slack/bolt";
import type { ConnectorContext, LoginRef, RemoteMessage } from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import { customEmojiMap, customEmojiUrl } from "./convert/emoji";
import { EventLedger } from "./EventLedger";
import { historyAfter, historyNewest } from "./history";
import { type InboundContext, mapEvent, remoteUserId, usersOf } from "./inbound";
import type { BotSelf, SlackDirectory } from "./SlackDirectory";
import type { ThreadRoots } from "./ThreadRoots";

type Obj = Record<string, unknown>;

export interface SlackInboundOptions {
  ctx: ConnectorContext;
  login: LoginRef;
  web: webApi.WebClient;
  directory: SlackDirectory;
  roots: ThreadRoots;
  /** Called for each channel an event came from: the channel belongs to this workspace. */
  channelSeen(channel: string): void;
}

/** How long the workspace's custom emoji list is used before it is read again. */
const EMOJI_FRESH_MS = 10 * 60_000;

/** Whether an event may show a custom emoji: a `:name:` in its text, or a reaction. */
function mayHaveCustomEmoji(event: Obj): boolean {
  if (typeof event.reaction === "string") return true;
  const text = typeof event.text === "string" ? event.text : "";
  return /:[a-z0-9_+'-]+:/.test(text);
}

export class SlackInbound {
  private readonly ledger: EventLedger;
  private emoji?: { at: number; map: Map<string, string> };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: SlackInboundOptions) {
    this.ledger = new EventLedger(o.ctx.store, o.login.platform, o.ctx.log);
  }

  /** Handles events one at a time; rejects (so Slack retries) when the core did not take it. */
  enqueue(body: Obj): Promise<void> {
    const run = this.chain.then(() => this.handle(body));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves once the events queued so far are handled (or failed). */
  drain(): Promise<void> {
    return this.chain.then(
      () => undefined,
      () => undefined,
    );
  }

  private async handle(body: Obj): Promise<void> {
    const { ctx, login, directory } = this.o;
    const me = directory.me;
    if (!me) return;
    const eventId = typeof body.event_id === "string" ? body.event_id : undefined;
    if (eventId && (await this.ledger.seen(eventId))) {
      ctx.log.debug("slack: event delivered again, skipped", { team: me.team, eventId });
      return;
    }
    const event = (body.event ?? {}) as Obj;
    if (event.type === "user_change" && typeof event.user === "object" && event.user) {
      const learned = directory.learn(event.user as Obj);
      if (learned) {
        // The ghost follows now, not only with the user's next message.
        const timestamp = typeof body.event_time === "number" ? body.event_time * 1000 : Date.now();
        await ctx.emit(login, {
          kind: "profile",
          sender: { id: remoteUserId(me.team, learned.user) },
          timestamp,
          info: learned.info,
        });
      }
    } else {
      await Promise.all(usersOf(event).map((u) => directory.profile(u).catch(() => undefined)));
    }
    if (event.type === "emoji_changed") this.emoji = undefined;
    else if (mayHaveCustomEmoji(event)) await this.loadEmoji();
    const mapped = mapEvent(body, this.context(me));
    if (!mapped.ok) {
      ctx.log.warn("slack: malformed event skipped", { team: me.team, eventId, reason: mapped.reason });
    } else {
      if ("skipped" in mapped) ctx.log.debug("slack: event skipped", { eventId, why: mapped.skipped });
      for (const ev of mapped.events) {
        if (ev.chat) this.o.channelSeen(ev.chat.id);
        if (ev.kind === "message" && ev.threadRoot) this.o.roots.remember(ev.id, ev.threadRoot);
        await ctx.emit(login, ev);
      }
    }
    if (eventId) await this.ledger.mark(eventId);
  }

  /**
   * Channel messages and thread replies after `afterId` (a ts), in Slack's order (see history.ts).
   */
  async history(channel: string, afterId: string | undefined, limit: number): Promise<RemoteMessage[]> {
    return this.fromHistory(channel, (web) => historyAfter(web, channel, afterId, limit));
  }

  /** The channel's newest messages with thread replies, oldest first, for a new portal (see history.ts). */
  async recent(channel: string, limit: number): Promise<RemoteMessage[]> {
    return this.fromHistory(channel, (web) => historyNewest(web, channel, limit));
  }

  private async fromHistory(
    channel: string,
    read: (web: webApi.WebClient) => Promise<Obj[]>,
  ): Promise<RemoteMessage[]> {
    const { ctx, directory } = this.o;
    const me = directory.me;
    if (!me) throw new BridgeError("Slack is not connected", undefined, true);
    const ordered = await read(this.o.web);
    const users = new Set(ordered.flatMap((m) => usersOf(m)));
    await Promise.all([...users].map((u) => directory.profile(u).catch(() => undefined)));
    const context = this.context(me);
    const out: RemoteMessage[] = [];
    for (const m of ordered) {
      const mapped = mapEvent({ type: "event_callback", event: { ...m, type: "message", channel } }, context);
      if (!mapped.ok) {
        ctx.log.warn("slack: malformed history message skipped", { channel, reason: mapped.reason });
        continue;
      }
      for (const ev of mapped.events) {
        if (ev.kind !== "message") continue;
        if (ev.threadRoot) this.o.roots.remember(ev.id, ev.threadRoot);
        out.push(ev);
      }
    }
    return out;
  }

  private context(me: BotSelf): InboundContext {
    return {
      team: me.team,
      botUserId: me.userId,
      botId: me.botId,
      ghostUserId: (u) => this.o.ctx.ghostUserId(remoteUserId(me.team, u)),
      profile: (u) => this.o.directory.cached(u),
      customEmoji: (name) => this.emojiUrl(name),
    };
  }

  /** The workspace's custom emoji (`emoji.list`, scope emoji:read), read again after ten minutes or a change. */
  private async loadEmoji(): Promise<void> {
    if (this.emoji && Date.now() - this.emoji.at < EMOJI_FRESH_MS) return;
    try {
      this.emoji = { at: Date.now(), map: customEmojiMap(await this.o.web.emoji.list()) };
    } catch (err) {
      // Without the list (no emoji:read scope), custom emoji stay `:name:` text; asked again later.
      this.emoji = { at: Date.now(), map: this.emoji?.map ?? new Map() };
      this.o.ctx.log.info("slack: custom emoji not read (emoji.list)", { err: String(err) });
    }
  }

  private emojiUrl(name: string): string | undefined {
    return customEmojiUrl(this.emoji?.map, name);
  }
}
