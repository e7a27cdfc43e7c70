/** The socket options every WhatsApp socket of the bridge uses. */
import type { UserFacingSocketConfig } from "@whiskeysockets/baileys";
import type { Logger } from "../../src/log/Logger";
import { baileys } from "./baileys";
import type { WhatsAppConfig } from "./config";
import type { PgAuth } from "./PgAuthState";
import { baileysLogger } from "./waLogger";

export function socketOptions(cfg: WhatsAppConfig, auth: PgAuth, log: Logger): UserFacingSocketConfig {
  const B = baileys();
  const logger = baileysLogger(log);
  return {
    waWebSocketUrl: cfg.websocketUrl,
    auth: { creds: auth.state.creds, keys: B.makeCacheableSignalKeyStore(auth.state.keys, logger) },
    logger,
    browser: [cfg.deviceName, "Chrome", "1.0.0"],
    connectTimeoutMs: cfg.connectTimeoutMs,
    defaultQueryTimeoutMs: cfg.queryTimeoutMs,
    // The bridge is a background device: it must not mark the user online, nor pull years of
    // history (the recent sync stays on: baileys learns privacy-id mappings from it).
    markOnlineOnConnect: false,
    syncFullHistory: false,
    generateHighQualityLinkPreview: false,
  };
}
