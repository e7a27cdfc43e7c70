/** Bot API limits and the fixed reaction set bots may use. */

/** Longest message text (characters after entity parsing; used on the HTML as a safe bound). */
export const MAX_TEXT = 4096;
/** Longest media caption. */
export const MAX_CAPTION = 1024;
/** getFile refuses files larger than this on the public Bot API server. */
export const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
/** Largest upload via multipart on the public Bot API server. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/**
 * What sendPhoto takes: at most 10 MB, width plus height at most 10000, the longer side at most
 * 20 times the shorter (beyond that: PHOTO_SAVE_FILE_INVALID, PHOTO_INVALID_DIMENSIONS).
 */
export const PHOTO_LIMITS = { maxBytes: 10_000_000, maxSideSum: 10_000, maxRatio: 20 } as const;

/** Emoji a bot may set with setMessageReaction (ReactionTypeEmoji), without U+FE0F. */
export const ALLOWED_REACTIONS: ReadonlySet<string> = new Set(
  (
    "👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 " +
    "🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡"
  ).split(" "),
);

/** Splits plain text into parts of at most `max` UTF-16 units, never inside a surrogate pair. */
export function splitPlain(text: string, max = MAX_TEXT - 96): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(i + max, text.length);
    if (end < text.length) {
      const nl = text.lastIndexOf("\n", end);
      if (nl > i + max / 2) end = nl + 1;
      else if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
    }
    parts.push(text.slice(i, end));
    i = end;
  }
  return parts.length ? parts : [""];
}
