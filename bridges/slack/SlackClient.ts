/**
 * One Slack workspace login: a bolt App (Socket Mode, or the Events API over HTTP) for what
 * happens in the workspace, and its WebClient for everything the bridge does there.
 *
 * Delivery rule: events are handled one at a time per workspace, in arrival order. A Socket
 * Mode envelope is acknowledged, and an HTTP event answered 200, only after its RemoteEvents
 * were accepted by `ctx.emit`; an event whose id was already handled is acknowledged and
 * dropped (Slack retries deliveries it thinks failed).
 *
 * The client owns the connection (auth, receiver, reconnects, state) and hands the rest to its
 * parts: SlackInbound (events and history in), SlackSender (Matrix out), SlackDirectory (users
 * and channels), SlackFiles, and ChatRouter (which workspace a chat belongs to).
 */
import { App, LogLevel, webApi } from "@slack/bolt";
import { ConnectionStateCell } from "../../src/core/ConnectionStateCell";
import {
  type BackfillHandling,
  type ChatIdHandling,
  type ChatInfo,
  type ChatInfoHandling,
  ConnectionState,
  type ConnectorContext,
  type DirectChatHandling,
  type EditHandling,
  type HistoryHandling,
  type LoginRef,
  type MatrixSender,
  type Media,
  type MediaRef,
  type NetworkClient,
  type OrderedIds,
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
import { slackTsOrderKey } from "../../src/core/orderKey";
import { type ChannelRouting, ChatRouter } from "./ChatRouter";
import type { SlackConfig, WorkspaceConfig } from "./config";
import { describe, mapSlackError, slack, slackCode } from "./errors";
import { parseRemoteUserId } from "./inbound";
import { SlackDirectory } from "./SlackDirectory";
import { SlackFiles } from "./SlackFiles";
import { SlackInbound } from "./SlackInbound";
import { SlackSender } from "./SlackSender";
import { SocketReceiver } from "./SocketReceiver";
import { ThreadRoots } from "./ThreadRoots";
import { typedChannelId } from "./typedChat";

const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 60_000;

type Obj = Record<string, unknown>;

export class SlackClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    ChatInfoHandling,
    BackfillHandling,
    HistoryHandling,
    OrderedIds,
    ChatIdHandling,
    DirectChatHandling
{
  private readonly conn = new ConnectionStateCell((s, m) => this.ctx.stateChanged(this.login, s, m));
  private app?: App;
  private readonly web: webApi.WebClient;
  private readonly files: SlackFiles;
  private readonly directory: SlackDirectory;
  private readonly inbound: SlackInbound;
  private readonly sender: SlackSender;
  private readonly router: ChatRouter;
  private httpPort?: number;
  private retryTimer?: NodeJS.Timeout;
  private backoffMs = RETRY_INITIAL_MS;

  constructor(
    private readonly ctx: ConnectorContext,
    readonly login: LoginRef,
    private readonly cfg: SlackConfig,
    private readonly ws: WorkspaceConfig,
    routing: ChannelRouting,
  ) {
    const web = new webApi.WebClient(ws.botToken, this.clientOptions());
    const files = new SlackFiles(web, ws.botToken, cfg.apiUrl, cfg.maxFileBytes);
    const roots = new ThreadRoots();
    const directory = new SlackDirectory(web, ctx.log, login.remoteId);
    const router = new ChatRouter(this, routing, (c, channel) =>
      c.directory.chatInfo(channel).then(
        () => true,
        () => false,
      ),
    );
    this.web = web;
    this.files = files;
    this.directory = directory;
    this.router = router;
    this.inbound = new SlackInbound({
      ctx,
      login,
      web,
      directory,
      roots,
      channelSeen: (channel) => router.seen(channel),
    });
    this.sender = new SlackSender({
      web,
      files,
      cfg,
      directory,
      roots,
      remoteUserIdOf: (mxid) => ctx.remoteUserIdOf(mxid),
    });
  }

  /** The team id once connected (the login's remote id before). */
  get team(): string | undefined {
    return this.directory.team;
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
    this.conn.set(ConnectionState.Connecting);
    let auth: Obj;
    try {
      auth = (await slack(() => this.web.auth.test())) as unknown as Obj;
    } catch (err) {
      const bad = (err as { status?: number }).status === 401;
      this.conn.set(
        bad ? ConnectionState.BadCredentials : ConnectionState.TransientDisconnect,
        describe(err),
      );
      if (!bad) this.retryLater(err);
      throw err;
    }
    this.backoffMs = RETRY_INITIAL_MS;
    const scopes = ((auth.response_metadata as Obj | undefined)?.scopes as string[] | undefined) ?? [];
    const me = {
      team: String(auth.team_id),
      userId: String(auth.user_id),
      botId: String(auth.bot_id ?? ""),
      customize: scopes.includes("chat:write.customize"),
    };
    this.directory.me = me;
    const common = {
      token: this.ws.botToken,
      botId: me.botId,
      botUserId: me.userId,
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
          if (st === "connected") this.conn.set(ConnectionState.Connected);
          else if (this.app) this.conn.set(ConnectionState.TransientDisconnect, `socket ${st}`);
        },
      });
      app = new App({ ...common, receiver });
    } else {
      app = new App({ ...common, signingSecret: this.ws.signingSecret!, processBeforeResponse: true });
    }
    app.use(async ({ body }) => {
      await this.inbound.enqueue(body as Obj);
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
      this.conn.set(
        bad ? ConnectionState.BadCredentials : ConnectionState.TransientDisconnect,
        describe(err),
      );
      if (!bad) this.retryLater(err);
      throw err;
    }
    const addr = (started as { address?: () => unknown } | undefined)?.address?.();
    if (addr && typeof addr === "object" && "port" in addr)
      this.httpPort = Number((addr as { port: number }).port);
    if (!this.ws.appToken) this.conn.set(ConnectionState.Connected);
    this.ctx.log.info("slack workspace connected", {
      team: me.team,
      mode: this.ws.appToken ? "socket" : "http",
      customize: me.customize,
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
    await this.inbound.drain();
    this.conn.set(ConnectionState.LoggedOut);
  }

  /** Message ids are `ts` values: seconds and microseconds, compared exactly. */
  orderKey(remoteId: string): string | undefined {
    return slackTsOrderKey(remoteId);
  }

  state(): ConnectionState {
    return this.conn.get();
  }

  // ---- what the core asks of the workspace, run on the workspace the chat belongs to ----

  /**
   * Channel messages and thread replies after `afterId` (a ts), in Slack's order, for the core's
   * catch-up (see history.ts).
   */
  fetchMessagesAfter(
    chat: RemoteChatRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<RemoteMessage[]> {
    return this.router.run(chat, (c) => c.inbound.history(chat.id, afterId, limit));
  }

  /** The channel's newest messages and thread replies, oldest first, for a new portal. */
  history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    return this.router.run(chat, (c) => c.inbound.recent(chat.id, limit));
  }

  /**
   * `pm slack <user>`: the bot's IM with a person of this workspace, opened with
   * conversations.open (scope im:write). The person is given as a user id, a mention or a link
   * to their profile.
   */
  async openDirectChat(typed: string): Promise<{ chat: RemoteChatRef }> {
    const m =
      /^(?:<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>|([UW][A-Z0-9]{2,20})|https:\/\/[\w.-]+\.slack\.com\/team\/([UW][A-Z0-9]{2,20})\/?)$/i.exec(
        typed.trim(),
      );
    const user = (m?.[1] ?? m?.[2] ?? m?.[3])?.toUpperCase();
    if (!user)
      throw new BridgeError(
        "Give the person's Slack member id (Copy member ID in their profile, e.g. U0123ABCD), a mention (<@U0123ABCD>) or a link to their profile (https://<workspace>.slack.com/team/U0123ABCD).",
      );
    // A member id names one workspace: the first of the connector's workspaces that knows it.
    let last: unknown;
    for (const client of this.router.clients()) {
      try {
        return { chat: { id: await client.openIm(user) } };
      } catch (err) {
        last = err;
        if (slackCode(err) !== "user_not_found") break;
      }
    }
    const code = slackCode(last);
    if (code === "user_not_found" || code === "user_disabled")
      throw new BridgeError(`No Slack workspace of the bridge has an active member ${user}.`, last);
    if (code === "cannot_dm_bot") throw new BridgeError("That is the bridge's own Slack bot.", last);
    if (code === "missing_scope")
      throw new BridgeError(
        "The Slack app lacks the im:write scope: add it in the app's settings and reinstall it.",
        last,
      );
    throw last;
  }

  /** This workspace's IM channel with `user` (conversations.open), remembered as this client's. */
  private async openIm(user: string): Promise<string> {
    const res = await slack(() => this.web.conversations.open({ users: user }));
    const id = (res.channel as { id?: string } | undefined)?.id;
    if (!id) throw new Error("conversations.open answered no channel");
    this.router.seen(id);
    return id;
  }

  async resolveChatId(typed: string): Promise<string> {
    return typedChannelId(typed);
  }

  sameChatIds(): string[] {
    return [];
  }

  chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    return this.router.run(chat, (c) => c.directory.chatInfo(chat.id));
  }

  async userInfo(user: RemoteUserRef): Promise<UserInfo> {
    const parsed = parseRemoteUserId(user.id);
    if (!parsed) return { displayName: user.id };
    const owner = this.router.ofTeam(parsed.team);
    if (parsed.user.startsWith("B")) return { displayName: parsed.user, isBot: true };
    try {
      return await owner.directory.profile(parsed.user);
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

  sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    return this.router.run(chat, (c) => c.sender.send(chat, msg));
  }

  editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    return this.router.run(chat, (c) => c.sender.edit(chat, remoteId, msg));
  }

  deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.router.run(chat, (c) => c.sender.delete(chat, remoteId));
  }

  /** reactions.add with the emoji's Slack name; an emoji Slack has no name for is sent as a threaded text. */
  sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    return this.router.run(chat, (c) => c.sender.react(chat, target, key, sender));
  }

  removeReaction(chat: RemoteChatRef, target: string, key: string, _sender: MatrixSender): Promise<void> {
    return this.router.run(chat, (c) => c.sender.unreact(chat, target, key));
  }

  setChatName(chat: RemoteChatRef, name: string): Promise<void> {
    return this.router.run(chat, (c) => c.sender.rename(chat, name));
  }

  setChatTopic(chat: RemoteChatRef, topic: string): Promise<void> {
    return this.router.run(chat, (c) => c.sender.setTopic(chat, topic));
  }

  async setChatAvatar(_chat: RemoteChatRef, _image: Media): Promise<void> {
    throw new BridgeError("Slack channels have no picture, so the room avatar stays in Matrix");
  }
}
