import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import type { GhostService } from "../core/GhostService";
import type { PortalService } from "../core/PortalService";
import { Logger } from "../log/Logger";

const log = new Logger("SenderFilter");

/**
 * Senders the AI never answers: itself, the bridge bot, users matching `ai.ignore_users`
 * (other bridges' bots) and ghosts of platform bots (asked of the platform once, then cached).
 */
export class SenderFilter {
  private readonly ignore: RegExp[];
  private readonly ghostBots = new Map<string, boolean>();

  constructor(
    private readonly opts: {
      aiUserId: string;
      botUserId: string;
      ignoreUsers: string[];
      ghosts: GhostService;
      portals: PortalService;
      registry: ConnectorRegistry;
    },
  ) {
    this.ignore = opts.ignoreUsers.map((p) => new RegExp(p, "u"));
  }

  async ignored(roomId: string, sender: string): Promise<boolean> {
    const { aiUserId, botUserId, ghosts } = this.opts;
    if (sender === aiUserId || sender === botUserId) return true;
    if (this.ignore.some((re) => re.test(sender))) return true;
    if (!ghosts.isGhost(sender)) return false;
    const known = this.ghostBots.get(sender);
    if (known !== undefined) return known;
    const isBot = await this.askPlatform(roomId, sender);
    this.ghostBots.set(sender, isBot);
    return isBot;
  }

  private async askPlatform(roomId: string, ghost: string): Promise<boolean> {
    const { ghosts, portals, registry } = this.opts;
    const remoteId = ghosts.remoteIdOf(ghost);
    for (const portal of await portals.forRoom(roomId)) {
      if (!remoteId || !ghosts.isGhost(ghost, portal.platform)) continue;
      const entry = registry.client(portal.loginId) ?? registry.clientForPlatform(portal.platform);
      if (!entry) continue;
      try {
        return (await entry.client.userInfo({ id: remoteId })).isBot === true;
      } catch (err) {
        log.debug("could not ask the platform whether a ghost is a bot", { ghost, err: String(err) });
        return false;
      }
    }
    return false;
  }
}
