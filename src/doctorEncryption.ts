import { randomUUID } from "node:crypto";
import { SYNAPSE_ENCRYPTION_FEATURES } from "./config/registration";
import type { BridgeConfig } from "./config/types";
import type { Check } from "./doctor";
import type { HttpServer } from "./http/HttpServer";
import { type MatrixApi, MatrixError } from "./matrix/MatrixApi";

/** Doctor's stand-in for the bridge on the appservice port, and what reached it. */
export interface DoctorListener {
  /** Doctor's own listener; undefined when the port is taken (the bridge is running). */
  server?: HttpServer;
  answered: boolean;
  /** Transactions without room events, as they arrived. */
  received: Record<string, unknown>[];
  /** Transactions with room events, refused so that the homeserver keeps them for the bridge. */
  heldBack: number;
}

/** The bot's device that the probe creates and deletes again. */
export const PROBE_DEVICE = "CLAWBRIDGE_DOCTOR";
/** Event type of the probe's to-device message. */
export const PROBE_TYPE = "org.clawbridge.doctor.probe";
const PROBE_WAIT_MS = 10_000;
const CLEANUP_WAIT_MS = 2_000;

const TO_DEVICE = "de.sorunome.msc2409.to_device";
const OTK_COUNTS = "org.matrix.msc3202.device_one_time_keys_count";

