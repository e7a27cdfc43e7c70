import { createHash } from "node:crypto";
import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi, RoomEvent, RoomEventContent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { MessageRow, Portal, QueueItem } from "../store/types";
import { type Backfill, type BackfillWake, isBackfillWake } from "./Backfill";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import type {
  LoginRef,
  MediaRef,
  NetworkClient,
  RemoteChatRef,
  RemoteEdit,
  RemoteEvent,
  RemoteMessage,
} from "./connector";
import type { Disappearing } from "./Disappearing";
import { BridgeError, retryHint, userText } from "./errors";
import type { GhostService } from "./GhostService";
import { fillInlineImages, inlineMxc, resolveInlineImages } from "./inlineImages";
import { type UploadedMedia, uploadMessageMedia } from "./media";
import { orderKeyOf } from "./orderKey";
import { chatKey, type PortalService } from "./PortalService";
import { deliverPollEvent } from "./polls";
import { locationContent, POLL_START, pollStartContent } from "./richContent";

const log = new Logger("InboundBridge");

/** Content key of a redaction the bridge made for a deletion on a platform: `{ platform, chat_id }`. */
export const DELETED_IN = "com.clawbridge.deleted_in";

/** Content key naming the remote message part an event bridges (`<remote id>#<part>`). */
export const REMOTE_MARKER = "com.clawbridge.remote_id";

/**
 * Content key of a message brought over from a chat's history when its portal was made (true):
 * it happened before the room existed, so nobody answers it (the AI leaves it for its context).
 */
export const BACKFILLED = "com.clawbridge.backfill";

/** What the durable queue holds for a remote event. */
export interface RemotePayload {
  platform: string;
  loginId: string;
  event: RemoteEvent;
}

/** A transaction id that is the same for every retry of one remote event part. */
export function txnIdFor(...parts: Array<string | number>): string {
  return `cb${createHash("sha256").update(parts.join("\u0000")).digest("base64url").slice(0, 32)}`;
}

function mediaMsgtype(ref: MediaRef): string {
  const m = ref.mimetype ?? "";
  if (m.startsWith("image/")) return "m.image";
  if (m.startsWith("video/")) return "m.video";
  if (m.startsWith("audio/")) return "m.audio";
  return "m.file";
}

/**
 * Platform → Matrix: takes queued remote events one chat at a time and turns them into
 * Matrix events sent by ghosts, recording every remote id ↔ event id pair.
 */
export class InboundBridge {
  constructor(
    private readonly opts: {
      store: Store;
      metrics: Metrics;
      registry: ConnectorRegistry;
      portals: PortalService;
      ghosts: GhostService;
      bot: Intent;
      api: MatrixApi;
      /** Moderation: a ghost banned from the room (where its platform could not ban it) is not let in. */
      moderation?: { isBanned(roomId: string, mxid: string): Promise<boolean> };
      /** Policy lists and flood brakes: true when the event is to be dropped, not bridged. */
      drop?(payload: RemotePayload): Promise<boolean>;
      /** History brought into new portals before their first live message. */
      backfill?: Backfill;
      /** Disappearing messages: timers of chats, expiries of their messages. */
      disappearing?: Disappearing;
    },
  ) {}

  /** A message, edit or reaction of a ghost banned from the portal's room: dropped, logged. */
  private async banned(portal: Portal, event: RemoteEvent): Promise<boolean> {
    if (!["message", "edit", "reaction", "poll-vote"].includes(event.kind)) return false;
    const mxid = this.opts.ghosts.mxidFor(portal.platform, event.sender.id);
    if (!(await this.opts.moderation?.isBanned(portal.roomId, mxid))) return false;
    log.info("event of a banned remote user dropped", { platform: portal.platform, kind: event.kind });
    return true;
  }

