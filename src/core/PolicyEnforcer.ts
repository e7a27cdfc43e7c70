import { remoteIdFromGhost } from "../config/Config";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import { canModerate } from "./connector";
import { BridgeError, userText } from "./errors";
import type { GhostService } from "./GhostService";
import { Lanes } from "./lanes";
import { chatRefOf } from "./OutboundBridge";
import type { PortalService } from "./PortalService";
import type { PolicyRule } from "./policyRules";

const log = new Logger("PolicyEnforcer");

const SQL_BAN_GET = "SELECT room_id, mxid, matrix, chats FROM policy_ban WHERE room_id = $1 AND mxid = $2";
const SQL_BANS_OF_ROOM = "SELECT room_id, mxid, matrix, chats FROM policy_ban WHERE room_id = $1";
const SQL_BAN_ROOMS = "SELECT DISTINCT room_id FROM policy_ban";
const SQL_BAN_INSERT = `INSERT INTO policy_ban (room_id, mxid, list_room_id, entity, matrix, chats)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (room_id, mxid) DO NOTHING`;
const SQL_BAN_CHATS = "UPDATE policy_ban SET chats = $3::jsonb WHERE room_id = $1 AND mxid = $2";
const SQL_BAN_DELETE = "DELETE FROM policy_ban WHERE room_id = $1 AND mxid = $2";

/** What one side (Matrix, or one linked chat) made of an action, as the audit log keeps it. */
export interface PolicyActionResult {
  where: string;
  ok: boolean;
  detail?: string;
}

/** One ban or unban the bridge did for a rule (the shape of the moderation audit log's entries). */
export interface PolicyAuditEntry {
  roomId: string;
  action: "ban" | "unban";
  /** Who set (or removed) the rule, else the bridge bot. */
  actor: string;
  target: string;
  reason?: string;
  results: PolicyActionResult[];
}

/** The rule behind a ban and the list it is in. */
/** What policy enforcement works with (src/core/PolicyLists.ts, src/core/PolicyEnforcer.ts). */
export interface PolicyDeps {
  config: BridgeConfig;
  api: MatrixApi;
  bot: Intent;
  store: Store;
  portals: PortalService;
  ghosts: GhostService;
  registry: ConnectorRegistry;
  /** Records an action in the moderation audit log; unset: it is logged. */
  audit?(entry: PolicyAuditEntry): Promise<void>;
}

export interface PolicyMatch {
  rule: PolicyRule;
  list: { roomId: string; ref: string };
}

/** A chat where a ban was tried: `ok` false when the platform refused (nothing to lift there). */
interface BannedChat {
  platform: string;
  chat_id: string;
  ok?: boolean;
}

interface BanRow {
  room_id: string;
  mxid: string;
  matrix: boolean;
  chats: BannedChat[];
}

/**
 * Bans for policy rules and their lifting, recorded in `policy_ban` so that a lift undoes
 * exactly what was done: the Matrix ban only when the bridge made it, the platform bans only
 * where they succeeded. A chat linked to the room after the ban gets it at the person's next
 * message; a chat where the ban failed is not tried again at every message.
 */
export class PolicyEnforcer {
  private readonly lanes = new Lanes();
  /**
   * Bans known to be complete, with the room's portals they covered: a banned person's every
   * further message (a raid) then costs no database query until the room's links change.
   */
  private readonly complete = new Map<string, string>();

  constructor(
    private readonly opts: PolicyDeps & {
      /** Whether a followed rule still bans `mxid` in `roomId` (checked before a lift). */
      stillBanned(mxid: string, roomId: string): boolean;
    },
  ) {}

  /** Rooms where the bridge holds bans made for rules. */
  async rooms(): Promise<string[]> {
    return (await this.opts.store.query<{ room_id: string }>(SQL_BAN_ROOMS)).map((r) => r.room_id);
  }

  /** Lifts the bans in a room that no followed rule holds any more. */
  async liftStale(roomId: string): Promise<void> {
    const bans = await this.opts.store.query<BanRow>(SQL_BANS_OF_ROOM, [roomId]);
    for (const b of bans) if (!this.opts.stillBanned(b.mxid, roomId)) await this.lift(b);
  }

