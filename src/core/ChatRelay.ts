import { Logger } from "../log/Logger";
import { isLive } from "../matrix/live";
import type { RoomEvent } from "../matrix/MatrixApi";
import type { Portal, QueueItem } from "../store/types";
import { BoundedMap } from "./Bounded";
import {
  canEdit,
  canMarkRead,
  canModerate,
  canReact,
  canRedact,
  canSetChatInfo,
  canType,
  type MatrixSender,
  type NetworkClient,
  type OutboundAttachment,
  type OutboundMessage,
  type RemoteChatRef,
  type SentRef,
} from "./connector";
import { userText } from "./errors";
import { parseGeoUri } from "./geo";
import { txnIdFor } from "./InboundBridge";
import type { OutboundOptions } from "./OutboundBridge";
import { orderKeyOf } from "./orderKey";
import { outboundPollOf, relayPollEvent } from "./polls";
import { POLL_START, POLL_START_TYPES, pollText } from "./richContent";

const log = new Logger("ChatRelay");

type Content = Record<string, unknown>;

const MEDIA_KINDS: Record<string, OutboundAttachment["kind"]> = {
  "m.image": "image",
  "m.video": "video",
  "m.audio": "audio",
  "m.file": "file",
};

/** The remote chat of a portal (a thread bridged as its own room is `<chat>/<thread>`). */
export function chatRefOf(portal: Pick<Portal, "chatId">): RemoteChatRef {
  const slash = portal.chatId.indexOf("/");
  return slash < 0
    ? { id: portal.chatId }
    : { id: portal.chatId.slice(0, slash), threadId: portal.chatId.slice(slash + 1) };
}

/**
 * What each kind of Matrix event does on one linked chat (a message, an edit, a reaction, a
 * redaction, a membership or chat detail change), and the best-effort typing and read
 * receipts; {@link OutboundBridge} decides which chats get an event and when.
 */
export class ChatRelay {
  private readonly profiles = new BoundedMap<string, MatrixSender>(10_000);
  /**
   * Messages the platform took whose ids could not be stored (the database failed after the
   * send): the retry stores these ids instead of sending the message a second time.
   */
  private readonly unrecorded = new Map<string, { sent: SentRef; threadRoot?: string }>();
  /** Who is typing in each room (sorted, newline-joined), to send only changes. */
  private readonly typingRooms = new Map<string, string>();

  constructor(private readonly opts: OutboundOptions) {}

  /** A member's name or avatar changed: it is read again at their next message. */
  forgetProfile(roomId: string, mxid: string | undefined): void {
    this.profiles.delete(`${roomId}|${mxid}`);
  }

  /** Tells the room, as the bridge bot, replying to `eventId`. */
  async notice(roomId: string, text: string, eventId?: string): Promise<void> {
    const content: Content = { msgtype: "m.notice", body: text };
    if (eventId) content["m.relates_to"] = { "m.in_reply_to": { event_id: eventId } };
    await this.opts.bot.sendEvent(
      roomId,
      "m.room.message",
      content,
      txnIdFor("notice", roomId, eventId ?? Date.now(), text),
    );
  }

  /**
   * A Matrix user did something the portal's platform cannot do (the client lacks that
   * capability interface): say so in the room once per feature, then only log. Nothing is
   * retried: the event is done.
   */
  async cannot(portal: Portal, ev: RoomEvent, feature: string, text: string): Promise<void> {
    const key = `${ev.room_id} ${portal.platform} ${feature}`;
    if (await this.opts.store.kvGet("told-unsupported", key)) {
      log.debug("not supported by the platform", { platform: portal.platform, room: ev.room_id, feature });
      return;
    }
    await this.notice(ev.room_id, text, ev.event_id);
    await this.opts.store.kvSet("told-unsupported", key, String(ev.origin_server_ts));
  }

