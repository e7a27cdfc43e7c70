/**
 * Wire-level stand-in for "testnet", the test-only platform: JSON over HTTP on 127.0.0.1 with
 * bearer-token auth and Telegram-style long polling (`GET /updates?offset=N&timeout=S`; updates
 * below `offset` are confirmed and dropped). Tests drive it with the `inject*` methods, read
 * what the bridge did from `calls` / `sent()`, and make it misbehave with `failNext`.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Body, ChatStore, HttpReply, isBody, type SentMessage } from "./ChatStore";
import type { WireChat, WireEvent, WireMessage, WireUser } from "./protocol";

export type { SentMessage } from "./ChatStore";

/** One HTTP request the stand-in received. `status` is set once it was answered. */
export interface RecordedCall {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, `undefined` when there was none. */
  body: unknown;
  /** `Date.now()` when the request arrived. */
  time: number;
  status?: number;
}

/** Which requests `failNext` hits: `"POST /chats/:id/messages"`, `"/updates"`, a RegExp on `"METHOD /path"`, or a predicate. */
export type CallMatcher = string | RegExp | ((call: RecordedCall) => boolean);

/**
 * How `failNext` answers: `status` (429, 500…) with optional `Retry-After` seconds, `drop` the
 * socket, `hang`: never answer (the request stays open until close()), or `delayMs`: handle it
 * normally, only that much later.
 */
export interface FailSpec {
  status?: number;
  retryAfter?: number;
  /** How many matching requests fail (default 1). */
  count?: number;
  drop?: boolean;
  hang?: boolean;
  delayMs?: number;
}

/** The stand-in server plus its driver API. Start with {@link TestnetServer.start}. */
export class TestnetServer {
  /** Every request received, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** The bot's own id on the platform (`GET /me`). */
  readonly botId = "bot";
  private readonly store: ChatStore;
  private updates: Array<{ update_id: number; event: unknown }> = [];
  private lastUpdateId = 0;
  private confirmed = 0;
  private readonly pollWaiters = new Set<() => void>();
  private readonly callWaiters = new Set<(c: RecordedCall) => void>();
  private readonly failures: Array<{ match: (c: RecordedCall) => boolean; spec: FailSpec; left: number }> =
    [];
  private openPolls = 0;

  private constructor(
    private readonly server: Server,
    /** Base URL, `http://127.0.0.1:<port>`, for `platforms.testnet.base_url`. */
    readonly url: string,
    /** The bearer token clients must send. */
    readonly token: string,
  ) {
    this.store = new ChatStore(url, this.botId);
    this.store.addUser({ id: this.botId, name: "Testnet Bot", is_bot: true });
  }

  /** Listens on 127.0.0.1 with a free port; the token is random unless given. */
  static async start(opts: { token?: string } = {}): Promise<TestnetServer> {
    const token = opts.token ?? randomBytes(16).toString("hex");
    let self: TestnetServer | undefined;
    const server = createServer((req, res) => void self?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    self = new TestnetServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token);
    return self;
  }

  /** Every update below this id has been confirmed by the client (the offset it last polled with). */
  get confirmedOffset(): number {
    return this.confirmed;
  }
  /** The id of the newest update injected so far (0 before any). */
  get latestUpdateId(): number {
    return this.lastUpdateId;
  }
  /** Long polls currently held open. */
  get pendingPolls(): number {
    return this.openPolls;
  }

  /** Adds or replaces a chat (`name` defaults to the id, `kind` to "group"). */
  addChat(chat: Partial<WireChat> & { id: string }): void {
    this.store.addChat(chat);
  }
  /** Adds or replaces a user (`name` defaults to the id). */
  addUser(user: Partial<WireUser> & { id: string }): void {
    this.store.addUser(user);
  }
  /** Stores bytes served at `GET /files/:key`; returns their URL (usable as `avatar_url`). */
  addFile(key: string, data: Buffer, mimetype = "application/octet-stream"): string {
    return this.store.addFile(key, data, mimetype);
  }

