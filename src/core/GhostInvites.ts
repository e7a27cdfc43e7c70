import { remoteIdFromGhost } from "../config/Config";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import type { Intent, RoomEvent } from "../matrix/MatrixApi";
import type { Backfill } from "./Backfill";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import { openDirectChat } from "./directChat";
import type { GhostService } from "./GhostService";
import type { Permissions } from "./Permissions";
import { chatKey, type PortalService } from "./PortalService";

const log = new Logger("GhostInvites");

/**
 * Starting a direct chat the Matrix way: a user invites a platform person's ghost to a direct
 * chat room (`is_direct`), and that room becomes the portal of their direct chat on the
 * platform, through the user's own login (bridge admins: also the shared bot). The ghost joins
 * and brings the bridge bot in; an invite it cannot take is declined with the reason. The chat's
 * history comes over at once, where the platform has one.
 */
export class GhostInvites {
  constructor(
    private readonly opts: {
      config: BridgeConfig;
      bot: Intent;
      ghosts: GhostService;
      portals: PortalService;
      registry: ConnectorRegistry;
      permissions: Permissions;
      /** Brings the chat's history into the room at once. */
      backfill?: Pick<Backfill, "willCreate" | "soon">;
    },
  ) {}

  /** Takes a Matrix user's invite of a ghost; false for any other event. */
  async handle(ev: RoomEvent): Promise<boolean> {
    const { config, bot, ghosts, portals, registry, permissions } = this.opts;
    if (ev.type !== "m.room.member" || ev.content.membership !== "invite" || typeof ev.state_key !== "string")
      return false;
    const target = remoteIdFromGhost(config, ev.state_key);
    // The bridge's own invites (a ghost joining a portal) are not requests.
    if (!target || ev.sender === bot.userId || ghosts.isGhost(ev.sender)) return false;
    const { platform, remoteId } = target;
    let ghost = ghosts.intentOf(ev.state_key);
    const decline = async (why: string) => {
      log.info("invite of a ghost declined", { room: ev.room_id, ghost: ev.state_key, by: ev.sender, why });
      await ghost
        .leave(ev.room_id, why)
        .catch((err: unknown) => log.warn("invite not declined", { room: ev.room_id, err: String(err) }));
      return true;
    };
    if (ev.content.is_direct !== true)
      return decline(
        "I join direct chats only: to bridge a group, invite the bridge bot and `link` the chat there.",
      );
    if (!permissions.allows(ev.sender, "user"))
      return decline("You may not start chats through this bridge.");
    const opened = await openDirectChat(
      { registry, portals },
      ev.sender,
      permissions.levelOf(ev.sender) === "admin",
      platform,
      remoteId,
    );
    if ("refused" in opened) return decline(opened.refused);
    const { entry, chat, note, existing } = opened;
    const key = chatKey(chat);
    if (existing && existing.roomId !== ev.room_id)
      return decline(`We already have a direct chat: https://matrix.to/#/${existing.roomId}`);
    // A person the bridge has not met yet has no Matrix account: registered, with their profile.
    ghost = await ghosts.ensure(platform, entry.client, { id: remoteId });
    await ghosts.join(ghost, ev.room_id);
    // The bot sends the room's notices (failures, what the platform cannot do).
    await ghost
      .invite(ev.room_id, bot.userId)
      .catch((err: unknown) =>
        log.warn("bridge bot not invited to a direct chat", { room: ev.room_id, err: String(err) }),
      );
    const info = await entry.client.chatInfo(chat).catch(() => undefined);
    // Due before the portal exists, so a crash in between leaves it due: this invite is
    // delivered again and finds the portal (below), or the chat's next message fills it in.
    if (!existing) await this.opts.backfill?.willCreate(platform, key, entry.client);
    await portals.link({
      platform,
      chatId: key,
      roomId: ev.room_id,
      loginId: entry.login.id,
      kind: "dm",
      name: info?.name,
      linked: true,
    });
    await this.opts.backfill?.soon(platform, entry.login.id, chat);
    log.info("direct chat started by inviting a ghost", { platform, chat: key, room: ev.room_id });
    if (note)
      await ghost
        .sendEvent(
          ev.room_id,
          "m.room.message",
          { msgtype: "m.notice", body: note },
          `dm-note-${ev.event_id}`,
        )
        .catch((err: unknown) => log.warn("note not sent", { room: ev.room_id, err: String(err) }));
    return true;
  }
}
