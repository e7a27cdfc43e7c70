/**
 * Wire-level Discord stand-in for tests: REST under `/api/v10` and the gateway (JSON frames,
 * no compression) at `/gateway` on one 127.0.0.1 port (port 0). discord.js runs unmodified with
 * `rest: { api: server.api, cdn: server.cdn }`; the gateway URL comes from `GET /gateway/bot`.
 *
 * Gateway: HELLO, heartbeat ACK, IDENTIFY → READY + GUILD_CREATE per guild, dispatches with an
 * increasing `s` per session, RESUME replays what the session missed (or answers INVALID_SESSION
 * after a non-resumable drop). Tests drive it with `post*`/`dispatch`, `dropGateway`,
 * `holdGateway`, make calls fail with `failNext` (429 with retry_after by default), act on the
 * gateway between a call and its answer with `meanwhile`, and read `calls` or `waitFor` a call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type AttachmentSpec,
  DiscordWorld,
  type GuildSpec,
  type Obj,
  sf,
  type UserSpec,
} from "./DiscordWorld";
import { buttonPress } from "./interactions";
import { castVote, finalize, type PollContext, type PollVotes, pollRoutes } from "./polls";
import { type Answer, type Body, parseBody, restRoutes } from "./rest";

export {
  type AttachmentSpec,
  type ChannelSpec,
  type GuildSpec,
  type MemberSpec,
  type Obj,
  sf,
  type UserSpec,
} from "./DiscordWorld";

/** One REST call the stand-in received. */
export interface RecordedCall {
  method: string;
  /** Path below `/api/v10`, e.g. `/channels/1/messages`. */
  path: string;
  query: URLSearchParams;
  body: Body;
  /** The `Authorization` header was `Bot <token>` with the right token. */
  authorized: boolean;
  status?: number;
  response?: unknown;
  time: number;
}

export interface FailSpec {
  status?: number;
  /** Seconds, for 429 (default 0.3). */
  retryAfter?: number;
  count?: number;
  message?: string;
  code?: number;
}

interface Session {
  id: string;
  seq: number;
  /** Dispatches sent in this session, for RESUME. */
  log: Array<{ s: number; frame: string }>;
  resumable: boolean;
}

interface Conn {
  ws: WebSocket;
  session?: Session;
  held: boolean;
}

