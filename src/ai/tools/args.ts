import { parseDuration } from "../../commands/moderationArgs";
import { ToolInputError } from "./types";

const DAY_MS = 86_400_000;
/** Furthest back a span may reach. */
const MAX_SPAN_MS = 366 * DAY_MS;

/** An optional string argument, at most `max` characters. */
export function optString(args: Record<string, unknown>, name: string, max = 200): string | undefined {
  const v = args[name];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ToolInputError(`${name} must be a string`);
  if (v.length > max) throw new ToolInputError(`${name} is longer than ${max} characters`);
  return v;
}

/** An optional whole number within `min..max`, `dflt` when absent. */
export function optInt(
  args: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  dflt: number,
): number {
  const v = args[name];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === "string" && /^\d{1,6}$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
    throw new ToolInputError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * A point in time as the model may write it, relative to `now`: a duration back ("30m", "2h",
 * "1d", "1w"), "today", "yesterday" (UTC days), or an ISO 8601 date or time. At most a year back.
 */
export function parseWhen(text: string, now: number, name: string): number {
  const word = text
    .trim()
    .toLowerCase()
    .replace(/\s+ago$/, "");
  let ts: number | undefined;
  if (word === "today" || word === "yesterday") {
    const d = new Date(now);
    ts = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - (word === "yesterday" ? DAY_MS : 0);
  } else if (word === "now") ts = now;
  else {
    const back = parseDuration(word.replace(/\s+/g, ""));
    if (back !== undefined) ts = now - back;
    else if (/^\d{4}-\d{2}-\d{2}([t ][0-9:.]+(z|[+-]\d{2}:?\d{2})?)?$/.test(word)) {
      const parsed = Date.parse(word.toUpperCase().replace(" ", "T"));
      if (!Number.isNaN(parsed)) ts = parsed;
    }
  }
  if (ts === undefined)
    throw new ToolInputError(
      `${name}: give a duration back like "2h" or "1d", "today", "yesterday", or an ISO date like 2026-01-31`,
    );
  if (ts < now - MAX_SPAN_MS) throw new ToolInputError(`${name}: at most a year back`);
  return Math.min(ts, now);
}

/** UTC time as people read it in a transcript: 2026-12-07 13:02. */
export function clock(ts: number): string {
  return new Date(ts).toISOString().slice(0, 16).replace("T", " ");
}
