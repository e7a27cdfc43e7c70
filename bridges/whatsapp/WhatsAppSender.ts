/**
 * Everything one WhatsApp login sends for Matrix users (messages, polls and votes, edits,
 * reactions, deletions, typing, read receipts), each with an id chosen here and a server ack.
 *
 * Safety rule: the bridge sends only what a Matrix user wrote. Messages of anyone but the
 * login's owner go out only when the owner turned relaying on for that chat, with the
 * sender's name in front; the bridge's own notices never go to WhatsApp.
 */
import type { AnyMessageContent, WAMessage, WAMessageKey, WASocket } from "@whiskeysockets/baileys";
import type { BoundedMap } from "../../src/core/Bounded";
import type {
  ConnectorContext,
  LoginRef,
  MatrixSender,
  OutboundMessage,
  RemoteChatRef,
  SentRef,
} from "../../src/core/connector";
import { fitImage } from "../../src/core/downscale";
import { BridgeError } from "../../src/core/errors";
import type { Logger } from "../../src/log/Logger";
import { messageIdFor, type ServerAcks } from "./acks";
import { baileys } from "./baileys";
import type { WhatsAppConfig } from "./config";
import { isGroupJid, jidOfChat, jidOfUser, ownerNumberOfChat } from "./jids";
import { IMAGE_LIMITS, outboundContent, outboundText } from "./outbound";
import { encryptVote, pollRecord, recallPoll, rememberPoll, whatsappPoll } from "./polls";

/** kv key: relaying for Matrix users without a login is on for this chat. */
export const relayKey = (chatId: string) => `relay:${chatId}`;

/** What the sender shares with its client. */
export interface SenderOptions {
  ctx: ConnectorContext;
  login: LoginRef;
  cfg: WhatsAppConfig;
  log: Logger;
  acks: ServerAcks;
  /** Ids of messages the bridge sent, remembered before their echo comes back. */
  sent: BoundedMap<string, true>;
  /** Recent messages by id: quotes and the keys of edits, reactions and deletions. */
  messages: BoundedMap<string, WAMessage>;
  /** The account's phone number as known at the moment. */
  ownNumber(): string;
  /** The socket when connected; throws a retryable BridgeError when not. */
  connected(): WASocket;
}

export class WhatsAppSender {
  constructor(private readonly opts: SenderOptions) {}

  /**
   * The JID to write to. A direct chat belongs to one account: a portal of someone else's
   * account (its owner logged out) is never written to from this one.
   */
  jidFor(chat: RemoteChatRef): string {
    const owner = ownerNumberOfChat(chat.id);
    if (owner !== undefined && owner !== this.opts.ownNumber())
      throw new BridgeError(
        `this chat belongs to another WhatsApp account (+${owner}), which is not logged in`,
      );
    return jidOfChat(chat.id);
  }

  /** The relay prefix for `sender`, "" for the owner; throws when the sender may not write here. */
  private async prefixFor(chatId: string, sender: MatrixSender): Promise<string> {
    if (sender.mxid === this.opts.login.ownerMxid) return "";
    if ((await this.opts.ctx.store.kvGet(relayKey(chatId))) === "on")
      return this.opts.cfg.relayTemplate.replace(/\{name\}/g, sender.displayName);
    throw new BridgeError(
      `only ${this.opts.login.ownerMxid} writes through this WhatsApp account (relaying is off in this chat; they can turn it on with \`relay on\`)`,
    );
  }

  async setRelay(chat: RemoteChatRef, on: boolean): Promise<void> {
    await this.opts.ctx.store.kvSet(relayKey(chat.id), on ? "on" : "off");
  }

  async relayEnabled(chat: RemoteChatRef): Promise<boolean> {
    return (await this.opts.ctx.store.kvGet(relayKey(chat.id))) === "on";
  }

  private keyOf(jid: string, id: string): WAMessageKey {
    const known = this.opts.messages.get(id)?.key;
    return known ? { ...known } : { remoteJid: jid, id, fromMe: this.opts.sent.has(id) };
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
    this.opts.sent.set(id, true);
    const what =
      "edit" in content
        ? "edit"
        : "delete" in content
          ? "deletion"
          : "react" in content
            ? "reaction"
            : "message";
    let first = true;
    await this.opts.acks.deliver(id, what, async () => {
      // A retry goes out on the socket of the moment (the first may have dropped).
      const current = first ? sock : this.opts.connected();
      first = false;
      const res = await current.sendMessage(jid, content, {
        messageId: id,
        ...(quoted ? { quoted } : {}),
        ...(ephemeralExpiration ? { ephemeralExpiration } : {}),
      });
      if (res) this.opts.messages.set(id, res);
    });
    return id;
  }