  /**
   * A platform user posts a message: queued as an update and kept for backfill. Unknown chats
   * and users are created with default fields. Returns the message id. `missed`: kept for
   * backfill only, as a message whose update the platform lost (only a catch-up finds it).
   */
  injectMessage(m: {
    chat: string;
    sender: string;
    text: string;
    html?: string;
    replyTo?: string;
    threadRoot?: string;
    msgtype?: "text" | "emote" | "notice";
    /** Keys given to {@link addFile}. */
    files?: string[];
    date?: number;
    missed?: boolean;
  }): string {
    this.store.ensure(m.chat, m.sender);
    const attachments = m.files?.map((key) => {
      const f = this.store.file(key);
      if (!f) throw new Error(`testnet: unknown file ${key}`);
      return { url: this.store.fileUrl(key), mimetype: f.mimetype, name: key, size: f.data.length };
    });
    const wire: WireMessage = {
      type: "message",
      chat: m.chat,
      sender: m.sender,
      id: this.store.nextId(m.chat),
      text: m.text,
      html: m.html,
      msgtype: m.msgtype,
      reply_to: m.replyTo,
      thread_root: m.threadRoot,
      attachments,
      date: m.date ?? Date.now(),
    };
    this.store.keep(wire);
    if (!m.missed) this.pushUpdate(wire);
    return wire.id;
  }
  /** A platform user edits a message. This and the other `inject*` return the update id. */
  injectEdit(e: { chat: string; sender: string; id: string; text: string; html?: string }): number {
    this.store.applyRemote(e.chat, e.id, { text: e.text, html: e.html });
    return this.pushUpdate({ type: "edit", ...e, date: Date.now() });
  }
  injectDelete(e: { chat: string; sender: string; id: string }): number {
    this.store.applyRemote(e.chat, e.id, { deleted: true });
    return this.pushUpdate({ type: "delete", ...e, date: Date.now() });
  }
  /** `date`: the platform's time of the reaction (default now). */
  injectReaction(e: { chat: string; sender: string; target: string; key: string; date?: number }): number {
    return this.pushUpdate({ type: "reaction", ...e, date: e.date ?? Date.now() });
  }
  injectReactionRemove(e: {
    chat: string;
    sender: string;
    target: string;
    key: string;
    date?: number;
  }): number {
    return this.pushUpdate({ type: "reaction_remove", ...e, date: e.date ?? Date.now() });
  }
  injectTyping(e: { chat: string; sender: string; typing: boolean }): number {
    return this.pushUpdate({ type: "typing", ...e, date: Date.now() });
  }
  injectRead(e: { chat: string; sender: string; upTo: string }): number {
    return this.pushUpdate({ type: "read", chat: e.chat, sender: e.sender, up_to: e.upTo, date: Date.now() });
  }
  /** `sender` changed `user`'s membership; the chat's member list follows. */
  injectMember(e: {
    chat: string;
    sender: string;
    user: string;
    membership: MemberChange;
    reason?: string;
  }): number {
    const chat = this.store.ensure(e.chat, e.user);
    const members = new Set(chat.members ?? []);
    if (e.membership === "join") members.add(e.user);
    else members.delete(e.user);
    chat.members = [...members];
    return this.pushUpdate({ type: "member", ...e, date: Date.now() });
  }
  /** Changes the stored chat and announces the change. */
  injectChatInfo(e: {
    chat: string;
    sender: string;
    name?: string;
    topic?: string;
    avatar_url?: string;
  }): number {
    const chat = this.store.ensure(e.chat, e.sender);
    for (const k of ["name", "topic", "avatar_url"] as const) if (e[k] !== undefined) chat[k] = e[k];
    return this.pushUpdate({ type: "chat_info", ...e, date: Date.now() });
  }
  /** A user changes their own profile (stored, and announced with no chat). */
  injectProfile(e: { user: string; name: string; avatar_url?: string }): number {
    const u = this.store.users.get(e.user) ?? { id: e.user, name: e.name };
    this.store.users.set(e.user, {
      ...u,
      name: e.name,
      ...(e.avatar_url ? { avatar_url: e.avatar_url } : {}),
    });
    return this.pushUpdate({
      type: "profile",
      sender: e.user,
      name: e.name,
      avatar_url: e.avatar_url,
      date: Date.now(),
    });
  }
  /** Queues an arbitrary, possibly malformed, update event. */
  injectRaw(event: unknown): number {
    return this.queue(event);
  }

