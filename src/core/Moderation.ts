import { Logger } from "../log/Logger";
import type { Intent, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import type { Audit, AuditResult } from "./Audit";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import {
  canModerate,
  canMute,
  type MuteHandling,
  type NetworkClient,
  type RemoteChatRef,
  type RemoteUserRef,
} from "./connector";
import { BridgeError, userText } from "./errors";
import type { GhostService } from "./GhostService";
import { chatRefOf } from "./OutboundBridge";
import type { PortalService } from "./PortalService";

const log = new Logger("Moderation");

const SQL_BANNED_IN_ROOM = "SELECT mxid FROM moderation_ban WHERE room_id = $1";
const SQL_ADD_BAN = `INSERT INTO moderation_ban (room_id, mxid) VALUES ($1, $2)
  ON CONFLICT (room_id, mxid) DO NOTHING`;
const SQL_REMOVE_BAN = "DELETE FROM moderation_ban WHERE room_id = $1 AND mxid = $2";
const SQL_ADD_MUTE = `INSERT INTO moderation_mute (room_id, mxid, previous_level, until) VALUES ($1, $2, $3, $4)
  ON CONFLICT (room_id, mxid) DO UPDATE SET until = excluded.until`;
const SQL_GET_MUTE = "SELECT previous_level, until FROM moderation_mute WHERE room_id = $1 AND mxid = $2";
const SQL_REMOVE_MUTE = "DELETE FROM moderation_mute WHERE room_id = $1 AND mxid = $2";
const SQL_EXPIRED_MUTES =
  "SELECT room_id, mxid FROM moderation_mute WHERE until <= now() ORDER BY until LIMIT 100";

/** What moderators act with: the bridge bot in Matrix, the portals' clients on the platforms. */
export interface ModerationDeps {
  store: Pick<Store, "query">;
  bot: Intent;
  portals: Pick<PortalService, "forRoom">;
  registry: Pick<ConnectorRegistry, "client" | "clientForPlatform">;
  ghosts: Pick<GhostService, "isGhost" | "remoteIdOf" | "forgetMembership">;
  audit: Audit;
}

export interface ModerationRequest {
  roomId: string;
  /** Who asked (recorded in the audit log). */
  actor: string;
  /** A Matrix user or one of the bridge's ghosts. */
  target: string;
  reason?: string;
}

type Action = "ban" | "kick" | "unban";

interface PowerLevels {
  users?: Record<string, unknown>;
  users_default?: unknown;
  events?: Record<string, unknown>;
  events_default?: unknown;
  [k: string]: unknown;
}

const level = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v) ? v : fallback;

/** Where a result happened, for the audit log and replies. */
const whereOf = (p: Portal) => `${p.platform} ${p.chatId}`;

/**
 * Moderation as a service of the core: ban, kick, unban and mute in the room and on each linked
 * chat of the target's platform where the connector can, recorded in the audit log; and the
 * room's banned Matrix users, whose queued messages are no longer relayed.
 */
export class Moderation {
  /** Banned users per room, loaded on first use. */
  private readonly banned = new Map<string, Promise<Set<string>>>();

  constructor(private readonly d: ModerationDeps) {}

  // ---- bans the bridge keeps track of ----

  private bansOf(roomId: string): Promise<Set<string>> {
    let set = this.banned.get(roomId);
    if (!set) {
      set = this.d.store
        .query<{ mxid: string }>(SQL_BANNED_IN_ROOM, [roomId])
        .then((rows) => new Set(rows.map((r) => r.mxid)));
      set.catch(() => this.banned.delete(roomId));
      this.banned.set(roomId, set);
    }
    return set;
  }

  private async noteBan(roomId: string, mxid: string, banned: boolean): Promise<void> {
    await this.d.store.query(banned ? SQL_ADD_BAN : SQL_REMOVE_BAN, [roomId, mxid]);
    const set = await this.bansOf(roomId);
    if (banned) set.add(mxid);
    else set.delete(mxid);
  }

  /** Whether `mxid` is banned from the room as far as the bridge knows. */
  async isBanned(roomId: string, mxid: string): Promise<boolean> {
    return (await this.bansOf(roomId)).has(mxid);
  }

