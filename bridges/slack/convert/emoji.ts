/**
 * Slack emoji names ↔ Unicode, from the emoji-datasource data set (the names Slack itself uses,
 * skin tones included: `+1::skin-tone-4` ↔ 👍🏽). Custom workspace emoji have no Unicode form: a
 * name that is not in the set stays `:name:` in Matrix, and such a reaction key goes to Slack
 * as text. The tables are built on first use.
 */

/** The fields of an emoji-datasource entry this module reads. */
interface EmojiData {
  unified: string;
  non_qualified: string | null;
  short_name: string;
  short_names: string[];
  skin_variations?: Record<string, { unified: string; non_qualified: string | null }>;
}

/** Slack's skin-tone suffixes and the Fitzpatrick modifiers they stand for. */
const SKIN_TONES: Record<string, string> = {
  "1F3FB": "2",
  "1F3FC": "3",
  "1F3FD": "4",
  "1F3FE": "5",
  "1F3FF": "6",
};

interface Tables {
  byName: Map<string, string>;
  byEmoji: Map<string, string>;
}
let tables: Tables | undefined;

const fromUnified = (unified: string): string =>
  String.fromCodePoint(...unified.split("-").map((h) => Number.parseInt(h, 16)));
/** The key an emoji is looked up by: variation selectors do not matter. */
const bare = (emoji: string): string => emoji.replace(/\uFE0F/g, "");

function load(): Tables {
  if (tables) return tables;
  const data = require("emoji-datasource/emoji.json") as EmojiData[];
  const byName = new Map<string, string>();
  const byEmoji = new Map<string, string>();
  for (const e of data) {
    const emoji = fromUnified(e.unified);
    for (const name of e.short_names) if (!byName.has(name)) byName.set(name, emoji);
    for (const form of [e.unified, e.non_qualified]) {
      if (form && !byEmoji.has(bare(fromUnified(form)))) byEmoji.set(bare(fromUnified(form)), e.short_name);
    }
    for (const [modifier, variation] of Object.entries(e.skin_variations ?? {})) {
      const tone = SKIN_TONES[modifier];
      if (!tone) continue; // two-tone variants (🤝 with two hands) have no single Slack suffix
      const name = `${e.short_name}::skin-tone-${tone}`;
      const toned = fromUnified(variation.unified);
      byName.set(name, toned);
      for (const alias of e.short_names) byName.set(`${alias}::skin-tone-${tone}`, toned);
      byEmoji.set(bare(toned), name);
      if (variation.non_qualified) byEmoji.set(bare(fromUnified(variation.non_qualified)), name);
    }
  }
  tables = { byName, byEmoji };
  return tables;
}

/** Unicode for a Slack emoji name (`thumbsup`, `+1::skin-tone-2`). */
export function emojiFromName(name: string): string | undefined {
  return load().byName.get(name);
}

/** The Slack name for a Unicode emoji (variation selectors ignored). */
export function nameFromEmoji(emoji: string): string | undefined {
  return load().byEmoji.get(bare(emoji));
}

/** Replaces `:name:` shortcodes that have a Unicode form; others stay as written. */
export function replaceShortcodes(text: string): string {
  return text.replace(
    /:([a-z0-9_+'-]+(?:::skin-tone-\d)?):/g,
    (whole, name: string) => emojiFromName(name) ?? whole,
  );
}

/** The Slack reaction name for a Matrix reaction key (`👍`, or `:name:` as sent from Slack). */
export function reactionName(key: string): string | undefined {
  const colon = /^:([a-z0-9_+'-]+(?:::skin-tone-\d)?):$/.exec(key);
  return colon ? colon[1] : nameFromEmoji(key);
}

/**
 * A workspace's custom emoji from an `emoji.list` answer: name → picture URL or `alias:<name>`.
 * The answer comes from the platform: anything but a string value is left out.
 */
export function customEmojiMap(answer: unknown): Map<string, string> {
  const map = new Map<string, string>();
  const emoji =
    typeof answer === "object" && answer !== null ? (answer as { emoji?: unknown }).emoji : undefined;
  if (typeof emoji !== "object" || emoji === null || Array.isArray(emoji)) return map;
  for (const [name, v] of Object.entries(emoji)) if (typeof v === "string") map.set(name, v);
  return map;
}

/** A custom emoji's picture URL (http or https), following aliases three hops at most. */
export function customEmojiUrl(map: Map<string, string> | undefined, name: string): string | undefined {
  let v = map?.get(name);
  for (let hops = 0; v?.startsWith("alias:") && hops < 3; hops++) v = map?.get(v.slice(6));
  return v && /^https?:\/\//.test(v) ? v : undefined;
}