  /** Bans a remote person's ghost in the room and on the room's chats of its platform. */
  enforce(roomId: string, mxid: string, match: PolicyMatch): Promise<void> {
    const key = `${roomId}\n${mxid}`;
    return this.lanes.run(key, async () => {
      const { store, bot, ghosts, config } = this.opts;
      const links = (await this.opts.portals.forRoom(roomId))
        .map((p) => `${p.platform}/${p.chatId}`)
        .join(" ");
      if (this.complete.get(key) === links) return;
      const done = (await store.query<BanRow>(SQL_BAN_GET, [roomId, mxid]))[0];
      const remote = remoteIdFromGhost(config, mxid);
      const tried = new Set((done?.chats ?? []).map((c) => `${c.platform}\n${c.chat_id}`));
      const portals = remote
        ? (await this.opts.portals.forRoom(roomId)).filter(
            (p) => p.platform === remote.platform && !tried.has(`${p.platform}\n${p.chatId}`),
          )
        : [];
      if (done && !portals.length) {
        this.complete.set(key, links);
        return;
      }
      const { rule, list } = match;
      const reason = `${rule.reason || "banned"} (policy list ${list.ref})`;
      const results: PolicyActionResult[] = [];
      let matrix = false;
      if (!done) {
        matrix = await this.matrixBan(roomId, mxid, reason, results);
        await ghosts.forgetMembership(mxid, roomId);
      }
      const chats: BannedChat[] = [...(done?.chats ?? [])];
      for (const portal of portals) {
        const where = `${portal.platform} ${portal.chatId}`;
        try {
          await this.platformModerate(portal, remote!.remoteId, "ban", reason);
          chats.push({ platform: portal.platform, chat_id: portal.chatId, ok: true });
          results.push({ where, ok: true });
        } catch (err) {
          chats.push({ platform: portal.platform, chat_id: portal.chatId, ok: false });
          results.push({ where, ok: false, detail: userText(err) });
        }
      }
      if (done) await store.query(SQL_BAN_CHATS, [roomId, mxid, JSON.stringify(chats)]);
      else
        await store.query(SQL_BAN_INSERT, [
          roomId,
          mxid,
          list.roomId,
          rule.entity,
          matrix,
          JSON.stringify(chats),
        ]);
      this.complete.set(key, links);
      await this.record({
        roomId,
        action: "ban",
        actor: rule.sender ?? bot.userId,
        target: mxid,
        reason,
        results,
      });
    });
  }

  /** Bans in the room unless someone did before (then it is not the bridge's to lift). */
  private async matrixBan(
    roomId: string,
    mxid: string,
    reason: string,
    results: PolicyActionResult[],
  ): Promise<boolean> {
    const { bot } = this.opts;
    const member = await bot
      .getState<{ membership?: unknown }>(roomId, "m.room.member", mxid)
      .catch(() => undefined);
    if (member?.membership === "ban") {
      results.push({ where: "matrix", ok: true, detail: "already banned" });
      return false;
    }
    try {
      await bot.ban(roomId, mxid, reason);
      results.push({ where: "matrix", ok: true });
      return true;
    } catch (err) {
      results.push({ where: "matrix", ok: false, detail: userText(err) });
      return false;
    }
  }

  /** Undoes what {@link enforce} did, once no rule bans the person there any more. */
  private lift(ban: BanRow): Promise<void> {
    return this.lanes.run(`${ban.room_id}\n${ban.mxid}`, async () => {
      const { store, bot, api, config } = this.opts;
      if (this.opts.stillBanned(ban.mxid, ban.room_id)) return;
      this.complete.delete(`${ban.room_id}\n${ban.mxid}`);
      const results: PolicyActionResult[] = [];
      if (ban.matrix) {
        try {
          await api.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(ban.room_id)}/unban`, {
            userId: bot.userId,
            body: { user_id: ban.mxid, reason: "the policy rule was removed" },
          });
          results.push({ where: "matrix", ok: true });
        } catch (err) {
          results.push({ where: "matrix", ok: false, detail: userText(err) });
        }
      }
      const remote = remoteIdFromGhost(config, ban.mxid);
      for (const c of Array.isArray(ban.chats) ? ban.chats : []) {
        if (c.ok === false) continue;
        const where = `${c.platform} ${c.chat_id}`;
        const portal = await this.opts.portals.get(c.platform, c.chat_id);
        if (!portal || !remote) {
          results.push({ where, ok: false, detail: "the chat is no longer linked" });
          continue;
        }
        try {
          await this.platformModerate(portal, remote.remoteId, "unban");
          results.push({ where, ok: true });
        } catch (err) {
          results.push({ where, ok: false, detail: userText(err) });
        }
      }
      await store.query(SQL_BAN_DELETE, [ban.room_id, ban.mxid]);
      await this.record({
        roomId: ban.room_id,
        action: "unban",
        actor: bot.userId,
        target: ban.mxid,
        reason: "the policy rule was removed",
        results,
      });
    });
  }

  /**
   * Bans or unbans a remote person in one linked chat through the connector: the one place
   * policy bans reach the platforms.
   */
  private async platformModerate(
    portal: Portal,
    remoteId: string,
    action: "ban" | "unban",
    reason?: string,
  ): Promise<void> {
    const { registry } = this.opts;
    const entry = registry.client(portal.loginId) ?? registry.clientForPlatform(portal.platform);
    if (!entry) throw new BridgeError(`the ${portal.platform} login of this room is not connected`);
    if (!canModerate(entry.client))
      throw new BridgeError(`${portal.platform} does not let the bridge ban people`);
    const chat = chatRefOf(portal);
    if (action === "ban") await entry.client.ban(chat, { id: remoteId }, reason);
    else await entry.client.unban(chat, { id: remoteId });
  }

  /** The audit log when there is one; the log otherwise. */
  private async record(entry: PolicyAuditEntry): Promise<void> {
    if (this.opts.audit) {
      await this.opts
        .audit(entry)
        .catch((err: unknown) =>
          log.warn("could not record a policy action", { action: entry.action, err: String(err) }),
        );
      return;
    }
    log.info("policy action", {
      action: entry.action,
      room: entry.roomId,
      target: entry.target,
      results: entry.results.map((r) => `${r.where}: ${r.ok ? "done" : `not done (${r.detail})`}`).join("; "),
    });
  }
}
