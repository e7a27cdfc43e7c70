import { SectionReader } from "../../src/config/SectionReader";
/**
 * The `platforms.whatsapp` section: read, defaulted and validated. Errors name the key and
 * say what to write instead.
 */

/** The validated `platforms.whatsapp` section. */
export interface WhatsAppConfig {
  /** `websocket_url`: WhatsApp Web's socket (default wss://web.whatsapp.com/ws/chat). */
  websocketUrl: string;
  /** `device_name`: how the linked device is named on the phone (default "clawbridge"). */
  deviceName: string;
  /** `relay_template`: prefix of a relayed Matrix message; `{name}` is the sender's display name. */
  relayTemplate: string;
  /** `backoff_initial_ms` / `backoff_max_ms`: reconnect delays after a dropped connection. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** `connect_timeout_ms`: how long one connection attempt may take (default 20000). */
  connectTimeoutMs: number;
  /** `ack_timeout_ms`: how long a send waits for the server's ack before sending again (default 15000). */
  ackTimeoutMs: number;
  /** `send_attempts`: how often a message is sent (same id) without an ack before it fails (default 3). */
  sendAttempts: number;
  /** `query_timeout_ms`: how long baileys waits for an answer to a query (default 60000). */
  queryTimeoutMs: number;
  /** `login_timeout_seconds`: how long a QR or pairing-code login waits for the phone (default 180). */
  loginTimeoutSeconds: number;
  /** `qr_refresh_seconds`: how long each QR code is shown before the next (default: WhatsApp Web's 60, then 20). */
  qrRefreshSeconds?: number;
}

export const DEFAULT_RELAY_TEMPLATE = "*{name}*: ";

export function readWhatsAppConfig(c: Record<string, unknown>, platform = "whatsapp"): WhatsAppConfig {
  const r = new SectionReader(c, `platforms.${platform}`);
  const key = (k: string): string => r.key(k);
  const websocketUrl = r.str("websocket_url", false, "wss://web.whatsapp.com/ws/chat");
  try {
    const u = new URL(websocketUrl);
    if (u.protocol !== "wss:" && u.protocol !== "ws:") throw new Error("protocol");
  } catch {
    throw new Error(`${key("websocket_url")} must be a ws(s):// URL, e.g. wss://web.whatsapp.com/ws/chat`);
  }
  const relayTemplate = r.str("relay_template", false, DEFAULT_RELAY_TEMPLATE);
  if (!relayTemplate.includes("{name}"))
    throw new Error(`${key("relay_template")} must contain {name}, e.g. "*{name}*: "`);
  const backoffInitialMs = r.num("backoff_initial_ms", 2000, 1);
  const backoffMaxMs = r.num("backoff_max_ms", 300_000, 1);
  if (backoffMaxMs < backoffInitialMs)
    throw new Error(`${key("backoff_max_ms")} must be >= backoff_initial_ms`);
  return {
    websocketUrl,
    deviceName: r.str("device_name", false, "clawbridge"),
    relayTemplate,
    backoffInitialMs,
    backoffMaxMs,
    connectTimeoutMs: r.num("connect_timeout_ms", 20_000, 100),
    ackTimeoutMs: r.num("ack_timeout_ms", 15_000, 100),
    sendAttempts: r.num("send_attempts", 3, 1),
    queryTimeoutMs: r.num("query_timeout_ms", 60_000, 100),
    loginTimeoutSeconds: r.num("login_timeout_seconds", 180, 5),
    qrRefreshSeconds: c.qr_refresh_seconds === undefined ? undefined : r.num("qr_refresh_seconds", 60, 1),
  };
}