  /** Messages the bridge posted to `chatId`, in order, with edits/deletion/reactions applied. */
  sent(chatId: string): SentMessage[] {
    return this.store.sent(chatId);
  }

  /** Makes the next `count` requests matching `match` fail as `spec` says (after auth). */
  failNext(match: CallMatcher, spec: FailSpec): void {
    this.failures.push({ match: compileMatcher(match), spec, left: spec.count ?? 1 });
  }

  /** Resolves with the first recorded call (past or future) matching `predicate`. */
  waitFor(predicate: (c: RecordedCall) => boolean, timeoutMs = 15_000): Promise<RecordedCall> {
    const hit = this.calls.find(predicate);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter = (c: RecordedCall): void => {
        if (!predicate(c)) return;
        clearTimeout(timer);
        this.callWaiters.delete(waiter);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.callWaiters.delete(waiter);
        reject(new Error(`testnet waitFor: no matching call within ${timeoutMs} ms`));
      }, timeoutMs);
      this.callWaiters.add(waiter);
    });
  }

  /** Resolves once the client has confirmed every update up to `updateId` (default: the latest). */
  waitForConfirmed(updateId = this.lastUpdateId, timeoutMs = 5000): Promise<RecordedCall> {
    return this.waitFor((c) => c.path === "/updates" && Number(c.query.offset) > updateId, timeoutMs);
  }

  /** Ends held polls, drops every connection and stops listening. */
  async close(): Promise<void> {
    for (const w of [...this.pollWaiters]) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queues an event with the sender's current profile attached. */
  private pushUpdate(event: WireEvent): number {
    const u = this.store.users.get(event.sender);
    const profile = u && { name: u.name, ...(u.avatar_url ? { avatar_url: u.avatar_url } : {}) };
    return this.queue(profile ? { ...event, sender_profile: profile } : event);
  }

  private queue(event: unknown): number {
    const update_id = ++this.lastUpdateId;
    this.updates.push({ update_id, event });
    for (const w of [...this.pollWaiters]) w();
    return update_id;
  }

  private record(call: RecordedCall): void {
    this.calls.push(call);
    for (const w of [...this.callWaiters]) w(call);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const call: RecordedCall = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      time: Date.now(),
    };
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      call.status = status;
      if (res.destroyed) return;
      const isFile = Buffer.isBuffer(payload);
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(isFile ? payload : JSON.stringify(payload));
    };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks).toString();
      call.body = raw ? JSON.parse(raw) : undefined;
    } catch {
      this.record(call);
      return send(400, { error: "invalid JSON" });
    }
    this.record(call);
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, { error: "unauthorized" });
    const fail = this.failures.find((f) => f.left > 0 && f.match(call));
    if (fail) {
      fail.left--;
      if (fail.spec.drop) {
        call.status = 0;
        req.socket.destroy();
        return;
      }
      if (fail.spec.hang) {
        call.status = 0;
        return;
      }
      if (fail.spec.delayMs !== undefined) {
        await new Promise((r) => setTimeout(r, fail.spec.delayMs));
      } else {
        const headers: Record<string, string> = {};
        if (fail.spec.retryAfter !== undefined) headers["retry-after"] = String(fail.spec.retryAfter);
        const status = fail.spec.status ?? 500;
        return send(status, { error: `injected ${status}`, retry_after: fail.spec.retryAfter }, headers);
      }
    }
    try {
      const seg = call.path.split("/").filter(Boolean).map(decodeURIComponent);
      if (call.method === "GET" && seg[0] === "files" && seg.length === 2) {
        const f = this.store.file(seg[1]!);
        if (!f) throw new HttpReply(404, "unknown file");
        return send(200, f.data, { "content-type": f.mimetype });
      }
      const result = await this.route(call, seg, isBody(call.body) ? call.body : {}, res);
      if (result !== undefined) send(200, result);
    } catch (err) {
      if (err instanceof HttpReply) send(err.status, { error: err.message });
      else send(500, { error: String(err) });
    }
  }

  private route(call: RecordedCall, seg: string[], b: Body, res: ServerResponse): unknown {
    const m = call.method;
    const route = `${m} /${seg.map((p, i) => (i === 1 || i === 3 ? ":" : p)).join("/")}`;
    const ok = { ok: true };
    const [chatId, mid] = [seg[1]!, seg[3]!]; // seg[1] is the user id on /users/:id
    if (route === "GET /me") return { id: this.botId, name: "Testnet Bot" };
    if (route === "GET /updates") return this.poll(call, res);
    if (route === "GET /users/:") {
      const u = this.store.users.get(chatId);
      if (!u) throw new HttpReply(404, "unknown user");
      return u;
    }
    if (seg[0] !== "chats") throw new HttpReply(404, "no such route");
    const chat = this.store.chats.get(chatId);
    if (!chat) throw new HttpReply(404, "unknown chat");
    switch (route) {
      case "GET /chats/:":
        return chat;
      case "GET /chats/:/messages":
        return this.store.backfill(chatId, call.query);
      case "POST /chats/:/messages":
        return this.store.post(chatId, b);
      case "PATCH /chats/:/messages/:":
        this.store.edit(chatId, mid, b);
        return ok;
      case "DELETE /chats/:/messages/:":
        this.store.remove(chatId, mid);
        return ok;
      case "PUT /chats/:/messages/:/reactions":
        this.store.react(chatId, mid, b);
        return ok;
      case "DELETE /chats/:/messages/:/reactions":
        this.store.unreact(chatId, mid, call.query);
        return ok;
      case "POST /chats/:/typing":
        if (typeof b.typing !== "boolean") throw new HttpReply(400, "typing must be a boolean");
        return ok;
      case "POST /chats/:/read":
        if (typeof b.up_to !== "string") throw new HttpReply(400, "up_to required");
        return ok;
      case "POST /chats/:/kick":
      case "POST /chats/:/ban":
      case "POST /chats/:/unban":
      case "POST /chats/:/mute":
      case "POST /chats/:/unmute":
        if (typeof b.user !== "string") throw new HttpReply(400, "user required");
        if (chat.kind === "dm") throw new HttpReply(400, "nobody can be removed or muted in a direct chat");
        if (chat.bot_admin === false) throw new HttpReply(403, "the bot is not an admin of this chat");
        if (
          route === "POST /chats/:/mute" &&
          b.until !== undefined &&
          !(typeof b.until === "number" && b.until > Date.now())
        )
          throw new HttpReply(400, "until must be a future time in milliseconds");
        return ok;
      default:
        throw new HttpReply(404, "no such route");
    }
  }

  /** Telegram-style `getUpdates`: confirms below `offset`, holds up to `timeout` s when empty. */
  private async poll(call: RecordedCall, res: ServerResponse): Promise<unknown> {
    const offset = Number(call.query.offset ?? 0);
    const timeoutMs = Math.min(Number(call.query.timeout ?? 0), 60) * 1000;
    const limit = Number(call.query.limit ?? 100);
    if (offset > this.confirmed) {
      this.confirmed = offset;
      this.updates = this.updates.filter((u) => u.update_id >= offset);
    }
    const ready = () => this.updates.filter((u) => u.update_id >= offset).slice(0, limit);
    if (ready().length === 0 && timeoutMs > 0) {
      this.openPolls++;
      let gone = false;
      await new Promise<void>((resolve) => {
        const onClose = (): void => {
          gone = true;
          done();
        };
        const done = (): void => {
          clearTimeout(timer);
          this.pollWaiters.delete(done);
          res.off("close", onClose);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        this.pollWaiters.add(done);
        res.on("close", onClose);
      });
      this.openPolls--;
      if (gone || res.destroyed) return undefined;
    }
    return { updates: ready() };
  }
}

type MemberChange = "join" | "leave" | "kick" | "ban";

function compileMatcher(match: CallMatcher): (c: RecordedCall) => boolean {
  if (typeof match === "function") return match;
  if (match instanceof RegExp) return (c) => match.test(`${c.method} ${c.path}`);
  const [method, pattern] = match.includes(" ") ? match.split(" ", 2) : [undefined, match];
  const esc = (p: string): string => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const parts = pattern!.split("/").map((p) => (p.startsWith(":") ? "[^/]+" : p === "*" ? ".*" : esc(p)));
  const re = new RegExp(`^${parts.join("/")}$`);
  return (c) => (method === undefined || method.toUpperCase() === c.method) && re.test(c.path);
}
