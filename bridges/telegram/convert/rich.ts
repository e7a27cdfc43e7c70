/**
 * Telegram messages that are neither text nor a file: places, venues, contacts, polls and dice
 * become the connector model's rich fields; kinds the bridge cannot show become a short notice,
 * so nothing a user sends vanishes. Pure; every field is checked (updates are untrusted input).
 */
import type { MediaRef, RemoteLocation, RemotePoll } from "../../../src/core/connector";
import { decimal, validPoint } from "../../../src/core/geo";

/** What a rich message becomes: text (the body or fallback) plus the rich part, if any. */
export interface RichMessage {
  text: string;
  msgtype?: "text" | "notice";
  location?: RemoteLocation;
  poll?: RemotePoll;
  attachment?: MediaRef;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, max: number): string => (typeof v === "string" ? v.slice(0, max) : "");

/** Longest text taken from one field (Telegram's own limits are smaller). */
const MAX_FIELD = 300;
/** Telegram allows 12 poll options; more than 20 cannot be a Matrix poll. */
const MAX_OPTIONS = 20;
/** A vCard larger than this is not attached (Telegram's limit is 2048 bytes). */
const MAX_VCARD = 64 * 1024;

/** Content kinds the bridge has no Matrix form for, and how the notice names them. */
const UNSHOWABLE: Record<string, string> = {
  game: "game",
  invoice: "invoice",
  story: "story",
  paid_media: "paid media post",
  giveaway: "giveaway",
  giveaway_winners: "giveaway result",
  checklist: "checklist",
  live_photo: "live photo",
  rich_message: "rich message",
  gift: "gift",
  unique_gift: "gift",
  passport_data: "Telegram Passport data",
  web_app_data: "web app data",
};

/** Fields that describe a message rather than being its content. */
const META = new Set(
  (
    "message_id message_thread_id from sender_chat date guest_query_id business_connection_id chat " +
    "is_topic_message direct_messages_topic sender_tag receiver_user ephemeral_message_id " +
    "sender_boost_count sender_business_bot forward_origin is_automatic_forward reply_to_message " +
    "reply_to_checklist_task_id reply_to_poll_option_id is_paid_post external_reply quote reply_to_story " +
    "via_bot guest_bot_caller_user guest_bot_caller_chat edit_date has_protected_content " +
    "show_caption_above_media is_from_offline author_signature link_preview_options effect_id " +
    "paid_star_count reply_markup caption caption_entities media_group_id has_media_spoiler text entities " +
    "suggested_post_info forward_from forward_from_chat forward_from_message_id forward_signature " +
    "forward_sender_name forward_date"
  ).split(" "),
);

/**
 * Service messages: something happened in the chat (a pin, a topic, a call); the bridge shows
 * what it understands of these elsewhere and says nothing of the rest.
 */
const SERVICE = new Set(
  (
    "checklist_tasks_done checklist_tasks_added community_chat_added community_chat_removed " +
    "suggested_post_approved suggested_post_approval_failed suggested_post_declined suggested_post_paid " +
    "suggested_post_refunded chat_owner_left chat_owner_changed new_chat_members community_chat_joined " +
    "left_chat_member new_chat_title new_chat_photo delete_chat_photo group_chat_created " +
    "supergroup_chat_created channel_chat_created managed_bot_created poll_option_added " +
    "poll_option_deleted message_auto_delete_timer_changed migrate_to_chat_id migrate_from_chat_id " +
    "pinned_message successful_payment refunded_payment users_shared chat_shared connected_website " +
    "write_access_allowed proximity_alert_triggered boost_added chat_background_set forum_topic_created " +
    "forum_topic_edited forum_topic_closed forum_topic_reopened general_forum_topic_hidden " +
    "general_forum_topic_unhidden giveaway_created giveaway_completed gift_upgrade_sent " +
    "paid_message_price_changed direct_message_price_changed video_chat_scheduled video_chat_started " +
    "video_chat_ended video_chat_participants_invited"
  ).split(" "),
);

const article = (what: string): string => (/^[aeiou]/i.test(what) ? `an ${what}` : `a ${what}`);

/** The notice for a kind the bridge cannot show ("Uma sent a game, which the bridge cannot show"). */
export function cannotShow(who: string, kind: string): RichMessage {
  return {
    text: `${who.slice(0, MAX_FIELD) || "Someone"} sent ${article(kind)}, which the bridge cannot show`,
    msgtype: "notice",
  };
}

/** A Bot API Location as a point, or undefined when it is not one. */
export function telegramPoint(loc: unknown): RemoteLocation | undefined {
  if (!isObj(loc) || !validPoint(loc.latitude, loc.longitude)) return undefined;
  const point: RemoteLocation = { lat: loc.latitude as number, lon: loc.longitude as number };
  const acc = loc.horizontal_accuracy;
  if (typeof acc === "number" && Number.isFinite(acc) && acc >= 0 && acc <= 1500) point.accuracyM = acc;
  return point;
}

const coords = (p: RemoteLocation): string => `${decimal(p.lat)}, ${decimal(p.lon)}`;

