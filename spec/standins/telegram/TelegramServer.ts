/**
 * Wire-level Telegram Bot API stand-in for tests: node:http on 127.0.0.1, port 0. grammy talks
 * to it unmodified with `new Bot(token, { client: { apiRoot: server.url } })`.
 *
 * Serves `/bot<token>/<method>` (JSON, urlencoded or multipart bodies) and file downloads at
 * `/file/bot<token>/<path>`. `getUpdates` long-polls like the real API: updates below `offset`
 * are confirmed and dropped, `timeout` holds the request, `allowed_updates` is remembered and
 * filters (by default `chat_member` and `message_reaction` are not delivered, as on Telegram).
 * After `setWebhook`, updates are POSTed to the webhook instead (JSON, one at a time, with
 * `X-Telegram-Bot-Api-Secret-Token`), retried until the bot answers 2xx; getUpdates then
 * answers 409 like the real API until `deleteWebhook`.
 * Tests drive it with `inject*`, read `calls` / `sent()`, and make it fail with `failNext`.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  BotWorld,
  type ChatSpec,
  type MediaKind,
  mediaKinds,
  type Obj,
  type SentMessage,
  strip,
  type UserSpec,
} from "./BotWorld";
import { botMethods, errorAnswer } from "./methods";
import { type Ballots, vote } from "./polls";
import { type WebhookDelivery, WebhookPusher, type WebhookSpec } from "./WebhookPusher";
import { BotApiError, type Params, parseBody } from "./wire";

export type { ChatSpec, MemberStatus, Obj, SentMessage, UserSpec } from "./BotWorld";
export { ALLOWED_REACTIONS } from "./methods";
export type { WebhookDelivery, WebhookSpec } from "./WebhookPusher";

/** One Bot API call the stand-in received (auth failures included). */
export interface RecordedCall {
  method: string;
  params: Params;
  time: number;
  /** The `result` answered, once answered successfully. */
  result?: unknown;
  /** `{error_code, description}` when it failed. */
  error?: { error_code: number; description: string };
}

/** What `failNext` answers: 429 with `retry_after` by default. */
export interface FailSpec {
  error_code?: number;
  retry_after?: number;
  description?: string;
  /** How many matching calls fail (default 1). */
  count?: number;
}

/** Media given to `injectMessage`: bytes, or only a size (for the 20 MB limit). */
export type MediaSpec =
  | Buffer
  | {
      data?: Buffer;
      size?: number;
      name?: string;
      mimetype?: string;
      /** A video's or animation's thumbnail (a JPEG PhotoSize, as Telegram makes one), and its pixels. */
      thumbnail?: { data: Buffer; width: number; height: number };
    };

/** A platform user's message for {@link TelegramServer.injectMessage}. */
export type InjectMessage = {
  chat: number;
  /** Sender user id; omitted in channels (the post comes from the channel). */
  from?: number;
  text?: string;
  entities?: Obj[];
  caption?: string;
  caption_entities?: Obj[];
  reply_to_message_id?: number;
  message_thread_id?: number;
  /** Any further Message fields (service fields, forward info…). */
  extra?: Obj;
} & Partial<Record<MediaKind, MediaSpec>>;

const NOT_BY_DEFAULT = new Set(["chat_member", "message_reaction", "message_reaction_count"]);
const DEFAULT_BOT = { id: 7000001, is_bot: true, first_name: "Bridge", username: "clawbridge_test_bot" };

