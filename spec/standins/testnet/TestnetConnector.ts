/**
 * Connector for "testnet", the test-only platform served by {@link ./TestnetServer}. The real
 * bridge loads it from config (`platforms.testnet.module: <absolute path of this file>`) and
 * calls `createConnector(platformName)`, so the same module can serve a second platform
 * ("othernet") against a second stand-in.
 *
 * It behaves like a real polling connector: updates are emitted in order, the stored offset is
 * advanced (`kvSet("offset")`) only after `ctx.emit` resolved, and the server learns of the
 * confirmation only with the next poll. A crash before the `kvSet` redelivers the update.
 *
 * Errors from REST calls are `Error & { status, retryAfterMs? }` (`TestnetHttpError`, protocol.ts):
 * `status` is the HTTP status, `retryAfterMs` comes from `Retry-After` or `retry_after` (seconds).
 * Network failures are rethrown as they are (no `status`).
 */

import { ConnectionStateCell } from "../../../src/core/ConnectionStateCell";
import {
  type BackfillHandling,
  type ChatInfo,
  ConnectionState,
  type ConnectorContext,
  type EditHandling,
  type LoginRef,
  type MatrixSender,
  type Media,
  type MediaRef,
  type ModerationHandling,
  type MuteHandling,
  type NetworkClient,
  type NetworkConnector,
  type OrderedIds,
  type OutboundMessage,
  type ReactionHandling,
  type ReadReceiptHandling,
  type RedactionHandling,
  type RemoteChatRef,
  type RemoteMessage,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../../src/core/connector";
import { integerOrderKey } from "../../../src/core/orderKey";
import { registerSecret } from "../../../src/log/Logger";
import { Api, enc, isObj, type Obj, parseWireEvent, sleep, str } from "./protocol";

export type { TestnetHttpError } from "./protocol";

/** The connector's config section after validation. */
interface TestnetConfig {
  baseUrl: string;
  token: string;
  owner: string;
  pollTimeoutSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

function readConfig(c: Obj, platform: string): TestnetConfig {
  const need = (k: string): string => {
    const v = str(c, k);
    if (!v) throw new Error(`platforms.${platform}.${k} is required`);
    return v;
  };
  const num = (k: string, d: number): number => {
    const v = c[k];
    if (v === undefined) return d;
    if (typeof v !== "number" || !(v >= 0))
      throw new Error(`platforms.${platform}.${k} must be a number >= 0`);
    return v;
  };
  const baseUrl = need("base_url").replace(/\/+$/, "");
  const host = new URL(baseUrl).hostname;
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    throw new Error(`platforms.${platform}.base_url must be a loopback address (test-only platform)`);
  }
  return {
    baseUrl,
    token: need("token"),
    owner: need("owner"),
    pollTimeoutSeconds: num("poll_timeout_seconds", 10),
    backoffInitialMs: num("backoff_initial_ms", 250),
    backoffMaxMs: num("backoff_max_ms", 5000),
  };
}

/** One bot login on the stand-in: the long-poll loop plus every outbound capability. */
/** Longest text the stand-in takes in one message; longer texts go out in parts. */
const MAX_TEXT = 4000;

export class TestnetClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    TypingHandling,
    ModerationHandling,
    MuteHandling,
    BackfillHandling,
    ReadReceiptHandling,
    OrderedIds
{
  private readonly conn = new ConnectionStateCell((s, m) => this.ctx.stateChanged(this.login, s, m));
  private abort?: AbortController;
  private loopDone: Promise<void> = Promise.resolve();
  private emitting = false;
  private selfId?: string;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    private readonly cfg: TestnetConfig,
    private readonly api: Api,
  ) {}

  /** Reads the stored offset and starts the long-poll loop in the background. */
  async connect(): Promise<void> {
    if (this.abort && !this.abort.signal.aborted) return;
    const abort = new AbortController();
    this.abort = abort;
    let stored: string | undefined;
    try {
      await this.loopDone; // an earlier loop still finishing an emit must not run beside a new one
      stored = await this.ctx.store.kvGet("offset");
    } catch (err) {
      abort.abort();
      throw err;
    }
    if (abort.signal.aborted) return; // disconnected meanwhile
    const offset = stored !== undefined && /^\d+$/.test(stored) ? Number(stored) : 0;
    this.conn.set(ConnectionState.Connecting);
    this.loopDone = this.loop(offset, abort.signal).catch((err: unknown) => {
      this.ctx.log.error("testnet poll loop crashed", { err });
    });
  }

  /**
   * Stops polling at once (the in-flight request is aborted). If the core is still inside
   * `emit`, that update's offset is stored when it resolves, and nothing further is emitted.
   */
  async disconnect(): Promise<void> {
    this.abort?.abort();
    if (!this.emitting) await this.loopDone;
  }

  /** Message ids count up per chat. */
  orderKey(remoteId: string): string | undefined {
    return integerOrderKey(remoteId);
  }

  state(): ConnectionState {
    return this.conn.get();
  }

  private async loop(start: number, signal: AbortSignal): Promise<void> {
    let offset = start;
    let backoff = this.cfg.backoffInitialMs;
    let emitBackoff = this.cfg.backoffInitialMs;
    const timeout = this.cfg.pollTimeoutSeconds;
    while (!signal.aborted) {
      try {
        if (this.selfId === undefined) {
          const me = await this.api.json("GET", "/me", undefined, signal);
          this.selfId = str(me, "id");
          this.conn.set(ConnectionState.Connected);
        }
        const pollSignal = AbortSignal.any([signal, AbortSignal.timeout((timeout + 10) * 1000)]);
        const body = await this.api.json(
          "GET",
          `/updates?offset=${offset}&timeout=${timeout}`,
          undefined,
          pollSignal,
        );
        this.conn.set(ConnectionState.Connected);
        backoff = this.cfg.backoffInitialMs;
        const updates = Array.isArray(body.updates) ? body.updates : [];
        for (const u of updates) {
          if (signal.aborted) return;
          if (!isObj(u) || typeof u.update_id !== "number")
            throw new Error("testnet: update without update_id");
          if (u.update_id < offset) continue;
          const event = parseWireEvent(u.event, this.selfId);
          if (event) {
            this.emitting = true;
            try {
              await this.ctx.emit(this.login, event);
              emitBackoff = this.cfg.backoffInitialMs;
            } catch (err) {
              // Not queued: keep the offset, back off and fetch the same update again.
              this.ctx.log.warn("testnet: emit failed, update will be fetched again", {
                err,
                updateId: u.update_id,
              });
              await sleep(emitBackoff, signal);
              emitBackoff = Math.min(emitBackoff * 2, this.cfg.backoffMaxMs);
              break;
            } finally {
              this.emitting = false;
            }
          } else {
            this.ctx.log.warn("testnet: malformed update skipped", { updateId: u.update_id });
          }
          offset = u.update_id + 1;
          await this.ctx.store.kvSet("offset", String(offset));
        }
      } catch (err) {
        if (signal.aborted) return;
        const status = isObj(err) && typeof err.status === "number" ? err.status : undefined;
        if (status === 401) {
          this.conn.set(ConnectionState.BadCredentials, "token rejected");
          return;
        }
        const message = err instanceof Error ? err.message : String(err);
        this.conn.set(ConnectionState.TransientDisconnect, message);
        this.ctx.log.warn("testnet: poll failed, retrying", { err: message, backoffMs: backoff });
        const retryAfter = isObj(err) && typeof err.retryAfterMs === "number" ? err.retryAfterMs : 0;
        await sleep(Math.max(backoff, retryAfter), signal);
        backoff = Math.min(backoff * 2, this.cfg.backoffMaxMs);
      }
    }
  }

  async chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    const c = await this.api.json("GET", `/chats/${enc(chat.id)}`);
    const kind = c.kind === "dm" || c.kind === "channel" ? c.kind : "group";
    const info: ChatInfo = { kind };
    if (str(c, "name") !== undefined) info.name = str(c, "name");
    if (str(c, "topic") !== undefined) info.topic = str(c, "topic");
    if (str(c, "avatar_url")) info.avatar = { key: str(c, "avatar_url")! };
    if (Array.isArray(c.members)) {
      info.members = c.members.filter((m): m is string => typeof m === "string").map((id) => ({ id }));
    }
    return info;
  }

  async userInfo(user: RemoteUserRef): Promise<UserInfo> {
    const u = await this.api.json("GET", `/users/${enc(user.id)}`);
    const info: UserInfo = { displayName: str(u, "name") ?? user.id };
    if (str(u, "avatar_url")) info.avatar = { key: str(u, "avatar_url")! };
    if (u.is_bot === true || user.id === this.selfId) info.isBot = true;
    return info;
  }

  /** Downloads `ref.key` (a URL); the token is sent only when it points at the stand-in. */
  async fetchMedia(ref: MediaRef): Promise<Media> {
    const res = await this.api.fetch("GET", ref.key);
    const data = Buffer.from(await res.arrayBuffer());
    const name = ref.name ?? decodeURIComponent(new URL(ref.key).pathname.split("/").pop() ?? "file");
    return {
      data,
      mimetype: ref.mimetype ?? res.headers.get("content-type") ?? "application/octet-stream",
      name,
    };
  }

  /** Posts the message; text longer than `maxTextLength` goes out as several plain parts. */
  async sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const max = MAX_TEXT;
    const parts: string[] = [];
    for (let i = 0; i < msg.text.length; ) {
      let end = Math.min(i + max, msg.text.length);
      if (end < msg.text.length && /[\uD800-\uDBFF]/.test(msg.text[end - 1]!)) end--; // keep surrogate pairs
      parts.push(msg.text.slice(i, end));
      i = end;
    }
    if (parts.length === 0) parts.push("");
    const ids: string[] = [];
    for (const [i, text] of parts.entries()) {
      const a = i === 0 ? msg.attachment : undefined;
      const body = {
        text,
        html: parts.length === 1 ? msg.html : undefined,
        sender_name: msg.sender.displayName,
        sender_mxid: msg.sender.mxid,
        reply_to: msg.replyTo,
        thread_root: msg.threadRoot ?? chat.threadId,
        msgtype: msg.msgtype,
        attachment: a && {
          kind: a.kind,
          name: a.media.name,
          mimetype: a.media.mimetype,
          data: a.media.data.toString("base64"),
        },
      };
      const res = await this.api.json("POST", `/chats/${enc(chat.id)}/messages`, body);
      const id = str(res, "id");
      if (!id) throw new Error("testnet: POST messages answered without id");
      ids.push(id);
    }
    return { ids, timestamp: Date.now() };
  }

  async editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    await this.api.json("PATCH", `/chats/${enc(chat.id)}/messages/${enc(remoteId)}`, {
      text: msg.text.slice(0, MAX_TEXT),
      html: msg.html,
    });
  }

  async sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    await this.api.json("PUT", `/chats/${enc(chat.id)}/messages/${enc(target)}/reactions`, {
      key,
      sender_name: sender.displayName,
      sender_mxid: sender.mxid,
    });
  }

  async removeReaction(
    chat: RemoteChatRef,
    target: string,
    key: string,
    sender: MatrixSender,
  ): Promise<void> {
    const q = `key=${enc(key)}&sender=${enc(sender.mxid)}`;
    await this.api.json("DELETE", `/chats/${enc(chat.id)}/messages/${enc(target)}/reactions?${q}`);
  }

  async deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    await this.api.json("DELETE", `/chats/${enc(chat.id)}/messages/${enc(remoteId)}`);
  }

  async setTyping(chat: RemoteChatRef, typing: boolean): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/typing`, { typing });
  }

  async markRead(chat: RemoteChatRef, upTo: string): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/read`, { up_to: upTo });
  }

  async kick(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/kick`, { user: user.id, reason });
  }

  async ban(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/ban`, { user: user.id, reason });
  }

  async unban(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/unban`, { user: user.id });
  }

  async mute(chat: RemoteChatRef, user: RemoteUserRef, until?: number, reason?: string): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/mute`, { user: user.id, until, reason });
  }

  async unmute(chat: RemoteChatRef, user: RemoteUserRef): Promise<void> {
    await this.api.json("POST", `/chats/${enc(chat.id)}/unmute`, { user: user.id });
  }

  /** Stored messages after `afterId`, oldest first; malformed entries are skipped. */
  async fetchMessagesAfter(
    chat: RemoteChatRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<RemoteMessage[]> {
    const after = afterId !== undefined ? `after=${enc(afterId)}&` : "";
    const res = await this.api.json("GET", `/chats/${enc(chat.id)}/messages?${after}limit=${limit}`);
    const out: RemoteMessage[] = [];
    for (const m of Array.isArray(res.messages) ? res.messages : []) {
      const ev = parseWireEvent(m, this.selfId);
      if (ev?.kind === "message") out.push(ev);
      else this.ctx.log.warn("testnet: malformed backfill message skipped");
    }
    return out;
  }
}

