import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import { type ProvisioningRequest, type ProvisioningResponse, tokenMatches } from "./HttpServer";

const log = new Logger("Provisioning");

/**
 * The provisioning API for integration managers and admin tools, authenticated with the
 * shared secret from config (`Authorization: Bearer <secret>`).
 */
export class Provisioning {
  constructor(
    readonly prefix: string,
    private readonly secret: string,
    private readonly store: Store,
  ) {}

  async handle(req: ProvisioningRequest): Promise<ProvisioningResponse> {
    const auth = req.authorization;
    if (!auth?.startsWith("Bearer ")) {
      return {
        status: 401,
        body: { errcode: "M_UNAUTHORIZED", error: "Missing Authorization: Bearer <shared secret>" },
      };
    }
    if (!tokenMatches(auth.slice(7), this.secret)) {
      log.warn("provisioning request with a wrong secret refused", { path: req.path });
      return { status: 403, body: { errcode: "M_FORBIDDEN", error: "Wrong shared secret" } };
    }
    if (req.method === "GET" && req.path === "/v1/portals") return this.listPortals(req.query);
    return { status: 404, body: { errcode: "M_UNRECOGNIZED", error: `No route ${req.method} ${req.path}` } };
  }

  private async listPortals(q: URLSearchParams): Promise<ProvisioningResponse> {
    const limit = Math.min(Number(q.get("limit") ?? 100) || 100, 1000);
    const offset = Math.max(Number(q.get("offset") ?? 0) || 0, 0);
    const platform = q.get("platform") ?? undefined;
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
