import type { PermissionLevel } from "../config/types";

const RANK: Record<PermissionLevel, number> = { relay: 1, user: 2, admin: 3 };

/**
 * Who may use the bridge, from `bridge.permissions`: a full MXID beats a server name, which
 * beats `*`. Users with no entry have no level and get one polite refusal.
 */
export class Permissions {
  constructor(private readonly table: Record<string, PermissionLevel>) {}

  levelOf(mxid: string): PermissionLevel | undefined {
    const exact = this.table[mxid];
    if (exact) return exact;
    const domain = mxid.slice(mxid.indexOf(":") + 1);
    return this.table[domain] ?? this.table["*"];
  }

  /** Whether `mxid` has at least `needed`. */
  allows(mxid: string, needed: PermissionLevel): boolean {
    const level = this.levelOf(mxid);
    return level !== undefined && RANK[level] >= RANK[needed];
  }
}
