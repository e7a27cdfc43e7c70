/**
 * What one WhatsApp login's socket reports, turned into RemoteEvents for the core and emitted in
 * order: messages, votes, reactions, receipts, typing, group and contact changes, history sync.
 */
import type { WAMessage, WAMessageKey, WASocket } from "@whiskeysockets/baileys";
import type { BoundedMap } from "../../src/core/Bounded";
import type {
  ConnectorContext,
  LoginRef,
  MediaRef,
  RemoteEvent,
  RemotePollVote,
  UserInfo,
} from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";
import { baileys } from "./baileys";
import { ChatTimers } from "./chatTimers";
import type { WhatsAppConfig } from "./config";
import { SyncedHistory } from "./historySync";
import { mapMessage, mediaOf, messageTimer, unwrap } from "./inbound";
import { isGroupJid, jidOfUser, userIdOf } from "./jids";
import { decryptVote, recallPoll, receivedPollRecord, rememberPoll } from "./polls";
import { mapSideEvents } from "./sideEvents";

/** What the receiver shares with its client. */
export interface ReceiverOptions {
  ctx: ConnectorContext;
  login: LoginRef;
  cfg: WhatsAppConfig;
  log: Logger;
  /** Ids of messages the bridge sent: their echoes are not bridged back. */
  sent: BoundedMap<string, true>;
  /** Recent messages by id: media to fetch, quotes, retries. */
  messages: BoundedMap<string, WAMessage>;
  /** The account's phone number as known at the moment. */
  ownNumber(): string;
  /** A user's or group's picture; undefined when there is none or it is hidden. */
  pictureOf(jid: string): Promise<MediaRef | undefined>;
}

export class WhatsAppReceiver {
  /** Contacts' names by user id, from contacts and pushNames. */
  readonly names = new Map<string, string>();
  /** The history the phone sent when this device was linked, for new portals' backfill. */
  readonly synced = new SyncedHistory();
  /** Each chat's disappearing-messages timer as last seen. */
  readonly timers = new ChatTimers();
  private readonly reactionKeys = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ReceiverOptions) {}

  /** Resolves once everything emitted so far has been handed to the core (or failed). */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Listens to a new socket's message, history, receipt, presence, group and contact events. */
  attach(sock: WASocket): void {
    const { messages, sent, log } = this.opts;
    sock.ev.on("messages.upsert", ({ messages, type }) => {
      for (const m of messages) this.received(m, type);
    });
    sock.ev.on("messaging-history.set", ({ messages: batch, syncType }) => {
      for (const m of batch) {
        const content = unwrap(m.message);
        if (m.key.id && content && mediaOf(content)) messages.set(m.key.id, m);
      }
      const added = this.synced.keep(
        { ownNumber: this.opts.ownNumber(), sentByBridge: (id) => sent.has(id) },
        batch,
      );
      log.info("WhatsApp history sync kept for new portals", { messages: added, syncType });
      this.chain = this.chain
        .then(() => this.synced.store(this.opts.ctx.store))
        .then(() => log.info("WhatsApp history sync stored", { messages: added }))
        .catch((err: unknown) => log.warn("WhatsApp history sync not stored", { err: String(err) }));
    });
    const side = (events: RemoteEvent[]) => {
      for (const ev of events) this.emit(ev);
    };
    const ctx = { ownNumber: this.opts.ownNumber(), sentByBridge: (id: string) => sent.has(id) };
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

  /** Emits in order; one failing emit does not stop the rest (the core logs and retries). */
  emit(ev: RemoteEvent): void {
    this.chain = this.chain
      .then(() => this.opts.ctx.emit(this.opts.login, ev))
      .catch((err: unknown) => this.opts.log.error("event not queued", { kind: ev.kind, err: String(err) }));
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
    void (c.imgUrl === "changed" ? this.opts.pictureOf(jid) : Promise.resolve(undefined)).then((avatar) => {
      const info: UserInfo = { displayName: renamed ? name : "" };
      if (avatar) info.avatar = avatar;
      if (c.imgUrl === "removed") info.avatarRemoved = true;
      this.emit({ kind: "profile", sender: { id }, timestamp: Date.now(), info });
    });
  }

  /** WhatsApp says only that a group's picture changed: its new URL is asked for. */
  private groupPictureChanged(jid: string): void {
    void this.opts.pictureOf(jid).then((avatar) => {
      if (avatar)
        this.emit({
          kind: "chat-info",
          chat: { id: jid },
          sender: { id: this.opts.ownNumber() },
          timestamp: Date.now(),
          info: { avatar },
        });
    });
  }

  private received(m: WAMessage, type: string): void {
    const { ctx, cfg, log, messages, sent } = this.opts;
    try {
      if (m.key.id) messages.set(m.key.id, m);
      if (m.pushName && !m.key.fromMe) {
        const remote = m.key.remoteJid ?? "";
        const who = isGroupJid(remote)
          ? (m.key.participantAlt ?? m.key.participant)
          : (m.key.remoteJidAlt ?? remote);
        if (who) this.names.set(userIdOf(who), m.pushName);
      }
      const mapper = {
        ownNumber: this.opts.ownNumber(),
        sentByBridge: (id: string) => sent.has(id),
        ghostUserId: (number: string) => ctx.ghostUserId(number),
        viewOnce: cfg.viewOnce,
        redactDisappearing: cfg.disappearingRedact,
        warn: (text: string, context: Record<string, unknown>) => log.warn(text, context),
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
      log.warn("WhatsApp message skipped", { id: m.key.id, type, err: String(err) });
    }
  }

  /** The JID a poll's key derivation names for the author of `key` (baileys' getKeyAuthor). */
  private authorJid(key: WAMessageKey): string {
    const b = baileys();
    return key.fromMe
      ? jidOfUser(this.opts.ownNumber())
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
      .then(() => rememberPoll(this.opts.ctx.store, id, rec))
      .catch((err: unknown) => this.opts.log.warn("poll key not kept", { id, err: String(err) }));
  }

  /** A vote: decrypted with the poll's key, then emitted in order; one that cannot be read is dropped, logged. */
  private vote(ev: RemotePollVote, m: WAMessage): void {
    const { ctx, log } = this.opts;
    const update = unwrap(m.message)?.pollUpdateMessage;
    this.chain = this.chain
      .then(async () => {
        const rec = update ? await recallPoll(ctx.store, ev.target) : undefined;
        if (!update || !rec) {
          log.info("vote in a poll the bridge does not know skipped", { poll: ev.target });
          return;
        }
        const answers = decryptVote(update, ev.target, rec, this.authorJid(m.key));
        if (typeof answers === "string") {
          log.warn(`WhatsApp ${answers}; dropped`, { poll: ev.target, id: m.key.id });
          return;
        }
        await ctx.emit(this.opts.login, { ...ev, answers });
      })
      .catch((err: unknown) => log.error("event not queued", { kind: ev.kind, err: String(err) }));
  }

  /** WhatsApp removes a reaction by sending an empty one: the core needs the old key. */
  private withReactionKey(ev: RemoteEvent): RemoteEvent {
    if (ev.kind !== "reaction" && ev.kind !== "reaction-remove") return ev;
    const k = `${ev.chat.id}|${ev.target}|${ev.sender.id}`;
    if (ev.kind === "reaction") {
      this.reactionKeys.set(k, ev.key);
      void this.opts.ctx.store.kvSet(`react:${k}`, ev.key).catch(() => undefined);
      return ev;
    }
    const known = this.reactionKeys.get(k);
    this.reactionKeys.delete(k);
    return { ...ev, key: known ?? ev.key };
  }
}