const FEATURES_YAML = `experimental_features: {${Object.keys(SYNAPSE_ENCRYPTION_FEATURES)
  .map((k) => `${k}: true`)
  .join(", ")}}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What encrypted rooms need from the homeserver, asked of the homeserver itself:
 * - MSC4190 loaded: `/login` as the bot with the appservice login type must be refused with
 *   M_APPSERVICE_LOGIN_UNSUPPORTED (without it the login succeeds; that session is logged out
 *   at once).
 * - With doctor's own listener on the port: the bot gets a probe device (`PUT /devices`), sends
 *   itself a to-device message there, and the transaction that carries it must also carry the
 *   device's one-time key count (MSC3202). The device is deleted afterwards.
 */
export async function encryptionCheck(
  config: BridgeConfig,
  api: MatrixApi,
  listener: DoctorListener,
): Promise<Check> {
  const name = "encryption";
  const bot = `@${config.bridge.bot.localpart}:${config.homeserver.domain}`;
  const problems: string[] = [];
  const fixes: string[] = [];
  const restart =
    "give the homeserver the regenerated registration (io.element.msc4190: true, org.matrix.msc3202: true, receive_ephemeral: true) and restart it";

  try {
    const session = await api.request<{ device_id?: string }>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.application_service", identifier: { type: "m.id.user", user: bot } },
    });
    // The session should not exist: its device goes again (the appservice deletes devices
    // without interactive auth; the bot's own token would not work for an unregistered bot).
    if (session.device_id)
      await api
        .request("DELETE", `/_matrix/client/v3/devices/${encodeURIComponent(session.device_id)}`, {
          userId: bot,
          body: {},
        })
        .catch(() => undefined);
    problems.push("the homeserver logs appservice users in: it runs without io.element.msc4190 (MSC4190)");
    fixes.push(restart);
  } catch (err) {
    if (!(err instanceof MatrixError && err.errcode === "M_APPSERVICE_LOGIN_UNSUPPORTED")) {
      return {
        name,
        ok: false,
        detail: `could not ask the homeserver about MSC4190: ${(err as Error).message}`,
        fix: "a homeserver with appservice device management (Synapse 1.163 or newer) is needed for encrypted rooms",
      };
    }
  }

  if (!listener.server) {
    const detail = problems.length
      ? problems.join("; ")
      : "the homeserver lets the bridge manage its devices (MSC4190); to-device delivery is not checked while the bridge is running: stop it and run doctor again to check it";
    return {
      name,
      ok: problems.length === 0,
      warn: problems.length === 0,
      detail,
      fix: fixes.join("; ") || undefined,
    };
  }

  const probe = await deliveryProbe(api, bot, listener);
  if (probe.error) {
    return {
      name,
      ok: false,
      detail: [...problems, `the to-device probe failed: ${probe.error}`].join("; "),
      fix: [...fixes, "check the homeserver log"].join("; "),
    };
  }
  if (!probe.toDevice) {
    problems.push(
      `no to-device message reached the appservice within ${PROBE_WAIT_MS / 1000} s${
        listener.heldBack
          ? ` (the homeserver is also retrying ${listener.heldBack} held-back transaction(s) with room events, and drops to-device messages until they go through: start the bridge, stop it, then run doctor again)`
          : ""
      }`,
    );
    fixes.push(`add to homeserver.yaml: ${FEATURES_YAML}, and restart the homeserver`);
  } else if (!probe.keyCounts) {
    problems.push("transactions carry no one-time key counts (MSC3202)");
    fixes.push(
      `add to homeserver.yaml: ${FEATURES_YAML}; the registration the homeserver loaded needs org.matrix.msc3202: true; restart the homeserver`,
    );
  }
  if (problems.length)
    return { name, ok: false, detail: problems.join("; "), fix: [...new Set(fixes)].join("; ") };
  return {
    name,
    ok: true,
    detail:
      "the homeserver lets the bridge manage its devices (MSC4190) and pushes to-device messages (MSC2409) and key counts (MSC3202) to it",
  };
}

interface ProbeResult {
  toDevice: boolean;
  keyCounts: boolean;
  error?: string;
}

/**
 * Creates the bot's probe device, sends it a to-device message as the bot and waits for the
 * transaction that carries it; deletes the device whatever happens.
 */
async function deliveryProbe(api: MatrixApi, bot: string, listener: DoctorListener): Promise<ProbeResult> {
  const nonce = randomUUID();
  const result: ProbeResult = { toDevice: false, keyCounts: false };
  const device = `/_matrix/client/v3/devices/${PROBE_DEVICE}`;
  let created = false;
  try {
    await api.request("PUT", device, { userId: bot, body: { display_name: "clawbridge doctor probe" } });
    created = true;
    await api.request("PUT", `/_matrix/client/v3/sendToDevice/${PROBE_TYPE}/${nonce}`, {
      userId: bot,
      body: { messages: { [bot]: { [PROBE_DEVICE]: { nonce } } } },
    });
    const deadline = Date.now() + PROBE_WAIT_MS;
    while (Date.now() < deadline) {
      const txn = listener.received.find((t) => carriesProbe(t, bot, nonce));
      if (txn) {
        result.toDevice = true;
        const counts = txn[OTK_COUNTS] as Record<string, Record<string, unknown>> | undefined;
        result.keyCounts = typeof counts?.[bot]?.[PROBE_DEVICE] === "object";
        break;
      }
      await sleep(100);
    }
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    if (created) {
      const before = listener.received.length;
      await api.request("DELETE", device, { userId: bot, body: {} }).catch((err: Error) => {
        result.error ??= `the probe device ${PROBE_DEVICE} of ${bot} could not be deleted: ${err.message}`;
      });
      // The deletion is announced as a device list change: let it reach this listener, not the bridge.
      const until = Date.now() + CLEANUP_WAIT_MS;
      while (listener.received.length === before && Date.now() < until) await sleep(100);
    }
  }
  return result;
}

function carriesProbe(txn: Record<string, unknown>, bot: string, nonce: string): boolean {
  const list = txn[TO_DEVICE];
  if (!Array.isArray(list)) return false;
  return list.some((m) => {
    const msg = (m ?? {}) as Record<string, unknown>;
    const content = (msg.content ?? {}) as Record<string, unknown>;
    return (
      msg.type === PROBE_TYPE &&
      msg.to_user_id === bot &&
      msg.to_device_id === PROBE_DEVICE &&
      content.nonce === nonce
    );
  });
}
