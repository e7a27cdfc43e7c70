import type { MessageEntity } from "grammy/types";
import { escapeHtml, matrixToUrl, safeUrl } from "../../../src/format";
import { userDisplayName } from "./names";

/** What `entitiesToHtml` needs from its caller. */
export interface EntitiesToHtmlOptions {
  /**
   * The Matrix user id for a Telegram user (the caller maps to the ghost's mxid), or undefined to leave the
   * mention as plain text. `fallbackName` is the user's Telegram name, for a caller that creates the ghost.
   */
  userPill(userId: number, fallbackName: string): string | undefined;
}

/** One entity turned into markup, over UTF-16 range [start, end). */
interface Span {
  start: number;
  end: number;
  open: string;
  close: string;
  /** Inside a pre, newlines stay raw instead of becoming `<br>`. */
  pre: boolean;
  order: number;
}

const SIMPLE_TAGS: Partial<Record<MessageEntity["type"], [string, string]>> = {
  bold: ["<strong>", "</strong>"],
  italic: ["<em>", "</em>"],
  underline: ["<u>", "</u>"],
  strikethrough: ["<del>", "</del>"],
  spoiler: ["<span data-mx-spoiler>", "</span>"],
  code: ["<code>", "</code>"],
  blockquote: ["<blockquote>", "</blockquote>"],
  expandable_blockquote: ["<blockquote>", "</blockquote>"],
};

function toSpan(
  text: string,
  entity: MessageEntity,
  order: number,
  opts: EntitiesToHtmlOptions,
): Span | undefined {
  // A payload is input like any other: fields the Bot API promises may still be missing or mistyped.
  if (!Number.isInteger(entity.offset) || !Number.isInteger(entity.length)) return undefined;
  const start = Math.max(0, entity.offset);
  const end = Math.min(text.length, entity.offset + entity.length);
  if (end <= start) return undefined;
  const span = (open: string, close: string, pre = false): Span => ({ start, end, open, close, pre, order });
  const simple = SIMPLE_TAGS[entity.type];
  if (simple) return span(simple[0], simple[1]);
  switch (entity.type) {
    case "pre": {
      // Only characters a class name can hold; Telegram lets senders type anything here.
      const lang = (typeof entity.language === "string" ? entity.language : "").replace(
        /[^A-Za-z0-9_+#.-]/g,
        "",
      );
      const code = lang ? `<code class="language-${lang}">` : "<code>";
      return span(`<pre>${code}`, "</code></pre>", true);
    }
    case "text_link": {
      const href = typeof entity.url === "string" ? safeUrl(entity.url) : undefined;
      return href === undefined ? undefined : span(`<a href="${escapeHtml(href)}">`, "</a>");
    }
    case "url": {
      const href = safeUrl(text.slice(start, end), true);
      return href === undefined ? undefined : span(`<a href="${escapeHtml(href)}">`, "</a>");
    }
    case "text_mention": {
      if (typeof entity.user?.id !== "number") return undefined;
      const mxid = opts.userPill(entity.user.id, userDisplayName(entity.user));
      if (mxid === undefined) return undefined;
      return span(`<a href="${escapeHtml(matrixToUrl(mxid))}">`, "</a>");
    }
    default:
      // mention, hashtag, cashtag, bot_command, email, phone_number, custom_emoji, date_time: the text says it all.
      return undefined;
  }
}

/** Nesting order: earlier start outside, then longer outside, then the order Telegram sent them. */
function compareSpans(a: Span, b: Span): number {
  return a.start - b.start || b.end - a.end || a.order - b.order;
}

function escapeSegment(segment: string, inPre: boolean): string {
  const escaped = escapeHtml(segment);
  return inPre ? escaped : escaped.replace(/\r?\n/g, "<br>");
}

/**
 * Telegram text plus entities (UTF-16 offsets, i.e. JS string indices) → Matrix `org.matrix.custom.html`
 * `formatted_body`, or undefined when no entity adds markup and the plain body says it all.
 * Overlapping entities are closed and reopened so the HTML is always well formed.
 */
export function entitiesToHtml(
  text: string,
  entities: MessageEntity[] | undefined,
  opts: EntitiesToHtmlOptions,
): string | undefined {
  const spans: Span[] = [];
  (entities ?? []).forEach((entity, i) => {
    const span = toSpan(text, entity, i, opts);
    if (span) spans.push(span);
  });
  if (spans.length === 0) return undefined;

  const points = new Set<number>([0, text.length]);
  for (const s of spans) points.add(s.start).add(s.end);
  const bounds = [...points].sort((a, b) => a - b);

  let out = "";
  let stack: Span[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = bounds[i]!;
    const to = bounds[i + 1]!;
    const wanted = spans.filter((s) => s.start <= from && s.end >= to).sort(compareSpans);
    let keep = 0;
    while (keep < stack.length && keep < wanted.length && stack[keep] === wanted[keep]) keep++;
    for (let j = stack.length - 1; j >= keep; j--) out += stack[j]!.close;
    for (let j = keep; j < wanted.length; j++) out += wanted[j]!.open;
    stack = wanted;
    out += escapeSegment(
      text.slice(from, to),
      stack.some((s) => s.pre),
    );
  }
  for (let j = stack.length - 1; j >= 0; j--) out += stack[j]!.close;
  // A block already ends its line; the newline Telegram keeps after it would show as an empty line.
  return out.replace(/(<\/blockquote>|<\/pre>)<br>/g, "$1");
}