  /**
   * The queue key: one serial lane per remote chat, and for profile changes (which belong to
   * no chat) one per remote user, so a user's profile changes apply in order.
   */
  static queueKey(platform: string, event: RemoteEvent): string {
    if (!event.chat) return `profile:${platform}:${event.sender.id}`;
    return InboundBridge.laneOf(platform, event.chat);
  }

  /** The serial lane of a remote chat's events (and of its backfill). */
  static laneOf(platform: string, chat: RemoteChatRef): string {
    return `remote:${platform}:${chatKey(chat)}`;
  }

  async handle(item: QueueItem): Promise<void> {
    if (isBackfillWake(item.payload)) return this.backfillNow(item.payload);
    return this.deliver(item.payload as RemotePayload, item.attempts > 0, item);
  }

  /**
   * The due backfill of a portal made from Matrix, run in its chat's lane (see Backfill.soon):
   * all it brings over happened before the portal was made, except what the chat held since.
   */
  private async backfillNow(wake: BackfillWake): Promise<void> {
    const { platform, loginId, backfill } = wake;
    const entry = this.opts.registry.client(loginId);
    if (!entry) throw new BridgeError(`the ${platform} login is not connected`, undefined, true);
    const portal = await this.opts.portals.get(platform, chatKey(backfill.chat));
    if (!portal || !this.opts.backfill) return; // unlinked since: nothing to fill
    const { client } = entry;
    await this.opts.backfill.run(
      portal,
      client,
      { chat: backfill.chat, timestamp: backfill.since },
      (msg, how) => this.backfilled(portal, loginId, client, msg, how),
    );
  }

  /**
   * Delivers one remote event; typing and read receipts come here directly, unqueued.
   * `retried`: an earlier attempt failed, possibly after the homeserver stored the event.
   */
  async deliver(payload: RemotePayload, retried = false, item?: QueueItem): Promise<void> {
    const { platform, loginId, event } = payload;
    const entry = this.opts.registry.client(loginId);
    if (!entry) throw new BridgeError(`the ${platform} login is not connected`, undefined, true);
    // What the bridge's own account did coming back (a relayed message, edit, reaction or
    // deletion): it came from Matrix, so it goes nowhere.
    if (event.fromSelf) return;
    const { login, client } = entry;
    if (event.kind === "profile") {
      const known = await this.opts.ghosts.updateKnown(platform, client, event.sender, event.info);
      if (!known)
        log.debug("profile change of a user without a ghost skipped", { platform, user: event.sender.id });
      this.opts.metrics.events.inc({ platform, direction: "in" });
      return;
    }
    if (await this.opts.drop?.(payload)) return;
    if (event.kind === "message") {
      const portal = await this.opts.portals.ensure(platform, login, client, event.chat);
      if (!portal) return; // the chat was unlinked: not bridged until linked again
      await this.opts.backfill?.run(portal, client, event, (msg, how) =>
        this.backfilled(portal, loginId, client, msg, how),
      );
      if (await this.banned(portal, event)) return;
      await this.message(portal, client, event, retried, item);
      this.opts.metrics.events.inc({ platform, direction: "in" });
      return;
    }
    const portal = await this.opts.portals.get(platform, chatKey(event.chat));
    if (!portal) {
      log.info("event for a chat with no portal skipped", {
        platform,
        chat: event.chat.id,
        kind: event.kind,
      });
      return;
    }
    if (await this.banned(portal, event)) return;
    await this.other(portal, login, client, event, item);
    this.opts.metrics.events.inc({ platform, direction: "in" });
  }

  /**
   * One message of a new portal's history: bridged as a live one would be (dropped where a live
   * one would be), with the time it was sent on the platform as its origin_server_ts, and marked
   * {@link BACKFILLED} when it came before the message that made the portal.
   */
  private async backfilled(
    portal: Portal,
    loginId: string,
    client: NetworkClient,
    msg: RemoteMessage,
    how: { resumed: boolean; history: boolean },
  ): Promise<void> {
    if (await this.opts.drop?.({ platform: portal.platform, loginId, event: msg })) return;
    if (await this.banned(portal, msg)) return;
    const now = Date.now();
    const ts = Number.isSafeInteger(msg.timestamp) && msg.timestamp > 0 ? Math.min(msg.timestamp, now) : now;
    await this.message(portal, client, msg, how.resumed, undefined, { ts, history: how.history });
    this.opts.metrics.events.inc({ platform: portal.platform, direction: "in" });
  }

