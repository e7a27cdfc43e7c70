/**
 * One WhatsApp account linked as a device (baileys): its socket, reconnects with backoff,
 * events mapped for the core, and everything the user may send.
 *
 * Safety rule: the bridge sends only what a Matrix user wrote. Messages of anyone but the
 * login's owner go out only when the owner turned relaying on for that chat, with the
 * sender's name in front; the bridge's own notices never go to WhatsApp.
 */
import type { AnyMessageContent, WAMessage, WAMessageKey, WASocket } from "@whiskeysockets/baileys";
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
  type RemoteEvent,
  type RemoteMessage,
  type RemotePollVote,
  type RemoteUserRef,
  type SentRef,
  type TypingHandling,
  type UserInfo,
} from "../../src/core/connector";
import { fitImage } from "../../src/core/downscale";
import { BridgeError } from "../../src/core/errors";
import type { Logger } from "../../src/log/Logger";
import { messageIdFor, ServerAcks } from "./acks";
import { baileys, loadBaileys } from "./baileys";
import { ChatTimers } from "./chatTimers";
import type { WhatsAppConfig } from "./config";
import { SyncedHistory } from "./historySync";
import { ephemeralSeconds, mapMessage, mediaOf, messageTimer, unwrap } from "./inbound";
import { chatIdOf, isGroupJid, jidOfChat, jidOfUser, ownerNumberOfChat, userIdOf } from "./jids";
import { IMAGE_LIMITS, outboundContent, outboundText } from "./outbound";
import { type PgAuth, pgAuthState } from "./PgAuthState";
import {
  decryptVote,
  encryptVote,
  pollRecord,
  recallPoll,
  receivedPollRecord,
  rememberPoll,
  whatsappPoll,
} from "./polls";
import { mapSideEvents } from "./sideEvents";
import { RefusedUpgrade, socketOptions, watchUpgrade } from "./socket";
import { sameChatIds, typedChatId } from "./typedChat";

/** How a login tells its owner what happened (logged out, relaying refused). */
export const RELOGIN_HINT = "write `login whatsapp` in your management room to link it again";