  /**
   * For the outbound path, before an event is relayed: notes bans and unbans made in Matrix,
   * and returns true for a message, sticker or reaction of a user banned from the room (one
   * still queued when the ban came), which is then not relayed.
   */
  async drops(ev: RoomEvent): Promise<boolean> {
    if (ev.type === "m.room.member" && typeof ev.state_key === "string") {
      const membership = ev.content.membership;
      const prev = (ev.unsigned?.prev_content as { membership?: unknown } | undefined)?.membership;
      if (membership === "ban") await this.noteBan(ev.room_id, ev.state_key, true);
      else if (prev === "ban" || (await this.isBanned(ev.room_id, ev.state_key)))
        await this.noteBan(ev.room_id, ev.state_key, false);
      return false;
    }
    if (ev.type !== "m.room.message" && ev.type !== "m.sticker" && ev.type !== "m.reaction") return false;
    if (!(await this.isBanned(ev.room_id, ev.sender))) return false;
    log.info("message of a banned user not relayed", { room: ev.room_id, event: ev.event_id });
    return true;
  }

  // ---- ban, kick, unban ----

  /** The portals of the room where `target` (a ghost) is a member: those of its platform. */
  private async targetPortals(roomId: string, target: string): Promise<Portal[]> {
    if (!this.d.ghosts.isGhost(target)) return [];
    return (await this.d.portals.forRoom(roomId)).filter((p) => this.d.ghosts.isGhost(target, p.platform));
  }

  private clientOf(portal: Portal): NetworkClient | undefined {
    return (this.d.registry.client(portal.loginId) ?? this.d.registry.clientForPlatform(portal.platform))
      ?.client;
  }

  /** Runs `fn` for one side and turns its outcome into an audit result. */
  private static async attempt(where: string, fn: () => Promise<string | undefined>): Promise<AuditResult> {
    try {
      const detail = await fn();
      return detail ? { where, ok: true, detail } : { where, ok: true };
    } catch (err) {
      log.info("moderation step not done", { where, err: String(err) });
      return { where, ok: false, detail: userText(err) };
    }
  }

  /** Bans, kicks or unbans in the room and on the target's linked chats; returns each side's result. */
  async act(action: Action, req: ModerationRequest): Promise<AuditResult[]> {
    const { bot, ghosts } = this.d;
    const { roomId, target, reason } = req;
    const results: AuditResult[] = [
      await Moderation.attempt("matrix", async () => {
        if (action === "ban") await bot.ban(roomId, target, reason);
        else if (action === "kick") await bot.kick(roomId, target, reason);
        else await bot.unban(roomId, target, reason);
        return undefined;
      }),
    ];
    if (action === "ban") await this.noteBan(roomId, target, true);
    if (action === "unban") await this.noteBan(roomId, target, false);
    if (action !== "unban" && ghosts.isGhost(target)) await ghosts.forgetMembership(target, roomId);
    const remote: RemoteUserRef = { id: ghosts.remoteIdOf(target) ?? "" };
    for (const portal of await this.targetPortals(roomId, target)) {
      results.push(
        await Moderation.attempt(whereOf(portal), async () => {
          const client = this.clientOf(portal);
          if (!client) throw notConnected(portal);
          if (!canModerate(client)) throw cannot(portal, "remove people");
          const chat = chatRefOf(portal);
          if (action === "ban") await client.ban(chat, remote, reason);
          else if (action === "kick") await client.kick(chat, remote, reason);
          else await client.unban(chat, remote);
          return undefined;
        }),
      );
    }
    await this.d.audit.record({ ...req, action, results });
    return results;
  }

  // ---- mute ----

  /**
   * Mutes until `until` (ms since the epoch; undefined: until unmuted): a ghost on its linked
   * chats where the platform can; a Matrix user by power level in the room (given back when the
   * time is up).
   */
  async mute(req: ModerationRequest, until?: number): Promise<AuditResult[]> {
    const results = this.d.ghosts.isGhost(req.target)
      ? await this.onPlatforms(req, (client, chat, user) => client.mute(chat, user, until, req.reason))
      : [await Moderation.attempt("matrix", () => this.silence(req.roomId, req.target, until))];
    await this.d.audit.record({
      ...req,
      action: "mute",
      reason: [req.reason, until ? `until ${new Date(until).toISOString()}` : undefined]
        .filter(Boolean)
        .join(", "),
      results,
    });
    return results;
  }