  private async ghost(portal: Portal, client: NetworkClient, event: RemoteEvent): Promise<Intent> {
    const intent = await this.opts.ghosts.ensure(portal.platform, client, event.sender, event.senderInfo);
    await this.opts.ghosts.join(intent, portal.roomId);
    return intent;
  }

  private async eventIdOf(portal: Portal, remoteId: string): Promise<string | undefined> {
    return (await this.rowsHere(portal, remoteId))[0]?.eventId;
  }

  /**
   * The bridged copies of a remote message in the portal's room. Copies in another room (bridged
   * there before the room was upgraded, or before the chat was linked elsewhere) are left alone:
   * an edit, reply or reaction here cannot point at them.
   */
  private async rowsHere(portal: Portal, remoteId: string): Promise<MessageRow[]> {
    const rows = await this.opts.store.getMessageByRemote(portal.platform, portal.chatId, remoteId);
    const here = rows.filter((r) => r.roomId === portal.roomId);
    if (here.length < rows.length)
      log.info("copies of a message in another room left alone", {
        platform: portal.platform,
        chat: portal.chatId,
        id: remoteId,
        room: portal.roomId,
      });
    return here;
  }

  /**
   * After a failed attempt, looks for the part among the ghost's recent events: a homeserver
   * that stored the event and then died before answering forgets the transaction id on restart,
   * so resending would duplicate it.
   */
  private async alreadySent(roomId: string, sender: string, marker: string): Promise<string | undefined> {
    const filter = JSON.stringify({ senders: [sender], types: ["m.room.message", POLL_START] });
    const res = await this.opts.api.request<{ chunk: RoomEvent[] }>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages`,
      { userId: this.opts.bot.userId, query: { dir: "b", limit: 100, filter } },
    );
    return res.chunk.find((e) => e.content[REMOTE_MARKER] === marker)?.event_id;
  }

  private async message(
    portal: Portal,
    client: NetworkClient,
    msg: RemoteMessage,
    retried: boolean,
    /** The queue item: it leaves the queue with the last part's message-map row. */
    item?: QueueItem,
    backfill: { ts: number; history: boolean } | undefined = undefined,
  ): Promise<void> {
    const { store } = this.opts;
    const done = await store.getMessageByRemote(
      portal.platform,
      portal.chatId,
      msg.id,
      orderKeyOf(client, msg.id),
    );
    // Every part is here already (brought over by a backfill, or before a crash): nothing to do.
    const partCount = (msg.text || !msg.attachments?.length ? 1 : 0) + (msg.attachments?.length ?? 0);
    if (done.length && new Set(done.map((r) => r.part)).size >= partCount) return;
    const intent = await this.ghost(portal, client, msg);
    const relates: Record<string, unknown> = {};
    const replyEvent = msg.replyTo ? await this.eventIdOf(portal, msg.replyTo) : undefined;
    const threadEvent = msg.threadRoot ? await this.eventIdOf(portal, msg.threadRoot) : undefined;
    if (threadEvent) {
      relates.rel_type = "m.thread";
      relates.event_id = threadEvent;
      relates.is_falling_back = !replyEvent;
      relates["m.in_reply_to"] = { event_id: replyEvent ?? threadEvent };
    } else if (replyEvent) {
      relates["m.in_reply_to"] = { event_id: replyEvent };
    }
    const parts: Array<{ type: string; content: RoomEventContent }> = [];
    if (msg.text || !msg.attachments?.length) {
      const poll = msg.poll && pollStartContent(msg.text, msg.poll);
      const location = msg.location && locationContent(msg.text, msg.location);
      if (poll) parts.push({ type: POLL_START, content: poll });
      else if (location) parts.push({ type: "m.room.message", content: location });
      else {
        const content: RoomEventContent = { msgtype: `m.${msg.msgtype ?? "text"}`, body: msg.text };
        if (msg.html) {
          content.format = "org.matrix.custom.html";
          content.formatted_body = msg.inlineImages
            ? fillInlineImages(
                msg.html,
                await resolveInlineImages(msg.inlineImages, (ref) =>
                  inlineMxc(this.opts.store, portal.platform, intent, client, ref),
                ),
              )
            : msg.html;
        }
        parts.push({ type: "m.room.message", content });
      }
    }
    for (const ref of msg.attachments ?? []) {
      let up: UploadedMedia;
      try {
        up = await uploadMessageMedia(intent, client, ref, portal.roomId);
      } catch (err) {
        // Media that can never come over (too large, gone) must not hold back the message:
        // the room is told in its place. Passing failures are retried as usual.
        if (retryHint(err).retry) throw err;
        log.warn("media not bridged", { platform: portal.platform, id: msg.id, err: String(err) });
        parts.push({
          type: "m.room.message",
          content: {
            msgtype: "m.notice",
            body: `⚠️ ${ref.name ?? "A file"} could not be bridged: ${userText(err)}.`,
          },
        });
        continue;
      }
      // What the bytes say fills in what the platform did not: type, size, an image's size.
      const known: MediaRef = {
        ...ref,
        mimetype: up.mimetype,
        size: up.size,
        width: ref.width ?? up.w,
        height: ref.height ?? up.h,
      };
      parts.push({
        type: "m.room.message",
        content: {
          msgtype: mediaMsgtype(known),
          body: ref.name ?? "file",
          filename: ref.name,
          ...up.source,
          info: { ...mediaInfo(known), ...up.thumbnail },
          ...voiceContent(known),
        },
      });
    }
    for (let part = 0; part < parts.length; part++) {
      if (done.some((r) => r.part === part)) continue; // delivered before a crash or a retry
      const { type, content } = parts[part]!;
      if (Object.keys(relates).length) content["m.relates_to"] = relates;
      const marker = `${msg.id}#${part}`;
      content[REMOTE_MARKER] = marker;
      if (backfill?.history) content[BACKFILLED] = true;
      const eventId =
        (retried ? await this.alreadySent(portal.roomId, intent.userId, marker) : undefined) ??
        (await intent.sendEvent(
          portal.roomId,
          type,
          content,
          txnIdFor(portal.platform, portal.chatId, msg.id, part),
          { ts: backfill?.ts },
        ));
      if (msg.expiresInSeconds !== undefined)
        await this.opts.disappearing?.track(
          portal,
          eventId,
          intent.userId,
          msg.timestamp,
          msg.expiresInSeconds,
        );
      const last = part === parts.length - 1;
      const write = store.insertMessages(
        [
          {
            platform: portal.platform,
            chatId: portal.chatId,
            remoteId: msg.id,
            part,
            roomId: portal.roomId,
            eventId,
            senderMxid: intent.userId,
            remoteSender: msg.sender.id,
            threadRoot: msg.threadRoot,
            timestamp: new Date(msg.timestamp),
            orderKey: orderKeyOf(client, msg.id),
          },
        ],
        last ? item : undefined,
      );
      // The last part's row takes the item out of the queue: the chat's next message need not
      // wait for that commit (reads of the map do; a failed write tries the item again).
      if (last && item) item.finishing = write;
      else await write;
    }
  }

  private async edit(portal: Portal, client: NetworkClient, edit: RemoteEdit): Promise<void> {
    const rows = await this.rowsHere(portal, edit.id);
    if (!rows.length) {
      log.info("edit of a message that was never bridged skipped", {
        platform: portal.platform,
        id: edit.id,
      });
      return;
    }
    const intent = await this.ghost(portal, client, edit);
    const location = edit.location && locationContent(edit.text, edit.location);
    const newContent: RoomEventContent = location ?? { msgtype: "m.text", body: edit.text };
    if (edit.html && !location) {
      newContent.format = "org.matrix.custom.html";
      newContent.formatted_body = edit.html;
    }
    const content: RoomEventContent = {
      ...(location ?? { msgtype: "m.text" }),
      body: `* ${edit.text}`,
      "m.new_content": newContent,
      "m.relates_to": { rel_type: "m.replace", event_id: rows[0].eventId },
    };
    if (edit.html && !location) {
      content.format = "org.matrix.custom.html";
      content.formatted_body = `* ${edit.html}`;
    }
    await intent.sendEvent(
      portal.roomId,
      "m.room.message",
      content,
      txnIdFor(portal.platform, portal.chatId, edit.id, "edit", edit.timestamp, edit.text),
    );
  }

  private async other(
    portal: Portal,
    login: LoginRef,
    client: NetworkClient,
    event: RemoteEvent,
    /** The queue item that carries the event. */
    item?: QueueItem,
  ): Promise<void> {
    const { store, ghosts, portals, bot } = this.opts;
    switch (event.kind) {
      case "edit":
        return this.edit(portal, client, event);
      case "delete": {
        const rows = await this.rowsHere(portal, event.id);
        for (const row of rows) {
          // A relayed Matrix user's message is not the bridge's to redact as that user: the bot does it.
          const intent = ghosts.isGhost(row.senderMxid) ? ghosts.intentOf(row.senderMxid) : bot;
          // The redaction goes on to every other chat linked to the room, not back to this one.
          await intent.redact(portal.roomId, row.eventId, txnIdFor("redact", row.eventId), undefined, {
            [DELETED_IN]: { platform: portal.platform, chat_id: portal.chatId },
          });
        }
        // Only this chat's copies: the other chats' rows are how the redaction finds their copies.
        if (rows.length) await store.deleteMessagesByEvent(rows[0].eventId, portal);
        return;
      }
      case "reaction": {
        const target = await this.eventIdOf(portal, event.target);
        if (!target) return;
        if (await store.getReaction(portal.platform, portal.chatId, event.target, event.sender.id, event.key))
          return;
        const intent = await this.ghost(portal, client, event);
        // A custom emoji: its picture as the key, its name as the shortcode (MSC4027).
        const image = event.keyImage
          ? await inlineMxc(this.opts.store, portal.platform, intent, client, event.keyImage)
          : undefined;
        const eventId = await intent.sendEvent(
          portal.roomId,
          "m.reaction",
          image
            ? {
                "m.relates_to": { rel_type: "m.annotation", event_id: target, key: image },
                "com.beeper.reaction.shortcode": event.key,
              }
            : { "m.relates_to": { rel_type: "m.annotation", event_id: target, key: event.key } },
          txnIdFor(
            portal.platform,
            portal.chatId,
            "react",
            event.target,
            event.sender.id,
            event.key,
            event.timestamp,
            // The same reaction taken back and given again within a millisecond is a new one.
            item?.id ?? "",
          ),
        );
        await store.insertReaction({
          platform: portal.platform,
          chatId: portal.chatId,
          targetRemoteId: event.target,
          sender: event.sender.id,
          key: event.key,
          roomId: portal.roomId,
          eventId,
          targetEventId: target,
        });
        return;
      }
      case "reaction-remove": {
        const row = await store.getReaction(
          portal.platform,
          portal.chatId,
          event.target,
          event.sender.id,
          event.key,
        );
        if (!row) return;
        if (row.roomId !== portal.roomId) return this.opts.store.deleteReactionByEvent(row.eventId, portal);
        const intent = ghosts.intentOf(ghosts.mxidFor(portal.platform, event.sender.id));
        await intent.redact(portal.roomId, row.eventId, txnIdFor("redact", row.eventId), undefined, {
          [DELETED_IN]: { platform: portal.platform, chat_id: portal.chatId },
        });
        await store.deleteReactionByEvent(row.eventId, portal);
        return;
      }
      case "member": {
        const mxid = ghosts.mxidFor(portal.platform, event.target.id);
        if (event.membership === "join") {
          const intent = await ghosts.ensure(portal.platform, client, event.target);
          await ghosts.join(intent, portal.roomId);
        } else if (event.membership === "leave") {
          await ghosts
            .intentOf(mxid)
            .leave(portal.roomId)
            .catch(() => undefined);
          await ghosts.forgetMembership(mxid, portal.roomId);
        } else {
          // Someone removed who is not in this room (a platform user who never spoke here, or a
          // removal that reaches every portal of a group): nobody to kick in Matrix. A ban
          // still applies everywhere, to keep them out.
          if (event.membership === "kick" && !(await store.isGhostInRoom(mxid, portal.roomId))) return;
          const fn = event.membership === "ban" ? bot.ban.bind(bot) : bot.kick.bind(bot);
          await fn(portal.roomId, mxid, event.reason);
          await ghosts.forgetMembership(mxid, portal.roomId);
        }
        return;
      }
      case "poll-vote":
      case "poll-end":
        return deliverPollEvent(portal, event, {
          rowsHere: (p, id) => this.rowsHere(p, id),
          ghost: () => this.ghost(portal, client, event),
          isGhost: (mxid, platform) => ghosts.isGhost(mxid, platform),
          intentOf: (mxid) => ghosts.intentOf(mxid),
          txnId: txnIdFor,
          ...(item ? { eventKey: item.id } : {}),
        });
      case "chat-info":
        return portals.applyChatInfo(portal, client, event.info, event.avatarRemoved === true);
      case "disappearing":
        return this.opts.disappearing?.changed(portal, event);
      case "typing": {
        const intent = await this.ghost(portal, client, event);
        return intent.setTyping(portal.roomId, event.typing);
      }
      case "read": {
        const eventId = await this.eventIdOf(portal, event.upTo);
        if (!eventId) return;
        const intent = await this.ghost(portal, client, event);
        return intent.sendReceipt(portal.roomId, eventId);
      }
      default:
        log.warn("unknown remote event kind skipped", {
          platform: login.platform,
          event: JSON.stringify(event).slice(0, 200),
        });
    }
  }
}

