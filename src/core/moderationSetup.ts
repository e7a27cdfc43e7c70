import { moderationCommands } from "../commands/moderation";
import type { BridgeConfig } from "../config/types";
import type { Intent, MatrixApi } from "../matrix/MatrixApi";
import { Pruner } from "../store/Pruner";
import type { Store } from "../store/Store";
import { Audit } from "./Audit";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import { Erasure, pruneMessageMap } from "./Erasure";
import type { GhostService } from "./GhostService";
import { Moderation } from "./Moderation";
import type { PortalService } from "./PortalService";

/** How often mutes whose time is up are lifted (a mute lasts a minute at least). */
const MUTE_SWEEP_MS = 15_000;
/** How often the message map is pruned when `moderation.message_retention_days` is set. */
const RETENTION_PRUNE_MS = 3600_000;

/**
 * The moderation part of the bridge in one place: the audit log, moderation and erasure
 * services, their commands, the outbound hook and the periodic sweeps.
 */
export function setUpModeration(opts: {
  config: BridgeConfig;
  store: Store;
  bot: Intent;
  api: MatrixApi;
  portals: PortalService;
  registry: ConnectorRegistry;
  ghosts: GhostService;
}) {
  const { config, store } = opts;
  const audit = new Audit(store);
  const moderation = new Moderation({ ...opts, audit });
  const erasure = new Erasure({ ...opts, audit });
  const sweeps = [
    new Pruner({
      what: "mutes whose time is up",
      prune: () => moderation.expireMutes(),
      intervalMs: MUTE_SWEEP_MS,
    }),
  ];
  const days = config.moderation.message_retention_days;
  if (days > 0)
    sweeps.push(
      new Pruner({
        what: "message-map rows past moderation.message_retention_days",
        prune: () => pruneMessageMap(store, days),
        intervalMs: RETENTION_PRUNE_MS,
      }),
    );
  return {
    audit,
    moderation,
    erasure,
    commands: moderationCommands({
      ...opts,
      moderation,
      erasure,
      audit,
      minPowerLevel: config.moderation.min_power_level,
    }),
    /** For OutboundBridge's `moderation` option. */
    outbound: {
      drops: (ev: Parameters<Moderation["drops"]>[0]) => moderation.drops(ev),
      mirrored: (entry: Parameters<Audit["recordQuietly"]>[0]) => audit.recordQuietly(entry),
    },
    start(): void {
      for (const s of sweeps) s.start();
    },
    async stop(): Promise<void> {
      await Promise.all(sweeps.map((s) => s.stop()));
    },
  };
}
