/** The socket options every WhatsApp socket of the bridge uses, and what watches its upgrade. */
import type { IncomingMessage } from "node:http";
import type { UserFacingSocketConfig, WASocket } from "@whiskeysockets/baileys";
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

/**
 * `websocket_url` as it may be shown (doctor, logs, messages): user info and every query value
 * masked, since an access token to a WhatsApp gateway travels there.
 */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = "***";
    if (u.password) u.password = "***";
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, "***");
    return u.toString().replace(/%2A%2A%2A/g, "***");
  } catch {
    return "<unparseable url>";
  }
}

/** The secrets a `websocket_url` may carry (for the log redactor). */
export function urlSecrets(url: string): string[] {
  try {
    const u = new URL(url);
    return [u.username, u.password, ...u.searchParams.values()].filter((v) => v.length >= 6);
  } catch {
    return [];
  }
}

/** The text for an upgrade that WhatsApp (or a gateway in front of it) answered with HTTP. */
export function refusedText(status: number, url: string, key: string): string {
  const why =
    status === 401 || status === 403
      ? "the address or the access token in it is wrong, or the access was revoked"
      : "that address does not serve WhatsApp Web";
  return `WhatsApp refused the connection: HTTP ${status} on the websocket upgrade at ${shownUrl(url)}; ${why}. Check ${key}.`;
}

/** A websocket upgrade answered with an HTTP status instead of 101. */
export class RefusedUpgrade extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "RefusedUpgrade";
  }
}

/**
 * baileys listens for ws's 'unexpected-response' (an upgrade answered 401/403…) but does
 * nothing with it: the socket hangs until the login gives up, and `connect_timeout_ms` never
 * fires. This closes such a socket at once with a {@link RefusedUpgrade}.
 */
export function watchUpgrade(sock: WASocket, cfg: WhatsAppConfig, key: string): void {
  sock.ws.on("unexpected-response", (_req: unknown, res: IncomingMessage) => {
    res.resume();
    void sock.end(
      new RefusedUpgrade(res.statusCode ?? 0, refusedText(res.statusCode ?? 0, cfg.websocketUrl, key)),
    );
  });
}