  async relay(
    portal: Portal,
    client: NetworkClient,
    ev: RoomEvent,
    again: boolean,
    /** The queue item, when recording the message's ids is the last step of its delivery. */
    item?: QueueItem,
  ): Promise<void> {
    const chat = chatRefOf(portal);
    const c = ev.content as Content;
    const relates = (c["m.relates_to"] ?? {}) as Content;
    switch (ev.type) {
      case "m.room.message":
      case "m.sticker":
        if (relates.rel_type === "m.replace") {
          // A streamed answer's intermediate edits stay in Matrix; its final edit goes out.
          if (isLive(c)) return;
          return this.edit(portal, client, chat, ev, relates);
        }
        return this.message(portal, client, chat, ev, again, item);
      case POLL_START:
      case "m.poll.start":
        return this.message(portal, client, chat, ev, again, item);
      case "org.matrix.msc3381.poll.end":
      case "m.poll.end":
      case "org.matrix.msc3381.poll.response":
      case "m.poll.response":
        return relayPollEvent(client, chat, ev, {
          rowOf: async (eventId) =>
            (await this.opts.store.getMessagesByEvent(eventId)).find(
              (r) => r.platform === portal.platform && r.chatId === portal.chatId,
            ),
          sender: () => this.sender(ev),
        });
      case "m.reaction":
        return this.reaction(portal, client, chat, ev, relates);
      case "m.room.redaction":
        return this.redaction(portal, client, chat, ev);
      case "m.room.member":
        return this.membership(portal, client, chat, ev);
      case "m.room.name":
      case "m.room.topic":
      case "m.room.avatar":
        return this.chatInfo(portal, client, chat, ev);
      default:
        return;
    }
  }

