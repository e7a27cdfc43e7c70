import type { BridgeConfig, PermissionLevel } from "../config/types";

const RANK: Record<PermissionLevel, number> = { relay: 1, user: 2, admin: 3 };

/**
 * Who may use the bridge, from `bridge.permissions`: a full MXID beats a server name, which
 * beats `*`. Users with no entry have no level and get one polite refusal.
 *
 * The bridge's own users (its bot, the AI puppet, every ghost: `bridgeUser`) never have a
 * level, whatever the table says: a server-name entry would cover them all, and what they send
 * (a platform user's text, a model's answer) must never run as a command, invite the AI or
 * pass for a Matrix user's choice.
 */
export class Permissions {
  constructor(
    private readonly table: Record<string, PermissionLevel>,
    private readonly ghost: (mxid: string) => boolean = () => false,
  ) {}

  /** Whether `mxid` is one of the bridge's own users (bot, AI puppet, a platform user's ghost). */
  isGhost(mxid: string): boolean {
    return this.ghost(mxid);
  }

  levelOf(mxid: string): PermissionLevel | undefined {
    if (this.ghost(mxid)) return undefined;
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

/**
 * Whether `mxid` is one of the bridge's own users — the bot, the AI puppet or a ghost of any
 * configured platform (enabled or not), i.e. an id in the registration's user namespaces — or a
 * user of another appservice listed in `bridge.other_appservice_users`.
 */
export function bridgeUserMatcher(config: BridgeConfig): (mxid: string) => boolean {
  const domain = `:${config.homeserver.domain}`;
  const exact = new Set([`@${config.bridge.bot.localpart}${domain}`, `@${config.ai.localpart}${domain}`]);
  const prefixes = Object.values(config.platforms).map((p) => `@${p.ghost_prefix}`);
  const others = config.bridge.other_appservice_users.map((re) => new RegExp(`^(?:${re})$`, "u"));
  return (mxid) =>
    exact.has(mxid) ||
    (mxid.endsWith(domain) && prefixes.some((prefix) => mxid.startsWith(prefix))) ||
    others.some((re) => re.test(mxid));
}
