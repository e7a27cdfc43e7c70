import { type Audit, auditEntryJson } from "../core/Audit";
import type { Quarantine } from "../core/Quarantine";
import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import {
  InvalidParam,
  type ProvisioningHandler,
  type ProvisioningRequest,
  type ProvisioningResponse,
  tokenMatches,
} from "./HttpServer";

const log = new Logger("Provisioning");

/** Portals per page: default and most. */
const LIMIT = { min: 1, max: 1000, fallback: 100 };
/** A page may start this far in at most. */
const OFFSET = { min: 0, max: 1_000_000_000, fallback: 0 };
/** Connector names (`telegram`, `discord`, …). */
const PLATFORM = /^[a-z][a-z0-9_-]{0,31}$/;

/** A room id: `!` and printable ASCII (`:server` is optional since room version 12); 255 at most. */
const ROOM_ID = /^![\x21-\x7e]{1,254}$/;

/** `/v1/quarantine/{id}` and `/v1/quarantine/{id}/retry`; ids are bigserials. */
const QUARANTINE_ITEM = /^\/v1\/quarantine\/([1-9][0-9]{0,17})(\/retry)?$/;

function notQuarantined(id: string): ProvisioningResponse {
  return { status: 404, body: { errcode: "M_NOT_FOUND", error: `There is no #${id} in the quarantine` } };
}

/** The one value of a query parameter, or undefined when absent; given twice it is refused. */
function single(q: URLSearchParams, name: string, rule: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw new InvalidParam(name, `${rule} (given ${all.length} times)`);
  return all[0];
}

/** A whole-number query parameter within `range`, written in plain decimal digits. */
export function intParam(
  q: URLSearchParams,
  name: string,
  range: { min: number; max: number; fallback: number },
): number {
  const rule = `must be a whole number from ${range.min} to ${range.max} (default ${range.fallback})`;
  const raw = single(q, name, rule);
  if (raw === undefined) return range.fallback;
  const n = /^[0-9]{1,12}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= range.min && n <= range.max)) throw new InvalidParam(name, rule);
  return n;
}

/**
 * The provisioning API for integration managers and admin tools, authenticated with the
 * shared secret from config (`Authorization: Bearer <secret>`).
 */
export class Provisioning implements ProvisioningHandler {
  constructor(
    readonly prefix: string,
    private readonly secret: string,
    private readonly store: Pick<Store, "listPortals" | "countPortals">,
    /** What the bridge could not take or deliver (absent: those routes answer 404). */
    private readonly quarantine?: Pick<Quarantine, "list" | "retry" | "drop">,
    /** The moderation audit log (absent: `/v1/audit` answers 404). */
    private readonly audit?: Pick<Audit, "list">,
  ) {}

  authenticate(authorization: string | undefined, path: string): ProvisioningResponse | undefined {
    if (!authorization?.startsWith("Bearer ")) {
      return {
        status: 401,
        body: { errcode: "M_UNAUTHORIZED", error: "Missing Authorization: Bearer <shared secret>" },
      };
    }
    if (!tokenMatches(authorization.slice(7), this.secret)) {
      log.warn("provisioning request with a wrong secret refused", { path });
      return { status: 403, body: { errcode: "M_FORBIDDEN", error: "Wrong shared secret" } };
    }
    return undefined;
  }

  async handle(req: ProvisioningRequest): Promise<ProvisioningResponse> {
    const refusal = this.authenticate(req.authorization, req.path);
    if (refusal) return refusal;
    if (req.method === "GET" && req.path === "/v1/portals") return this.listPortals(req.query);
    if (this.audit && req.method === "GET" && req.path === "/v1/audit")
      return this.listAudit(this.audit, req.query);
    if (this.quarantine) {
      if (req.method === "GET" && req.path === "/v1/quarantine")
        return this.listQuarantine(this.quarantine, req.query);
      const item = QUARANTINE_ITEM.exec(req.path);
      if (item && req.method === "POST" && item[2] === "/retry") return this.retry(this.quarantine, item[1]);
      if (item && req.method === "DELETE" && !item[2]) return this.drop(this.quarantine, item[1]);
    }
    return { status: 404, body: { errcode: "M_UNRECOGNIZED", error: `No route ${req.method} ${req.path}` } };
  }

  private async listQuarantine(
    quarantine: Pick<Quarantine, "list">,
    q: URLSearchParams,
  ): Promise<ProvisioningResponse> {
    const { total, items } = await quarantine.list({
      limit: intParam(q, "limit", LIMIT),
      offset: intParam(q, "offset", OFFSET),
    });
    return {
      status: 200,
      body: {
        total,
        items: items.map((r) => ({
          id: r.id,
          kind: r.kind,
          queue_key: r.queueKey,
          event_id: r.eventId ?? null,
          room_id: r.roomId ?? null,
          reason: r.reason,
          attempts: r.attempts,
          created_at: r.createdAt.toISOString(),
          retryable: r.payloadSize > 0,
        })),
      },
    };
  }

  private async retry(quarantine: Pick<Quarantine, "retry">, id: string): Promise<ProvisioningResponse> {
    const result = await quarantine.retry(id);
    if (result === "queued") return { status: 200, body: { id, queued: true } };
    if (result === "not-found") return notQuarantined(id);
    return {
      status: 409,
      body: {
        errcode: "M_NOT_RETRYABLE",
        error: `#${id} was never stored whole, so it cannot be queued again`,
      },
    };
  }

  private async drop(quarantine: Pick<Quarantine, "drop">, id: string): Promise<ProvisioningResponse> {
    return (await quarantine.drop(id)) ? { status: 200, body: { id, dropped: true } } : notQuarantined(id);
  }

  /** The moderation audit log, newest first; of one room with `room`. */
  private async listAudit(audit: Pick<Audit, "list">, q: URLSearchParams): Promise<ProvisioningResponse> {
    const limit = intParam(q, "limit", LIMIT);
    const roomRule = "must be a Matrix room id (starting with !)";
    const room = single(q, "room", roomRule);
    if (room !== undefined && !ROOM_ID.test(room)) throw new InvalidParam("room", roomRule);
    const entries = await audit.list({ roomId: room, limit });
    return {
      status: 200,
      body: {
        entries: entries.map(auditEntryJson),
      },
    };
  }

  private async listPortals(q: URLSearchParams): Promise<ProvisioningResponse> {
    const limit = intParam(q, "limit", LIMIT);
    const offset = intParam(q, "offset", OFFSET);
    const platformRule = "must be a connector name (lower-case letters, digits, _ or -; at most 32)";
    const platform = single(q, "platform", platformRule);
    if (platform !== undefined && !PLATFORM.test(platform)) throw new InvalidParam("platform", platformRule);
    const [portals, total] = await Promise.all([
      this.store.listPortals({ platform, limit, offset }),
      this.store.countPortals(),
    ]);
    return {
      status: 200,
      body: {
        total,
        portals: portals.map((p) => ({
          platform: p.platform,
          chat_id: p.chatId,
          room_id: p.roomId,
          kind: p.kind,
          name: p.name ?? null,
          linked: p.linked,
        })),
      },
    };
  }
}
