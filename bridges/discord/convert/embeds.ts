/**
 * Discord embeds and stickers → readable text; long text → parts within Discord's limit.
 */

/** The parts of an embed the bridge shows (discord.js `Embed` and API objects both fit). */
export interface EmbedLike {
  title?: string | null;
  description?: string | null;
  url?: string | null;
  author?: { name?: string | null } | null;
  fields?: ReadonlyArray<{ name: string; value: string }>;
  footer?: { text?: string | null } | null;
}

/** One embed as plain text lines (title, link, author, description, fields, footer). */
export function embedToText(e: EmbedLike): string {
  const lines: string[] = [];
  if (e.author?.name) lines.push(e.author.name);
  if (e.title) lines.push(e.url ? `${e.title} (${e.url})` : e.title);
  else if (e.url) lines.push(e.url);
  if (e.description) lines.push(e.description);
  for (const f of e.fields ?? []) lines.push(`${f.name}: ${f.value}`);
  if (e.footer?.text) lines.push(e.footer.text);
  return lines.map((l) => `> ${l.replace(/\n/g, "\n> ")}`).join("\n");
}

/** Discord's sticker formats: PNG (1), APNG (2), Lottie JSON (3), GIF (4). */
export function stickerMedia(
  format: number,
  id: string,
  cdn: string,
): { url: string; mimetype: string } | undefined {
  if (format === 3) return undefined;
  const ext = format === 4 ? "gif" : "png";
  return { url: `${cdn}/stickers/${id}.${ext}`, mimetype: format === 4 ? "image/gif" : "image/png" };
}

/**
 * Splits text into parts of at most `max` characters, at a paragraph, line or word break when
 * there is one in the second half of the part; code fences cut in two are closed and reopened.
 */
export function splitMessage(text: string, max = 2000): string[] {
  if (text.length <= max) return [text];
  const parts: string[] = [];
  let rest = text;
  let openFence = "";
  while (rest.length > 0) {
    const room = max - openFence.length - 4;
    if (openFence.length + rest.length <= max) {
      parts.push(openFence + rest);
      break;
    }
    let cut = -1;
    for (const sep of ["\n\n", "\n", " "]) {
      const at = rest.lastIndexOf(sep, room);
      if (at > room / 2) {
        cut = at;
        break;
      }
    }
    if (cut < 0) cut = room;
    let part = openFence + rest.slice(0, cut);
    rest = rest.slice(cut).replace(/^\s+/, "");
    const fences = part.match(/```/g)?.length ?? 0;
    if (fences % 2 === 1) {
      const lang = /```(\w*)[^`]*$/.exec(part)?.[1] ?? "";
      part += "\n```";
      openFence = `\`\`\`${lang}\n`;
    } else openFence = "";
    parts.push(part);
  }
  return parts;
}
