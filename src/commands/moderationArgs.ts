/**
 * The arguments of the moderation commands, parsed as pure functions: who (a Matrix id, a pill,
 * or `platform:remote id`), how long (`10m`, `2h`, `1d`, `1h30m`) and how many. Anything else is
 * refused with a text that says what is expected.
 */

/** A Matrix user id as the spec allows it (grammar checked loosely, length exactly). */
const MXID = /^@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.:[\]-]+$/;
/** `platform:remote id`: a connector name and a remote id without spaces. */
const REMOTE = /^([a-z][a-z0-9_]{0,31}):([\x21-\x7e]{1,200})$/;
/** A matrix.to user link in a message's HTML (a pill). */
const PILL = /href="https:\/\/matrix\.to\/#\/((?:@|%40)[^"?/]+)"/i;

export type Target = { kind: "mxid"; mxid: string } | { kind: "remote"; platform: string; remoteId: string };

export class ArgError extends Error {
  override readonly name = "ArgError";
}

/**
 * Who a command is about: the first word (a Matrix id or `platform:remote id`), or the first
 * pill of the message's HTML when the word is a display name the client put there.
 */
export function parseTarget(word: string | undefined, html?: string): Target {
  if (word !== undefined && word.length <= 255 && MXID.test(word)) return { kind: "mxid", mxid: word };
  const remote = word !== undefined ? REMOTE.exec(word) : null;
  if (remote && !word!.startsWith("@")) return { kind: "remote", platform: remote[1]!, remoteId: remote[2]! };
  const pill = html ? PILL.exec(html) : null;
  if (pill) {
    const mxid = decoded(pill[1]!);
    if (mxid !== undefined && mxid.length <= 255 && MXID.test(mxid)) return { kind: "mxid", mxid };
  }
  throw new ArgError(
    "name the person by Matrix id (@name:server), by pill, or as platform:id (telegram:12345)",
  );
}

/** A percent-encoded link part, or undefined when it does not decode (bad escapes, bad UTF-8). */
function decoded(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** The longest mute a command may ask for. */
export const MAX_DURATION_MS = 366 * 86_400_000;
/** The shortest: Telegram takes less than 30 s as "forever". */
export const MIN_DURATION_MS = 60_000;

/** `30s`, `10m`, `2h`, `1d`, `1w` and sums of them (`1h30m`); undefined when it is not a duration. */
export function parseDuration(word: string): number | undefined {
  if (word.length > 32 || !/^(\d{1,6}[smhdw])+$/i.test(word)) return undefined;
  let ms = 0;
  for (const m of word.toLowerCase().matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** A checked duration: within {@link MIN_DURATION_MS}..{@link MAX_DURATION_MS}. */
export function checkDuration(ms: number): number {
  if (ms < MIN_DURATION_MS) throw new ArgError("a mute lasts at least a minute (1m)");
  if (ms > MAX_DURATION_MS)
    throw new ArgError("a mute lasts at most 366 days; leave the duration out for one until unmute");
  return ms;
}

/** A whole number `word` within [1, max], or `fallback` when absent. */
export function parseCount(word: string | undefined, fallback: number, max: number): number {
  if (word === undefined) return fallback;
  const n = /^\d{1,6}$/.test(word) ? Number(word) : Number.NaN;
  if (!(n >= 1 && n <= max)) throw new ArgError(`give a whole number from 1 to ${max}`);
  return n;
}

/** "2 hours", "1 day 2 hours" for a reply. */
export function humanDuration(ms: number): string {
  const parts: string[] = [];
  let left = Math.round(ms / 60_000);
  for (const [name, mins] of [
    ["day", 1440],
    ["hour", 60],
    ["minute", 1],
  ] as const) {
    const n = Math.floor(left / mins);
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? "" : "s"}`);
    left -= n * mins;
  }
  return parts.join(" ") || "less than a minute";
}

/** Reason text of a command: the rest of the line after the consumed words, trimmed and capped. */
export function reasonAfter(args: string[], consumed: number): string | undefined {
  const text = args.slice(consumed).join(" ").trim();
  return text ? [...text].slice(0, 300).join("") : undefined;
}
