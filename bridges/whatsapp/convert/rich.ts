/**
 * WhatsApp messages that are neither text nor media: places (pinned and live), contacts and
 * polls become the connector model's rich fields, as Telegram's do; other kinds become a short
 * notice naming them, so nothing a user sends vanishes. Pure; every field is checked.
 */
import type { proto } from "@whiskeysockets/baileys";
import type { MediaRef, RemoteLocation, RemotePoll } from "../../../src/core/connector";
import { decimal, validPoint } from "../../../src/core/geo";

export interface RichMessage {
  text: string;
  msgtype?: "text" | "notice";
  location?: RemoteLocation;
  poll?: RemotePoll;
  attachments?: MediaRef[];
}

const MAX_FIELD = 300;
const MAX_OPTIONS = 20;
const MAX_VCARD = 64 * 1024;
const str = (v: unknown, max = MAX_FIELD): string => (typeof v === "string" ? v.slice(0, max).trim() : "");

/** Names of kinds shown as "… sent a <name>, which the bridge cannot show". */
const NAMES: Record<string, string> = {
  eventMessage: "event",
  productMessage: "product",
  orderMessage: "order",
  groupInviteMessage: "group invitation",
  paymentInviteMessage: "payment invitation",
  requestPaymentMessage: "payment request",
  sendPaymentMessage: "payment",
  listMessage: "list",
  buttonsMessage: "message with buttons",
  templateMessage: "template message",
  interactiveMessage: "interactive message",
  callLogMesssage: "call",
  scheduledCallCreationMessage: "call invitation",
};

function point(lat: unknown, lon: unknown, accuracy: unknown): RemoteLocation | undefined {
  if (!validPoint(lat, lon)) return undefined;
  const p: RemoteLocation = { lat: lat as number, lon: lon as number };
  if (typeof accuracy === "number" && Number.isFinite(accuracy) && accuracy >= 0 && accuracy <= 100_000)
    p.accuracyM = accuracy;
  return p;
}

const coords = (p: RemoteLocation): string => `${decimal(p.lat)}, ${decimal(p.lon)}`;

function vcardRef(vcard: string, name: string): MediaRef | undefined {
  const size = Buffer.byteLength(vcard);
  if (!vcard.trim() || size > MAX_VCARD) return undefined;
  return { key: "inline:vcard", mimetype: "text/vcard", name, size, inline: vcard };
}

/** A pinned place (with its name and address, a venue) or a live location at its first position. */
export function locationOf(m: proto.IMessage): RichMessage | undefined {
  const loc = m.locationMessage;
  if (loc) {
    const p = point(loc.degreesLatitude, loc.degreesLongitude, loc.accuracyInMeters);
    if (!p) return undefined;
    const description = [str(loc.name), str(loc.address)].filter(Boolean).join(", ");
    if (description) p.description = description;
    return {
      text: description ? `Venue: ${description} (${coords(p)})` : `Location: ${coords(p)}`,
      location: p,
    };
  }
  const live = m.liveLocationMessage;
  if (live) {
    const p = point(live.degreesLatitude, live.degreesLongitude, live.accuracyInMeters);
    if (!p) return undefined;
    const caption = str(live.caption);
    return { text: `Live location: ${coords(p)}${caption ? ` (${caption})` : ""}`, location: p };
  }
  return undefined;
}

/** One contact or several: a text line with their names, and their vCards as one .vcf file. */
export function contactsOf(m: proto.IMessage): RichMessage | undefined {
  const list = m.contactMessage
    ? [m.contactMessage]
    : Array.isArray(m.contactsArrayMessage?.contacts)
      ? m.contactsArrayMessage.contacts.slice(0, 50)
      : undefined;
  if (!list?.length) return undefined;
  const names = list.map((c) => str(c?.displayName) || "unnamed").join(", ");
  const cards = list.map((c) => (typeof c?.vcard === "string" ? c.vcard.trim() : "")).filter(Boolean);
  const out: RichMessage = { text: `${list.length === 1 ? "Contact" : "Contacts"}: ${names}` };
  const ref = cards.length
    ? vcardRef(`${cards.join("\r\n")}\r\n`, list.length === 1 ? "contact.vcf" : "contacts.vcf")
    : undefined;
  if (ref) out.attachments = [ref];
  return out;
}

/** A poll (all its versions): question, options (ids by position), how many one may choose. */
export function pollOf(m: proto.IMessage): RichMessage | undefined {
  const poll =
    m.pollCreationMessage ?? m.pollCreationMessageV2 ?? m.pollCreationMessageV3 ?? m.pollCreationMessageV5;
  if (!poll) return undefined;
  const question = str(poll.name);
  const answers: RemotePoll["answers"] = [];
  for (const [i, o] of (Array.isArray(poll.options) ? poll.options : []).slice(0, MAX_OPTIONS).entries()) {
    const text = str(o?.optionName);
    if (text) answers.push({ id: String(i), text });
  }
  if (!question || !answers.length) return undefined;
  const count = typeof poll.selectableOptionsCount === "number" ? poll.selectableOptionsCount : 0;
  return {
    text: [`Poll: ${question}`, ...answers.map((a, i) => `${i + 1}. ${a.text}`)].join("\n"),
    // WhatsApp shows every voter the tally; 0 selectable options means any number.
    poll: {
      question,
      answers,
      disclosed: true,
      maxSelections: count >= 1 && count <= answers.length ? count : answers.length,
    },
  };
}

/** The rich part of a message without text or media, or a notice naming a kind the bridge cannot show. */
export function richOf(m: proto.IMessage, type: string, who: string): RichMessage {
  const rich = locationOf(m) ?? contactsOf(m) ?? pollOf(m);
  if (rich) return rich;
  const name =
    NAMES[type] ??
    type
      .replace(/Message$/, "")
      .replace(/([a-z])([A-Z])/g, "$1 $2")
      .toLowerCase();
  const article = /^[aeiou]/i.test(name) ? "an" : "a";
  return {
    text: `${who || "Someone"} sent ${article} ${name}, which the bridge cannot show`,
    msgtype: "notice",
  };
}
