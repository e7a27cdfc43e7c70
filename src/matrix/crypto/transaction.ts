/**
 * The encryption parts of an appservice transaction (MSC2409 to-device messages, MSC3202 device
 * lists, one-time key counts and unused fallback key types), read defensively: whatever a
 * transaction holds, this never throws, and only well-formed entries come out.
 */

/** A to-device message addressed to one of the appservice's devices. */
export interface ToDeviceMessage {
  type: string;
  sender: string;
  content: Record<string, unknown>;
  to_user_id: string;
  to_device_id: string;
}

export interface CryptoParts {
  toDevice: ToDeviceMessage[];
  /** Users whose device lists changed, or who no longer share a room with the appservice. */
  changed: string[];
  left: string[];
  /** One-time key counts per user and device: algorithm → count. */
  keyCounts: Map<string, Map<string, Map<string, number>>>;
  /** Unused fallback key types per user and device. */
  fallbackTypes: Map<string, Map<string, string[]>>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isUserId = (v: unknown): v is string =>
  typeof v === "string" && /^@[^:]+:.+$/.test(v) && v.length <= 255;
const isDeviceId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 255;

function first(txn: Json, ...keys: string[]): unknown {
  for (const k of keys) if (txn[k] !== undefined) return txn[k];
  return undefined;
}

function toDeviceOf(txn: Json): ToDeviceMessage[] {
  const list = first(txn, "to_device", "de.sorunome.msc2409.to_device");
  if (!Array.isArray(list)) return [];
  return list.filter(
    (m): m is ToDeviceMessage =>
      isObject(m) &&
      typeof m.type === "string" &&
      isUserId(m.sender) &&
      isObject(m.content) &&
      isUserId(m.to_user_id) &&
      isDeviceId(m.to_device_id),
  );
}

function userList(v: unknown): string[] {
  return Array.isArray(v) ? [...new Set(v.filter(isUserId))] : [];
}

function perDevice<T>(v: unknown, read: (x: unknown) => T | undefined): Map<string, Map<string, T>> {
  const out = new Map<string, Map<string, T>>();
  if (!isObject(v)) return out;
  for (const [user, devices] of Object.entries(v)) {
    if (!isUserId(user) || !isObject(devices)) continue;
    const byDevice = new Map<string, T>();
    for (const [device, value] of Object.entries(devices)) {
      const read1 = isDeviceId(device) ? read(value) : undefined;
      if (read1 !== undefined) byDevice.set(device, read1);
    }
    if (byDevice.size) out.set(user, byDevice);
  }
  return out;
}

function counts(v: unknown): Map<string, number> | undefined {
  if (!isObject(v)) return undefined;
  const out = new Map<string, number>();
  for (const [alg, n] of Object.entries(v))
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) out.set(alg, n);
  return out;
}

function types(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : undefined;
}

/** The encryption parts of `txn` (stable names first, then the unstable ones Synapse sends). */
export function cryptoPartsOf(txn: unknown): CryptoParts {
  const t: Json = isObject(txn) ? txn : {};
  const lists = first(t, "device_lists", "org.matrix.msc3202.device_lists");
  const l: Json = isObject(lists) ? lists : {};
  return {
    toDevice: toDeviceOf(t),
    changed: userList(l.changed),
    left: userList(l.left),
    keyCounts: perDevice(
      first(
        t,
        "device_one_time_keys_count",
        "org.matrix.msc3202.device_one_time_keys_count",
        "org.matrix.msc3202.device_one_time_key_counts",
      ),
      counts,
    ),
    fallbackTypes: perDevice(
      first(t, "device_unused_fallback_key_types", "org.matrix.msc3202.device_unused_fallback_key_types"),
      types,
    ),
  };
}

/** Whether the transaction carries anything for the crypto. */
export function hasCryptoParts(p: CryptoParts): boolean {
  return p.toDevice.length > 0 || p.changed.length > 0 || p.left.length > 0 || p.keyCounts.size > 0;
}
