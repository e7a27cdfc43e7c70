/**
 * What the hostile-input suites share: pushing transactions to the bridge's listener as the
 * homeserver does, the quarantine as the provisioning API lists it, and the text a bridged
 * event must arrive with.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CoreRig } from "./coreRig";

/** `PUT /_matrix/app/v1/transactions/{id}` with the rig's hs_token; `raw` is sent byte for byte. */
export async function pushRaw(core: CoreRig, txnId: string, raw: string): Promise<number> {
  const res = await fetch(
    `http://127.0.0.1:${core.rig.bridgePort}/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`,
    {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${core.rig.hsToken}` },
      body: raw,
    },
  );
  await res.arrayBuffer();
  return res.status;
}

/** Like {@link pushRaw} for a transaction JSON.stringify can write (lone surrogates are escaped). */
export function pushTxn(core: CoreRig, txnId: string, txn: unknown): Promise<number> {
  return pushRaw(core, txnId, JSON.stringify(txn));
}

export function randomEventId(): string {
  return `$${randomBytes(16).toString("base64url")}`;
}

/**
 * The text as the bridge may pass it on: characters PostgreSQL cannot store (NUL and lone
 * surrogates) become U+FFFD, everything else is kept.
 */
export function pgSafe(text: string): string {
  return text
    .replaceAll("\u0000", "\uFFFD")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Raw JSON of `depth` nested arrays around `leaf` (built as text: no recursion anywhere). */
export function nestedArrays(depth: number, leaf = "1"): string {
  return `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`;
}

/** Raw JSON of `depth` nested objects `{"a":…}` around `leaf`. */
export function nestedObjects(depth: number, leaf = "1"): string {
  return `${'{"a":'.repeat(depth)}${leaf}${"}".repeat(depth)}`;
}

/** One quarantined event as `GET {prefix}/v1/quarantine` lists it. */
export interface QuarantineEntry {
  id: string | number;
  reason: string;
  [key: string]: unknown;
}

function provisioningPrefix(core: CoreRig): string {
  const prov = (core.config.provisioning ?? {}) as { prefix?: string };
  return prov.prefix ?? "/_clawbridge/provisioning";
}

/** Calls the provisioning API with the rig's shared secret. */
export async function provisioning(
  core: CoreRig,
  method: string,
  path: string,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${core.rig.bridgePort}${provisioningPrefix(core)}${path}`, {
    method,
    headers: { Authorization: `Bearer ${core.provisioningSecret}`, "Content-Type": "application/json" },
    body: method === "GET" ? undefined : "{}",
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // kept as text for the assertion message
  }
  return { status: res.status, body };
}

/**
 * Every quarantined event. The list is the first array in the answer (`{ items: […] }`,
 * `{ quarantine: […] }` or a bare array); each entry has an `id` and a `reason`.
 */
export async function quarantineList(core: CoreRig): Promise<QuarantineEntry[]> {
  const { status, body } = await provisioning(core, "GET", "/v1/quarantine?limit=1000");
  if (status !== 200) throw new Error(`GET /v1/quarantine answered ${status}: ${JSON.stringify(body)}`);
  const list = Array.isArray(body)
    ? body
    : Object.values((body ?? {}) as Record<string, unknown>).find((v) => Array.isArray(v));
  if (!Array.isArray(list)) throw new Error(`GET /v1/quarantine: no list in ${JSON.stringify(body)}`);
  return list as QuarantineEntry[];
}

/** The quarantine entry of an event: its id appears in the entry (as `event_id` or in the event kept). */
export function entryOf(entries: QuarantineEntry[], eventId: string): QuarantineEntry | undefined {
  return entries.find((e) => JSON.stringify(e).includes(eventId));
}

/** `clawbridge_quarantined_total` from the bridge's /metrics (0 when absent). */
export async function quarantinedCounter(core: CoreRig): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${core.rig.bridgePort}/metrics`);
  const text = await res.text();
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^clawbridge_quarantined_total(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

/** Resident set size of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The text of `calls` (testnet's recorded requests) posted as messages, per call. */
export function postedText(call: { method: string; path: string; body: unknown }): string | undefined {
  if (call.method !== "POST" || !/^\/chats\/[^/]+\/messages$/.test(call.path)) return undefined;
  const t = (call.body as { text?: unknown } | undefined)?.text;
  return typeof t === "string" ? t : undefined;
}
