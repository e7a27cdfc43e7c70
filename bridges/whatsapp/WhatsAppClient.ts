/**
 * One WhatsApp account linked as a device (baileys): its socket and reconnects with backoff,
 * chat and user info, media; it hands sending to WhatsAppSender and what the socket reports to
 * WhatsAppReceiver.
 */
import type { WAMessage, WAMessageKey, WASocket } from "@whiskeysockets/baileys";
import { BoundedMap } from "../../src/core/Bounded";
import { ConnectionStateCell } from "../../src/core/ConnectionStateCell";
import {
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
  type OutboundMessage,
  type PollVoteHandling,
  type ReactionHandling,
  type ReadReceiptHandling,
  type RedactionHandling,
  type RelayHandling,
  type RemoteChatRef,
  type RemoteMessage,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import type { Logger } from "../../src/log/Logger";
import { ServerAcks } from "./acks";
import { baileys, loadBaileys } from "./baileys";
import type { WhatsAppConfig } from "./config";
import { ephemeralSeconds, mediaOf, unwrap } from "./inbound";
import { chatIdOf, isGroupJid, jidOfChat, jidOfUser, userIdOf } from "./jids";
import { type PgAuth, pgAuthState } from "./PgAuthState";
import { RefusedUpgrade, socketOptions, watchUpgrade } from "./socket";
import { sameChatIds, typedChatId } from "./typedChat";
import { WhatsAppReceiver } from "./WhatsAppReceiver";
import { WhatsAppSender } from "./WhatsAppSender";

/** How a login tells its owner what happened (logged out, relaying refused). */
export const RELOGIN_HINT = "write `login whatsapp` in your management room to link it again";

export class WhatsAppClient
  implements
    NetworkClient,
    EditHandling,
    ReactionHandling,
    RedactionHandling,
    TypingHandling,
    ReadReceiptHandling,
    RelayHandling,
    ChatInfoHandling,
    ChatIdHandling,
    DirectChatHandling,
    HistoryHandling,
    PollVoteHandling
{
  private readonly conn = new ConnectionStateCell((s, m) => this.ctx.stateChanged(this.login, s, m));
  private sock?: WASocket;
  private auth?: PgAuth;
  private stopped = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  /** Ids of messages this bridge sent: their echoes are not bridged back. */
  private readonly sent = new BoundedMap<string, true>(5000);
  /** Recent messages by id: media to fetch, quotes, retries. */
  private readonly messages = new BoundedMap<string, WAMessage>(2000);
  private readonly log: Logger;
  private readonly acks: ServerAcks;
  /** What the socket reports, as events for the core; names, synced history and timers. */
  private readonly rx: WhatsAppReceiver;
  /** What Matrix users send. */
  private readonly tx: WhatsAppSender;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    private readonly cfg: WhatsAppConfig,
    /** Sees every socket this client opens (tests reach baileys' event emitter here). */
    private readonly onSocket?: (sock: WASocket) => void,
  ) {
    this.log = ctx.log.child({ login: login.id });
    this.acks = new ServerAcks(this.log, { timeoutMs: cfg.ackTimeoutMs, attempts: cfg.sendAttempts });
    this.rx = new WhatsAppReceiver({
      ctx,
      login,
      cfg,
      log: this.log,
      sent: this.sent,
      messages: this.messages,
      ownNumber: () => this.ownNumber,
      pictureOf: (jid) => this.pictureOf(jid),
    });
    this.tx = new WhatsAppSender({
      ctx,
      login,
      cfg,
      log: this.log,
      acks: this.acks,
      sent: this.sent,
      messages: this.messages,
      ownNumber: () => this.ownNumber,
      connected: () => this.connected(),
    });
  }

  get loginId(): string {
    return this.login.id;
  }

  /** Removes this client's keys from Postgres (its login was replaced by a new link). */
  async forgetKeys(): Promise<void> {
    await (await pgAuthState(this.ctx.store, this.authKey)).clear();
  }

  get authKeyOf(): string {
    return this.authKey;
  }

  private get authKey(): string {
    const key = this.login.credentials.auth_key;
    if (typeof key !== "string" || !key) throw new Error(`whatsapp login ${this.login.id} has no auth_key`);
    return key;
  }

  /** The account's phone number (from the stored credentials, else the login). */
  get ownNumber(): string {
    const me = this.auth?.state.creds.me?.id;
    return me ? userIdOf(me) : (this.login.remoteId ?? "");
  }

  /** The socket, for tests at the seam of baileys' events and send function. */
  socket(): WASocket | undefined {
    return this.sock;
  }

  async connect(): Promise<void> {
    this.stopped = false;
    await loadBaileys();
    this.auth = await pgAuthState(this.ctx.store, this.authKey);
    if (!this.auth.existing || !this.auth.state.creds.me) {
      this.conn.set(ConnectionState.LoggedOut, `this WhatsApp login is not linked; ${RELOGIN_HINT}`);
      return;
    }
    this.open();
  }

  async disconnect(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const sock = this.sock;
    this.sock = undefined;
    sock?.end(undefined);
    await this.rx.settled();
  }

  /** Unlinks this device on the phone and forgets the keys. */
  async logout(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    try {
      if (this.sock && this.conn.get() === ConnectionState.Connected) await this.sock.logout();
    } finally {
      await this.auth?.clear();
    }
  }

  state(): ConnectionState {
    return this.conn.get();
  }

  private open(): void {
    const auth = this.auth;
    if (!auth || this.stopped) return;
    this.conn.set(ConnectionState.Connecting);
    const B = baileys();
    const sock = B.makeWASocket({
      ...socketOptions(this.cfg, auth, this.log),
      getMessage: async (key: WAMessageKey) =>
        key.id ? (this.messages.get(key.id)?.message ?? undefined) : undefined,
    });
    this.sock = sock;
    watchUpgrade(sock, this.cfg, `platforms.${this.login.platform}.websocket_url`);
    this.acks.watch(sock);
    this.onSocket?.(sock);
    sock.ev.on("creds.update", () => {
      auth
        .saveCreds()
        .catch((err: unknown) =>
          this.log.error("could not store WhatsApp credentials", { err: String(err) }),
        );
    });
    sock.ev.on("connection.update", (u) => {
      if (this.sock !== sock) return;
      if (u.connection === "open") {
        this.attempt = 0;
        this.conn.set(ConnectionState.Connected);
        this.log.info("connected to WhatsApp", { number: this.ownNumber });
      } else if (u.connection === "close") this.closed(u.lastDisconnect?.error);
    });
    this.rx.attach(sock);
  }

  private closed(error: Error | undefined): void {
    const B = baileys();
    const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode;
    this.sock = undefined;
    if (this.stopped) return;
    if (error instanceof RefusedUpgrade) {
      // Not the phone and not the keys: the address or its access. Tried again rarely, since
      // only a config change (and a restart) or restored access can help.
      this.log.warn("WhatsApp refused the websocket upgrade", { status: error.status });
      this.conn.set(ConnectionState.BadCredentials, error.message);
      this.timer = setTimeout(() => this.open(), this.cfg.backoffMaxMs);
      return;
    }
    if (code === B.DisconnectReason.loggedOut) {
      this.log.warn("WhatsApp logged this device out");
      this.auth
        ?.clear()
        .catch((err: unknown) => this.log.error("could not forget the keys", { err: String(err) }));
      this.conn.set(
        ConnectionState.LoggedOut,
        `WhatsApp logged this bridge out (the device was unlinked on the phone); ${RELOGIN_HINT}`,
      );
      return;
    }
    const delay =
      code === B.DisconnectReason.restartRequired
        ? 0
        : Math.min(this.cfg.backoffMaxMs, this.cfg.backoffInitialMs * 2 ** this.attempt) *
          (0.8 + Math.random() * 0.4);
    this.attempt++;
    const why =
      code === B.DisconnectReason.connectionReplaced
        ? "another client took over this session"
        : (error?.message ?? "connection closed");
    this.conn.set(
      ConnectionState.TransientDisconnect,
      `${why}; reconnecting in ${Math.round(delay / 1000)} s`,
    );
    this.log.info("WhatsApp connection closed, reconnecting", { code, delayMs: Math.round(delay) });
    this.timer = setTimeout(() => this.open(), delay);
  }

  private connected(): WASocket {
    const sock = this.sock;
    if (!sock || this.conn.get() !== ConnectionState.Connected)
      throw new BridgeError(`WhatsApp is not connected (${this.conn.get().toLowerCase()})`, undefined, true);
    return sock;
  }

  /** A chat's messages from the history sync of this device's linking, oldest first. */
  async history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    return this.rx.synced.recentStored(this.ctx.store, chat.id, limit);
  }

  async resolveChatId(typed: string): Promise<string> {
    const own = this.ownNumber;
    if (!own)
      throw new BridgeError("this WhatsApp login has not finished linking yet; try again in a moment");
    return typedChatId(typed, own);
  }

  sameChatIds(chatId: string): string[] {
    return sameChatIds(chatId);
  }

  /**
   * The direct chat with a phone number (in any spelling, a JID or a wa.me link), written
   * through this account. Whether the number is on WhatsApp shows when a message goes out.
   */
  async openDirectChat(typed: string): Promise<{ chat: RemoteChatRef; note?: string }> {
    const id = await this.resolveChatId(typed);
    if (isGroupJid(jidOfChat(id)))
      throw new BridgeError("that is a group, not a person: `link` bridges a group to a room.");
    return { chat: { id } };
  }

  async chatInfo(chat: RemoteChatRef): Promise<ChatInfo> {
    const jid = jidOfChat(chat.id);
    if (!isGroupJid(jid)) {
      const id = userIdOf(jid);
      return { kind: "dm", name: this.rx.names.get(id), members: [{ id }] };
    }
    const meta = await this.connected().groupMetadata(jid);
    const seconds = ephemeralSeconds(meta.ephemeralDuration);
    const timer = seconds
      ? this.rx.timers.changed(chat.id, seconds, { id: this.ownNumber }, Date.now())
      : undefined;
    if (timer) this.rx.emit(timer); // after the event that asked (it makes the portal)
    const avatar = await this.pictureOf(jid);
    return {
      kind: "group",
      name: meta.subject,
      topic: meta.desc,
      avatar,
      members: meta.participants.map((p) => ({ id: userIdOf(p.phoneNumber ?? p.id) })),
    };
  }

  async userInfo(user: RemoteUserRef): Promise<UserInfo> {
    const avatar = await this.pictureOf(jidOfUser(user.id));
    const own = user.id === this.ownNumber;
    const name = this.rx.names.get(user.id) ?? (own ? this.auth?.state.creds.me?.name : undefined);
    return { displayName: name || `+${user.id.replace(/@lid$/, "")}`, avatar };
  }

  /** Only the owner renames their groups; anyone else's change stays in Matrix. */
  private mayChange(by: string | undefined): void {
    if (by !== undefined && by !== this.login.ownerMxid)
      throw new BridgeError(`only ${this.login.ownerMxid} changes this WhatsApp group (it is their account)`);
  }

  async setChatName(chat: RemoteChatRef, name: string, by?: string): Promise<void> {
    this.mayChange(by);
    await this.connected().groupUpdateSubject(this.groupJid(chat), name);
  }

  async setChatTopic(chat: RemoteChatRef, topic: string, by?: string): Promise<void> {
    this.mayChange(by);
    await this.connected().groupUpdateDescription(this.groupJid(chat), topic);
  }

  async setChatAvatar(chat: RemoteChatRef, image: Media, by?: string): Promise<void> {
    this.mayChange(by);
    await this.connected().updateProfilePicture(this.groupJid(chat), image.data);
  }

  private groupJid(chat: RemoteChatRef): string {
    const jid = this.tx.jidFor(chat);
    if (!isGroupJid(jid))
      throw new BridgeError("a direct chat has no name, description or picture of its own on WhatsApp");
    return jid;
  }

  private async pictureOf(jid: string): Promise<MediaRef | undefined> {
    try {
      const url = await this.sock?.profilePictureUrl(jid, "image", 5000);
      return url ? { key: url, mimetype: "image/jpeg", name: "avatar.jpg" } : undefined;
    } catch {
      return undefined; // no picture, or hidden by the contact's privacy settings
    }
  }

  async fetchMedia(ref: MediaRef): Promise<Media> {
    if (ref.key.startsWith("msg:")) {
      const msg = this.messages.get(ref.key.slice(4));
      if (!msg)
        throw new BridgeError("the media is no longer available (the bridge restarted before fetching it)");
      const data = await baileys().downloadMediaMessage(msg, "buffer", {});
      const content = unwrap(msg.message);
      const media = content && mediaOf(content)?.media;
      return {
        data: data as Buffer,
        mimetype: ref.mimetype ?? media?.mimetype ?? "application/octet-stream",
        name: ref.name ?? "file",
      };
    }
    const res = await fetch(ref.key, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok)
      throw new BridgeError(`WhatsApp's media server answered ${res.status}`, undefined, res.status >= 500);
    return {
      data: Buffer.from(await res.arrayBuffer()),
      mimetype: ref.mimetype ?? "image/jpeg",
      name: ref.name ?? "avatar.jpg",
    };
  }

  // What Matrix users send is WhatsAppSender's (it holds the relay rule).

  sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    return this.tx.sendMessage(chat, msg);
  }

  editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    return this.tx.editMessage(chat, remoteId, msg);
  }

  deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    return this.tx.deleteMessage(chat, remoteId);
  }

  sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    return this.tx.sendReaction(chat, target, key, sender);
  }

  removeReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    return this.tx.removeReaction(chat, target, key, sender);
  }

  votePoll(
    chat: RemoteChatRef,
    vote: { target: string; answers: string[]; sender: MatrixSender; eventId: string },
  ): Promise<void> {
    return this.tx.votePoll(chat, vote);
  }

  setTyping(chat: RemoteChatRef, typing: boolean, who?: readonly string[]): Promise<void> {
    return this.tx.setTyping(chat, typing, who);
  }

  markRead(chat: RemoteChatRef, upTo: string, who?: readonly string[]): Promise<void> {
    return this.tx.markRead(chat, upTo, who);
  }

  setRelay(chat: RemoteChatRef, on: boolean): Promise<void> {
    return this.tx.setRelay(chat, on);
  }

  relayEnabled(chat: RemoteChatRef): Promise<boolean> {
    return this.tx.relayEnabled(chat);
  }

  /** The chat id of a JID for this account (tests and commands). */
  chatIdOf(jid: string): string {
    return chatIdOf(this.ownNumber, jid);
  }
}