/** kv key: relaying for Matrix users without a login is on for this chat. */
export const relayKey = (chatId: string) => `relay:${chatId}`;

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
  private chain: Promise<void> = Promise.resolve();
  /** Ids of messages this bridge sent: their echoes are not bridged back. */
  private readonly sent = new BoundedMap<string, true>(5000);
  /** Recent messages by id: media to fetch, quotes, retries. */
  private readonly messages = new BoundedMap<string, WAMessage>(2000);
  private readonly names = new Map<string, string>();
  /** The history the phone sent when this device was linked, for new portals' backfill. */
  private readonly synced = new SyncedHistory();
  private readonly log: Logger;
  private readonly acks: ServerAcks;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly login: LoginRef,
    private readonly cfg: WhatsAppConfig,
    /** Sees every socket this client opens (tests reach baileys' event emitter here). */
    private readonly onSocket?: (sock: WASocket) => void,
  ) {
    this.log = ctx.log.child({ login: login.id });
    this.acks = new ServerAcks(this.log, { timeoutMs: cfg.ackTimeoutMs, attempts: cfg.sendAttempts });
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
    await this.chain;
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
    sock.ev.on("messages.upsert", ({ messages, type }) => {
      for (const m of messages) this.received(m, type);
    });
    sock.ev.on("messaging-history.set", ({ messages, syncType }) => {
      for (const m of messages) {
        const content = unwrap(m.message);
        if (m.key.id && content && mediaOf(content)) this.messages.set(m.key.id, m);
      }
      const added = this.synced.keep(
        { ownNumber: this.ownNumber, sentByBridge: (id) => this.sent.has(id) },
        messages,
      );
      this.log.info("WhatsApp history sync kept for new portals", { messages: added, syncType });
      this.chain = this.chain
        .then(() => this.synced.store(this.ctx.store))
        .then(() => this.log.info("WhatsApp history sync stored", { messages: added }))
        .catch((err: unknown) => this.log.warn("WhatsApp history sync not stored", { err: String(err) }));
    });
    const side = (events: RemoteEvent[]) => {
      for (const ev of events) this.emit(ev);
    };
    const ctx = { ownNumber: this.ownNumber, sentByBridge: (id: string) => this.sent.has(id) };
    sock.ev.on("message-receipt.update", (updates) => side(mapSideEvents.receipts(ctx, updates)));
    sock.ev.on("presence.update", (p) => side(mapSideEvents.presence(ctx, p)));
    sock.ev.on("groups.update", (g) => side(mapSideEvents.groups(ctx, g)));
    sock.ev.on("group-participants.update", (g) => side(mapSideEvents.participants(ctx, g)));
    const names = (
      contacts: Array<{ id?: string; name?: string; notify?: string; phoneNumber?: string }>,
    ) => {
      for (const c of contacts) {
        const jid = c.phoneNumber ?? c.id;
        const name = c.name ?? c.notify;
        if (jid && name) this.names.set(userIdOf(jid), name);
      }
    };
    sock.ev.on("contacts.upsert", names);
    sock.ev.on("contacts.update", (updates) => {
      for (const c of updates) {
        if (c.id && isGroupJid(c.id)) {
          if (c.imgUrl === "changed") this.groupPictureChanged(c.id);
        } else this.contactChanged(c);
      }
      names(updates);
    });
  }

  /**
   * A contact's new name or picture goes to their ghost at once (a profile change). Only what
   * changed is sent: an empty name leaves the ghost's as it is.
   */
  private contactChanged(c: {
    id?: string;
    name?: string;
    notify?: string;
    phoneNumber?: string;
    imgUrl?: string | null;
  }): void {
    const jid = c.phoneNumber ?? c.id;
    if (!jid) return;
    const id = userIdOf(jid);
    const name = c.name ?? c.notify;
    const renamed = name !== undefined && name !== "" && name !== this.names.get(id);
    const picture = c.imgUrl === "changed" || c.imgUrl === "removed";
    if (!renamed && !picture) return;
    void (c.imgUrl === "changed" ? this.pictureOf(jid) : Promise.resolve(undefined)).then((avatar) => {
      const info: UserInfo = { displayName: renamed ? name : "" };
      if (avatar) info.avatar = avatar;
      if (c.imgUrl === "removed") info.avatarRemoved = true;
      this.emit({ kind: "profile", sender: { id }, timestamp: Date.now(), info });
    });
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

  /** Emits in order; one failing emit does not stop the rest (the core logs and retries). */
  private emit(ev: RemoteEvent): void {
    this.chain = this.chain
      .then(() => this.ctx.emit(this.login, ev))
      .catch((err: unknown) => this.log.error("event not queued", { kind: ev.kind, err: String(err) }));
  }

  private received(m: WAMessage, type: string): void {
    try {
      if (m.key.id) this.messages.set(m.key.id, m);
      if (m.pushName && !m.key.fromMe) {
        const remote = m.key.remoteJid ?? "";
        const who = isGroupJid(remote)
          ? (m.key.participantAlt ?? m.key.participant)
          : (m.key.remoteJidAlt ?? remote);
        if (who) this.names.set(userIdOf(who), m.pushName);
      }
      const mapper = {
        ownNumber: this.ownNumber,
        sentByBridge: (id: string) => this.sent.has(id),
        ghostUserId: (number: string) => this.ctx.ghostUserId(number),
        viewOnce: this.cfg.viewOnce,
        redactDisappearing: this.cfg.disappearingRedact,
        warn: (text: string, context: Record<string, unknown>) => this.log.warn(text, context),
      };
      const events = mapMessage(mapper, m);
      for (const ev of events) {
        if (ev.kind === "poll-vote") this.vote(ev, m);
        else
          this.emit(ev.kind === "reaction" || ev.kind === "reaction-remove" ? this.withReactionKey(ev) : ev);
        if (ev.kind === "message" && ev.poll && !ev.fromSelf) this.rememberReceivedPoll(m);
      }
      const timer = this.timers.afterMessage(events, messageTimer(m));
      if (timer) this.emit(timer);
    } catch (err) {
      // A message baileys could not make sense of (or we cannot): logged and skipped.
      this.log.warn("WhatsApp message skipped", { id: m.key.id, type, err: String(err) });
    }
  }

  /** The JID a poll's key derivation names for the author of `key` (baileys' getKeyAuthor). */
  private authorJid(key: WAMessageKey): string {
    const b = baileys();
    return key.fromMe
      ? jidOfUser(this.ownNumber)
      : b.jidNormalizedUser(key.participant || key.remoteJid || "");
  }

  /** A received poll: its key is kept, so that votes in it can be read. */
  private rememberReceivedPoll(m: WAMessage): void {
    const content = unwrap(m.message);
    const secret = m.message?.messageContextInfo ?? content?.messageContextInfo;
    const rec =
      content &&
      m.key.id &&
      receivedPollRecord({ ...content, messageContextInfo: secret }, this.authorJid(m.key));
    if (!rec || !m.key.id) return;
    const id = m.key.id;
    this.chain = this.chain
      .then(() => rememberPoll(this.ctx.store, id, rec))
      .catch((err: unknown) => this.log.warn("poll key not kept", { id, err: String(err) }));
  }

  /** A vote: decrypted with the poll's key, then emitted in order; one that cannot be read is dropped, logged. */
  private vote(ev: RemotePollVote, m: WAMessage): void {
    const update = unwrap(m.message)?.pollUpdateMessage;
    this.chain = this.chain
      .then(async () => {
        const rec = update ? await recallPoll(this.ctx.store, ev.target) : undefined;
        if (!update || !rec) {
          this.log.info("vote in a poll the bridge does not know skipped", { poll: ev.target });
          return;
        }
        const answers = decryptVote(update, ev.target, rec, this.authorJid(m.key));
        if (typeof answers === "string") {
          this.log.warn(`WhatsApp ${answers}; dropped`, { poll: ev.target, id: m.key.id });
          return;
        }
        await this.ctx.emit(this.login, { ...ev, answers });
      })
      .catch((err: unknown) => this.log.error("event not queued", { kind: ev.kind, err: String(err) }));
  }

  private readonly reactionKeys = new Map<string, string>();
  private readonly timers = new ChatTimers();

  /** WhatsApp removes a reaction by sending an empty one: the core needs the old key. */
  private withReactionKey(ev: RemoteEvent): RemoteEvent {
    if (ev.kind !== "reaction" && ev.kind !== "reaction-remove") return ev;
    const k = `${ev.chat.id}|${ev.target}|${ev.sender.id}`;
    if (ev.kind === "reaction") {
      this.reactionKeys.set(k, ev.key);
      void this.ctx.store.kvSet(`react:${k}`, ev.key).catch(() => undefined);
      return ev;
    }
    const known = this.reactionKeys.get(k);
    this.reactionKeys.delete(k);
    return { ...ev, key: known ?? ev.key };
  }

  private connected(): WASocket {
    const sock = this.sock;
    if (!sock || this.conn.get() !== ConnectionState.Connected)
      throw new BridgeError(`WhatsApp is not connected (${this.conn.get().toLowerCase()})`, undefined, true);
    return sock;
  }

  /** A chat's messages from the history sync of this device's linking, oldest first. */
  async history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]> {
    return this.synced.recentStored(this.ctx.store, chat.id, limit);
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
      return { kind: "dm", name: this.names.get(id), members: [{ id }] };
    }
    const meta = await this.connected().groupMetadata(jid);
    const seconds = ephemeralSeconds(meta.ephemeralDuration);
    const timer = seconds
      ? this.timers.changed(chat.id, seconds, { id: this.ownNumber }, Date.now())
      : undefined;
    if (timer) this.emit(timer); // after the event that asked (it makes the portal)
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
    const name = this.names.get(user.id) ?? (own ? this.auth?.state.creds.me?.name : undefined);
    return { displayName: name || `+${user.id.replace(/@lid$/, "")}`, avatar };
  }

  /** WhatsApp says only that a group's picture changed: its new URL is asked for. */
  private groupPictureChanged(jid: string): void {
    void this.pictureOf(jid).then((avatar) => {
      if (avatar)
        this.emit({
          kind: "chat-info",
          chat: { id: jid },
          sender: { id: this.ownNumber },
          timestamp: Date.now(),
          info: { avatar },
        });
    });
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
    const jid = this.jidFor(chat);
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

  /**
   * The JID to write to. A direct chat belongs to one account: a portal of someone else's
   * account (its owner logged out) is never written to from this one.
   */
  private jidFor(chat: RemoteChatRef): string {
    const owner = ownerNumberOfChat(chat.id);
    if (owner !== undefined && owner !== this.ownNumber)
      throw new BridgeError(
        `this chat belongs to another WhatsApp account (+${owner}), which is not logged in`,
      );
    return jidOfChat(chat.id);
  }

  /** The relay prefix for `sender`, "" for the owner; throws when the sender may not write here. */
  private async prefixFor(chatId: string, sender: MatrixSender): Promise<string> {
    if (sender.mxid === this.login.ownerMxid) return "";
    if ((await this.ctx.store.kvGet(relayKey(chatId))) === "on")
      return this.cfg.relayTemplate.replace(/\{name\}/g, sender.displayName);
    throw new BridgeError(
      `only ${this.login.ownerMxid} writes through this WhatsApp account (relaying is off in this chat; they can turn it on with \`relay on\`)`,
    );
  }

  async setRelay(chat: RemoteChatRef, on: boolean): Promise<void> {
    await this.ctx.store.kvSet(relayKey(chat.id), on ? "on" : "off");
  }

  async relayEnabled(chat: RemoteChatRef): Promise<boolean> {
    return (await this.ctx.store.kvGet(relayKey(chat.id))) === "on";
  }

  private keyOf(jid: string, id: string): WAMessageKey {
    const known = this.messages.get(id)?.key;
    return known ? { ...known } : { remoteJid: jid, id, fromMe: this.sent.has(id) };
  }

  /**
   * Sends with an id chosen here, remembered before baileys emits the echo of the message
   * (during `sendMessage`), so that the echo is known as the bridge's own.
   */
  private async send(
    sock: WASocket,
    jid: string,
    content: AnyMessageContent,
    quoted?: WAMessage,
    /** The Matrix event relayed: its id is derived from it, the same after a restart. */
    eventId?: string,
    /** Disappearing messages: the chat's timer, in seconds. */
    ephemeralExpiration?: number,
  ): Promise<string> {
    const id = eventId ? messageIdFor(eventId) : baileys().generateMessageIDV2(sock.user?.id);
    this.sent.set(id, true);
    const what =
      "edit" in content
        ? "edit"
        : "delete" in content
          ? "deletion"
          : "react" in content
            ? "reaction"
            : "message";
    let first = true;
    await this.acks.deliver(id, what, async () => {
      // A retry goes out on the socket of the moment (the first may have dropped).
      const current = first ? sock : this.connected();
      first = false;
      const res = await current.sendMessage(jid, content, {
        messageId: id,
        ...(quoted ? { quoted } : {}),
        ...(ephemeralExpiration ? { ephemeralExpiration } : {}),
      });
      if (res) this.messages.set(id, res);
    });
    return id;
  }

  async sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const jid = this.jidFor(chat);
    const prefix = await this.prefixFor(chat.id, msg.sender);
    const sock = this.connected();
    const quoted = msg.replyTo
      ? (this.messages.get(msg.replyTo) ?? {
          key: this.keyOf(jid, msg.replyTo),
          message: { conversation: "" },
        })
      : undefined;
    const poll = msg.poll && !msg.attachment ? await this.pollContent(msg, prefix) : undefined;
    // An image over WhatsApp's media limit is downscaled (WhatsApp recompresses images anyway).
    const fitted = msg.attachment
      ? { ...msg, attachment: await fitImage(msg.attachment, IMAGE_LIMITS) }
      : msg;
    const content = poll ?? outboundContent(fitted, prefix, this.numberOf);
    const timer = msg.expiresInSeconds;
    const id = await this.send(sock, jid, content, quoted, msg.eventId, timer);
    const sent: SentRef = { ids: [id], timestamp: Date.now() };
    if (timer && this.cfg.disappearingRedact) sent.expiresInSeconds = timer;
    return sent;
  }

  /**
   * A Matrix poll as a native one, its key kept first (votes can come at once); undefined when
   * it does not fit WhatsApp (then it goes as text). A repeated send keeps the first key.
   */
  private async pollContent(msg: OutboundMessage, prefix: string): Promise<AnyMessageContent | undefined> {
    const poll = msg.poll;
    if (!poll || !msg.eventId) return undefined;
    const id = messageIdFor(msg.eventId);
    const earlier = msg.again ? await recallPoll(this.ctx.store, id) : undefined;
    const native = whatsappPoll(
      poll,
      `${prefix}${poll.question}`,
      earlier ? Buffer.from(earlier.secret, "base64") : undefined,
    );
    if (!native) return undefined;
    await rememberPoll(
      this.ctx.store,
      id,
      pollRecord(native.secret, jidOfUser(this.ownNumber), poll.answers),
    );
    return native.content;
  }

  /**
   * The owner's vote from Matrix as their own WhatsApp vote (a pollUpdateMessage encrypted with
   * the poll's key). Others' votes stay in Matrix: the account votes only for its owner.
   */
  async votePoll(
    chat: RemoteChatRef,
    vote: { target: string; answers: string[]; sender: MatrixSender; eventId: string },
  ): Promise<void> {
    if (vote.sender.mxid !== this.login.ownerMxid) return;
    const rec = await recallPoll(this.ctx.store, vote.target);
    if (!rec) {
      this.log.info("vote in a poll the bridge has no key for not sent", { poll: vote.target });
      return;
    }
    const jid = this.jidFor(chat);
    const me = jidOfUser(this.ownNumber);
    const mine = rec.creator === me;
    const pollKey = {
      remoteJid: jid,
      id: vote.target,
      fromMe: mine,
      ...(isGroupJid(jid) && !mine ? { participant: rec.creator } : {}),
    };
    const message = encryptVote(rec, pollKey, me, vote.answers);
    if (!message) {
      this.log.info("vote for answers the poll does not have not sent", { poll: vote.target });
      return;
    }
    const id = messageIdFor(vote.eventId);
    this.sent.set(id, true);
    await this.acks.deliver(id, "vote", async () => {
      await this.connected().relayMessage(jid, message, { messageId: id });
    });
  }

  /** The phone number behind a WhatsApp user's ghost (mention pills); undefined for a privacy id or anyone else. */
  private readonly numberOf = (mxid: string): string | undefined => {
    const id = this.ctx.remoteUserIdOf(mxid);
    return id && /^\d{5,20}$/.test(id) ? id : undefined;
  };

  async editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const prefix = await this.prefixFor(chat.id, msg.sender);
    const jid = this.jidFor(chat);
    const { text, mentions } = outboundText(msg, prefix, this.numberOf);
    await this.send(this.connected(), jid, {
      text,
      edit: this.keyOf(jid, remoteId),
      linkPreview: null,
      ...(mentions.length ? { mentions } : {}),
    });
  }

  async sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    if (sender.mxid !== this.login.ownerMxid) return; // a reaction carries no name: only the owner's go out
    const jid = this.jidFor(chat);
    await this.send(this.connected(), jid, { react: { text: key, key: this.keyOf(jid, target) } });
  }

  async removeReaction(
    chat: RemoteChatRef,
    target: string,
    _key: string,
    sender: MatrixSender,
  ): Promise<void> {
    if (sender.mxid !== this.login.ownerMxid) return;
    const jid = this.jidFor(chat);
    await this.send(this.connected(), jid, { react: { text: "", key: this.keyOf(jid, target) } });
  }

  async deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    const jid = this.jidFor(chat);
    await this.send(this.connected(), jid, { delete: this.keyOf(jid, remoteId) });
  }

  /** WhatsApp shows the account as typing: only the owner's own typing counts. */
  async setTyping(chat: RemoteChatRef, _typing: boolean, who?: readonly string[]): Promise<void> {
    const owner = who ? who.includes(this.login.ownerMxid) : _typing;
    if (owner === this.ownerTyping.get(chat.id)) return;
    this.ownerTyping.set(chat.id, owner);
    await this.connected().sendPresenceUpdate(owner ? "composing" : "paused", this.jidFor(chat));
  }

  private readonly ownerTyping = new Map<string, boolean>();

  /** Blue ticks only for what the owner read. */
  async markRead(chat: RemoteChatRef, upTo: string, who?: readonly string[]): Promise<void> {
    if (who && !who.includes(this.login.ownerMxid)) return;
    const jid = this.jidFor(chat);
    await this.connected().readMessages([this.keyOf(jid, upTo)]);
  }

  /** The chat id of a JID for this account (tests and commands). */
  chatIdOf(jid: string): string {
    return chatIdOf(this.ownNumber, jid);
  }
}
