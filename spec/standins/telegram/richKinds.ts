/**
 * Message fields of the Telegram kinds that are neither text nor a file, shaped as the Bot API
 * sends them (Message.location, .venue, .contact, .poll, .dice), for
 * `injectMessage({ …, extra: location({ … }) })`.
 */
import { type Obj, strip } from "./BotWorld";

export interface LocationSpec {
  latitude: number;
  longitude: number;
  horizontal_accuracy?: number;
  /** Seconds the location is shared live. */
  live_period?: number;
  heading?: number;
}

const locationObj = (l: LocationSpec): Obj =>
  strip({
    latitude: l.latitude,
    longitude: l.longitude,
    horizontal_accuracy: l.horizontal_accuracy,
    live_period: l.live_period,
    heading: l.heading,
  });

/** `{ location }`: a shared place, or a live location while `live_period` runs. */
export function location(l: LocationSpec): Obj {
  return { location: locationObj(l) };
}

/** `{ venue, location }`: Telegram sends a venue's location in both fields. */
export function venue(v: LocationSpec & { title: string; address: string; foursquare_id?: string }): Obj {
  const loc = locationObj(v);
  return {
    venue: strip({ location: loc, title: v.title, address: v.address, foursquare_id: v.foursquare_id }),
    location: loc,
  };
}

/** `{ contact }`. */
export function contact(c: {
  phone_number: string;
  first_name: string;
  last_name?: string;
  user_id?: number;
  vcard?: string;
}): Obj {
  return { contact: strip({ ...c }) };
}

let pollIds = 5_000_000_000;

/** `{ poll }`: a new poll nobody has voted in yet. */
export function poll(p: {
  question: string;
  options: string[];
  type?: "regular" | "quiz";
  is_anonymous?: boolean;
  allows_multiple_answers?: boolean;
  correct_option_id?: number;
}): Obj {
  return {
    poll: strip({
      id: String(++pollIds),
      question: p.question,
      options: p.options.map((text) => ({ text, voter_count: 0 })),
      total_voter_count: 0,
      is_closed: false,
      is_anonymous: p.is_anonymous ?? true,
      type: p.type ?? "regular",
      allows_multiple_answers: p.allows_multiple_answers ?? false,
      correct_option_id: p.correct_option_id,
    }),
  };
}

/** Values Telegram gives each dice emoji. */
const DICE_MAX: Record<string, number> = { "🎲": 6, "🎯": 6, "🎳": 6, "🏀": 5, "⚽": 5, "🎰": 64 };

/** `{ dice }`: an animated emoji with its random value (1 to the emoji's maximum). */
export function dice(emoji: string, value: number): Obj {
  const max = DICE_MAX[emoji];
  if (max === undefined || !Number.isInteger(value) || value < 1 || value > max)
    throw new Error(`telegram stand-in: ${emoji} cannot show ${value}`);
  return { dice: { emoji, value } };
}
