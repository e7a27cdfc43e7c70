import type { PermissionLevel } from "../config/types";

const RANK: Record<PermissionLevel, number> = { relay: 1, user: 2, admin: 3 };

/**
 * Who may use the bridge, from `bridge.permissions`: a full MXID beats a server name, which
 * beats `*`. Users with no entry have no level and get one polite refusal.
 *
 * Ghosts live on the bridge's own server, so a server-name entry would cover every platform
 * user: they get a level only from an entry with their full MXID (platform users must not run
 * bridge or AI commands, or invite the AI, because the homeserver's own users may).
 */
export class Permissions {
  constructor(
    private readonly table: Record<string, PermissionLevel>,
    private readonly ghost: (mxid: string) => boolean = () => false,
  ) {}

  /** Whether `mxid` is one of the bridge's ghosts (a platform user). */
  isGhost(mxid: string): boolean {
    return this.ghost(mxid);
  }

  levelOf(mxid: string): PermissionLevel | undefined {
    const exact = this.table[mxid];
    if (exact) return exact;
    if (this.ghost(mxid)) return undefined;
    const domain = mxid.slice(mxid.indexOf(":") + 1);
    return this.table[domain] ?? this.table["*"];
  }

  /** Whether `mxid` has at least `needed`. */
  allows(mxid: string, needed: PermissionLevel): boolean {
    const level = this.levelOf(mxid);
    return level !== undefined && RANK[level] >= RANK[needed];
  }
}