  async sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const jid = this.jidFor(chat);
    const prefix = await this.prefixFor(chat.id, msg.sender);
    const sock = this.opts.connected();
    const quoted = msg.replyTo
      ? (this.opts.messages.get(msg.replyTo) ?? {
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
    if (timer && this.opts.cfg.disappearingRedact) sent.expiresInSeconds = timer;
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
    const earlier = msg.again ? await recallPoll(this.opts.ctx.store, id) : undefined;
    const native = whatsappPoll(
      poll,
      `${prefix}${poll.question}`,
      earlier ? Buffer.from(earlier.secret, "base64") : undefined,
    );
    if (!native) return undefined;
    await rememberPoll(
      this.opts.ctx.store,
      id,
      pollRecord(native.secret, jidOfUser(this.opts.ownNumber()), poll.answers),
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
    if (vote.sender.mxid !== this.opts.login.ownerMxid) return;
    const rec = await recallPoll(this.opts.ctx.store, vote.target);
    if (!rec) {
      this.opts.log.info("vote in a poll the bridge has no key for not sent", { poll: vote.target });
      return;
    }
    const jid = this.jidFor(chat);
    const me = jidOfUser(this.opts.ownNumber());
    const mine = rec.creator === me;
    const pollKey = {
      remoteJid: jid,
      id: vote.target,
      fromMe: mine,
      ...(isGroupJid(jid) && !mine ? { participant: rec.creator } : {}),
    };
    const message = encryptVote(rec, pollKey, me, vote.answers);
    if (!message) {
      this.opts.log.info("vote for answers the poll does not have not sent", { poll: vote.target });
      return;
    }
    const id = messageIdFor(vote.eventId);
    this.opts.sent.set(id, true);
    await this.opts.acks.deliver(id, "vote", async () => {
      await this.opts.connected().relayMessage(jid, message, { messageId: id });
    });
  }

  /** The phone number behind a WhatsApp user's ghost (mention pills); undefined for a privacy id or anyone else. */
  private readonly numberOf = (mxid: string): string | undefined => {
    const id = this.opts.ctx.remoteUserIdOf(mxid);
    return id && /^\d{5,20}$/.test(id) ? id : undefined;
  };

  async editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const prefix = await this.prefixFor(chat.id, msg.sender);
    const jid = this.jidFor(chat);
    const { text, mentions } = outboundText(msg, prefix, this.numberOf);
    await this.send(this.opts.connected(), jid, {
      text,
      edit: this.keyOf(jid, remoteId),
      linkPreview: null,
      ...(mentions.length ? { mentions } : {}),
    });
  }

  async sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    if (sender.mxid !== this.opts.login.ownerMxid) return; // a reaction carries no name: only the owner's go out
    const jid = this.jidFor(chat);
    await this.send(this.opts.connected(), jid, { react: { text: key, key: this.keyOf(jid, target) } });
  }

  async removeReaction(
    chat: RemoteChatRef,
    target: string,
    _key: string,
    sender: MatrixSender,
  ): Promise<void> {
    if (sender.mxid !== this.opts.login.ownerMxid) return;
    const jid = this.jidFor(chat);
    await this.send(this.opts.connected(), jid, { react: { text: "", key: this.keyOf(jid, target) } });
  }

  async deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void> {
    const jid = this.jidFor(chat);
    await this.send(this.opts.connected(), jid, { delete: this.keyOf(jid, remoteId) });
  }

  /** WhatsApp shows the account as typing: only the owner's own typing counts. */
  async setTyping(chat: RemoteChatRef, _typing: boolean, who?: readonly string[]): Promise<void> {
    const owner = who ? who.includes(this.opts.login.ownerMxid) : _typing;
    if (owner === this.ownerTyping.get(chat.id)) return;
    this.ownerTyping.set(chat.id, owner);
    await this.opts.connected().sendPresenceUpdate(owner ? "composing" : "paused", this.jidFor(chat));
  }

  private readonly ownerTyping = new Map<string, boolean>();

  /** Blue ticks only for what the owner read. */
  async markRead(chat: RemoteChatRef, upTo: string, who?: readonly string[]): Promise<void> {
    if (who && !who.includes(this.opts.login.ownerMxid)) return;
    const jid = this.jidFor(chat);
    await this.opts.connected().readMessages([this.keyOf(jid, upTo)]);
  }
}
