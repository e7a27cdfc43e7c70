import { randomBytes } from "node:crypto";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { MessageRow, Portal } from "../store/types";
import type { Audit, AuditResult } from "./Audit";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import { canRedact } from "./connector";
import { BridgeError, userText } from "./errors";
import type { GhostService } from "./GhostService";
import { txnIdFor } from "./InboundBridge";
import { chatRefOf } from "./OutboundBridge";
import type { PortalService } from "./PortalService";
import { POLL_START } from "./richContent";

const log = new Logger("Erasure");

/** Pages of 100 events of room history that purge reads at most, looking for a person's messages. */
const HISTORY_PAGES = 10;

/** A person's newest messages in a room, one row per Matrix event. */
const SQL_RECENT_EVENTS = `SELECT event_id FROM message WHERE room_id = $1 AND sender_mxid = $2
  GROUP BY event_id ORDER BY max("timestamp") DESC LIMIT $3`;
/** Every Matrix event of a ghost (its messages and its reactions), for redaction. */
const SQL_EVENTS_OF = `SELECT DISTINCT room_id, event_id FROM message WHERE sender_mxid = $1
  UNION SELECT DISTINCT room_id, event_id FROM reaction WHERE platform = $2 AND sender = $3`;
const SQL_DELETE_MESSAGES = `WITH d AS (DELETE FROM message
  WHERE sender_mxid = $1 OR (platform = $2 AND remote_sender = $3) RETURNING 1) SELECT count(*)::int AS n FROM d`;
const SQL_DELETE_REACTIONS = `WITH d AS (DELETE FROM reaction WHERE platform = $1 AND sender = $2 RETURNING 1)
  SELECT count(*)::int AS n FROM d`;
const SQL_DELETE_GHOST =
  "WITH d AS (DELETE FROM ghost WHERE mxid = $1 RETURNING 1) SELECT count(*)::int AS n FROM d";
const SQL_DELETE_GHOST_ROOMS = "DELETE FROM ghost_room WHERE mxid = $1";
const SQL_PRUNE_MESSAGES = `WITH d AS (DELETE FROM message WHERE "timestamp" < now() - make_interval(days => $1)
  RETURNING 1) SELECT count(*)::int AS n FROM d`;

export interface ErasureDeps {
  store: Pick<Store, "query" | "getMessagesByEvent" | "deleteMessagesByEvent">;
  bot: Intent;
  /** Reads the room's history (as the bot) to find a person's messages that were never bridged. */
  api: Pick<MatrixApi, "request">;
  portals: Pick<PortalService, "forRoom">;
  registry: Pick<ConnectorRegistry, "client" | "clientForPlatform">;
  ghosts: Pick<GhostService, "intentOf" | "forgetCached">;
  audit: Audit;
}

/** Tally of one side's outcome over many messages. */
class Tally {
  private readonly sides = new Map<string, { done: number; failed: number; detail?: string }>();

  add(where: string, ok: boolean, detail?: string): void {
    const s = this.sides.get(where) ?? { done: 0, failed: 0 };
    if (ok) s.done++;
    else {
      s.failed++;
      s.detail ??= detail;
    }
    this.sides.set(where, s);
  }

  results(noun: string): AuditResult[] {
    const sides = [...this.sides].sort(([a], [b]) => Number(b === "matrix") - Number(a === "matrix"));
    return sides.map(([where, s]) => {
      const n = s.done + s.failed;
      const count = `${s.done} of ${n} ${noun}${n === 1 ? "" : "s"}`;
      return s.failed
        ? { where, ok: false, detail: `${count}; ${s.detail ?? "failed"}` }
        : { where, ok: true, detail: count };
    });
  }
}

/**
 * Removing what people wrote and what the bridge knows about them: `purge` (a person's recent
 * messages in a room, in Matrix and on every linked chat), `forget` (a remote person's rows, and
 * optionally their messages) and the message-map retention.
 */
export class Erasure {
  constructor(private readonly d: ErasureDeps) {}

  /**
   * Removes the `n` newest bridged messages of `target` in the room: redacted in Matrix by the
   * bot, deleted on every linked chat through the message map. Returns each side's tally.
   */
  async purge(req: { roomId: string; actor: string; target: string }, n: number): Promise<AuditResult[]> {
    const { store, bot } = this.d;
    const events = await this.newest(req.roomId, req.target, n);
    const portals = await this.d.portals.forRoom(req.roomId);
    const tally = new Tally();
    for (const eventId of events) {
      // Remote copies first, then the map rows, then the Matrix redaction: the bot's redaction is
      // relayed to the linked chats like a moderator's, and must find nothing left to delete.
      for (const row of await store.getMessagesByEvent(eventId)) await this.deleteRemote(row, portals, tally);
      await store.deleteMessagesByEvent(eventId);
      try {
        await bot.redact(req.roomId, eventId, txnIdFor("purge", eventId), "purged by a moderator");
        tally.add("matrix", true);
      } catch (err) {
        tally.add("matrix", false, userText(err));
      }
    }
    const results = tally.results("message");
    await this.d.audit.record({
      ...req,
      action: "purge",
      reason: `${n} newest asked, ${events.length} found`,
      results,
    });
    return results;
  }

