import type { BridgeConfig } from "../config/types";
import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import { isLive } from "../matrix/live";
import type { Intent, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { NewQueueItem, Portal, QueueItem } from "../store/types";
import type { AuditEntry } from "./Audit";
import { BoundedMap, BoundedSet } from "./Bounded";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import {
  ConnectionState,
  canEdit,
  canMarkRead,
  canModerate,
  canReact,
  canRedact,
  canRelay,
  canSetChatInfo,
  canType,
  type MatrixSender,
  type NetworkClient,
  type OutboundAttachment,
  type OutboundMessage,
  type RemoteChatRef,
  type SentRef,
} from "./connector";
import type { Disappearing } from "./Disappearing";
import { BridgeError, userText } from "./errors";
import { deletedInOf, isLiveEdit, PORTAL_TARGET, type PortalTarget, RELAYED_TYPES, targetOf } from "./fanOut";
import type { GhostService } from "./GhostService";
import { parseGeoUri } from "./geo";
import { txnIdFor } from "./InboundBridge";
import { orderKeyOf } from "./orderKey";
import type { Permissions } from "./Permissions";
import type { PortalService } from "./PortalService";
import { outboundPollOf, relayPollEvent } from "./polls";
import { POLL_START, POLL_START_TYPES, pollText } from "./richContent";

const log = new Logger("OutboundBridge");
/** How long a room's lane waits for a delivery it makes itself before the chat's lane takes over. */
const FIRST_TRY_MS = 2_000;

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

/** Is this a well-formed room event we can work with? Anything else is logged and skipped. */
export function isRoomEvent(ev: unknown): ev is RoomEvent {
  if (typeof ev !== "object" || ev === null) return false;
  const e = ev as Record<string, unknown>;
  return (
    typeof e.type === "string" &&
    typeof e.room_id === "string" &&
    typeof e.sender === "string" &&
    typeof e.event_id === "string" &&
    typeof e.content === "object" &&
    e.content !== null
  );
}

/**
 * Matrix → platform: events from the homeserver's transactions, one room at a time, relayed
 * to every remote chat linked to the room except the one they came from.
 */
export class OutboundBridge {
  private readonly profiles = new BoundedMap<string, MatrixSender>(10_000);
  private readonly refused = new BoundedSet<string>(10_000);
  /** Deliveries handed from a room's lane to a chat's while under way, by the chat's lane. */
  private readonly underWay = new Map<string, Promise<void>>();
  /**
   * Messages the platform took whose ids could not be stored (the database failed after the
   * send): the retry stores these ids instead of sending the message a second time.
   */
  private readonly unrecorded = new Map<string, { sent: SentRef; threadRoot?: string }>();
  /** Who is typing in each room (sorted, newline-joined), to send only changes. */
  private readonly typingRooms = new Map<string, string>();

  constructor(
    private readonly opts: {
      config: BridgeConfig;
      api: MatrixApi;
      store: Store;
      metrics: Metrics;
      registry: ConnectorRegistry;
      portals: PortalService;
      ghosts: GhostService;
      permissions: Permissions;
      bot: Intent;
      /** Commands, bot membership and room upgrades; returns true when it consumed the event. */
      commands(ev: RoomEvent): Promise<boolean>;
      /** Whether room `from` was upgraded into `to` (its queued events go to the chats that moved). */
      upgradedInto?(from: string, to: string): Promise<boolean>;
      /**
       * The AI puppet: takes the event without waiting for an answer; true when it was an AI
       * command. A promise settles once the event is durably taken (a trigger recorded).
       */
      ai?(ev: RoomEvent): boolean | Promise<boolean>;
      /** Whether the AI puppet is in the room (it reads every event there, ghosts' included). */
      aiIn?(roomId: string): boolean;
      /**
       * A URL platforms can fetch an mxc:// URI from (the bridge's signed media proxy); unset:
       * the homeserver's unauthenticated download URL, which homeservers with authenticated
       * media refuse.
       */
      mediaUrl?(mxc: string): string | undefined;
      /**
       * Puts `items` (one per linked chat) in the place of the room's queued item, durably and
       * at once; unset: they are delivered in turn right away.
       */
      fanOut?(item: QueueItem, items: NewQueueItem[]): Promise<void>;
      /** True when nothing is queued in the lane `queueKey` (a linked chat's own deliveries). */
      laneIdle?(queueKey: string): boolean;
      /** Policy lists: true when a rule followed in the room bans the sender (not relayed). */
      blocked?(ev: RoomEvent): boolean;
      /**
       * Moderation: `drops` is true for an event not to relay (a banned user's message still
       * queued); `mirrored` records a kick, ban or unban mirrored to a platform in the audit log.
       */
      moderation?: { drops(ev: RoomEvent): Promise<boolean>; mirrored(entry: AuditEntry): Promise<void> };
      /** Disappearing messages: the chat's timer goes out with a message, its expiry is tracked. */
      disappearing?: Disappearing;
    },
  ) {}

  static queueKey(ev: { room_id?: unknown }): string {
    return `matrix:${typeof ev.room_id === "string" ? ev.room_id : "?"}`;
  }

  /**
   * True when {@link handle} would do nothing with the event: a ghost's own event coming back
   * in a room bridged only to that ghost's platform, as the homeserver pushes for every bridged
   * message. Checked before events are queued, so echoes cost no queue row and no delete.
   * Events the command handler could act on (bot membership, a command prefix) are kept.
   */
  async isEcho(ev: RoomEvent): Promise<boolean> {
    const { ghosts, bot, config } = this.opts;
    if (ev.type === "m.room.redaction") {
      // A redaction made for a deletion on a platform, in a room linked to that chat only.
      const at = deletedInOf(ev);
      const portals = at ? await this.opts.portals.forRoom(ev.room_id) : [];
      return (
        portals.length > 0 && portals.every((p) => p.platform === at!.platform && p.chatId === at!.chat_id)
      );
    }
    if (!ghosts.isGhost(ev.sender)) return false;
    if (ev.type === "m.room.encrypted") return false; // what it says is known once decrypted
    if (ev.type === "m.room.member" && ev.state_key === bot.userId) return false;
    if (this.opts.aiIn?.(ev.room_id)) return false; // platform users talk to the AI
    const body = ev.type === "m.room.message" ? ev.content.body : undefined;
    if (typeof body === "string" && body.trimStart().startsWith(config.bridge.command_prefix)) return false;
    const portals = await this.opts.portals.forRoom(ev.room_id);
    if (!portals.length || !portals.every((p) => ghosts.isGhost(ev.sender, p.platform))) return false;
    if (ev.type === "m.room.member") this.profiles.delete(`${ev.room_id}|${ev.state_key}`);
    return true;
  }

  /**
   * A Matrix event from the room's lane: commands and the AI take it first; what is to be
   * relayed becomes one queue item per linked chat (see {@link deliverTo}), so one platform's
   * refusal or outage never holds back the others, nor the room's commands and AI.
   * `stored`: the item as queued (the encrypted event, when `item` holds its decryption).
   */
  async handle(item: QueueItem, stored: QueueItem = item): Promise<void> {
    const ev = item.payload;
    if (!isRoomEvent(ev)) {
      log.warn("malformed event from the homeserver skipped", { event: JSON.stringify(ev).slice(0, 300) });
      return;
    }
    const target = targetOf(stored.payload);
    if (target) {
      await this.underWay.get(stored.queueKey); // a first try from the room's lane ends first
      return this.deliverTo(target, item, ev);
    }
    const { bot, ghosts } = this.opts;
    // The bot's own events stay in Matrix, except its redactions of what was deleted on a platform.
    const fromBot = ev.sender === bot.userId;
    if (fromBot && ev.type !== "m.room.redaction") return;
    if (ev.type === "m.room.member") this.profiles.delete(`${ev.room_id}|${ev.state_key}`);
    if (!fromBot && (await this.opts.moderation?.drops(ev))) return; // a banned user's queued message
    if (!fromBot && (await this.opts.commands(ev))) return;
    if (!fromBot && (await this.opts.ai?.(ev))) return;
    if (!RELAYED_TYPES.has(ev.type) || this.staysInMatrix(ev) || isLiveEdit(ev)) return;
    const portals = await this.opts.portals.forRoom(ev.room_id);
    if (!portals.length) return;
    if (this.opts.blocked?.(ev)) return;
    if (!fromBot && !ghosts.isGhost(ev.sender) && !this.mayRelay(ev.sender)) {
      await this.refuse(ev);
      return;
    }
    // Never back to where it came from: a ghost's chat, or the chat a deletion was made in.
    const deletedIn = deletedInOf(ev);
    const targets = portals.filter((p) =>
      ev.type === "m.room.redaction"
        ? !(deletedIn && p.platform === deletedIn.platform && p.chatId === deletedIn.chat_id)
        : ev.type === "m.room.member"
          ? ghosts.isGhost(ev.state_key ?? "", p.platform) // only a ghost's removal is mirrored
          : !ghosts.isGhost(ev.sender, p.platform),
    );
    if (!targets.length) return;
    const items: NewQueueItem[] = targets.map((p) => ({
      queueKey: OutboundBridge.portalQueueKey(p),
      kind: "matrix" as const,
      payload: {
        ...(stored.payload as Content),
        [PORTAL_TARGET]: { platform: p.platform, chat_id: p.chatId },
      },
    }));
    const { fanOut } = this.opts;
    if (!fanOut) {
      for (const it of items) await this.deliverTo(targetOf(it.payload)!, item, ev);
      return;
    }
    const only = targets.length === 1 ? targets[0]! : undefined;
    if (only && this.opts.laneIdle?.(items[0]!.queueKey) && this.connected(only)) {
      if (await this.deliverFirst(item, ev, items[0]!)) return;
    }
    return fanOut(stored, items);
  }

  /**
   * One linked chat, connected, with nothing of its own waiting: the event is delivered from
   * the room's lane at once, the room's item leaving the queue with the message-map write (one
   * write, not two). True when delivered. Otherwise (it failed, or the platform is slow to
   * answer) the chat's own lane takes over as for any fan-out, with this attempt counted, so it
   * checks for a copy already sent; a delivery still under way is awaited there first. The
   * room's commands and AI so wait at most {@link FIRST_TRY_MS} for a slow platform.
   */
  private async deliverFirst(item: QueueItem, ev: RoomEvent, chatItem: NewQueueItem): Promise<boolean> {
    const target = targetOf(chatItem.payload)!;
    const attempt = this.deliverTo(target, item, ev).then(
      () => undefined,
      (err: unknown) => err ?? new Error("delivery failed"),
    );
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<"slow">((resolve) => {
      timer = setTimeout(() => resolve("slow"), FIRST_TRY_MS);
    });
    const outcome = await Promise.race([attempt, slow]);
    clearTimeout(timer);
    if (outcome === undefined) return true;
    chatItem.attempts = item.attempts + 1;
    if (outcome !== "slow") {
      chatItem.failedWith = outcome; // the chat's lane waits as for any retry (a Retry-After too)
      log.info("delivery failed; it goes on in the chat's own lane", {
        platform: target.platform,
        room: ev.room_id,
        err: String(outcome),
      });
      return false;
    }
    log.info("the platform is slow to answer; the chat's own lane takes over", {
      platform: target.platform,
      room: ev.room_id,
    });
    const key = chatItem.queueKey;
    const settled = attempt.then(() => undefined);
    this.underWay.set(key, settled);
    void settled.then(() => {
      if (this.underWay.get(key) === settled) this.underWay.delete(key);
    });
    return false;
  }

  /** The lane of one linked chat's deliveries: per room and chat, so each keeps its order. */
  static portalQueueKey(portal: Pick<Portal, "roomId" | "platform" | "chatId">): string {
    return `matrix:${portal.roomId}|${portal.platform}|${portal.chatId}`;
  }

  /**
   * Notices of the AI user (its command answers, limits, model errors) are Matrix's; its
   * answers (m.text) are relayed like anyone's message. The bridge bot's never get here.
   */
  private staysInMatrix(ev: RoomEvent): boolean {
    const { config } = this.opts;
    if (ev.sender !== `@${config.ai.localpart}:${config.homeserver.domain}`) return false;
    if (ev.type !== "m.room.message") return false;
    const c = ev.content as Content;
    const shown = ((c["m.new_content"] as Content | undefined) ?? c).msgtype;
    return shown === "m.notice";
  }

  /**
   * A personal account (WhatsApp) writes for others only where its owner turned relaying on:
   * elsewhere their messages stay in Matrix, and the room is told so once, not at every message.
   */
  private async relayOff(
    portal: Portal,
    entry: { login: { ownerMxid: string }; client: NetworkClient },
    ev: RoomEvent,
  ): Promise<boolean> {
    const { client, login } = entry;
    if (ev.type !== "m.room.message" && ev.type !== "m.sticker" && !POLL_START_TYPES.has(ev.type))
      return false;
    if (!canRelay(client) || ev.sender === login.ownerMxid) return false;
    if (await client.relayEnabled(chatRefOf(portal))) return false;
    await this.cannot(
      portal,
      ev,
      "relay-off",
      `Relaying is off in this chat: only ${login.ownerMxid} writes through this ${portal.platform} account, so messages of others stay in Matrix (they can turn it on with \`relay on\`).`,
    );
    return true;
  }

  private connected(portal: Portal): boolean {
    return this.opts.registry?.client(portal.loginId)?.client.state() === ConnectionState.Connected;
  }

  /** One queued event for one linked chat of its room. */
  private async deliverTo(target: PortalTarget, item: QueueItem, ev: RoomEvent): Promise<void> {
    // A chat's delivery retried after its sender was banned from the room is not made.
    if (ev.type !== "m.room.member" && (await this.opts.moderation?.drops(ev))) return;
    const portal = await this.opts.portals.get(target.platform, target.chat_id);
    if (
      !portal ||
      (portal.roomId !== ev.room_id && !(await this.opts.upgradedInto?.(ev.room_id, portal.roomId)))
    ) {
      log.info("chat unlinked before delivery; skipped", { platform: target.platform, room: ev.room_id });
      return;
    }
    // The portal's login may have been replaced (logout, then login again): use another
    // login of the platform.
    const entry =
      this.opts.registry.client(portal.loginId) ?? this.opts.registry.clientForPlatform(portal.platform);
    if (!entry)
      throw new BridgeError(`the ${portal.platform} login of this room is not connected`, undefined, true);
    if (await this.relayOff(portal, entry, ev)) return;
    // Only a resumed or retried item can have reached the platform already.
    // The item may leave the queue with the message-map write unless the portal is taken over below.
    const last = entry.login.id === portal.loginId ? item : undefined;
    await this.relay(portal, entry.client, ev, item.resumed === true || item.attempts > 0, last);
    // Only a login that could deliver takes the portal over (a personal account refuses
    // chats of another account, and must not keep them from their owner's next login).
    if (entry.login.id !== portal.loginId)
      await this.opts.portals.save({ ...portal, loginId: entry.login.id });
  }

  private mayRelay(mxid: string): boolean {
    const { config, permissions } = this.opts;
    return (
      mxid === `@${config.ai.localpart}:${config.homeserver.domain}` || permissions.allows(mxid, "relay")
    );
  }

  private async refuse(ev: RoomEvent): Promise<void> {
    if (ev.type !== "m.room.message") return;
    const key = `${ev.room_id}|${ev.sender}`;
    if (this.refused.has(key)) return;
    this.refused.add(key);
    await this.notice(
      ev.room_id,
      `${ev.sender} is not allowed to use this bridge, so their messages stay in Matrix.`,
      ev.event_id,
    );
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
  private async cannot(portal: Portal, ev: RoomEvent, feature: string, text: string): Promise<void> {
    const key = `${ev.room_id} ${portal.platform} ${feature}`;
    if (await this.opts.store.kvGet("told-unsupported", key)) {
      log.debug("not supported by the platform", { platform: portal.platform, room: ev.room_id, feature });
      return;
    }
    await this.notice(ev.room_id, text, ev.event_id);
    await this.opts.store.kvSet("told-unsupported", key, String(ev.origin_server_ts));
  }

  private async relay(
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
