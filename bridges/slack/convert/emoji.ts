/**
 * Slack emoji names ↔ Unicode. Slack names follow the GitHub/gemoji set; this table holds the
 * ones people use most (reactions especially). A name that is not here stays `:name:` in Matrix,
 * and a reaction key that is not here is sent to Slack as text.
 */
const TABLE: ReadonlyArray<[string, string, ...string[]]> = [
  ["👍", "+1", "thumbsup"],
  ["👎", "-1", "thumbsdown"],
  ["❤️", "heart"],
  ["😄", "smile"],
  ["😃", "smiley"],
  ["😀", "grinning"],
  ["😁", "grin"],
  ["😂", "joy"],
  ["🤣", "rolling_on_the_floor_laughing", "rofl"],
  ["😊", "blush"],
  ["🙂", "slightly_smiling_face"],
  ["😉", "wink"],
  ["😍", "heart_eyes"],
  ["😘", "kissing_heart"],
  ["😎", "sunglasses"],
  ["🤔", "thinking_face", "thinking"],
  ["😐", "neutral_face"],
  ["😢", "cry"],
  ["😭", "sob"],
  ["😡", "rage"],
  ["😱", "scream"],
  ["😅", "sweat_smile"],
  ["🙃", "upside_down_face"],
  ["😮", "open_mouth"],
  ["🙄", "face_with_rolling_eyes", "roll_eyes"],
  ["🤯", "exploding_head"],
  ["🥳", "partying_face"],
  ["🙏", "pray"],
  ["👏", "clap"],
  ["🙌", "raised_hands"],
  ["👋", "wave"],
  ["👌", "ok_hand"],
  ["✌️", "v"],
  ["💪", "muscle"],
  ["👀", "eyes"],
  ["🎉", "tada"],
  ["🔥", "fire"],
  ["✨", "sparkles"],
  ["⭐", "star"],
  ["💯", "100"],
  ["✅", "white_check_mark"],
  ["✔️", "heavy_check_mark"],
  ["❌", "x"],
  ["⚠️", "warning"],
  ["❓", "question"],
  ["❗", "exclamation", "heavy_exclamation_mark"],
  ["🚀", "rocket"],
  ["💡", "bulb"],
  ["📌", "pushpin"],
  ["📎", "paperclip"],
  ["🐛", "bug"],
  ["☕", "coffee"],
  ["🍕", "pizza"],
  ["🍺", "beer"],
  ["🦜", "parrot"],
  ["🐶", "dog"],
  ["🐱", "cat"],
  ["💔", "broken_heart"],
  ["💙", "blue_heart"],
  ["💚", "green_heart"],
  ["💛", "yellow_heart"],
  ["💜", "purple_heart"],
  ["🧡", "orange_heart"],
  ["🤝", "handshake"],
  ["🤷", "shrug"],
  ["🤦", "facepalm", "face_palm"],
  ["😴", "sleeping"],
  ["🤖", "robot_face"],
  ["👻", "ghost"],
  ["💩", "hankey", "poop"],
  ["☀️", "sunny"],
  ["🌈", "rainbow"],
  ["⏰", "alarm_clock"],
  ["📅", "date"],
  ["🔗", "link"],
  ["🔒", "lock"],
];

const BY_NAME = new Map<string, string>();
const BY_EMOJI = new Map<string, string>();
for (const [emoji, ...names] of TABLE) {
  for (const n of names) BY_NAME.set(n, emoji);
  BY_EMOJI.set(emoji.replace(/\uFE0F/g, ""), names[0]!);
}

/** Unicode for a Slack emoji name (`thumbsup`, `+1::skin-tone-2` keeps only the base). */
export function emojiFromName(name: string): string | undefined {
  return BY_NAME.get(name.replace(/::skin-tone-\d$/, ""));
}

/** The Slack name for a Unicode emoji (variation selectors ignored). */
export function nameFromEmoji(emoji: string): string | undefined {
  return BY_EMOJI.get(emoji.replace(/\uFE0F/g, ""));
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
