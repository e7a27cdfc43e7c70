/**
 * One Slack workspace login: a bolt App (Socket Mode, or the Events API over HTTP) for what
 * happens in the workspace, and its WebClient for everything the bridge does there.
 *
 * Delivery rule: events are handled one at a time per workspace, in arrival order. A Socket
 * Mode envelope is acknowledged, and an HTTP event answered 200, only after its RemoteEvents
 * were accepted by `ctx.emit`; an event whose id was already handled is acknowledged and
 * dropped (Slack retries deliveries it thinks failed).
 */
import { App, LogLevel, webApi } from "@slack/bolt";
import {
  type BackfillHandling,
  type ChatInfo,
  type ChatInfoHandling,
  ConnectionState,
  type ConnectorContext,
  type EditHandling,
  type LoginRef,
  type MatrixSender,
  type Media,
  type MediaRef,
  type NetworkClient,
  type OutboundMessage,
  type ReactionHandling,
  type RedactionHandling,
  type RemoteChatRef,
  type RemoteMessage,
  type RemoteUserRef,
  type SentRef,
  type UserInfo,
} from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import type { SlackConfig, WorkspaceConfig } from "./config";
import { matrixToMrkdwn, nameFromEmoji, relayText } from "./convert/index";
import { EventLedger } from "./EventLedger";
import { describe, mapSlackError, slack, slackCode } from "./errors";
import { historyAfter } from "./history";
import { type InboundContext, mapEvent, parseRemoteUserId, remoteUserId, usersOf } from "./inbound";
import { SlackFiles } from "./SlackFiles";
import { SocketReceiver } from "./SocketReceiver";

/** Slack's limit is 40,000 characters; it truncates beyond, so longer texts are split. */
export const MAX_TEXT = 39_000;

const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 60_000;

/** How clients of one connector find the workspace a channel belongs to. */
export interface ChannelRouting {
  owner(channel: string): SlackClient | undefined;
  remember(channel: string, client: SlackClient): void;
  others(self: SlackClient): SlackClient[];
}

type Obj = Record<string, unknown>;