  async unmute(req: ModerationRequest): Promise<AuditResult[]> {
    const results = this.d.ghosts.isGhost(req.target)
      ? await this.onPlatforms(req, (client, chat, user) => client.unmute(chat, user))
      : [await Moderation.attempt("matrix", () => this.unsilence(req.roomId, req.target))];
    await this.d.audit.record({ ...req, action: "unmute", results });
    return results;
  }

  private async onPlatforms(
    req: ModerationRequest,
    fn: (client: NetworkClient & MuteHandling, chat: RemoteChatRef, user: RemoteUserRef) => Promise<void>,
  ): Promise<AuditResult[]> {
    const remote: RemoteUserRef = { id: this.d.ghosts.remoteIdOf(req.target) ?? "" };
    const out: AuditResult[] = [];
    for (const portal of await this.targetPortals(req.roomId, req.target)) {
      out.push(
        await Moderation.attempt(whereOf(portal), async () => {
          const client = this.clientOf(portal);
          if (!client) throw notConnected(portal);
          if (!canMute(client)) throw cannot(portal, "mute people");
          await fn(client, chatRefOf(portal), remote);
          return undefined;
        }),
      );
    }
    return out;
  }

  /** Lowers a Matrix user's power level below what sending messages needs. */
  private async silence(roomId: string, mxid: string, until?: number): Promise<string | undefined> {
    const pl = (await this.d.bot.getState<PowerLevels>(roomId, "m.room.power_levels")) ?? {};
    const events = pl.events ?? {};
    const need = Math.min(
      ...["m.room.message", "m.reaction", "m.sticker"].map((t) =>
        level(events[t], level(pl.events_default, 0)),
      ),
    );
    const users = { ...(pl.users ?? {}) };
    const had = mxid in users ? level(users[mxid], 0) : undefined;
    const current = had ?? level(pl.users_default, 0);
    const existing = await this.d.store.query<{ previous_level: number | null }>(SQL_GET_MUTE, [
      roomId,
      mxid,
    ]);
    // Muted already: keep the level to give back from the first mute, only the end changes.
    const previous = existing.length ? existing[0]!.previous_level : (had ?? null);
    if (current >= need) {
      users[mxid] = need - 1;
      await this.d.bot.sendState(roomId, "m.room.power_levels", "", { ...pl, users });
    }
    await this.d.store.query(SQL_ADD_MUTE, [roomId, mxid, previous, until ? new Date(until) : null]);
    return undefined;
  }

  /** Gives a muted Matrix user their level back (or the room's default when they had none). */
  private async unsilence(roomId: string, mxid: string): Promise<string | undefined> {
    const rows = await this.d.store.query<{ previous_level: number | null }>(SQL_GET_MUTE, [roomId, mxid]);
    if (!rows.length) return "was not muted by the bridge";
    const pl = (await this.d.bot.getState<PowerLevels>(roomId, "m.room.power_levels")) ?? {};
    const users = { ...(pl.users ?? {}) };
    const previous = rows[0]!.previous_level;
    if (previous === null) delete users[mxid];
    else users[mxid] = previous;
    await this.d.bot.sendState(roomId, "m.room.power_levels", "", { ...pl, users });
    await this.d.store.query(SQL_REMOVE_MUTE, [roomId, mxid]);
    return undefined;
  }

  /** Unmutes Matrix users whose mute is over; called periodically. Returns how many. */
  async expireMutes(): Promise<number> {
    const rows = await this.d.store.query<{ room_id: string; mxid: string }>(SQL_EXPIRED_MUTES);
    for (const r of rows) {
      const results = [await Moderation.attempt("matrix", () => this.unsilence(r.room_id, r.mxid))];
      // A room the bot can no longer change must not come back every minute.
      if (!results[0]!.ok) await this.d.store.query(SQL_REMOVE_MUTE, [r.room_id, r.mxid]);
      await this.d.audit.recordQuietly({
        roomId: r.room_id,
        action: "unmute",
        actor: this.d.bot.userId,
        target: r.mxid,
        reason: "the mute's time was up",
        results,
      });
    }
    return rows.length;
  }
}

function notConnected(portal: Portal): Error {
  return new BridgeError(`the ${portal.platform} login of this room is not connected`);
}

function cannot(portal: Portal, what: string): Error {
  return new BridgeError(`${portal.platform} does not let the bridge ${what}`);
}
