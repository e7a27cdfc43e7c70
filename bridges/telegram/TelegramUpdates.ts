/**
 * The receiving side of one bot login: long polling (`getUpdates`, the default) or a webhook,
 * mapping each update to RemoteEvents and handing them to the core.
 *
 * Delivery rule: updates are emitted in order, and `offset:<bot id>` is stored in the same write
 * that queues their events (`ctx.emitAll`, one per polled batch). When polling, Telegram learns
 * of the confirmation with the next poll; with a webhook, the POST is answered 200 only then. A
 * crash before that write re-delivers the whole batch, of which nothing was queued.
 */
import { randomBytes } from "node:crypto";
import type { Bot } from "grammy";
import type { Update, User } from "grammy/types";
import { ConnectionStateCell } from "../../src/core/ConnectionStateCell";
import {
  ConnectionState,
  type ConnectorContext,
  type LoginRef,
  type RemoteEvent,
} from "../../src/core/connector";
import { registerSecret } from "../../src/log/Logger";
import type { TelegramConfig } from "./config";
import { describe, mapTelegramError, type TelegramError } from "./errors";
import { ALLOWED_UPDATES, type InboundMapper } from "./inbound";
import type { TelegramPolls } from "./polls";
import type { TelegramFiles } from "./TelegramFiles";
import type { TelegramWebhook, WebhookRoute } from "./TelegramWebhook";

type GrammySignal = Parameters<Bot["api"]["getMe"]>[0];

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });

/** What the receiver shares with the client that owns it. */
export interface TelegramUpdatesOptions {
  ctx: ConnectorContext;
  login: LoginRef;
  cfg: TelegramConfig;
  bot: Bot;
  mapper: InboundMapper;
  files: TelegramFiles;
  /** Votes and closed polls (updates that name only the poll). */
  polls: TelegramPolls;
  /** Users seen in updates, shared with the client (names for mentions and userInfo). */
  users: Map<string, User>;
  /** The connector's webhook listener (webhook mode), shared by its bots. */
  webhook?: TelegramWebhook;
  /** A pressed inline button (approval requests); not a chat event. */
  onCallbackQuery?(q: NonNullable<Update["callback_query"]>): Promise<unknown>;
}

