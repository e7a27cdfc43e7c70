import { ConfigError } from "../../src/config/ConfigError";
import { bool, type ConnectorConfigSchema, num, section, str } from "../../src/config/schemaNodes";
import { checkSection } from "../../src/config/sectionCheck";
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
  /** `view_once`: "notice" (default: the media is neither fetched nor kept; the room is told) or "bridge". */
  viewOnce: "notice" | "bridge";
  /** `disappearing.redact`: Matrix copies of disappearing messages are redacted when they expire (default true). */
  disappearingRedact: boolean;
}

export const DEFAULT_RELAY_TEMPLATE = "*{name}*: ";

/** The keys of `platforms.whatsapp`: validated, defaulted and sampled by the core's config loader. */
export const WHATSAPP_CONFIG_SCHEMA: ConnectorConfigSchema = {
  description: "Personal WhatsApp accounts, linked as a device with `login whatsapp` (QR or pairing code).",
  properties: {
    websocket_url: str("WhatsApp Web's socket (a test stand-in).", {
      default: "wss://web.whatsapp.com/ws/chat",
      pattern: "^wss?://\\S+$",
      "x-expected": "a ws(s):// URL",
    }),
    device_name: str("How the linked device is named on the phone.", {
      default: "clawbridge",
      minLength: 1,
      "x-expected": "a device name",
    }),
    relay_template: str("Prefix of a relayed Matrix message; {name} is the sender's display name.", {
      default: DEFAULT_RELAY_TEMPLATE,
      pattern: "\\{name\\}",
      "x-expected": "a template containing {name}",
      examples: [DEFAULT_RELAY_TEMPLATE],
    }),
    backoff_initial_ms: num("First reconnect delay after a dropped connection, in milliseconds.", 2000, 1),
    backoff_max_ms: num("Longest reconnect delay, in milliseconds.", 300_000, 1),
    connect_timeout_ms: num("How long one connection attempt may take, in milliseconds.", 20_000, 100),
    ack_timeout_ms: num(
      "How long a send waits for WhatsApp's acknowledgement before it is sent again, in milliseconds.",
      15_000,
      100,
    ),
    send_attempts: num("Sends of one message (same id) before it is reported as not delivered.", 3, 1),
    query_timeout_ms: num("How long to wait for WhatsApp's answer to a query, in milliseconds.", 60_000, 100),
    login_timeout_seconds: num("How long a QR or pairing-code login waits for the phone.", 180, 5),
    view_once: {
      type: "string",
      description:
        "View-once photos, videos and voice notes: notice (the room is told one was sent, to be opened on the phone; the bridge neither fetches nor keeps it) or bridge (bridged like any media, and so kept in Matrix).",
      enum: ["notice", "bridge"],
      default: "notice",
    },
    disappearing: section(
      "Chats with disappearing messages on (a timer of 24 hours, 7 days or 90 days).",
      {
        redact: bool(
          "Redact the Matrix copies of disappearing messages when they expire, the chat's and the ones sent into it from Matrix alike, counted from when each was sent (WhatsApp counts a received message from when it is read). false: they stay in Matrix. Either way the room is told when the timer changes, and messages from Matrix are sent disappearing.",
          true,
        ),
      },
      { default: { redact: true } },
    ),
    qr_refresh_seconds: {
      type: "number",
      description: "How long each QR code is shown before the next. Unset: WhatsApp Web's 60, then 20.",
      minimum: 1,
      examples: [60],
    },
  },
};

/** The section as the schema leaves it: checked, defaults filled in. */
interface WhatsAppSection {
  websocket_url: string;
  device_name: string;
  relay_template: string;
  backoff_initial_ms: number;
  backoff_max_ms: number;
  connect_timeout_ms: number;
  ack_timeout_ms: number;
  send_attempts: number;
  query_timeout_ms: number;
  login_timeout_seconds: number;
  qr_refresh_seconds?: number;
  view_once: "notice" | "bridge";
  disappearing: { redact: boolean };
}

/**
 * Reads `platforms.<platform>` (the section itself is `raw`): checked against
 * {@link WHATSAPP_CONFIG_SCHEMA}, then the rules between keys. Throws `ConfigError` naming the
 * key path and the fix.
 */
export function readWhatsAppConfig(raw: unknown, platform = "whatsapp"): WhatsAppConfig {
  const c = checkSection(WHATSAPP_CONFIG_SCHEMA, raw, platform) as unknown as WhatsAppSection;
  if (c.backoff_max_ms < c.backoff_initial_ms)
    throw new ConfigError(
      [`platforms.${platform}.backoff_max_ms: must be at least backoff_initial_ms (${c.backoff_initial_ms})`],
      `platforms.${platform}`,
    );
  return {
    websocketUrl: c.websocket_url,
    deviceName: c.device_name,
    relayTemplate: c.relay_template,
    backoffInitialMs: c.backoff_initial_ms,
    backoffMaxMs: c.backoff_max_ms,
    connectTimeoutMs: c.connect_timeout_ms,
    ackTimeoutMs: c.ack_timeout_ms,
    sendAttempts: c.send_attempts,
    queryTimeoutMs: c.query_timeout_ms,
    loginTimeoutSeconds: c.login_timeout_seconds,
    qrRefreshSeconds: c.qr_refresh_seconds,
    viewOnce: c.view_once,
    disappearingRedact: c.disappearing.redact,
  };
}