/** The `info` of a media event: what the platform said of the file (Matrix's w, h, duration). */
/** MSC3245 for a voice message: clients show a voice bubble with its length. */
export function voiceContent(ref: MediaRef): Record<string, unknown> {
  if (!ref.voice || mediaMsgtype(ref) !== "m.audio") return {};
  const duration = mediaInfo(ref).duration;
  const audio: Record<string, unknown> = duration === undefined ? {} : { duration };
  const waveform = Array.isArray(ref.waveform)
    ? ref.waveform.slice(0, 1000).filter((n) => Number.isInteger(n) && n >= 0 && n <= 1024)
    : [];
  if (waveform.length) audio.waveform = waveform;
  return { "org.matrix.msc3245.voice": {}, "org.matrix.msc1767.audio": audio };
}

export function mediaInfo(ref: MediaRef): Record<string, unknown> {
  const info: Record<string, unknown> = { mimetype: ref.mimetype, size: ref.size };
  const whole = (n: number | undefined) =>
    typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.round(n) : undefined;
  const w = whole(ref.width);
  const h = whole(ref.height);
  const duration = whole(ref.durationMs);
  if (w !== undefined && h !== undefined) Object.assign(info, { w, h });
  if (duration !== undefined) info.duration = duration;
  return info;
}
