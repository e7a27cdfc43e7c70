/** How Matrix senders and replies appear on Discord. */
import { escapeMarkdown } from "./escape";

/** Discord's webhook username rules: 1-80 characters, no "discord", no "clyde". */
export function webhookUsername(displayName: string, mxid: string): string {
  let name = (displayName || mxid)
    .replace(/(d)i(scord)/gi, (_, d: string, rest: string) => `${d}1${rest}`)
    .replace(/(clyd)e/gi, (_, c: string) => `${c}3`)
    .trim();
  if (name.length < 2) name = mxid;
  return name.slice(0, 80);
}

/** The bot's fallback when it has no webhook: the sender's name in bold before the text. */
export function prefixed(displayName: string, content: string, msgtype: "text" | "emote" | "notice"): string {
  const name = `**${escapeMarkdown(displayName)}**`;
  return msgtype === "emote" ? `\\* ${name} ${content}` : `${name}: ${content}`;
}

/** An emote through a webhook (the name is already shown as the author). */
export function emote(content: string): string {
  return `*${content}*`;
}

/**
 * The quoted line a webhook message starts with when it replies (webhooks cannot set a
 * message reference): who is answered, the start of their text and a jump link.
 */
export function replyQuote(author: string, quoted: string, link: string): string {
  const first = quoted.split("\n")[0] ?? "";
  const short = first.length > 80 ? `${first.slice(0, 80)}…` : first;
  return `> **${escapeMarkdown(author)}**: ${short} ([↩](<${link}>))\n`;
}
