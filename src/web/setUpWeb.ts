import type { AiService } from "../ai/AiService";
import type { CommandHandler } from "../commands/CommandHandler";
import { type DirectChatDeps, startDirectChat } from "../commands/pm";
import type { BridgeConfig } from "../config/types";
import type { Audit } from "../core/Audit";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import type { Permissions } from "../core/Permissions";
import type { PortalService } from "../core/PortalService";
import type { Quarantine } from "../core/Quarantine";
import type { Metrics } from "../http/Metrics";
import type { Intent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import { HourlyStarts } from "./HourlyStarts";
import { LoginAttempts } from "./LoginAttempts";
import { StaticUi } from "./StaticUi";
import { UserApi } from "./UserApi";
import { WebSessions } from "./WebSessions";

/** Where the web page's API is served. */
export const WEB_API_PREFIX = "/_clawbridge/api";

/** The web page and its API, when `web.enabled`. */
export function setUpWeb(opts: {
  config: BridgeConfig;
  permissions: Permissions;
  registry: ConnectorRegistry;
  commands: CommandHandler;
  portals: PortalService;
  store: Store;
  bot: Intent;
  ai?: AiService;
  queueDepth(): number;
  metrics: Metrics;
  quarantine: Quarantine;
  audit: Audit;
  /** Brings the history of a direct chat started here over at once. */
  backfill?: DirectChatDeps["backfill"];
}): { api: UserApi; ui: StaticUi } | undefined {
  const { config } = opts;
  if (!config.web.enabled) return undefined;
  const sessions = new WebSessions({
    homeserverUrl: config.homeserver.url,
    domain: config.homeserver.domain,
    permissions: opts.permissions,
    sessionMs: config.web.session_minutes * 60_000,
  });
  const api = new UserApi({
    prefix: WEB_API_PREFIX,
    homeserverUrl: config.homeserver.url,
    sessions,
    attempts: new LoginAttempts({ registry: opts.registry, perHour: config.web.login_starts_per_hour }),
    registry: opts.registry,
    commands: opts.commands,
    portals: opts.portals,
    store: opts.store,
    bot: opts.bot,
    ai: opts.ai,
    queueDepth: opts.queueDepth,
    latency: () => opts.metrics.recentLatency.recent(),
    quarantine: opts.quarantine,
    audit: opts.audit,
    startDirectChat: (who, platform, user) =>
      startDirectChat(
        { registry: opts.registry, portals: opts.portals, bot: opts.bot, backfill: opts.backfill },
        who,
        platform,
        user,
      ),
    chatStarts: new HourlyStarts(config.web.chat_starts_per_hour),
  });
  const ui = new StaticUi({
    homeserverUrl: config.homeserver.url,
    frameAncestors: config.web.widget_origins,
  });
  return { api, ui };
}
