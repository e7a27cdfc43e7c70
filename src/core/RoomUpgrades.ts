import { Logger } from "../log/Logger";
import { type Intent, MatrixError, type RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import type { PortalService } from "./PortalService";

const log = new Logger("RoomUpgrades");

/** Where a room's links went after an upgrade: old room → replacement. */
const UPGRADED = "core.upgraded";
/** Replacements the bot could not join yet (it waits for an invite): replacement → old room. */
const PENDING = "core.upgrade-pending";
/** A room id as the spec allows one (at most 255 bytes). */
const ROOM_ID = /^![\x21-\x7e]{1,254}$/;
/** Upgrades followed through at most this many rooms (a chain of upgrades). */
const MAX_HOPS = 16;

/**
 * Room upgrades of portals: when a bridged room is replaced (`m.room.tombstone`), its links move
 * to the replacement room, which must name the old room as its predecessor in its create event.
 * When the bot cannot join the replacement (it is invite-only and nobody invited the bot), the
 * room is told to invite it, and the links move when it is invited.
 */
export class RoomUpgrades {
  constructor(
    private readonly opts: {
      bot: Intent;
      store: Store;
      portals: PortalService;
      /** Tells a room, as the bridge bot, replying to `eventId`. */
      notice(roomId: string, text: string, eventId?: string): Promise<void>;
    },
  ) {}

  /** Takes a tombstone of a bridged room, or the bot's invite to a replacement it waits for. */
  async handle(ev: RoomEvent): Promise<boolean> {
    const { bot, store, portals } = this.opts;
    if (ev.type === "m.room.tombstone" && ev.state_key === "") {
      const next = ev.content.replacement_room;
      if (!(await portals.forRoom(ev.room_id)).length) return false;
      if (typeof next !== "string" || !ROOM_ID.test(next) || next === ev.room_id) {
        log.warn("tombstone without a usable replacement room ignored", { room: ev.room_id });
        return true;
      }
      await this.follow(ev.room_id, next, { eventId: ev.event_id, sender: ev.sender });
      return true;
    }
    if (ev.type === "m.room.member" && ev.state_key === bot.userId && ev.content.membership === "invite") {
      const old = await store.kvGet(PENDING, ev.room_id);
      if (!old) return false;
      await this.follow(old, ev.room_id);
      return true;
    }
    return false;
  }

  /**
   * Whether `from` was upgraded into `to` (directly or through several upgrades): its events
   * still queued are delivered to the chats that moved.
   */
  async upgradedInto(from: string, to: string): Promise<boolean> {
    let room = from;
    for (let i = 0; i < MAX_HOPS; i++) {
      const next = await this.opts.store.kvGet(UPGRADED, room);
      if (!next) return false;
      if (next === to) return true;
      room = next;
    }
    return false;
  }

  /**
   * Tells the old room, replying to the tombstone. The upgrade took posting from members below
   * power level 50 there: then the tombstone's sender hears it in their management room.
   */
  private async tell(old: string, text: string, tombstone?: { eventId: string; sender: string }) {
    const { store, notice } = this.opts;
    try {
      await notice(old, text, tombstone?.eventId);
      return;
    } catch (err) {
      if (!(err instanceof MatrixError && err.status === 403) || !tombstone) throw err;
    }
    const room = (await store.getUser(tombstone.sender))?.managementRoom;
    if (room) await notice(room, `About the room ${old}: ${text}`);
    else log.info("nobody could be told of the upgrade", { room: old, sender: tombstone.sender });
  }

  private async follow(
    old: string,
    next: string,
    tombstone?: { eventId: string; sender: string },
  ): Promise<void> {
    const { bot, store, portals, notice } = this.opts;
    try {
      await bot.join(next);
    } catch (err) {
      if (!(err instanceof MatrixError) || err.status >= 500) throw err; // retried
      await store.kvSet(PENDING, next, old);
      log.info("replacement room of a portal not joined: waiting for an invite", {
        room: old,
        replacement: next,
        err: String(err),
      });
      await this.tell(
        old,
        `This room was upgraded, but the bridge cannot join the new room (${err.errcode ?? err.status}). Invite ${bot.userId} there and the bridged chats move with it; until then they stay bridged here.`,
        tombstone,
      );
      return;
    }
    const create = await bot.getState<{ predecessor?: { room_id?: unknown } }>(next, "m.room.create");
    if (create?.predecessor?.room_id !== old) {
      log.warn("tombstone names a room that is not this room's upgrade: links kept", {
        room: old,
        replacement: next,
      });
      await store.kvDelete(PENDING, next);
      await this.tell(
        old,
        "This room's tombstone names a room that is not its upgrade (its create event names another predecessor), so the bridged chats stay here.",
        tombstone,
      );
      return;
    }
    const moving = await portals.forRoom(old);
    await store.kvSet(UPGRADED, old, next); // first: deliveries queued for the old room go on
    const moved: Portal[] = [];
    for (const p of moving) moved.push(await portals.move(p, next));
    await store.kvDelete(PENDING, next);
    if (!moved.length) return; // already moved (a retry)
    log.info("portal room upgraded: links moved", { room: old, replacement: next, links: moved.length });
    let shown = true;
    for (const p of moved) {
      await portals.bridgeInfo({ ...p, roomId: old }, false);
      shown = (await portals.bridgeInfo(p, true)) && shown;
    }
    const names = moved.map((p) => `${p.platform} ${p.name ?? p.chatId}`).join(", ");
    await notice(
      next,
      `This room replaces an upgraded one: it is now bridged to ${names}.${
        shown ? "" : " Clients will not show it as bridged until the bridge bot may send state events here."
      }`,
    );
  }
}