/** The Bot API stand-in and its driver API. Start with {@link TelegramServer.start}. */
export class TelegramServer {
  /** Every bot call, in arrival order. */
  readonly calls: RecordedCall[] = [];
  readonly world: BotWorld;
  private readonly methods: ReturnType<typeof botMethods>;
  private updates: Obj[] = [];
  private lastUpdateId = 0;
  private lastCallbackQuery = 0;
  private confirmed = 0;
  private allowed?: Set<string>;
  private readonly pollWaiters = new Set<() => void>();
  private readonly callWaiters = new Set<() => void>();
  private readonly failures: Array<{ method: string; spec: FailSpec; left: number }> = [];
  /** Each user's choice in each poll. */
  private readonly ballots: Ballots = new Map();
  /** Webhook delivery, once the bot called setWebhook. */
  private readonly pusher: WebhookPusher;
  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>`: grammy's `apiRoot`. */
    readonly url: string,
    /** The bot token the stand-in accepts. */
    readonly token: string,
    botUser: Obj & { id: number },
  ) {
    this.world = new BotWorld(botUser);
    this.methods = botMethods(this.world, { push: (u) => this.injectUpdate(u), ballots: this.ballots });
    this.pusher = new WebhookPusher({
      next: () => this.updates.find((u) => this.wanted(u)),
      delivered: (u) => {
        this.updates = this.updates.filter((x) => x !== u);
        this.confirmed = Math.max(this.confirmed, (u.update_id as number) + 1);
      },
    });
    this.methods.setWebhook = (p) => {
      const hook = this.pusher.set(p);
      if (hook?.allowed_updates?.length) this.allowed = new Set(hook.allowed_updates);
      if (p.drop_pending_updates === true) this.updates = [];
      void this.pusher.pump();
      return true;
    };
    this.methods.deleteWebhook = (p) => {
      this.pusher.webhook = undefined;
      if (p.drop_pending_updates === true) this.updates = [];
      return true;
    };
    this.methods.getWebhookInfo = () => this.pusher.info(this.updates.length);
  }

  /** The webhook currently set, if any. */
  get webhook(): WebhookSpec | undefined {
    return this.pusher.webhook;
  }
  /** Every webhook POST attempt, in order. */
  get webhookDeliveries(): readonly WebhookDelivery[] {
    return this.pusher.deliveries;
  }
  /** Wait before delivering an update again after the webhook did not answer 2xx (default 200 ms). */
  set webhookRetryMs(ms: number) {
    this.pusher.retryMs = ms;
  }

  /** Listens on 127.0.0.1, free port. The token is `<digits>:<random>` unless given. */
  static async start(opts: { token?: string; botUser?: Obj & { id: number } } = {}): Promise<TelegramServer> {
    const botUser = opts.botUser ?? DEFAULT_BOT;
    const token = opts.token ?? `${botUser.id}:${randomBytes(18).toString("base64url")}`;
    let self: TelegramServer | undefined;
    const server = createServer((req, res) => void self?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    self = new TelegramServer(server, url, token, botUser);
    return self;
  }

  /** The bot's own user id. */
  get botId(): number {
    return this.world.bot.id;
  }
  /** Every update below this id has been confirmed (the highest offset polled with). */
  get confirmedOffset(): number {
    return this.confirmed;
  }
  /** The newest update id handed out (0 before any). */
  get latestUpdateId(): number {
    return this.lastUpdateId;
  }

  addChat(chat: ChatSpec): void {
    this.world.addChat(chat);
  }
  addUser(user: UserSpec): void {
    this.world.addUser(user);
  }
  /** Stores a file; returns its file_id (usable in messages and with getFile). */
  addFile(data: Buffer | undefined, opts: { mimetype?: string; path?: string; size?: number } = {}): string {
    return this.world.addFile(data, opts);
  }
  /** Messages the bot sent to the chat, with edits, reactions and deletion applied. */
  sent(chatId: number): SentMessage[] {
    return this.world.sent(chatId);
  }

  /** Queues a raw update (any shape, for malformed cases); `update_id` is added. */
  injectUpdate(partial: Obj): number {
    const update_id = ++this.lastUpdateId;
    this.updates.push({ update_id, ...partial });
    for (const w of [...this.pollWaiters]) w();
    void this.pusher.pump();
    return update_id;
  }

  /** A user (or, in a channel, the channel) posts. Unknown chats/users are created. Returns message_id. */
  injectMessage(m: InjectMessage): number {
    const c = this.world.ensureChat(m.chat);
    const fields: Obj = { ...m.extra };
    if (m.from !== undefined) {
      this.world.ensureUser(m.from);
      fields.from = this.world.userObj(m.from);
      if (this.world.member(c, m.from) === "left") this.world.setMember(c, m.from, "member");
    }
    if (c.spec.type === "channel") fields.sender_chat = this.world.chatObj(c);
    if (m.text !== undefined) fields.text = m.text;
    if (m.entities) fields.entities = m.entities;
    if (m.caption !== undefined) fields.caption = m.caption;
    if (m.caption_entities) fields.caption_entities = m.caption_entities;
    if (m.message_thread_id !== undefined)
      Object.assign(fields, { message_thread_id: m.message_thread_id, is_topic_message: true });
    if (m.reply_to_message_id !== undefined) {
      const target = this.world.message(c, m.reply_to_message_id);
      fields.reply_to_message = target?.message ?? {
        message_id: m.reply_to_message_id,
        date: 0,
        chat: this.world.chatObj(c),
      };
    }
    for (const kind of mediaKinds) {
      const spec = m[kind];
      if (!spec) continue;
      const s = Buffer.isBuffer(spec) ? { data: spec } : spec;
      const id = this.world.addFile(s.data, { mimetype: s.mimetype, size: s.size, path: `${kind}s` });
      const media = this.world.mediaField(kind, this.world.file(id)!, s.name);
      const thumb = "thumbnail" in s ? s.thumbnail : undefined;
      if (thumb && !Array.isArray(media.value)) {
        const t = this.world.file(
          this.world.addFile(thumb.data, { mimetype: "image/jpeg", path: "thumbnails" }),
        )!;
        media.value.thumbnail = {
          file_id: t.file_id,
          file_unique_id: t.file_unique_id,
          file_size: t.size,
          width: thumb.width,
          height: thumb.height,
        };
      }
      fields[media.field] = media.value;
    }
    const entry = this.world.newMessage(c, fields);
    // A copy: a later injectEdit changes the stored message, not the update already queued.
    this.injectUpdate({ [c.spec.type === "channel" ? "channel_post" : "message"]: { ...entry.message } });
    return entry.message.message_id as number;
  }

  /**
   * A user presses an inline button of a bot message: only `data` of a button that message
   * shows now can be sent, as on Telegram. Returns the callback query id.
   */
  injectCallbackQuery(q: { chat: number; message_id: number; from: number; data: string }): string {
    const c = this.world.chat(q.chat);
    const m = this.world.message(c, q.message_id);
    if (!m || (m.message.from as Obj | undefined)?.id !== this.world.bot.id)
      throw new Error(`no bot message ${q.message_id} in chat ${q.chat}`);
    const rows = ((m.message.reply_markup as Obj | undefined)?.inline_keyboard ?? []) as Obj[][];
    if (!rows.flat().some((b) => b.callback_data === q.data))
      throw new Error(`message ${q.message_id} shows no button with callback_data ${q.data}`);
    this.world.ensureUser(q.from);
    const id = `${this.world.bot.id}${++this.lastCallbackQuery}`;
    const query: Obj = {
      id,
      from: this.world.userObj(q.from),
      message: m.message,
      chat_instance: `instance${q.chat}`,
      data: q.data,
    };
    this.world.callbackQueries.set(id, { query });
    this.injectUpdate({ callback_query: query });
    return id;
  }

  /** The bot's answer to a callback query, once it answered. */
  callbackAnswer(id: string): { text?: string; show_alert?: boolean } | undefined {
    return this.world.callbackQueries.get(id)?.answer;
  }

  /** The bot message in a chat as Telegram shows it now (text, inline keyboard). */
  messageIn(chat: number, messageId: number): Obj | undefined {
    return this.world.message(this.world.chat(chat), messageId)?.message;
  }

  /** A user edits their message; returns the update id. */
  injectEdit(e: {
    chat: number;
    message_id: number;
    text?: string;
    entities?: Obj[];
    caption?: string;
    /** Other changed fields (a live location's new `location`). */
    extra?: Obj;
  }): number {
    const c = this.world.chat(e.chat);
    const m = this.world.message(c, e.message_id);
    if (!m) throw new Error(`telegram stand-in: no message ${e.message_id} in ${e.chat}`);
    const changes = strip({
      text: e.text,
      entities: e.entities,
      caption: e.caption,
      ...e.extra,
      edit_date: Math.floor(Date.now() / 1000),
    });
    Object.assign(m.message, changes);
    return this.injectUpdate({
      [c.spec.type === "channel" ? "edited_channel_post" : "edited_message"]: { ...m.message },
    });
  }

  /**
   * A user votes in the poll of a message (`options`: positions; [] takes the vote back): the
   * bot gets `poll_answer` and `poll` updates when the poll is its own, as on Telegram.
   * Returns the id of the last of them (0 when the bot is told nothing).
   */
  injectVote(v: { chat: number; message_id: number; from: number; options: number[] }): number {
    let last = 0;
    const push = (u: Obj): void => {
      last = this.injectUpdate(u);
    };
    vote({ world: this.world, push }, this.ballots, v);
    return last;
  }

  /** `message_reaction`: the user's reactions on a message went from `old` to `new` (emoji). */
  injectReaction(r: {
    chat: number;
    user: number;
    message_id: number;
    old: Array<string | Obj>;
    new: Array<string | Obj>;
  }): number {
    const c = this.world.chat(r.chat);
    const rt = (x: string | Obj): Obj => (typeof x === "string" ? { type: "emoji", emoji: x } : x);
    return this.injectUpdate({
      message_reaction: {
        chat: this.world.chatObj(c),
        message_id: r.message_id,
        user: this.world.userObj(this.world.ensureUser(r.user).id),
        date: Math.floor(Date.now() / 1000),
        old_reaction: r.old.map(rt),
        new_reaction: r.new.map(rt),
      },
    });
  }

  /**
   * A membership change, as the service message groups show (`via: "message"`, default) or as
   * a `chat_member` update (`via: "chat_member"`). `by` is who did it (default: the user).
   */
  injectMember(e: {
    chat: number;
    user: number;
    change: "join" | "leave" | "kick" | "ban";
    by?: number;
    via?: "message" | "chat_member";
  }): number {
    const c = this.world.ensureChat(e.chat);
    this.world.ensureUser(e.user);
    const by = e.by ?? e.user;
    this.world.ensureUser(by);
    const next = e.change === "join" ? "member" : e.change === "ban" ? "kicked" : "left";
    const old = this.world.setMember(c, e.user, next);
    if (e.via === "chat_member") {
      const date = Math.floor(Date.now() / 1000);
      return this.injectUpdate({
        chat_member: {
          chat: this.world.chatObj(c),
          from: this.world.userObj(by),
          date,
          old_chat_member: { status: old, user: this.world.userObj(e.user) },
          new_chat_member: {
            status: next,
            user: this.world.userObj(e.user),
            ...(next === "kicked" ? { until_date: 0 } : {}),
          },
        },
      });
    }
    const service =
      e.change === "join"
        ? { new_chat_members: [this.world.userObj(e.user)] }
        : { left_chat_member: this.world.userObj(e.user) };
    const entry = this.world.newMessage(c, { from: this.world.userObj(by), ...service });
    return this.injectUpdate({ message: entry.message });
  }

  /** Renames the chat (service message `new_chat_title`); returns the message id. */
  injectChatTitle(e: { chat: number; title: string; from: number }): number {
    const c = this.world.chat(e.chat);
    c.spec.title = e.title;
    return this.injectMessage({ chat: e.chat, from: e.from, extra: { new_chat_title: e.title } });
  }

  /** A user sets a new chat photo (service message `new_chat_photo`); returns the message id. */
  injectChatPhoto(e: { chat: number; photo: Buffer; from: number }): number {
    const c = this.world.chat(e.chat);
    this.world.addChat({ ...c.spec, photo: e.photo, members: Object.fromEntries(c.members) });
    const big = this.world.chat(e.chat).photo!.big;
    const sizes = [
      { file_id: `${big.file_id}_thumb`, file_unique_id: `${big.file_unique_id}s`, width: 160, height: 160 },
      {
        file_id: big.file_id,
        file_unique_id: big.file_unique_id,
        file_size: big.size,
        width: 640,
        height: 640,
      },
    ];
    return this.injectMessage({ chat: e.chat, from: e.from, extra: { new_chat_photo: sizes } });
  }

  /** A user removes the chat photo (service message `delete_chat_photo`); returns the message id. */
  injectDeleteChatPhoto(e: { chat: number; from: number }): number {
    const c = this.world.chat(e.chat);
    c.photo = undefined;
    c.spec.photo = undefined;
    return this.injectMessage({ chat: e.chat, from: e.from, extra: { delete_chat_photo: true } });
  }

  /** Makes the next `count` calls of `method` fail (default 429 "Too Many Requests"). */
  failNext(method: string, spec: FailSpec = {}): void {
    this.failures.push({ method, spec, left: spec.count ?? 1 });
  }

  /** Ends every failure `failNext` still has in store. */
  clearFailures(): void {
    this.failures.splice(0);
  }

  /** Resolves with the first call (past or future) matching `predicate`. */
  waitFor(predicate: (c: RecordedCall) => boolean, timeoutMs = 15_000): Promise<RecordedCall> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.calls.find((c) => (c.result !== undefined || c.error) && predicate(c));
        if (!hit) return;
        clearTimeout(timer);
        this.callWaiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.callWaiters.delete(check);
        reject(new Error(`telegram waitFor: no matching call within ${timeoutMs} ms`));
      }, timeoutMs);
      this.callWaiters.add(check);
      check();
    });
  }

  /** Resolves with the first webhook delivery (past or future) matching `predicate`. */
  waitForDelivery(predicate: (d: WebhookDelivery) => boolean, timeoutMs = 15_000): Promise<WebhookDelivery> {
    return this.pusher.waitFor(predicate, timeoutMs);
  }

  private wanted(u: Obj): boolean {
    const type = Object.keys(u).find((k) => k !== "update_id");
    if (type === undefined) return true;
    return this.allowed ? this.allowed.has(type) || !isKnownType(type) : !NOT_BY_DEFAULT.has(type);
  }

  /** Ends held polls, drops every connection, stops listening. */
  async close(): Promise<void> {
    this.pusher.close();
    for (const w of [...this.pollWaiters]) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answered(): void {
    for (const w of [...this.callWaiters]) w();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const reply = (status: number, body: unknown, type = "application/json"): void => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": type });
      res.end(Buffer.isBuffer(body) ? body : JSON.stringify(body));
    };
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const f = file[1] === this.token ? this.world.fileByPath(decodeURIComponent(file[2]!)) : undefined;
      if (!f?.data) return reply(404, { ok: false, error_code: 404, description: "Not Found" });
      return reply(200, f.data, f.mimetype);
    }
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    const call: RecordedCall = { method: m?.[2] ?? url.pathname, params: {}, time: Date.now() };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      call.params = {
        ...Object.fromEntries(url.searchParams),
        ...parseBody(Buffer.concat(chunks), req.headers["content-type"] ?? ""),
      };
    } catch {
      call.error = { error_code: 400, description: "Bad Request: can't parse request body" };
    }
    this.calls.push(call);
    let status = 200;
    let body: Obj;
    try {
      if (call.error) throw new BotApiError(call.error.error_code, call.error.description);
      if (!m) throw new BotApiError(404, "Not Found");
      if (m[1] !== this.token) throw new BotApiError(401, "Unauthorized");
      const fail = this.failures.find((f) => f.left > 0 && f.method === call.method);
      if (fail) {
        fail.left--;
        const code = fail.spec.error_code ?? 429;
        const ra = fail.spec.retry_after ?? (code === 429 ? 1 : undefined);
        const desc =
          fail.spec.description ??
          (code === 429 ? `Too Many Requests: retry after ${ra}` : `Injected error ${code}`);
        throw new BotApiError(code, desc, ra !== undefined ? { retry_after: ra } : undefined);
      }
      const result =
        call.method === "getUpdates"
          ? await this.poll(call.params, res)
          : await this.methods[call.method]?.(call.params);
      if (result === undefined) {
        if (res.destroyed) return; // the client went away during a long poll
        throw new BotApiError(404, "Not Found: method not found");
      }
      call.result = result;
      body = { ok: true, result };
    } catch (err) {
      const a = errorAnswer(err);
      status = a.status;
      body = a.body;
      call.error = { error_code: a.body.error_code as number, description: a.body.description as string };
    }
    reply(status, body);
    this.answered();
  }

  /** getUpdates: confirm below offset, then answer at once or hold up to `timeout` seconds. */
  private async poll(p: Params, res: ServerResponse): Promise<Obj[] | undefined> {
    if (this.pusher.webhook)
      throw new BotApiError(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      );
    const offset = Number(p.offset ?? 0);
    const timeoutMs = Math.min(Number(p.timeout ?? 0), 50) * 1000;
    const limit = Math.min(Math.max(Number(p.limit ?? 100), 1), 100);
    if (Array.isArray(p.allowed_updates) && p.allowed_updates.length > 0) {
      this.allowed = new Set(p.allowed_updates.map(String));
    }
    if (offset > this.confirmed) {
      this.confirmed = offset;
      this.updates = this.updates.filter((u) => (u.update_id as number) >= offset);
    }
    const wanted = (u: Obj): boolean => this.wanted(u);
    const ready = (): Obj[] =>
      this.updates.filter((u) => (u.update_id as number) >= offset && wanted(u)).slice(0, limit);
    if (ready().length === 0 && timeoutMs > 0) {
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
      if (gone || res.destroyed) return undefined;
    }
    return ready();
  }
}

const KNOWN_TYPES = new Set([
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "message_reaction",
  "message_reaction_count",
  "chat_member",
  "my_chat_member",
  "callback_query",
  "inline_query",
  "chat_join_request",
]);
/** Unknown keys (malformed test updates) are never filtered out. */
function isKnownType(t: string): boolean {
  return KNOWN_TYPES.has(t);
}