class TestnetConnector implements NetworkConnector {
  private ctx?: ConnectorContext;
  private cfg?: TestnetConfig;
  private readonly clients = new Set<TestnetClient>();

  constructor(readonly name: string) {}

  async init(ctx: ConnectorContext): Promise<void> {
    this.cfg = readConfig(ctx.config, this.name);
    registerSecret(this.cfg.token);
    this.ctx = ctx;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.disconnect()));
  }

  configLogins(): Array<Omit<LoginRef, "id">> {
    const cfg = this.ready().cfg;
    return [{ platform: this.name, ownerMxid: cfg.owner, credentials: { token: cfg.token } }];
  }

  clientFor(login: LoginRef): NetworkClient {
    const { ctx, cfg } = this.ready();
    const token = typeof login.credentials.token === "string" ? login.credentials.token : cfg.token;
    const client = new TestnetClient(ctx, login, cfg, new Api(cfg.baseUrl, token));
    this.clients.add(client);
    return client;
  }

  async check(): Promise<{ ok: boolean; message: string }> {
    const { cfg } = this.ready();
    try {
      const me = await new Api(cfg.baseUrl, cfg.token).json("GET", "/me");
      return { ok: true, message: `logged in as ${str(me, "name") ?? str(me, "id") ?? "?"}` };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
  }

  private ready(): { ctx: ConnectorContext; cfg: TestnetConfig } {
    if (!this.ctx || !this.cfg) throw new Error(`${this.name}: init() has not run`);
    return { ctx: this.ctx, cfg: this.cfg };
  }
}

/** Entry point used by the bridge's registry: `createConnector(platformName)`. */
export function createConnector(name = "testnet"): NetworkConnector {
  return new TestnetConnector(name);
}
