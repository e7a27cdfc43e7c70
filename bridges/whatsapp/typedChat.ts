/**
 * The WhatsApp chat a person names in `link whatsapp <chat>`, as the chat id this account's
 * events carry (see jids.ts): a direct chat is `<own number>_<number>@s.whatsapp.net`, a group
 * its `@g.us` JID. Pure.
 */
import { BridgeError } from "../../src/core/errors";
import { chatIdOf, isGroupJid, ownerNumberOfChat, USER_SERVER } from "./jids";

const FORMS =
  "give a phone number with its country code (+49 170 1234567 or 491701234567), a WhatsApp id (491701234567@s.whatsapp.net) or a group id (…@g.us)";

/** E.164: at most 15 digits; no country code starts with 0. WhatsApp numbers have at least 7. */
const NUMBER = /^[1-9]\d{6,14}$/;
/** Group JIDs: a creation id, or the creator's number and a timestamp (older groups). */
const GROUP = /^(\d{5,25}|\d{5,15}-\d{5,12})@g\.us$/;
const LID = /^(\d{5,25})@lid$/;

function refuse(typed: string, why?: string): never {
  const shown = typed.length > 80 ? `${typed.slice(0, 80)}…` : typed;
  throw new BridgeError(`'${shown}' is not a WhatsApp chat${why ? ` (${why})` : ""}: ${FORMS}.`);
}

/**
 * A typed phone number without its decoration: `+`, `00`, spaces, dashes, dots, slashes,
 * parentheses and a trunk `(0)` after the country code. Undefined when it is not one.
 */
export function phoneNumberOf(typed: string): string | undefined {
  let t = typed.trim();
  if (!/^[+\d(][\d\s()./-]*$/.test(t)) return undefined;
  const international = t.startsWith("+") || t.startsWith("00");
  t = t.replace(/^\+/, "").replace(/\(0\)/g, "");
  let digits = t.replace(/[\s()./-]/g, "");
  if (!/^\d+$/.test(digits)) return undefined;
  if (international && digits.startsWith("00")) digits = digits.slice(2);
  return NUMBER.test(digits) ? digits : undefined;
}

/** `https://wa.me/491701234567`, `api.whatsapp.com/send?phone=…`: the number in the link. */
function numberOfLink(typed: string): string | undefined {
  const m =
    /^(?:https?:\/\/)?(?:www\.)?wa\.me\/([^/?#]+)\/?(?:[?#].*)?$/i.exec(typed) ??
    /^(?:https?:\/\/)?(?:api|web)\.whatsapp\.com\/send\/?\?(?:.*&)?phone=([^&#]+)/i.exec(typed);
  return m ? phoneNumberOf(decodeURIComponent(m[1])) : undefined;
}

/**
 * The chat id of `typed` for the account `ownNumber`. Throws a BridgeError naming the forms
 * understood when it is none of them.
 */
export function typedChatId(typed: string, ownNumber: string): string {
  const t = typed.trim();
  if (!t || t.length > 200) refuse(t);
  if (/^(?:https?:\/\/)?chat\.whatsapp\.com\//i.test(t))
    refuse(t, "an invite link names no group the bridge can look up; give the group id");
  const lower = t.toLowerCase();
  if (GROUP.test(lower)) return lower;
  const lid = LID.exec(lower);
  if (lid) return `${ownNumber}_${lid[1]}@lid`;
  // Our own form `<own>_<jid>`: only for this account.
  const sep = lower.indexOf("_");
  if (sep > 0 && lower.includes("@")) {
    const owner = lower.slice(0, sep);
    if (!NUMBER.test(owner)) refuse(t);
    if (owner !== ownNumber)
      refuse(t, `that is a chat of the WhatsApp account +${owner}, not of +${ownNumber}`);
    return typedChatId(lower.slice(sep + 1), ownNumber);
  }
  const jid = /^([^@]+?)(?::\d{1,3})?@(s\.whatsapp\.net|c\.us)$/.exec(lower);
  const number = jid ? phoneNumberOf(jid[1]) : (numberOfLink(t) ?? phoneNumberOf(t));
  if (!number) refuse(t);
  return chatIdOf(ownNumber, `${number}@${USER_SERVER}`);
}

/**
 * Keys under which the same chat may be bridged already: a direct chat between two accounts of
 * this bridge seen from the other one, and the bare forms an earlier `link` stored unresolved.
 */
export function sameChatIds(chatId: string): string[] {
  if (isGroupJid(chatId)) return [];
  const own = ownerNumberOfChat(chatId);
  if (own === undefined) return [];
  const jid = chatId.slice(own.length + 1);
  const user = jid.slice(0, jid.indexOf("@"));
  const other = jid.endsWith(`@${USER_SERVER}`) ? [`${user}_${own}@${USER_SERVER}`, user] : [];
  return [...other, jid];
}