  /**
   * The ids of a person's `n` newest messages in the room: from the room's history (so messages
   * that were never bridged count too), else, when the history cannot be read, from the
   * message map.
   */
  private async newest(roomId: string, sender: string, n: number): Promise<string[]> {
    const filter = JSON.stringify({
      senders: [sender],
      types: ["m.room.message", "m.sticker", "m.room.encrypted", POLL_START],
    });
    const found: string[] = [];
    let from: string | undefined;
    try {
      for (let page = 0; page < HISTORY_PAGES && found.length < n; page++) {
        const res = await this.d.api.request<{ chunk?: RoomEvent[]; end?: string }>(
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages`,
          { userId: this.d.bot.userId, query: { dir: "b", limit: 100, filter, from } },
        );
        for (const e of res.chunk ?? []) {
          const redacted = (e.unsigned as { redacted_because?: unknown } | undefined)?.redacted_because;
          if (e.sender === sender && !redacted && Object.keys(e.content ?? {}).length) found.push(e.event_id);
        }
        if (!res.end || !res.chunk?.length) break;
        from = res.end;
      }
      return found.slice(0, n);
    } catch (err) {
      log.warn("purge: room history not readable, using the message map", { room: roomId, err: String(err) });
      const rows = await this.d.store.query<{ event_id: string }>(SQL_RECENT_EVENTS, [roomId, sender, n]);
      return rows.map((r) => r.event_id);
    }
  }

  /** Deletes one remote copy; tallies it under its chat. False when it stays on the platform. */
  private async deleteRemote(row: MessageRow, portals: Portal[], tally: Tally): Promise<boolean> {
    const where = `${row.platform} ${row.chatId}`;
    const portal = portals.find((p) => p.platform === row.platform && p.chatId === row.chatId);
    if (!portal) return true; // the chat is no longer linked: nothing the bridge can reach
    const entry =
      this.d.registry.client(portal.loginId) ?? this.d.registry.clientForPlatform(portal.platform);
    try {
      if (!entry) throw new BridgeError(`the ${portal.platform} login of this room is not connected`);
      if (!canRedact(entry.client))
        throw new BridgeError(`${portal.platform} does not let the bridge delete messages`);
      await entry.client.deleteMessage(chatRefOf(portal), row.remoteId);
      tally.add(where, true);
      return true;
    } catch (err) {
      log.info("purge: remote copy not deleted", { platform: row.platform, err: String(err) });
      tally.add(where, false, userText(err));
      return false;
    }
  }

  /**
   * Erases what the bridge holds about a remote person: their message-map and reaction rows,
   * their ghost's profile and room rows; with `redact`, their messages and reactions in Matrix
   * first. The audit log keeps a pseudonym, and the person's past entries get it too.
   */
  async forget(
    req: { actor: string; mxid: string; platform: string; remoteId: string },
    redact: boolean,
  ): Promise<{ pseudonym: string; results: AuditResult[] }> {
    const { store, bot, ghosts } = this.d;
    const { mxid, platform, remoteId } = req;
    const results: AuditResult[] = [];
    const intent = ghosts.intentOf(mxid);
    if (redact) {
      const tally = new Tally();
      const events = await store.query<{ room_id: string; event_id: string }>(SQL_EVENTS_OF, [
        mxid,
        platform,
        remoteId,
      ]);
      for (const e of events) {
        const txn = txnIdFor("forget", e.event_id);
        try {
          // The ghost may take back its own events; the bot where the ghost is gone.
          await intent.redact(e.room_id, e.event_id, txn).catch(() => bot.redact(e.room_id, e.event_id, txn));
          tally.add("matrix", true);
        } catch (err) {
          tally.add("matrix", false, userText(err));
        }
      }
      results.push(...tally.results("message"));
    }
    const count = async (sql: string, params: unknown[]) =>
      (await store.query<{ n: number }>(sql, params))[0]?.n ?? 0;
    const messages = await count(SQL_DELETE_MESSAGES, [mxid, platform, remoteId]);
    const reactions = await count(SQL_DELETE_REACTIONS, [platform, remoteId]);
    const ghostRows = await count(SQL_DELETE_GHOST, [mxid]);
    await store.query(SQL_DELETE_GHOST_ROOMS, [mxid]);
    ghosts.forgetCached(mxid);
    // The homeserver keeps the profile the bridge gave the ghost: replaced by a neutral one.
    let profile = "profile cleared";
    try {
      await intent.setDisplayName(`Removed ${platform} user`);
      await intent.setAvatarUrl("").catch(() => undefined);
    } catch (err) {
      profile = `profile not cleared (${userText(err)})`;
    }
    results.push({
      where: "bridge",
      ok: true,
      detail: `${messages} message-map rows, ${reactions} reactions, ${ghostRows} ghost rows removed; ${profile}`,
    });
    const pseudonym = `erased-${platform}-${randomBytes(5).toString("hex")}`;
    await this.d.audit.renameTarget(mxid, pseudonym);
    await this.d.audit.record({ action: "forget", actor: req.actor, target: pseudonym, results });
    return { pseudonym, results };
  }
}

/** Forgets message-map rows older than `days` days (`moderation.message_retention_days`); returns how many. */
export async function pruneMessageMap(store: Pick<Store, "query">, days: number): Promise<number> {
  return (await store.query<{ n: number }>(SQL_PRUNE_MESSAGES, [days]))[0]?.n ?? 0;
}
