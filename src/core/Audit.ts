import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";

const log = new Logger("Audit");

const SQL_INSERT = `INSERT INTO moderation_audit (room_id, action, actor, target, reason, results)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id`;
const SQL_LIST = `SELECT id, room_id, action, actor, target, reason, results, created_at FROM moderation_audit
  WHERE ($1::text IS NULL OR room_id = $1) ORDER BY id DESC LIMIT $2`;
const SQL_RENAME_TARGET = "UPDATE moderation_audit SET target = $2 WHERE target = $1";

/** What one side (Matrix, or one linked chat) made of an action. */
export interface AuditResult {
  /** `matrix`, or `<platform> <chat id>`. */
  where: string;
  ok: boolean;
  /** Why it failed or was not possible, as shown to people (no internals). */
  detail?: string;
}

export type AuditAction =
  | "ban"
  | "unban"
  | "kick"
  | "mute"
  | "unmute"
  | "purge"
  | "forget"
  | "redact"
  | (string & {});

export interface AuditEntry {
  /** The room; undefined for an action over the whole bridge (an erasure). */
  roomId?: string;
  action: AuditAction;
  /** Who asked: a Matrix user id (or the bridge itself for automatic actions). */
  actor: string;
  /** Whom it was done to: a Matrix user id, a ghost's id, or a pseudonym after an erasure. */
  target: string;
  reason?: string;
  results: AuditResult[];
}

export interface StoredAuditEntry extends AuditEntry {
  id: string;
  createdAt: Date;
}

interface AuditDb {
  id: string;
  room_id: string | null;
  action: string;
  actor: string;
  target: string;
  reason: string | null;
  results: unknown;
  created_at: Date;
}

function resultsOf(raw: unknown): AuditResult[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (r): r is AuditResult =>
      typeof r === "object" && r !== null && typeof r.where === "string" && typeof r.ok === "boolean",
  );
}

/** PostgreSQL keeps no NUL and jsonb no lone surrogate: both become U+FFFD; at most 1000 characters. */
function storable(s: string | undefined): string | undefined {
  return s
    ?.slice(0, 1000)
    .replace(/\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/**
 * The moderation audit log (`moderation_audit`): every ban, kick, unban, mute, purge, erasure
 * and mirrored removal the bridge did, who asked, and each side's outcome.
 */
/** An audit entry as the HTTP APIs answer it (snake_case, nulls for what is unset). */
export function auditEntryJson(e: StoredAuditEntry): Record<string, unknown> {
  return {
    id: e.id,
    room_id: e.roomId ?? null,
    action: e.action,
    actor: e.actor,
    target: e.target,
    reason: e.reason ?? null,
    results: e.results.map((r) => ({ where: r.where, ok: r.ok, detail: r.detail ?? null })),
    created_at: e.createdAt.toISOString(),
  };
}

export class Audit {
  constructor(private readonly store: Pick<Store, "query">) {}

  async record(entry: AuditEntry): Promise<string> {
    const rows = await this.store.query<{ id: string }>(SQL_INSERT, [
      entry.roomId ?? null,
      entry.action,
      entry.actor,
      entry.target,
      storable(entry.reason) ?? null,
      JSON.stringify(entry.results.map((r) => ({ ...r, detail: storable(r.detail) }))),
    ]);
    log.info("moderation action", {
      action: entry.action,
      room: entry.roomId,
      actor: entry.actor,
      failed: entry.results.filter((r) => !r.ok).length,
    });
    return String(rows[0]!.id);
  }

  /** Like {@link record}, for actions already done: a database failure is logged, not thrown. */
  async recordQuietly(entry: AuditEntry): Promise<void> {
    await this.record(entry).catch((err: unknown) =>
      log.warn("could not record a moderation action", { action: entry.action, err: String(err) }),
    );
  }

  /** The newest entries first; of one room, or of the whole bridge. */
  async list(opts: { roomId?: string; limit: number }): Promise<StoredAuditEntry[]> {
    const rows = await this.store.query<AuditDb>(SQL_LIST, [opts.roomId ?? null, opts.limit]);
    return rows.map((r) => ({
      id: String(r.id),
      roomId: r.room_id ?? undefined,
      action: r.action,
      actor: r.actor,
      target: r.target,
      reason: r.reason ?? undefined,
      results: resultsOf(r.results),
      createdAt: r.created_at,
    }));
  }

  /** Replaces a target in past entries (an erased person's id by a pseudonym); returns how many. */
  async renameTarget(from: string, to: string): Promise<number> {
    return (await this.store.query(`${SQL_RENAME_TARGET} RETURNING id`, [from, to])).length;
  }
}

/** One line per entry, for the `audit` command. */
export function auditLine(e: StoredAuditEntry): string {
  const when = e.createdAt.toISOString().slice(0, 16).replace("T", " ");
  const outcome = e.results.length
    ? e.results.map((r) => `${r.where}: ${r.ok ? "done" : `not done (${r.detail ?? "failed"})`}`).join("; ")
    : "nothing to do";
  const reason = e.reason ? ` (${e.reason})` : "";
  return `#${e.id} ${when} ${e.action} ${e.target} by ${e.actor}${reason} — ${outcome}`;
}