/** The URL Telegram posts a bot's updates to: `webhook_url` with the bot id appended to its path. */
export function botWebhookUrl(webhookUrl: string, botId: number): URL {
  const u = new URL(webhookUrl);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/${botId}`;
  return u;
}

/** Polling loop or webhook, connection state and the stored offset of one bot. */
export class TelegramUpdates {
  private readonly conn = new ConnectionStateCell((s, m) => this.o.ctx.stateChanged(this.o.login, s, m));
  private abort?: AbortController;
  private loopDone: Promise<void> = Promise.resolve();
  private emitting = false;
  private offset = 0;
  private offsetKey?: string;
  /** When each user's profile photo was last looked up (see `profile_photo_check_minutes`). */
  private readonly photoChecked = new Map<string, number>();
  private readonly secret: string;
  /** The bot account, once getMe answered. */
  me?: User;

  constructor(private readonly o: TelegramUpdatesOptions) {
    this.secret = o.cfg.webhookSecret ?? randomBytes(32).toString("base64url");
    registerSecret(this.secret);
  }

  state(): ConnectionState {
    return this.conn.get();
  }

  /** Starts receiving in the background (the stored offset is read first). */
  async start(): Promise<void> {
    if (this.abort && !this.abort.signal.aborted) return;
    const abort = new AbortController();
    this.abort = abort;
    await this.loopDone; // an old loop still inside emit must not run beside the new one
    if (abort.signal.aborted) return;
    this.conn.set(ConnectionState.Connecting);
    const run = this.o.cfg.mode === "webhook" ? this.webhook(abort.signal) : this.poll(abort.signal);
    this.loopDone = run.catch((err: unknown) => {
      this.o.ctx.log.error("telegram receive loop crashed", { err: describe(err) });
      this.conn.set(ConnectionState.TransientDisconnect, describe(err));
    });
  }

  /** Stops now; an emit in progress finishes and stores its offset, nothing follows. */
  async stop(): Promise<void> {
    this.abort?.abort();
    if (!this.emitting) await this.loopDone;
  }

  /** getMe and the stored offset, once per process. */
  private async prepare(signal: GrammySignal): Promise<void> {
    if (this.me) return;
    const me = await this.o.bot.api.getMe(signal);
    this.offsetKey = `offset:${me.id}`;
    const stored = await this.o.ctx.store.kvGet(this.offsetKey);
    this.offset = stored !== undefined && /^\d+$/.test(stored) ? Number(stored) : 0;
    this.me = me;
  }

  private async poll(signal: AbortSignal): Promise<void> {
    // grammy types its signal with the abort-controller polyfill; node-fetch takes the native one.
    const apiSignal = signal as unknown as GrammySignal;
    let backoff = this.o.cfg.backoffInitialMs;
    let webhookCleared = false;
    while (!signal.aborted) {
      try {
        await this.prepare(apiSignal);
        if (!webhookCleared) {
          await this.o.bot.api.deleteWebhook({ drop_pending_updates: false }, apiSignal);
          webhookCleared = true;
        }
        const updates = await this.o.bot.api.getUpdates(
          {
            offset: this.offset,
            timeout: this.o.cfg.pollTimeoutSeconds,
            allowed_updates: [...ALLOWED_UPDATES],
          },
          apiSignal,
        );
        this.conn.set(ConnectionState.Connected);
        backoff = this.o.cfg.backoffInitialMs;
        // False when the core did not take them: the next round fetches the same updates.
        await this.acceptAll(updates, signal);
      } catch (raw) {
        if (signal.aborted || (await this.failed(raw, backoff, signal))) return;
        backoff = Math.min(backoff * 2, this.o.cfg.backoffMaxMs);
      }
    }
  }

  /**
   * Webhook mode: listen, then point Telegram at this bot's URL (one connection, so order
   * holds). Every `webhook_check_minutes` getWebhookInfo confirms the webhook is still ours:
   * another program calling setWebhook or deleteWebhook on the token would silently cut the
   * bridge off, so it is set back, with a warning.
   */
  private async webhook(signal: AbortSignal): Promise<void> {
    const apiSignal = signal as unknown as GrammySignal;
    const { cfg, ctx, webhook: hook } = this.o;
    if (!hook) throw new Error("webhook mode without a webhook listener");
    const every = cfg.webhookCheckMinutes * 60_000;
    let backoff = cfg.backoffInitialMs;
    let route: WebhookRoute | undefined;
    let port: number | undefined;
    try {
      while (!signal.aborted) {
        try {
          await this.prepare(apiSignal);
          const url = botWebhookUrl(cfg.webhookUrl!, this.me!.id);
          route ??= {
            path: url.pathname,
            secret: this.secret,
            // Once stopping, nothing more is taken: Telegram keeps it and delivers it again later.
            accept: async (u) => !signal.aborted && this.accept(u as Update, signal),
          };
          port ??= await hook.add(route);
          await this.o.bot.api.setWebhook(
            url.href,
            {
              secret_token: this.secret,
              allowed_updates: [...ALLOWED_UPDATES],
              max_connections: 1,
              drop_pending_updates: false,
            },
            apiSignal,
          );
          ctx.log.info("telegram: webhook set", {
            url: url.href,
            listen: `${cfg.webhookBindAddress}:${port}`,
          });
          this.conn.set(ConnectionState.Connected);
          backoff = cfg.backoffInitialMs;
          for (;;) {
            await sleep(every > 0 ? every : 2 ** 31 - 1, signal);
            if (signal.aborted) return;
            if (every <= 0) continue;
            const info = await this.o.bot.api.getWebhookInfo(apiSignal);
            if (info.url === url.href) continue;
            ctx.log.warn(
              "telegram: another program changed this bot's webhook; setting it back. If that program should own the bot, give the bridge its own token",
              { found: info.url || "(none)" },
            );
            break;
          }
        } catch (raw) {
          if (signal.aborted || (await this.failed(raw, backoff, signal))) return;
          backoff = Math.min(backoff * 2, cfg.backoffMaxMs);
        }
      }
    } finally {
      // The webhook stays set: while the bridge is away Telegram keeps the updates and retries.
      if (route && port !== undefined) await hook.remove(route);
    }
  }

  /**
   * Reports a failed round with what to do, and waits before the next. True when trying again
   * cannot help (the token was refused).
   */
  private async failed(raw: unknown, backoff: number, signal: AbortSignal): Promise<boolean> {
    const err = mapTelegramError(raw) as TelegramError;
    const log = this.o.ctx.log;
    if (err.status === 401 || err.status === 404) {
      const why =
        "Telegram rejected the bot token (401 Unauthorized): it is wrong or was revoked. Get the current token " +
        "from @BotFather (/token) and set platforms.telegram.bot_token, or run `login telegram <token>`";
      log.error(why);
      this.conn.set(ConnectionState.BadCredentials, why);
      return true;
    }
    let message = describe(err);
    if (err.status === 409) {
      message = /webhook/i.test(message)
        ? "another program set a webhook for this bot token (409 Conflict): remove it (deleteWebhook) or set " +
          "platforms.telegram.mode: webhook"
        : "another process is polling getUpdates with this bot token (409 Conflict): stop the other bot or bridge " +
          "using it, or give this bridge its own bot from @BotFather";
    } else if (err.code === "EADDRINUSE") {
      message = `platforms.telegram.webhook_port ${this.o.cfg.webhookPort} is in use: free it or choose another port`;
    }
    // The first time a problem shows, say what to do; the retries after it only repeat it quietly.
    if (message !== this.conn.reason) log.error(`telegram: ${message}; retrying`, { backoffMs: backoff });
    else log.debug("telegram: still failing, retrying", { err: message, backoffMs: backoff });
    this.conn.set(ConnectionState.TransientDisconnect, message);
    await sleep(Math.max(backoff, err.retryAfterMs ?? 0), signal);
    return false;
  }

  /** One update (a webhook's POST): see {@link acceptAll}. */
  private accept(u: Update, signal: AbortSignal): Promise<boolean> {
    return this.acceptAll([u], signal);
  }

  /**
   * Updates in order, those below the stored offset skipped (delivered before). Their events
   * go to the core in one write together with the offset after them, so a crash stores both
   * or neither: nothing is lost and nothing is handed out twice. A pressed button is handled on
   * its own once what came before it is stored. True once everything is stored; false when the
   * core did not take it (the same updates are fetched again).
   */
  private async acceptAll(updates: Update[], signal: AbortSignal): Promise<boolean> {
    const { ctx, login } = this.o;
    let events: RemoteEvent[] = [];
    let next: number | undefined; // the offset after the updates collected so far
    const flush = async (): Promise<boolean> => {
      if (next === undefined) return true;
      this.emitting = true;
      try {
        await ctx.emitAll(login, events, { key: this.offsetKey!, value: String(next) });
      } catch (err) {
        ctx.log.warn("telegram: emit failed, the updates will be delivered again", {
          err: describe(err),
          updates: events.length,
          offset: this.offset,
        });
        await sleep(this.o.cfg.backoffInitialMs, signal);
        return false;
      } finally {
        this.emitting = false;
      }
      this.offset = next;
      events = [];
      next = undefined;
      return true;
    };
    for (const u of updates) {
      if (signal.aborted) return false; // nothing of this batch stored: fetched again next time
      const id = (u as Partial<Update> | null)?.update_id;
      if (typeof id === "number" && id < this.offset) continue;
      if (u?.callback_query) {
        if (!(await flush())) return false;
        await this.o.onCallbackQuery?.(u.callback_query).catch((err: unknown) =>
          ctx.log.warn("telegram: callback query not handled", {
            updateId: u.update_id,
            err: describe(err),
          }),
        );
      } else events.push(...(await this.eventsOf(u)));
      if (typeof id === "number") next = id + 1;
    }
    return flush();
  }

  /** An update's events, each sender's profile photo looked up when due; none when malformed. */
  private async eventsOf(u: Update): Promise<RemoteEvent[]> {
    const { ctx, mapper, polls } = this.o;
    const polled = await polls.eventsOf(u, this.me?.id ?? 0);
    if (polled) return polled;
    const mapped = mapper.map(u);
    if (!mapped.ok) {
      ctx.log.warn("telegram: malformed update skipped", { updateId: u?.update_id, reason: mapped.reason });
      return [];
    }
    if ("skipped" in mapped)
      ctx.log.debug("telegram: update skipped", { updateId: u.update_id, why: mapped.skipped });
    this.remember(u);
    const posted = u.message ?? u.channel_post;
    for (const ev of mapped.events) {
      await this.withProfilePhoto(ev);
      if (ev.kind === "message" && ev.poll && posted) await polls.remember(posted, ev.chat);
    }
    return mapped.events;
  }

  private remember(u: Update): void {
    const from = u.message?.from ?? u.edited_message?.from ?? u.message_reaction?.user ?? u.chat_member?.from;
    if (!from) return;
    const users = this.o.users;
    if (users.size > 5000) users.delete(users.keys().next().value!);
    users.set(String(from.id), from);
  }

  /**
   * Telegram sends no event when someone changes their profile photo. So when a user speaks
   * and their photo was last looked up more than `profile_photo_check_minutes` ago, it is
   * looked up again (one getUserProfilePhotos call) and sent along: the core re-syncs the
   * ghost's avatar when the photo's file_unique_id changed.
   */
  private async withProfilePhoto(ev: RemoteEvent): Promise<void> {
    if (ev.kind !== "message" || ev.fromSelf || !ev.senderInfo || !/^\d+$/.test(ev.sender.id)) return;
    const id = ev.sender.id;
    const last = this.photoChecked.get(id);
    const every = this.o.cfg.profilePhotoCheckMinutes * 60_000;
    if (last !== undefined && Date.now() - last < every) return;
    if (this.photoChecked.size > 10_000) this.photoChecked.delete(this.photoChecked.keys().next().value!);
    this.photoChecked.set(id, Date.now());
    try {
      const p = await this.o.bot.api.getUserProfilePhotos(Number(id), { limit: 1 });
      const largest = p.photos[0]?.at(-1);
      if (largest)
        ev.senderInfo.avatar = this.o.files.avatarRef(
          largest.file_unique_id,
          largest.file_id,
          largest.file_size,
        );
      else if (p.total_count === 0) ev.senderInfo.avatarRemoved = true; // removed, or hidden from bots
    } catch (err) {
      ctxDebug(this.o.ctx, id, err);
    }
  }
}

function ctxDebug(ctx: ConnectorContext, user: string, err: unknown): void {
  ctx.log.debug("telegram: profile photo not checked", { user, err: describe(mapTelegramError(err)) });
}