export class SlackClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    ChatInfoHandling,
    BackfillHandling
{
  private current = ConnectionState.Connecting;
  private app?: App;
  private web: webApi.WebClient;
  private readonly files: SlackFiles;
  private readonly ledger: EventLedger;
  private me?: { team: string; userId: string; botId: string; customize: boolean };
  private readonly users = new Map<string, UserInfo>();
  /** Thread root of messages seen in threads (ts → root ts), for Matrix replies to them; bounded. */
  private readonly roots = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  private httpPort?: number;
  private retryTimer?: NodeJS.Timeout;
  private backoffMs = RETRY_INITIAL_MS;

  constructor(
    private readonly ctx: ConnectorContext,
    readonly login: LoginRef,
    private readonly cfg: SlackConfig,
    private readonly ws: WorkspaceConfig,
    private readonly routing: ChannelRouting,
  ) {
    this.web = new webApi.WebClient(ws.botToken, this.clientOptions());
    this.files = new SlackFiles(this.web, ws.botToken, cfg.apiUrl, cfg.maxFileBytes);
    this.ledger = new EventLedger(ctx.store, login.platform, ctx.log);
  }

  /** The team id once connected (the login's remote id before). */
  get team(): string | undefined {
    return this.me?.team ?? this.login.remoteId;
  }

  /** The port the HTTP receiver listens on (HTTP mode, once connected). */
  get listeningPort(): number | undefined {
    return this.httpPort;
  }

  private clientOptions(): webApi.WebClientOptions {
    // The core retries with backoff and keeps order per chat; the client must not queue behind a 429.
    return { slackApiUrl: this.cfg.apiUrl, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } };
  }

  private boltLogger() {
    const log = this.ctx.log;
    let level = LogLevel.WARN;
    return {
      debug: () => {},
      info: () => {},
      warn: (...m: unknown[]) => log.warn(`slack: ${m.map(String).join(" ")}`, { team: this.team }),
      error: (...m: unknown[]) => log.error(`slack: ${m.map(String).join(" ")}`, { team: this.team }),
      setLevel: (l: LogLevel) => {
        level = l;
      },
      getLevel: () => level,
      setName: () => {},
    };
  }

  /**
   * Checks the token, then starts receiving events. When Slack cannot be reached it tries
   * again later by itself (with backoff); a refused token stays refused.
   */
  async connect(): Promise<void> {
    if (this.app) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState(ConnectionState.Connecting);
    let auth: Obj;
    try {
      auth = (await slack(() => this.web.auth.test())) as unknown as Obj;
    } catch (err) {
      const bad = (err as { status?: number }).status === 401;
      this.setState(
        bad ? ConnectionState.BadCredentials : ConnectionState.TransientDisconnect,
        describe(err),
      );
      if (!bad) this.retryLater(err);
      throw err;
    }
    this.backoffMs = RETRY_INITIAL_MS;
    const scopes = ((auth.response_metadata as Obj | undefined)?.scopes as string[] | undefined) ?? [];
    this.me = {
      team: String(auth.team_id),
      userId: String(auth.user_id),
      botId: String(auth.bot_id ?? ""),
      customize: scopes.includes("chat:write.customize"),
    };
    const common = {
      token: this.ws.botToken,
      botId: this.me.botId,
      botUserId: this.me.userId,
      clientOptions: this.clientOptions(),
      logger: this.boltLogger(),
      tokenVerificationEnabled: false,
    };
    let app: App;
    if (this.ws.appToken) {
      const receiver = new SocketReceiver({
        appToken: this.ws.appToken,
        slackApiUrl: this.cfg.apiUrl,
        log: this.ctx.log,
        onState: (st) => {
          if (st === "connected") this.setState(ConnectionState.Connected);
          else if (this.app) this.setState(ConnectionState.TransientDisconnect, `socket ${st}`);
        },
      });
      app = new App({ ...common, receiver });
    } else {
      app = new App({ ...common, signingSecret: this.ws.signingSecret!, processBeforeResponse: true });
    }
    app.use(async ({ body }) => {
      await this.enqueue(body as Obj);
    });
    app.error(async (err) => {
      throw err;
    });
    this.app = app;
    let started: unknown;
    try {
      started = this.ws.appToken
        ? await app.start()
        : await app.start({ port: this.ws.httpPort, host: this.ws.httpHost });
    } catch (raw) {
      // No socket (apps.connections.open refused or unreachable) or no HTTP port.
      this.app = undefined;
      await app.stop().catch(() => undefined);
      const err = mapSlackError(raw);
      const bad = (err as { status?: number }).status === 401;
      this.setState(
        bad ? ConnectionState.BadCredentials : ConnectionState.TransientDisconnect,
        describe(err),
      );
      if (!bad) this.retryLater(err);
      throw err;
    }
    const addr = (started as { address?: () => unknown } | undefined)?.address?.();
    if (addr && typeof addr === "object" && "port" in addr)
      this.httpPort = Number((addr as { port: number }).port);
    if (!this.ws.appToken) this.setState(ConnectionState.Connected);
    this.ctx.log.info("slack workspace connected", {
      team: this.me.team,
      mode: this.ws.appToken ? "socket" : "http",
      customize: this.me.customize,
    });
  }

  private retryLater(err: unknown): void {
    const wait = Math.max(this.backoffMs, (err as { retryAfterMs?: number }).retryAfterMs ?? 0);
    this.backoffMs = Math.min(this.backoffMs * 2, RETRY_MAX_MS);
    this.ctx.log.warn("slack: workspace not reachable, trying again", { team: this.team, waitMs: wait });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().catch(() => undefined); // connect() reports its state and schedules the next try
    }, wait);
  }

  async disconnect(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const app = this.app;
    this.app = undefined;
    await app
      ?.stop()
      .catch((err: unknown) => this.ctx.log.debug("slack: stop failed", { err: describe(err) }));
    await this.chain.catch(() => undefined);
    this.setState(ConnectionState.LoggedOut);
  }

  state(): ConnectionState {
    return this.current;
  }

  private setState(s: ConnectionState, message?: string): void {
    if (s === this.current && s !== ConnectionState.Connecting) return;
    this.current = s;
    this.ctx.stateChanged(this.login, s, message);
  }

  // ---- inbound ----

  /** Handles events one at a time; rejects (so Slack retries) when the core did not take it. */
  private enqueue(body: Obj): Promise<void> {
    const run = this.chain.then(() => this.handle(body));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async handle(body: Obj): Promise<void> {
    const me = this.me;
    if (!me) return;
    const eventId = typeof body.event_id === "string" ? body.event_id : undefined;
    if (eventId && (await this.ledger.seen(eventId))) {
      this.ctx.log.debug("slack: event delivered again, skipped", { team: me.team, eventId });
      return;
    }
    const event = (body.event ?? {}) as Obj;
    if (event.type === "user_change" && typeof event.user === "object" && event.user) {
      const u = event.user as Obj;
      if (typeof u.id === "string") {
        const info = this.profileOf(u);
        if (u.id === me.userId) info.isBot = true;
        this.users.set(u.id, info);
        // The ghost follows now, not only with the user's next message.
        const timestamp = typeof body.event_time === "number" ? body.event_time * 1000 : Date.now();
        await this.ctx.emit(this.login, {
          kind: "profile",
          sender: { id: remoteUserId(me.team, u.id) },
          timestamp,
          info,
        });
      }
    } else {
      await Promise.all(usersOf(event).map((u) => this.profile(u).catch(() => undefined)));
    }
    const mapped = mapEvent(body, this.inboundContext(me));
    if (!mapped.ok) {
      this.ctx.log.warn("slack: malformed event skipped", { team: me.team, eventId, reason: mapped.reason });
    } else {
      if ("skipped" in mapped) this.ctx.log.debug("slack: event skipped", { eventId, why: mapped.skipped });
      for (const ev of mapped.events) {
        if (ev.chat) this.routing.remember(ev.chat.id, this);
        if (ev.kind === "message" && ev.threadRoot) this.rememberRoot(ev.id, ev.threadRoot);
        await this.ctx.emit(this.login, ev);
      }
    }
    if (eventId) await this.ledger.mark(eventId);
  }

  private inboundContext(me: NonNullable<SlackClient["me"]>): InboundContext {
    return {
      team: me.team,
      botUserId: me.userId,
      botId: me.botId,
      ghostUserId: (u) => this.ctx.ghostUserId(remoteUserId(me.team, u)),
      profile: (u) => this.users.get(u),
    };
  }

  /**
   * Channel messages after `afterId` (a ts), oldest first, for the core's catch-up. Thread
   * replies are not in a channel's history: those missed stay missed.
   */
  fetchMessagesAfter(
    chat: RemoteChatRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<RemoteMessage[]> {
    return this.on(chat, (c) => c.ownHistory(chat.id, afterId, limit));
  }

  private async ownHistory(
    channel: string,
    afterId: string | undefined,
    limit: number,
  ): Promise<RemoteMessage[]> {
    const me = this.me;
    if (!me) throw new BridgeError("Slack is not connected", undefined, true);
    const ordered = await historyAfter(this.web, channel, afterId, limit);
    const users = new Set(ordered.flatMap((m) => usersOf(m)));
    await Promise.all([...users].map((u) => this.profile(u).catch(() => undefined)));
    const ctx = this.inboundContext(me);
    const out: RemoteMessage[] = [];
    for (const m of ordered) {
      const mapped = mapEvent({ type: "event_callback", event: { ...m, type: "message", channel } }, ctx);
      if (!mapped.ok) {
        this.ctx.log.warn("slack: malformed history message skipped", { channel, reason: mapped.reason });
        continue;
      }
      for (const ev of mapped.events) {
        if (ev.kind !== "message") continue;
        if (ev.threadRoot) this.rememberRoot(ev.id, ev.threadRoot);
        out.push(ev);
      }
    }
    return out;
  }

  private profileOf(u: Obj): UserInfo {
    const p = (u.profile ?? {}) as Obj;
    const name =
      [p.display_name, p.real_name, u.real_name, u.name].find(
        (x): x is string => typeof x === "string" && x !== "",
      ) ?? String(u.id);
    const info: UserInfo = { displayName: name };
    const image = [p.image_512, p.image_192, p.image_72].find(
      (x): x is string => typeof x === "string" && x !== "",
    );
    if (image)
      info.avatar = {
        key: image,
        mimetype: /\.jpe?g/.test(image) ? "image/jpeg" : "image/png",
        name: "avatar",
      };
    if (u.is_bot === true) info.isBot = true;
    return info;
  }

  /** users.info, cached; a user_change event replaces the cached profile. */
  private async profile(user: string): Promise<UserInfo> {
    const cached = this.users.get(user);
    if (cached) return cached;
    const res = (await slack(() => this.web.users.info({ user }))) as { user?: Obj };
    if (!res.user) throw new Error(`users.info returned no user for ${user}`);
    const info = this.profileOf(res.user);
    if (user === this.me?.userId) info.isBot = true;
    if (this.users.size > 5000) this.users.delete(this.users.keys().next().value!);
    this.users.set(user, info);
    return info;
  }

  // ---- routing between workspaces ----

  /**
   * Runs `fn` on the client of the workspace the channel belongs to (a channel id names one
   * workspace): the one it was seen in, else this one, else the first other that knows it.
   */
  private async on<T>(chat: RemoteChatRef, fn: (c: SlackClient) => Promise<T>): Promise<T> {
    const owner = this.routing.owner(chat.id);
    if (owner) return fn(owner);
    try {
      const r = await fn(this);
      this.routing.remember(chat.id, this);
      return r;
    } catch (err) {
      if (slackCode(err) !== "channel_not_found") throw err;
      for (const other of this.routing.others(this)) {
        const known = await other.ownChatInfo(chat.id).then(
          () => true,
          () => false,
        );
        if (known) {
          this.routing.remember(chat.id, other);
          return fn(other);
        }
      }
      throw err;
    }
  }

  chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    return this.on(chat, (c) => c.ownChatInfo(chat.id));
  }

  private async ownChatInfo(channel: string): Promise<ChatInfo> {
    const res = (await slack(() => this.web.conversations.info({ channel }))) as { channel?: Obj };
    const c = res.channel ?? {};
    const kind = c.is_im ? "dm" : "group";
    const info: ChatInfo = { kind };
    if (c.is_im && typeof c.user === "string") {
      info.name = (await this.profile(c.user).catch(() => undefined))?.displayName;
      info.members = [{ id: remoteUserId(this.team!, c.user) }];
      return info;
    }
    info.name = typeof c.name === "string" ? c.name : channel;
    const topic =
      ((c.topic as Obj | undefined)?.value as string | undefined) ||
      ((c.purpose as Obj | undefined)?.value as string | undefined);
    if (topic) info.topic = topic;
    try {
      const m = (await slack(() => this.web.conversations.members({ channel, limit: 200 }))) as {
        members?: string[];
      };
      const others = (m.members ?? []).filter((u) => u !== this.me?.userId);
      info.members = others.map((u) => ({ id: remoteUserId(this.team!, u) }));
      if (c.is_mpim) {
        // Group DMs are named "mpdm-a--b--c-1" on Slack; people's names read better.
        const names = await Promise.all(
          others.map((u) =>
            this.profile(u).then(
              (p) => p.displayName,
              () => u,
            ),
          ),
        );
        info.name = names.join(", ");
      }
    } catch (err) {
      this.ctx.log.debug("slack: no member list", { channel, err: describe(err) });
    }
    return info;
  }

  async userInfo(user: RemoteUserRef): Promise<UserInfo> {
    const parsed = parseRemoteUserId(user.id);
    if (!parsed) return { displayName: user.id };
    const owner = [this, ...this.routing.others(this)].find((c) => c.team === parsed.team) ?? this;
    if (parsed.user.startsWith("B")) return { displayName: parsed.user, isBot: true };
    try {
      return await owner.profile(parsed.user);
    } catch (err) {
      // A user Slack will not describe (deleted, from another org) still gets a ghost; passing
      // failures (429, network) are retried by the core.
      if (!(err instanceof BridgeError)) throw err;
      this.ctx.log.info("slack: user not described, using the id", { user: parsed.user, err: describe(err) });
      return { displayName: parsed.user };
    }
  }

  fetchMedia(ref: MediaRef): Promise<Media> {
    return this.files.download(ref);
  }

  // ---- outbound ----

  private mrkdwn(msg: OutboundMessage): string {
    const team = this.team;
    return matrixToMrkdwn(msg.text, msg.html, {
      slackUser: (mxid) => {
        const id = this.ctx.remoteUserIdOf(mxid);
        const parsed = id ? parseRemoteUserId(id) : undefined;
        return parsed && parsed.team === team ? parsed.user : undefined;
      },
    });
  }

  /** The text and identity of a relayed message: the sender's own name when the app may. */
  private identity(msg: OutboundMessage, body: string): { text: string; extra: Obj } {
    const sender = msg.sender;
    if (this.me?.customize && msg.msgtype !== "emote") {
      const extra: Obj = { username: (sender.displayName || sender.mxid).slice(0, 80) };
      if (sender.avatarUrl) extra.icon_url = sender.avatarUrl;
      return { text: body, extra };
    }
    if (this.me?.customize)
      return { text: `_${body}_`, extra: { username: sender.displayName || sender.mxid } };
    return { text: relayText(this.cfg.relayTemplate, sender, body, msg.msgtype), extra: {} };
  }

  sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    return this.on(chat, (c) => c.sendMessageHere(chat, msg));
  }

  /** sendMessage in this workspace. */
  async sendMessageHere(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const body = msg.text === "" && !msg.html ? "" : this.mrkdwn(msg);
    // Slack has threads, not replies: a Matrix reply goes into the thread of the message it
    // answers and is also shown in the channel (reply_broadcast), as Slack's "also send to channel".
    const threadTs =
      msg.threadRoot ?? (msg.replyTo ? (this.roots.get(msg.replyTo) ?? msg.replyTo) : undefined);
    const thread = threadTs ? { thread_ts: threadTs } : {};
    const broadcast = !msg.threadRoot && msg.replyTo ? { reply_broadcast: true } : {};
    const ids: string[] = [];
    if (msg.attachment) {
      // Uploads cannot carry another name or icon, so a file always says who sent it.
      const comment = relayText(this.cfg.relayTemplate, msg.sender, body, msg.msgtype).trim();
      const ts = await this.files.upload(chat.id, msg.attachment.media, { comment, threadTs });
      if (threadTs) this.rememberRoot(ts, threadTs);
      return { ids: [ts], timestamp: Math.round(Number(ts) * 1000) };
    }
    const { text, extra } = this.identity(msg, body);
    let timestamp = Date.now();
    for (let i = 0; i < text.length || i === 0; i += MAX_TEXT) {
      const part = text.slice(i, i + MAX_TEXT);
      const res = (await slack(() =>
        this.web.chat.postMessage({
          channel: chat.id,
          text: part,
          ...thread,
          ...(i === 0 ? broadcast : {}),
          ...extra,
        } as webApi.ChatPostMessageArguments),
      )) as { ts?: string };
      if (!res.ts) throw new Error("chat.postMessage returned no ts");
      ids.push(res.ts);
      if (threadTs) this.rememberRoot(res.ts, threadTs);
      timestamp = Math.round(Number(res.ts) * 1000);
    }
    return { ids, timestamp };
  }

  private rememberRoot(ts: string, root: string): void {
    if (this.roots.size > 5000) this.roots.delete(this.roots.keys().next().value!);
    this.roots.set(ts, root);
  }

  editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    return this.on(chat, (c) => c.editMessageHere(chat, remoteId, msg));
  }

  /** editMessage in this workspace. */
  async editMessageHere(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const { text } = this.me?.customize ? { text: this.mrkdwn(msg) } : this.identity(msg, this.mrkdwn(msg));
    await slack(() =>
      this.web.chat.update({ channel: chat.id, ts: remoteId, text: text.slice(0, MAX_TEXT) }),
    );
  }

  deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.on(chat, (c) => c.deleteMessageHere(chat, remoteId));
  }

  /** deleteMessage in this workspace. */
  async deleteMessageHere(chat: RemoteChatRef, remoteId: string): Promise<void> {
    try {
      await slack(() => this.web.chat.delete({ channel: chat.id, ts: remoteId }));
    } catch (err) {
      if (slackCode(err) === "message_not_found") return; // already gone
      throw err;
    }
  }

  /** reactions.add with the emoji's Slack name; an emoji Slack has no name for is sent as a threaded text. */
  sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    return this.on(chat, (c) => c.sendReactionHere(chat, target, key, sender));
  }

  /** sendReaction in this workspace. */
  async sendReactionHere(
    chat: RemoteChatRef,
    target: string,
    key: string,
    sender: MatrixSender,
  ): Promise<void> {
    const name = reactionName(key);
    if (!name) {
      await slack(() =>
        this.web.chat.postMessage({
          channel: chat.id,
          thread_ts: target,
          text: `${sender.displayName || sender.mxid} reacted with ${key}`,
        }),
      );
      return;
    }
    try {
      await slack(() => this.web.reactions.add({ channel: chat.id, timestamp: target, name }));
    } catch (err) {
      if (slackCode(err) !== "already_reacted") throw err;
    }
  }

  removeReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    return this.on(chat, (c) => c.removeReactionHere(chat, target, key, sender));
  }

  /** removeReaction in this workspace. */
  async removeReactionHere(
    chat: RemoteChatRef,
    target: string,
    key: string,
    _sender: MatrixSender,
  ): Promise<void> {
    const name = reactionName(key);
    if (!name) return;
    try {
      await slack(() => this.web.reactions.remove({ channel: chat.id, timestamp: target, name }));
    } catch (err) {
      if (slackCode(err) !== "no_reaction") throw err;
    }
  }

  setChatName(chat: RemoteChatRef, name: string): Promise<void> {
    return this.on(chat, (c) => c.setChatNameHere(chat, name));
  }

  /** setChatName in this workspace. */
  async setChatNameHere(chat: RemoteChatRef, name: string): Promise<void> {
    await slack(() => this.web.conversations.rename({ channel: chat.id, name: name.slice(0, 80) }));
  }

  setChatTopic(chat: RemoteChatRef, topic: string): Promise<void> {
    return this.on(chat, (c) => c.setChatTopicHere(chat, topic));
  }

  /** setChatTopic in this workspace. */
  async setChatTopicHere(chat: RemoteChatRef, topic: string): Promise<void> {
    await slack(() => this.web.conversations.setTopic({ channel: chat.id, topic: topic.slice(0, 250) }));
  }

  async setChatAvatar(_chat: RemoteChatRef, _image: Media): Promise<void> {
    throw new BridgeError("Slack channels have no picture, so the room avatar stays in Matrix");
  }
}

/** The Slack reaction name for a Matrix reaction key (`👍`, or `:name:` as sent from Slack). */
export function reactionName(key: string): string | undefined {
  const colon = /^:([a-z0-9_+'-]+(?:::skin-tone-\d)?):$/.exec(key);
  return colon ? colon[1] : nameFromEmoji(key);
}
