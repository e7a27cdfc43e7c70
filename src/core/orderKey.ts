/**
 * Order keys: a remote id turned into text that sorts, byte by byte, the way the platform
 * orders its messages (see {@link OrderedIds}). The message map stores the key beside each row
 * (`order_key`, collated "C"), so the newest bridged message of a chat is found by the
 * platform's own order, not by a millisecond timestamp that many messages may share.
 */
import { canOrder, type NetworkClient } from "./connector";

/** Longest number of digits a key holds (a 64-bit id has at most 20). */
const MAX_DIGITS = 99;

/**
 * A non-negative integer given as decimal text (a Discord snowflake, a Telegram message id):
 * its length (two digits) and then its digits, leading zeros dropped, so that text order is
 * numeric order at any length. Undefined for anything else.
 */
export function integerOrderKey(id: string): string | undefined {
  if (!/^[0-9]+$/.test(id)) return undefined;
  const digits = id.replace(/^0+(?=[0-9])/, "");
  if (digits.length > MAX_DIGITS) return undefined;
  return `${String(digits.length).padStart(2, "0")}${digits}`;
}

/**
 * A Slack `ts` ("1700000000.123456": seconds, a dot, microseconds): the seconds as an
 * {@link integerOrderKey}, then the fraction's digits padded to nine, compared as digits and never
 * as a float (which cannot hold sixteen significant digits apart). Undefined for anything else.
 */
export function slackTsOrderKey(ts: string): string | undefined {
  const m = /^([0-9]+)\.([0-9]{1,9})$/.exec(ts);
  if (!m) return undefined;
  const seconds = integerOrderKey(m[1]!);
  return seconds && `${seconds}.${m[2]!.padEnd(9, "0")}`;
}

/** The client's key for `remoteId`, or undefined (no order of its own, or an id it does not know). */
export function orderKeyOf(client: NetworkClient, remoteId: string): string | undefined {
  if (!canOrder(client)) return undefined;
  try {
    const key = client.orderKey(remoteId);
    return typeof key === "string" && key.length > 0 && key.length <= 256 ? key : undefined;
  } catch {
    return undefined; // a hostile id must not fail the message it belongs to
  }
}