/** A file a test attaches to a message; a voice message's has a base64 waveform and a length. */
export class DiscordServer {
  /** Largest file Discord takes in an upload: 10 MiB, the limit of a server without boosts. */
  uploadLimit = 10 * 1024 * 1024;
  readonly calls: RecordedCall[] = [];
  /** Calls carried out whose answers `holdAnswer` kept back. */
  readonly heldCalls: RecordedCall[] = [];
  private readonly holds: Array<{ match: (c: RecordedCall) => boolean; status?: number }> = [];
  private readonly meanwhiles: Array<{
    match: (c: RecordedCall) => boolean;
    act: (c: RecordedCall, answer: unknown) => Promise<void>;
    when: "before" | "after";
  }> = [];
  /** CDN and attachment paths whose downloads are left unanswered while listed (see `holdFile`). */
  private readonly heldFiles = new Set<string>();
  readonly world: DiscordWorld;
  /** IDENTIFY and RESUME payloads received, in order. */
  readonly gatewayOps: Array<{ op: number; d: Obj }> = [];
  private readonly conns = new Set<Conn>();
  private readonly sessions = new Map<string, Session>();
  private readonly failures: Array<{ match: (c: RecordedCall) => boolean; spec: FailSpec; left: number }> =
    [];
  private readonly waiters = new Set<() => void>();
  private readonly routes: ReturnType<typeof restRoutes>;
  private holding = false;
  private revoked = false;
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly token: string,
    bot: UserSpec,
    private readonly heartbeatMs: number,
  ) {
    this.world = new DiscordWorld(bot, () => this.url);
    this.routes = [
      ...restRoutes({
        world: this.world,
        gatewayUrl: () => `ws://127.0.0.1:${this.port}/gateway`,
        dispatch: (t, d) => this.dispatch(t, d),
      }),
      ...pollRoutes(this.pollContext, this.pollVotes),
    ];
  }

  static async start(opts: {
    token: string;
    bot?: Partial<UserSpec>;
    heartbeatMs?: number;
  }): Promise<DiscordServer> {
    const bot: UserSpec = { id: sf(), username: "clawbridge", bot: true, ...opts.bot };
    const server = createServer();
    const wss = new WebSocketServer({ server, path: "/gateway" });
    const self = new DiscordServer(server, wss, opts.token, bot, opts.heartbeatMs ?? 5000);
    server.on("request", (req, res) => void self.onRequest(req, res));
    wss.on("connection", (ws) => self.onConnection(ws));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self.port = (server.address() as AddressInfo).port;
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** discord.js `rest.api`. */
  get api(): string {
    return `${this.url}/api`;
  }
  /** discord.js `rest.cdn`. */
  get cdn(): string {
    return `${this.url}/cdn`;
  }
  get bot(): UserSpec {
    return this.world.bot;
  }

  addUser(u: UserSpec): void {
    this.world.addUser(u);
  }

  addGuild(g: GuildSpec): void {
    this.world.addGuild(g);
  }

  /** Sets a user's avatar (served at `/cdn/avatars/<id>/<hash>.*`); returns the hash. */
  setAvatar(userId: string, data: Buffer, guildId?: string): string {
    const hash = `a${sf()}`;
    if (guildId) {
      const m = this.world.guilds.get(guildId)?.members?.find((x) => x.user === userId);
      if (!m) throw new Error(`discord stand-in: ${userId} is not a member of ${guildId}`);
      m.avatar = hash;
      this.world.putFile(`/cdn/guilds/${guildId}/users/${userId}/avatars/${hash}`, {
        data,
        contentType: "image/png",
      });
    } else {
      const u = this.world.users.get(userId);
      if (!u) throw new Error(`discord stand-in: unknown user ${userId}`);
      u.avatar = hash;
      this.world.putFile(`/cdn/avatars/${userId}/${hash}`, { data, contentType: "image/png" });
    }
    return hash;
  }

  /**
   * A user presses a button of a message (only one the message shows): INTERACTION_CREATE
   * with the member's permissions. Returns the interaction id.
   */
  pressButton(press: { channelId: string; messageId: string; userId: string; customId: string }): string {
    const { state, payload } = buttonPress(this.world, press);
    this.world.interactions.set(state.id, state);
    this.dispatch("INTERACTION_CREATE", payload);
    return state.id;
  }

  /** The bot's callback to an interaction, once it answered. */
  interactionResponse(id: string): Obj | undefined {
    return this.world.interactions.get(id)?.response;
  }

  /** Each user's answers in each poll. */
  private readonly pollVotes: PollVotes = new Map();
  private get pollContext(): PollContext {
    return {
      world: this.world,
      dispatch: (t, d) => this.dispatch(t, d),
      intents: () => Number(this.gatewayOps.filter((o) => o.op === 2).at(-1)?.d.intents ?? 0),
    };
  }

  /** A user adds (or with `remove` takes back) a vote: MESSAGE_POLL_VOTE_ADD / _REMOVE, as Discord sends them. */
  vote(v: {
    channelId: string;
    messageId: string;
    userId: string;
    answerId: number;
    remove?: boolean;
  }): void {
    castVote(this.pollContext, this.pollVotes, v);
  }

  /** A poll ends (its time ran out, or its author ended it): MESSAGE_UPDATE with final results. */
  endPoll(channelId: string, messageId: string): Obj {
    return finalize(this.pollContext, this.pollVotes, channelId, messageId);
  }

  /** A message as Discord shows it now (content, components). */
  message(channelId: string, messageId: string): Obj | undefined {
    return this.world.findMessage(channelId, messageId)?.data;
  }

  private attachmentsOf(channelId: string, files: AttachmentSpec[]): Obj[] {
    return files.map((f) => this.world.attachment(channelId, f));
  }

  /** A user posts in a channel (stored in history, dispatched as MESSAGE_CREATE). Returns the message. */
  postMessage(
    channelId: string,
    authorId: string,
    content: string,
    extra: Obj & { files?: AttachmentSpec[] } = {},
  ): Obj {
    const { files, ...fields } = extra;
    const attachments = this.attachmentsOf(channelId, files ?? []);
    const msg = this.world.addMessage(channelId, authorId, {
      author: this.world.userObject(authorId),
      content,
      attachments,
      ...fields,
    });
    const guildId = msg.guild_id as string | undefined;
    const member = guildId ? this.world.memberObject(guildId, authorId, false) : undefined;
    this.dispatch("MESSAGE_CREATE", member ? { ...msg, member } : msg);
    return msg;
  }

  /**
   * A message posted at `at` (milliseconds, in the past) while the bridge was not there: stored in
   * the channel's history, not dispatched. Returns the message.
   */
  pastMessage(
    channelId: string,
    authorId: string,
    content: string,
    at: number,
    files: AttachmentSpec[] = [],
  ): Obj {
    const attachments = this.attachmentsOf(channelId, files);
    return this.world.addMessage(
      channelId,
      authorId,
      { author: this.world.userObject(authorId), content, attachments },
      at,
    );
  }

  /** The author edits a message. */
  editMessage(channelId: string, messageId: string, content: string): void {
    const stored = this.world.findMessage(channelId, messageId);
    if (!stored) throw new Error(`discord stand-in: no message ${messageId}`);
    stored.data.content = content;
    stored.data.edited_timestamp = new Date().toISOString();
    this.dispatch("MESSAGE_UPDATE", stored.data);
  }

  deleteMessage(channelId: string, messageId: string): void {
    this.world.removeMessage(channelId, messageId);
    const guildId = this.world.channels.get(channelId)?.guild_id;
    this.dispatch("MESSAGE_DELETE", {
      id: messageId,
      channel_id: channelId,
      ...(guildId ? { guild_id: guildId } : {}),
    });
  }

  /** A user adds (or removes) a reaction; `emoji` is unicode or `{ id, name }` for a custom one. */
  react(
    channelId: string,
    messageId: string,
    userId: string,
    emoji: string | { id: string; name: string },
    remove = false,
  ): void {
    const e = typeof emoji === "string" ? { id: null, name: emoji } : { ...emoji, animated: false };
    const key = typeof emoji === "string" ? emoji : `${emoji.name}:${emoji.id}`;
    const set = this.world.reactionSet(channelId, messageId, key);
    if (remove) set.delete(userId);
    else set.add(userId);
    const guildId = this.world.channels.get(channelId)?.guild_id as string | undefined;
    const d: Obj = { user_id: userId, channel_id: channelId, message_id: messageId, emoji: e };
    if (guildId) {
      d.guild_id = guildId;
      if (!remove) d.member = this.world.memberObject(guildId, userId);
    }
    this.dispatch(remove ? "MESSAGE_REACTION_REMOVE" : "MESSAGE_REACTION_ADD", d);
  }

  /** A moderator (`byUserId`) kicks a member: an audit log entry, then GUILD_MEMBER_REMOVE. */
  kickMember(guildId: string, userId: string, byUserId: string, reason?: string): void {
    const g = this.world.guilds.get(guildId);
    if (!g) throw new Error(`discord stand-in: unknown guild ${guildId}`);
    g.members = (g.members ?? []).filter((m) => m.user !== userId);
    const entries = this.world.auditLog.get(guildId) ?? [];
    entries.push({
      id: sf(),
      action_type: 20,
      user_id: byUserId,
      target_id: userId,
      reason: reason ?? null,
      changes: [],
    });
    this.world.auditLog.set(guildId, entries);
    this.dispatch("GUILD_MEMBER_REMOVE", { guild_id: guildId, user: this.world.userObject(userId) });
  }

  typing(channelId: string, userId: string): void {
    const guildId = this.world.channels.get(channelId)?.guild_id as string | undefined;
    const d: Obj = { channel_id: channelId, user_id: userId, timestamp: Math.floor(Date.now() / 1000) };
    if (guildId) {
      d.guild_id = guildId;
      d.member = this.world.memberObject(guildId, userId);
    }
    this.dispatch("TYPING_START", d);
  }

  /** A thread under `parentId` (started from `messageId` when given: the thread id is then the message id). */
  createThread(parentId: string, name: string, messageId?: string): string {
    const parent = this.world.channels.get(parentId);
    const guildId = parent?.guild_id as string | undefined;
    if (!guildId) throw new Error(`discord stand-in: ${parentId} is not a guild channel`);
    const id = messageId ?? sf();
    const spec = { id, name, type: 11, parent_id: parentId };
    this.world.guilds.get(guildId)?.channels.push(spec);
    const obj = this.world.channelObject(guildId, spec);
    this.world.channels.set(id, obj);
    this.dispatch("THREAD_CREATE", { ...obj, newly_created: true });
    return id;
  }

  /** A DM channel between the bot and `userId`. */
  openDm(userId: string): string {
    const id = sf();
    this.world.channels.set(id, {
      id,
      type: 1,
      recipients: [this.world.userObject(userId)],
      last_message_id: null,
    });
    return id;
  }

  /** Makes the next `count` REST calls matching `match` fail (default 429 with retry_after 0.3 s). */
  failNext(match: (c: RecordedCall) => boolean, spec: FailSpec = {}): void {
    this.failures.push({ match, spec, left: spec.count ?? 1 });
  }

  /**
   * The next REST call matching `match` is carried out (a message is created) but never
   * answered: the window between a platform taking a message and the client learning its id,
   * where a crash leaves the client unsure whether it was sent. With `status`, the answer is that
   * error instead (the call was carried out all the same). The call is in `heldCalls`.
   */
  holdAnswer(match: (c: RecordedCall) => boolean, opts: { status?: number } = {}): void {
    this.holds.push({ match, status: opts.status });
  }

  /**
   * For the next REST call matching `match`: `act` runs once the call was carried out (the
   * message exists), before its answer leaves (`when: "before"`, the default; the answer waits
   * for `act`) or right after it left (`"after"`). `act` gets the answer's body. What it sends
   * on the gateway (a vote in a poll just posted) overtakes the answer, as Discord's gateway
   * and REST answers, on two connections, may overtake each other. Resolves once `act` is
   * done (rejects with its error; the answer leaves all the same).
   */
  meanwhile(
    match: (c: RecordedCall) => boolean,
    act: (c: RecordedCall, answer: unknown) => void | Promise<void>,
    opts: { when?: "before" | "after" } = {},
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      this.meanwhiles.push({
        match,
        act: async (c, answer) => {
          try {
            await act(c, answer);
            resolve();
          } catch (err) {
            reject(err);
          }
        },
        when: opts.when ?? "before",
      });
    });
  }

  /** Downloads of the file at `url` (an attachment's) are left unanswered until `release`. */
  holdFile(url: string): void {
    this.heldFiles.add(new URL(url).pathname);
  }

  releaseFiles(): void {
    this.heldFiles.clear();
  }

  /** Ends every failure `failNext` still has in store. */
  clearFailures(): void {
    this.failures.splice(0);
  }

  /** Resolves with the first recorded call (past or future) that matches. */
  waitFor(predicate: (c: RecordedCall) => boolean, timeoutMs = 15_000): Promise<RecordedCall> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.calls.find((c) => c.status !== undefined && predicate(c));
        if (!hit) return false;
        clearTimeout(timer);
        this.waiters.delete(check as () => void);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check as () => void);
        reject(new Error(`discord waitFor: no matching call within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check as () => void);
    });
  }

  /** Successful calls of `method` whose path matches. */
  sent(method: string, path: RegExp): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path) && (c.status ?? 500) < 300);
  }

  /**
   * Sends a dispatch to every session. As on Discord, a session whose connection dropped keeps
   * collecting dispatches until it is resumed (and replayed) or invalidated.
   */
  dispatch(t: string, d: Obj): void {
    if (t === "MESSAGE_CREATE" && d.channel_type === undefined) {
      // As Discord does since 2024: discord.js needs it to build uncached DM channels.
      const type = this.world.channels.get(String(d.channel_id))?.type;
      if (type !== undefined) d = { ...d, channel_type: type };
    }
    for (const session of this.sessions.values()) {
      if (!session.resumable) continue;
      const s = ++session.seq;
      const frame = JSON.stringify({ op: 0, t, s, d });
      session.log.push({ s, frame });
      if (session.log.length > 2000) session.log.shift();
      for (const conn of this.conns) if (conn.session === session) conn.ws.send(frame);
    }
  }

  /** Sends a raw frame (malformed dispatch tests) to every identified session, with a sequence number. */
  sendRaw(build: (s: number) => string): void {
    for (const conn of this.conns) {
      if (!conn.session) continue;
      const s = ++conn.session.seq;
      conn.ws.send(build(s));
    }
  }

  /**
   * Drops every gateway connection (as a network failure would). When not `resumable`, the
   * sessions are forgotten and a RESUME is answered with INVALID_SESSION (events are lost).
   */
  dropGateway(opts: { resumable?: boolean } = {}): void {
    for (const conn of this.conns) {
      if (conn.session && opts.resumable === false) conn.session.resumable = false;
      conn.ws.terminate();
    }
    this.conns.clear();
  }

  /** The bot token stops working (reset in the developer portal): 401 on REST, 4004 on IDENTIFY. */
  revokeToken(): void {
    this.revoked = true;
  }

  /** While held, new gateway connections get no HELLO (a client waits, missing events). */
  holdGateway(hold: boolean): void {
    this.holding = hold;
    if (hold) return;
    for (const conn of this.conns) if (conn.held) this.hello(conn);
  }

  /** Identified gateway sessions open right now. */
  liveSessions(): number {
    return [...this.conns].filter((c) => c.session).length;
  }

  async close(): Promise<void> {
    for (const conn of this.conns) conn.ws.terminate();
    this.conns.clear();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private hello(conn: Conn): void {
    conn.held = false;
    conn.ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatMs }, s: null, t: null }));
  }

  private onConnection(ws: WebSocket): void {
    const conn: Conn = { ws, held: this.holding };
    this.conns.add(conn);
    ws.on("close", () => this.conns.delete(conn));
    ws.on("error", () => this.conns.delete(conn));
    if (!conn.held) this.hello(conn);
    ws.on("message", (raw) => {
      let p: { op?: number; d?: Obj };
      try {
        p = JSON.parse(raw.toString()) as { op?: number; d?: Obj };
      } catch {
        return;
      }
      if (p.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      else if (p.op === 2) this.identify(conn, p.d ?? {});
      else if (p.op === 6) this.resume(conn, p.d ?? {});
    });
  }

  private identify(conn: Conn, d: Obj): void {
    this.gatewayOps.push({
      op: 2,
      d: { ...d, token: d.token === `Bot ${this.token}` || d.token === this.token },
    });
    if (this.revoked || (d.token !== this.token && d.token !== `Bot ${this.token}`)) {
      conn.ws.close(4004, "Authentication failed.");
      return;
    }
    // One shard: a new IDENTIFY ends every older session.
    for (const old of this.sessions.values()) old.resumable = false;
    const session: Session = { id: `sess-${sf()}`, seq: 0, log: [], resumable: true };
    this.sessions.set(session.id, session);
    conn.session = session;
    const guilds = [...this.world.guilds.values()];
    this.dispatchTo(conn, "READY", {
      v: 10,
      user: this.world.userObject(this.bot.id),
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      resume_gateway_url: `ws://127.0.0.1:${this.port}/gateway`,
      shard: [0, 1],
      application: { id: this.bot.id, flags: 0 },
      private_channels: [],
    });
    for (const g of guilds) this.dispatchTo(conn, "GUILD_CREATE", this.world.guildCreate(g));
  }

  private resume(conn: Conn, d: Obj): void {
    this.gatewayOps.push({ op: 6, d: { session_id: d.session_id, seq: d.seq } });
    const session = this.sessions.get(String(d.session_id));
    if (!session?.resumable) {
      conn.ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
      return;
    }
    conn.session = session;
    const from = Number(d.seq ?? 0);
    for (const entry of session.log) if (entry.s > from) conn.ws.send(entry.frame);
    this.dispatchTo(conn, "RESUMED", {});
  }

  private dispatchTo(conn: Conn, t: string, d: Obj): void {
    const session = conn.session!;
    const s = ++session.seq;
    const frame = JSON.stringify({ op: 0, t, s, d });
    session.log.push({ s, frame });
    conn.ws.send(frame);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? "/", this.url);
    if (
      req.method === "GET" &&
      (url.pathname.startsWith("/cdn/") || url.pathname.startsWith("/attachments/"))
    ) {
      const key = url.pathname.startsWith("/cdn/")
        ? url.pathname.replace(/\.(png|webp|gif|jpg|jpeg)$/, "")
        : url.pathname;
      const file = this.world.files.get(key);
      if (!file) return void res.writeHead(404).end();
      if (this.heldFiles.has(key)) return; // never answered: the client waits until it gives up
      // The media proxy: `format=jpeg` of a video is its first frame; of anything else without
      // pixels, 415 (images are served as they are).
      if (url.searchParams.get("format") === "jpeg" && !file.contentType.startsWith("image/")) {
        if (!file.poster) return void res.writeHead(415).end();
        res.writeHead(200, { "content-type": "image/jpeg", "content-length": file.poster.length });
        return void res.end(file.poster);
      }
      res.writeHead(200, { "content-type": file.contentType, "content-length": file.data.length });
      return void res.end(file.data);
    }
    const path = url.pathname.replace(/^\/api\/v\d+/, "");
    const call: RecordedCall = {
      method: req.method ?? "GET",
      path,
      query: url.searchParams,
      body: { json: {}, files: [] },
      authorized:
        (!this.revoked && req.headers.authorization === `Bot ${this.token}`) ||
        /^\/webhooks\/\d+\/[^/]+/.test(path) ||
        /^\/interactions\/\d+\/[^/]+\/callback$/.test(path),
      time: Date.now(),
    };
    this.calls.push(call);
    let answer: Answer;
    let headers: Record<string, string> = {};
    try {
      call.body = await parseBody(Buffer.concat(chunks), String(req.headers["content-type"] ?? ""));
      answer = this.answer(call, (h) => {
        headers = h;
      });
    } catch (err) {
      answer = [400, { message: `stand-in could not parse the request: ${String(err)}`, code: 50109 }];
    }
    const hold = this.holds.findIndex((h) => h.match(call));
    if (hold >= 0) {
      const [{ status }] = this.holds.splice(hold, 1);
      this.heldCalls.push(call);
      // Done (the message exists), but the answer never leaves (the client is killed meanwhile),
      // or is an error, as Discord's edge answers when it times out behind a done request.
      if (status === undefined) {
        for (const w of [...this.waiters]) w();
        return;
      }
      answer = [status, { message: `${status}: Internal Server Error`, code: 0 }];
    }
    const m = this.meanwhiles.findIndex((h) => h.match(call));
    const meanwhile = m >= 0 ? this.meanwhiles.splice(m, 1)[0] : undefined;
    if (meanwhile?.when === "before") await meanwhile.act(call, answer[1]);
    call.status = answer[0];
    call.response = answer[1];
    const type = answer[1] === undefined ? {} : { "content-type": "application/json" };
    res.writeHead(answer[0], { ...type, ...headers });
    res.end(answer[1] === undefined ? "" : JSON.stringify(answer[1]));
    if (meanwhile?.when === "after") await meanwhile.act(call, answer[1]);
    for (const w of [...this.waiters]) w();
  }

  private answer(call: RecordedCall, setHeaders: (h: Record<string, string>) => void): Answer {
    if (!call.authorized) return [401, { message: "401: Unauthorized", code: 0 }];
    const fail = this.failures.find((f) => f.left > 0 && f.match(call));
    if (fail) {
      fail.left--;
      const status = fail.spec.status ?? 429;
      if (status === 429) {
        const retryAfter = fail.spec.retryAfter ?? 0.3;
        setHeaders({
          "retry-after": String(Math.ceil(retryAfter)),
          "x-ratelimit-scope": "user",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-reset-after": String(retryAfter),
          "x-ratelimit-bucket": "standin",
        });
        return [429, { message: "You are being rate limited.", retry_after: retryAfter, global: false }];
      }
      return [status, { message: fail.spec.message ?? "Injected failure", code: fail.spec.code ?? 0 }];
    }
    // Discord refuses a file over the upload limit (10 MiB without boosts) before anything else.
    if (call.body.files.some((f) => f.data.length > this.uploadLimit))
      return [413, { message: "Request entity too large", code: 40005 }];
    for (const [method, re, handler] of this.routes) {
      const m = re.exec(call.path);
      if (m && method === call.method) return handler(m.slice(), call.body, call.query);
    }
    return [404, { message: `404: Not emulated ${call.method} ${call.path}`, code: 0 }];
  }
}