  private async sender(ev: RoomEvent): Promise<MatrixSender> {
    const key = `${ev.room_id}|${ev.sender}`;
    const cached = this.profiles.get(key);
    if (cached) return cached;
    const member = await this.opts.bot.getState<{ displayname?: string; avatar_url?: string }>(
      ev.room_id,
      "m.room.member",
      ev.sender,
    );
    const mxc = member?.avatar_url;
    const m = mxc ? /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc) : null;
    const base = this.opts.config.homeserver.url.replace(/\/+$/, "");
    const { mediaUrl } = this.opts;
    const sender: MatrixSender = {
      mxid: ev.sender,
      displayName: member?.displayname || ev.sender.slice(1, ev.sender.indexOf(":")),
      avatarUrl: !m
        ? undefined
        : mediaUrl
          ? mediaUrl(mxc!)
          : `${base}/_matrix/media/v3/download/${m[1]}/${m[2]}`,
    };
    this.profiles.set(key, sender);
    return sender;
  }

  private async remoteIdOf(portal: Portal, eventId: string): Promise<string | undefined> {
    const rows = await this.opts.store.getMessagesByEvent(eventId);
    return rows.find((r) => r.platform === portal.platform && r.chatId === portal.chatId)?.remoteId;
  }

  private async build(portal: Portal, ev: RoomEvent, c: Content): Promise<OutboundMessage> {
    const msgtype =
      typeof c.msgtype === "string" ? c.msgtype : ev.type === "m.sticker" ? "m.sticker" : "m.text";
    const relates = (c["m.relates_to"] ?? {}) as Content;
    const replyId = ((relates["m.in_reply_to"] ?? {}) as Content).event_id;
    const msg: OutboundMessage = {
      sender: await this.sender(ev),
      text: POLL_START_TYPES.has(ev.type) ? pollText(c) : typeof c.body === "string" ? c.body : "",
      msgtype: msgtype === "m.emote" ? "emote" : msgtype === "m.notice" ? "notice" : "text",
    };
    if (c.format === "org.matrix.custom.html" && typeof c.formatted_body === "string")
      msg.html = c.formatted_body;
    if (relates.rel_type === "m.thread" && typeof relates.event_id === "string") {
      msg.threadRoot = await this.remoteIdOf(portal, relates.event_id);
    }
    if (typeof replyId === "string" && !(relates.rel_type === "m.thread" && relates.is_falling_back)) {
      msg.replyTo = await this.remoteIdOf(portal, replyId);
    }
    if (POLL_START_TYPES.has(ev.type)) {
      const poll = outboundPollOf(c);
      if (poll) msg.poll = poll;
      else
        log.info("poll start without a readable question and answers sent as text", { event: ev.event_id });
    }
    if (msgtype === "m.location") {
      // A geo URI that does not read goes out as its body, as text.
      const point = parseGeoUri(c.geo_uri);
      if (point) msg.location = point;
      else log.info("m.location with an unreadable geo_uri sent as text", { event: ev.event_id });
    }
    const kind = ev.type === "m.sticker" ? "sticker" : MEDIA_KINDS[msgtype];
    if (kind && (typeof c.url === "string" || typeof c.file === "object")) {
      const { data, contentType } = await this.opts.api.downloadMedia(c);
      const info = (c.info ?? {}) as Content;
      msg.attachment = {
        kind,
        media: {
          data,
          mimetype: typeof info.mimetype === "string" ? info.mimetype : contentType,
          name: typeof c.filename === "string" ? c.filename : msg.text || "file",
        },
        width: typeof info.w === "number" ? info.w : undefined,
        height: typeof info.h === "number" ? info.h : undefined,
        durationMs: typeof info.duration === "number" ? info.duration : undefined,
        voice: c["org.matrix.msc3245.voice"] !== undefined || undefined,
      };
      const audio = c["org.matrix.msc1767.audio"] as Content | undefined;
      if (msg.attachment.durationMs === undefined && typeof audio?.duration === "number")
        msg.attachment.durationMs = audio.duration;
      if (Array.isArray(audio?.waveform))
        msg.attachment.waveform = (audio.waveform as unknown[])
          .slice(0, 4096)
          .filter((n): n is number => typeof n === "number" && Number.isFinite(n));
      // The body of a media event is its caption only when a filename is given separately.
      if (typeof c.filename !== "string" || c.filename === c.body) msg.text = "";
    }
    return msg;
  }

  private async message(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
    /** A resumed or retried item: look up whether it was delivered already. */
    again: boolean,
    item?: QueueItem,
  ): Promise<void> {
    const { store, metrics } = this.opts;
    if (again && (await this.remoteIdOf(portal, ev.event_id))) return; // delivered before a restart or failure
    // Sent before, but its ids could not be stored (the database was down): store them, do not send again.
    const key = `${portal.platform}\n${portal.chatId}\n${ev.event_id}`;
    let done = this.unrecorded.get(key);
    if (!done) {
      const msg = await this.build(portal, ev, ev.content as Content);
      Object.assign(msg, { eventId: ev.event_id, eventTs: ev.origin_server_ts, again });
      const timer = await this.opts.disappearing?.timerOf(portal);
      if (timer) msg.expiresInSeconds = timer;
      done = { sent: await client.sendMessage(chat, msg), threadRoot: msg.threadRoot };
    }
    const { sent, threadRoot } = done;
    try {
      // Before the message-map row: a retry after a crash finds no row, and tracks it then.
      // (Another platform's ghost's message is that platform's, not to be deleted there.)
      if (sent.expiresInSeconds !== undefined && !this.opts.ghosts.isGhost(ev.sender))
        await this.opts.disappearing?.track(
          portal,
          ev.event_id,
          ev.sender,
          ev.origin_server_ts,
          sent.expiresInSeconds,
        );
      await store.insertMessages(
        sent.ids.map((remoteId, part) => ({
          platform: portal.platform,
          chatId: portal.chatId,
          remoteId,
          part,
          roomId: portal.roomId,
          eventId: ev.event_id,
          senderMxid: ev.sender,
          threadRoot,
          timestamp: new Date(sent.timestamp ?? ev.origin_server_ts),
          orderKey: orderKeyOf(client, remoteId),
        })),
        item,
      );
    } catch (err) {
      if (this.unrecorded.size >= 10_000) this.unrecorded.delete(this.unrecorded.keys().next().value!);
      this.unrecorded.set(key, done);
      throw err;
    }
    this.unrecorded.delete(key);
    metrics.events.inc({ platform: portal.platform, direction: "out" });
  }

  private async edit(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
    relates: Content,
  ): Promise<void> {
    if (typeof relates.event_id !== "string") return;
    const rows = await this.opts.store.getMessagesByEvent(relates.event_id);
    const row = rows.find((r) => r.platform === portal.platform && r.chatId === portal.chatId);
    if (!row) {
      log.info("edit of a message that was never bridged skipped", { room: ev.room_id, event: ev.event_id });
      return;
    }
    // Only its sender may edit a message (clients show others' edits as nothing; the platform
    // would show them as the original author's words).
    if (row.senderMxid !== ev.sender) {
      log.warn("edit of someone else's message ignored", {
        room: ev.room_id,
        event: ev.event_id,
        editor: ev.sender,
      });
      return;
    }
    const remoteId = row.remoteId;
    if (!canEdit(client)) {
      await this.cannot(
        portal,
        ev,
        "edits",
        `${portal.platform} does not support edits; edits here stay in Matrix.`,
      );
      return;
    }
    const newContent = ((ev.content as Content)["m.new_content"] ?? ev.content) as Content;
    await client.editMessage(chat, remoteId, await this.build(portal, ev, newContent));
    this.opts.metrics.events.inc({ platform: portal.platform, direction: "out" });
  }

  private async reaction(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
    relates: Content,
  ): Promise<void> {
    if (
      relates.rel_type !== "m.annotation" ||
      typeof relates.event_id !== "string" ||
      typeof relates.key !== "string"
    ) {
      return;
    }
    const target = await this.remoteIdOf(portal, relates.event_id);
    if (!target) return;
    if (!canReact(client)) {
      await this.cannot(
        portal,
        ev,
        "reactions",
        `${portal.platform} does not take reactions from the bridge; reactions here stay in Matrix.`,
      );
      return;
    }
    const { store } = this.opts;
    if (await store.getReactionByEvent(ev.event_id, portal)) return; // relayed to this chat before
    // An image reaction (MSC4027, a platform's custom emoji) goes out by its shortcode.
    const shortcode = (ev.content as Content)["com.beeper.reaction.shortcode"];
    const key = relates.key.startsWith("mxc://")
      ? typeof shortcode === "string"
        ? shortcode
        : undefined
      : relates.key;
    if (!key) return;
    await client.sendReaction(chat, target, key, await this.sender(ev));
    await store.insertReaction({
      platform: portal.platform,
      chatId: portal.chatId,
      targetRemoteId: target,
      sender: ev.sender,
      key,
      roomId: portal.roomId,
      eventId: ev.event_id,
      targetEventId: relates.event_id,
    });
    this.opts.metrics.events.inc({ platform: portal.platform, direction: "out" });
  }

  private async redaction(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
  ): Promise<void> {
    const { store } = this.opts;
    const redacts = ev.redacts ?? (ev.content as Content).redacts;
    if (typeof redacts !== "string") return;
    const reaction = await store.getReactionByEvent(redacts, portal);
    if (reaction) {
      if (canReact(client)) {
        await client.removeReaction(chat, reaction.targetRemoteId, reaction.key, await this.sender(ev));
        await store.deleteReactionByEvent(redacts, portal);
      }
      return;
    }
    const rows = (await store.getMessagesByEvent(redacts)).filter(
      (r) => r.platform === portal.platform && r.chatId === portal.chatId,
    );
    if (!rows.length) return;
    // A moderator removing someone else's message is a moderation action: audited. (The bot's
    // redactions mirror deletions made on a platform, or a purge that audits itself.)
    const audit = (ok: boolean, detail?: string) =>
      ev.sender === rows[0]!.senderMxid || ev.sender === this.opts.bot.userId
        ? undefined
        : this.opts.moderation?.mirrored({
            roomId: ev.room_id,
            action: "redact",
            actor: ev.sender,
            target: rows[0]!.senderMxid,
            reason: `${redacts}${typeof ev.content.reason === "string" ? `: ${ev.content.reason}` : ""}`,
            results: [{ where: `${portal.platform} ${portal.chatId}`, ok, ...(detail ? { detail } : {}) }],
          });
    if (!canRedact(client)) {
      await this.cannot(
        portal,
        ev,
        "deletes",
        `${portal.platform} does not let the bridge delete messages; deleted messages stay on ${portal.platform}.`,
      );
      await audit(false, `${portal.platform} does not let the bridge delete messages`);
      return;
    }
    for (const row of rows) await client.deleteMessage(chat, row.remoteId);
    await store.deleteMessagesByEvent(redacts, portal);
    this.opts.metrics.events.inc({ platform: portal.platform, direction: "out" });
    await audit(true);
  }

  /** A room name, topic or avatar set in Matrix changes the chat, where the platform lets the bridge. */
  private async chatInfo(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
  ): Promise<void> {
    if (ev.state_key !== "") return;
    const c = ev.content as Content;
    const what = ev.type === "m.room.name" ? "name" : ev.type === "m.room.topic" ? "topic" : "picture";
    const value = what === "name" ? c.name : what === "topic" ? c.topic : c.url;
    const current = what === "name" ? portal.name : what === "topic" ? portal.topic : portal.avatarKey;
    if (typeof value !== "string" || value === current) return;
    if (!canSetChatInfo(client)) {
      await this.cannot(
        portal,
        ev,
        "chat-info",
        `${portal.platform} does not let the bridge change the chat's name, topic or picture; changes here stay in Matrix.`,
      );
      return;
    }
    let change: Partial<Portal>;
    try {
      if (what === "name") {
        await client.setChatName(chat, value, ev.sender);
        change = { name: value };
      } else if (what === "topic") {
        await client.setChatTopic(chat, value, ev.sender);
        change = { topic: value };
      } else {
        const { data, contentType } = await this.opts.api.download(value);
        await client.setChatAvatar(chat, { data, mimetype: contentType, name: "avatar" }, ev.sender);
        change = { avatarKey: value };
      }
    } catch (err) {
      await this.notice(
        ev.room_id,
        `Could not change the ${what} on ${portal.platform}: ${userText(err)}.`,
        ev.event_id,
      );
      return;
    }
    await this.opts.portals.save({ ...portal, ...change });
  }

  /** A Matrix moderator kicking, banning or unbanning a ghost does the same on the platform, where allowed. */
  private async membership(
    portal: Portal,
    client: NetworkClient,
    chat: RemoteChatRef,
    ev: RoomEvent,
  ): Promise<void> {
    const target = ev.state_key;
    const membership = (ev.content as Content).membership;
    if (!target || target === ev.sender || !this.opts.ghosts.isGhost(target, portal.platform)) return;
    if (membership !== "leave" && membership !== "ban") return;
    const prev = (ev.unsigned?.prev_content as Content | undefined)?.membership;
    const action = membership === "ban" ? "ban" : prev === "ban" ? "unban" : "kick";
    // Only someone who was in the room can be kicked (a withdrawn invite is no kick).
    if (action === "kick" && prev !== undefined && prev !== "join") return;
    await this.opts.ghosts.forgetMembership(target, ev.room_id);
    const remote = { id: this.opts.ghosts.remoteIdOf(target) ?? "" };
    const reason =
      typeof (ev.content as Content).reason === "string"
        ? ((ev.content as Content).reason as string)
        : undefined;
    const audit = (ok: boolean, detail?: string) =>
      this.opts.moderation?.mirrored({
        roomId: ev.room_id,
        action,
        actor: ev.sender,
        target,
        reason,
        results: [{ where: `${portal.platform} ${portal.chatId}`, ok, ...(detail ? { detail } : {}) }],
      });
    if (!canModerate(client)) {
      await this.cannot(
        portal,
        ev,
        "moderation",
        `${portal.platform} does not let the bridge remove people; they are only removed in Matrix.`,
      );
      await audit(false, `${portal.platform} does not let the bridge remove people`);
      return;
    }
    try {
      if (action === "ban") await client.ban(chat, remote, reason);
      else if (action === "unban") await client.unban(chat, remote);
      else await client.kick(chat, remote, reason);
      await audit(true);
    } catch (err) {
      await this.notice(ev.room_id, `Could not ${action} them on ${portal.platform}: ${userText(err)}.`);
      await audit(false, userText(err));
    }
  }

  /** Typing from Matrix users, relayed where the platform shows it. Best effort, not queued. */
  async typing(roomId: string, userIds: string[]): Promise<void> {
    const portals = await this.opts.portals.forRoom(roomId);
    if (!portals.length) return;
    const who = userIds.filter((u) => u !== this.opts.bot.userId && !this.opts.ghosts.isGhost(u)).sort();
    const key = who.join("\n");
    if (key === (this.typingRooms.get(roomId) ?? "")) return;
    this.typingRooms.set(roomId, key);
    for (const portal of portals) {
      const entry = this.opts.registry.client(portal.loginId);
      if (entry && canType(entry.client)) {
        await entry.client.setTyping(chatRefOf(portal), who.length > 0, who).catch((err: unknown) => {
          log.debug("typing not relayed", { platform: portal.platform, err: String(err) });
        });
      }
    }
  }

  /** Read receipts of Matrix users, relayed where the platform shows them. Best effort, not queued. */
  async receipt(roomId: string, eventId: string, userIds: string[]): Promise<void> {
    const who = userIds.filter((u) => u !== this.opts.bot.userId && !this.opts.ghosts.isGhost(u));
    if (!who.length) return;
    for (const portal of await this.opts.portals.forRoom(roomId)) {
      const entry = this.opts.registry.client(portal.loginId);
      if (!entry || !canMarkRead(entry.client)) continue;
      const remoteId = await this.remoteIdOf(portal, eventId);
      if (!remoteId) continue;
      await entry.client.markRead(chatRefOf(portal), remoteId, who).catch((err: unknown) => {
        log.debug("read receipt not relayed", { platform: portal.platform, err: String(err) });
      });
    }
  }
}
