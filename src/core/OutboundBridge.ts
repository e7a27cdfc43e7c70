import type { BridgeConfig } from "../config/types";
import type { Metrics } from "../http/Metrics";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { NewQueueItem, Portal, QueueItem } from "../store/types";
import type { AuditEntry } from "./Audit";
import { BoundedSet } from "./Bounded";
import { ChatRelay, chatRefOf } from "./ChatRelay";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import { ConnectionState, canRelay, type NetworkClient } from "./connector";
import type { Disappearing } from "./Disappearing";
import { BridgeError } from "./errors";
import { deletedInOf, isLiveEdit, PORTAL_TARGET, type PortalTarget, RELAYED_TYPES, targetOf } from "./fanOut";
import type { GhostService } from "./GhostService";
import type { Permissions } from "./Permissions";
import type { PortalService } from "./PortalService";
import { POLL_START_TYPES } from "./richContent";

const log = new Logger("OutboundBridge");
/** How long a room's lane waits for a delivery it makes itself before the chat's lane takes over. */
const FIRST_TRY_MS = 2_000;

type Content = Record<string, unknown>;

/** Is this a well-formed room event we can work with? Anything else is logged and skipped. */
export { chatRefOf };

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
/** What the outbound side works with (shared with {@link ChatRelay}). */
export interface OutboundOptions {
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
}

export class OutboundBridge {
  private readonly refused = new BoundedSet<string>(10_000);
  /** Deliveries handed from a room's lane to a chat's while under way, by the chat's lane. */
  private readonly underWay = new Map<string, Promise<void>>();

  /** What each kind of event does on a platform. */
  private readonly chats: ChatRelay;

  constructor(private readonly opts: OutboundOptions) {
    this.chats = new ChatRelay(opts);
  }

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
    if (ev.type === "m.room.member") this.chats.forgetProfile(ev.room_id, ev.state_key);
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
    if (ev.type === "m.room.member") this.chats.forgetProfile(ev.room_id, ev.state_key);
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
    await this.chats.cannot(
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
    await this.chats.relay(portal, entry.client, ev, item.resumed === true || item.attempts > 0, last);
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
    await this.chats.notice(
      ev.room_id,
      `${ev.sender} is not allowed to use this bridge, so their messages stay in Matrix.`,
      ev.event_id,
    );
  }

  /** Tells the room, as the bridge bot, replying to `eventId`. */
  notice(roomId: string, text: string, eventId?: string): Promise<void> {
    return this.chats.notice(roomId, text, eventId);
  }

  /** Typing from Matrix users, relayed where the platform shows it. Best effort, not queued. */
  typing(roomId: string, userIds: string[]): Promise<void> {
    return this.chats.typing(roomId, userIds);
  }

  /** Read receipts of Matrix users, relayed where the platform shows them. Best effort, not queued. */
  receipt(roomId: string, eventId: string, userIds: string[]): Promise<void> {
    return this.chats.receipt(roomId, eventId, userIds);
  }
}