/** A shared location; a live one is shown at its first position (edits move it). */
export function locationMessage(loc: unknown): RichMessage | undefined {
  const point = telegramPoint(loc);
  if (!point) return undefined;
  const live = isObj(loc) && typeof loc.live_period === "number" && loc.live_period > 0;
  return { text: `${live ? "Live location" : "Location"}: ${coords(point)}`, location: point };
}

/** A venue: a location with its name and address. */
export function venueMessage(venue: unknown): RichMessage | undefined {
  if (!isObj(venue)) return undefined;
  const point = telegramPoint(venue.location);
  if (!point) return undefined;
  const description = [str(venue.title, MAX_FIELD).trim(), str(venue.address, MAX_FIELD).trim()]
    .filter((s) => s !== "")
    .join(", ");
  if (description) point.description = description;
  return { text: `Venue: ${description || "unnamed"} (${coords(point)})`, location: point };
}

/** A shared contact: one text line, and the vCard as a file when Telegram sent one. */
export function contactMessage(contact: unknown): RichMessage | undefined {
  if (!isObj(contact)) return undefined;
  const name = [str(contact.first_name, MAX_FIELD).trim(), str(contact.last_name, MAX_FIELD).trim()]
    .filter((s) => s !== "")
    .join(" ");
  const phone = str(contact.phone_number, 64).trim();
  if (!name && !phone) return undefined;
  const out: RichMessage = { text: `Contact: ${[name, phone].filter((s) => s !== "").join(", ")}` };
  const vcard = contact.vcard;
  if (typeof vcard === "string" && vcard.trim() !== "" && Buffer.byteLength(vcard) <= MAX_VCARD)
    out.attachment = {
      key: "inline:vcard",
      mimetype: "text/vcard",
      name: "contact.vcf",
      size: Buffer.byteLength(vcard),
      inline: vcard,
    };
  return out;
}

/**
 * A poll: question and options with their ids (Telegram's persistent id, else the position).
 * Regular polls are disclosed (Telegram shows the tally to whoever voted); a quiz is not, as the
 * tally would give its answer away.
 */
export function pollMessage(poll: unknown): RichMessage | undefined {
  if (!isObj(poll)) return undefined;
  const question = str(poll.question, MAX_FIELD).trim();
  const options = Array.isArray(poll.options) ? poll.options.slice(0, MAX_OPTIONS) : [];
  const seen = new Set<string>();
  const answers: RemotePoll["answers"] = [];
  for (const [i, o] of options.entries()) {
    if (!isObj(o)) continue;
    const text = str(o.text, MAX_FIELD);
    const pid = str(o.persistent_id, 64);
    const id = pid !== "" && !seen.has(pid) ? pid : String(i);
    if (text.trim() === "" || seen.has(id)) continue;
    seen.add(id);
    answers.push({ id, text });
  }
  if (!question || answers.length === 0) return undefined;
  const quiz = poll.type === "quiz";
  const multiple = poll.allows_multiple_answers === true;
  const lines = answers.map((a, i) => `${i + 1}. ${a.text}`);
  return {
    text: [`${quiz ? "Quiz" : "Poll"}: ${question}`, ...lines].join("\n"),
    poll: {
      question,
      answers,
      disclosed: !quiz,
      maxSelections: multiple ? answers.length : 1,
    },
  };
}

const DICE_VERBS: Record<string, string> = { "🎲": "rolled", "🎯": "threw", "🎳": "bowled", "🎰": "spun" };

/** A dice throw (or darts, basketball, …): "🎲 rolled 4". */
export function diceMessage(dice: unknown): RichMessage | undefined {
  if (!isObj(dice) || typeof dice.value !== "number" || !Number.isInteger(dice.value)) return undefined;
  if (dice.value < 0 || dice.value > 1000) return undefined;
  const emoji = str(dice.emoji, 16) || "🎲";
  return { text: `${emoji} ${DICE_VERBS[emoji] ?? "scored"} ${dice.value}` };
}

/** The kinds above, by field, each with the name its "cannot show" notice uses. */
const KINDS: Array<[field: string, name: string, convert: (v: unknown) => RichMessage | undefined]> = [
  // A venue message carries `location` as well: the venue goes first.
  ["venue", "venue", venueMessage],
  ["location", "location", locationMessage],
  ["contact", "contact", contactMessage],
  ["poll", "poll", pollMessage],
  ["dice", "dice", diceMessage],
];

/**
 * The rich part of a message without text or media: its Matrix form, a "cannot show" notice
 * (a kind the bridge has no form for, one it could not read, or one it does not know), or
 * undefined for a service message. `who` names the sender in notices.
 */
export function richMessage(message: unknown, who: string): RichMessage | undefined {
  if (!isObj(message)) return undefined;
  for (const [field, name, convert] of KINDS) {
    if (message[field] === undefined) continue;
    return convert(message[field]) ?? cannotShow(who, name);
  }
  for (const [field, name] of Object.entries(UNSHOWABLE))
    if (message[field] !== undefined) return cannotShow(who, name);
  const keys = Object.keys(message);
  if (keys.some((k) => SERVICE.has(k))) return undefined;
  const unknown = keys.find((k) => !META.has(k) && message[k] !== undefined);
  if (unknown === undefined) return undefined;
  const kind =
    unknown
      .replace(/[^a-z0-9]+/gi, " ")
      .trim()
      .slice(0, 40) || "message";
  return cannotShow(who, kind);
}
