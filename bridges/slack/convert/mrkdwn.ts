/**
 * Slack mrkdwn → Matrix (plain body and HTML). Slack sends `&`, `<` and `>` of the user's text
 * as `&amp;`, `&lt;`, `&gt;`; everything in real angle brackets is a control token: `<@U…>`,
 * `<#C…|name>`, `<!here>`, `<url|text>`. Formatting: `*bold*`, `_italic_`, `~strike~`,
 * `` `code` ``, ```` ```pre``` ```` and `>` quotes.
 */
import { escapeHtml, matrixToUrl, safeUrl } from "../../../src/format";
import { replaceShortcodes } from "./emoji";

/** What the converter needs to know to render mentions. */
export interface MrkdwnContext {
  /** The Matrix user id and display name for a Slack user id. */
  user(id: string): { mxid: string; name: string };
  /** A channel's name, when known. */
  channelName?(id: string): string | undefined;
  /**
   * A workspace's custom emoji shown as an image: the inline image id for its `<img>`
   * (`clawbridge-inline:<id>`), or undefined to keep `:name:` as text.
   */
  emoji?(name: string): string | undefined;
}

export interface Converted {
  text: string;
  /** Undefined when the message has no formatting (the plain body says it all). */
  html?: string;
}

/** Slack's own escaping of user text. */
export const decodeSlack = (s: string): string =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

interface Out {
  text: string;
  html: string;
  formatted: boolean;
}

/** A control token `<…>`, rendered. */
function token(inner: string, ctx: MrkdwnContext, out: Out): void {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? undefined : decodeSlack(inner.slice(bar + 1));
  out.formatted = true;
  if (target.startsWith("@")) {
    const u = ctx.user(target.slice(1));
    const name = u.name || label || target.slice(1);
    out.text += name;
    out.html += `<a href="${escapeHtml(matrixToUrl(u.mxid))}">${escapeHtml(name)}</a>`;
    return;
  }
  if (target.startsWith("#")) {
    const name = `#${label || ctx.channelName?.(target.slice(1)) || target.slice(1)}`;
    out.text += name;
    out.html += escapeHtml(name);
    return;
  }
  if (target.startsWith("!")) {
    const special = target.slice(1).split("^")[0]!;
    const name = label ?? (["here", "channel", "everyone"].includes(special) ? "@room" : `@${special}`);
    out.text += name;
    out.html += escapeHtml(name);
    return;
  }
  const url = decodeSlack(target);
  const shown = label ?? url.replace(/^mailto:/, "");
  out.text += label && label !== url ? `${label} (${url})` : shown;
  // Only schemes a Matrix client may follow become links (never javascript: or data:).
  const safe = safeUrl(url);
  out.html +=
    safe === undefined ? escapeHtml(shown) : `<a href="${escapeHtml(safe)}">${escapeHtml(shown)}</a>`;
}

const PUNCT = /[\s.,;:!?()[\]{}"'/-]/;

/** Whether `s[j]` can close a span of `mark`: the marker after a non-space, before punctuation or the end. */
function closes(s: string, j: number, mark: string): boolean {
  if (s[j] !== mark || /\s/.test(s[j - 1]!)) return false;
  const after = j + 1 >= s.length ? " " : s[j + 1]!;
  return PUNCT.test(after) || /[*_~]/.test(after);
}

/**
 * Finds where a `*`/`_`/`~` at `i` closes on the same line, or -1. Where a closer can be depends
 * only on its own position, so each scan is remembered per marker: a line of openers without a
 * closer is scanned once, not once per opener.
 */
function spanEnd(
  s: string,
  i: number,
  mark: string,
  seen: Map<string, { from: number; to: number; at: number }>,
): number {
  const before = i === 0 ? " " : s[i - 1]!;
  if (!PUNCT.test(before) && !/[*_~]/.test(before)) return -1;
  if (i + 1 >= s.length || /\s/.test(s[i + 1]!)) return -1;
  const from = i + 2;
  const known = seen.get(mark);
  // A previous scan covered [known.from, known.to) and found its first closer at `at` (or none).
  if (known && from >= known.from && (known.at < 0 ? from <= known.to : from <= known.at)) return known.at;
  let j = from;
  for (; j < s.length && s[j] !== "\n"; j++) {
    if (closes(s, j, mark)) {
      seen.set(mark, { from, to: j, at: j });
      return j;
    }
  }
  seen.set(mark, { from, to: j, at: -1 });
  return -1;
}

const TAGS: Record<string, string> = { "*": "strong", _: "em", "~": "del" };

/** Inline formatting of one stretch of (still Slack-escaped) text. */
/** Spans nested deeper than this keep their markers as text (no recursion without end). */
const MAX_NESTING = 16;

function inline(s: string, ctx: MrkdwnContext, out: Out, depth = 0): void {
  const seen = new Map<string, { from: number; to: number; at: number }>();
  let plain = "";
  const flush = (): void => {
    const t = replaceShortcodes(decodeSlack(plain));
    out.text += t;
    // Shortcodes left after the Unicode ones: a workspace's custom emoji, shown as images.
    let last = 0;
    for (const m of ctx.emoji ? t.matchAll(/:([a-z0-9_+'-]+):/g) : []) {
      const image = ctx.emoji!(m[1]!);
      if (!image) continue;
      out.html += escapeHtml(t.slice(last, m.index)).replace(/\n/g, "<br>");
      const code = escapeHtml(m[0]);
      out.html += `<img data-mx-emoticon height="32" src="clawbridge-inline:${escapeHtml(image)}" alt="${code}" title="${code}">`;
      out.formatted = true;
      last = m.index + m[0].length;
    }
    out.html += escapeHtml(t.slice(last)).replace(/\n/g, "<br>");
    plain = "";
  };
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === "<") {
      const end = s.indexOf(">", i + 1);
      if (end > i + 1) {
        flush();
        token(s.slice(i + 1, end), ctx, out);
        i = end;
        continue;
      }
    }
    if (ch === "`") {
      const end = s.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        const code = decodeSlack(s.slice(i + 1, end));
        out.text += code;
        out.html += `<code>${escapeHtml(code)}</code>`;
        out.formatted = true;
        i = end;
        continue;
      }
    }
    if (ch in TAGS && depth < MAX_NESTING) {
      const end = spanEnd(s, i, ch, seen);
      if (end > 0) {
        flush();
        const tag = TAGS[ch]!;
        out.html += `<${tag}>`;
        inline(s.slice(i + 1, end), ctx, out, depth + 1);
        out.html += `</${tag}>`;
        out.formatted = true;
        i = end;
        continue;
      }
    }
    plain += ch;
  }
  flush();
}

/** Lines, with `>` quotes grouped into blockquotes. */
function blocks(s: string, ctx: MrkdwnContext, out: Out): void {
  const lines = s.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const q = /^(?:&gt;|>) ?/.exec(line);
    if (q) {
      const quoted: string[] = [];
      while (i < lines.length && /^(?:&gt;|>)/.test(lines[i]!)) {
        quoted.push(lines[i]!.replace(/^(?:&gt;|>) ?/, ""));
        i++;
      }
      i--;
      out.html += "<blockquote>";
      out.text += "> ";
      const inner: Out = { text: "", html: "", formatted: false };
      inline(quoted.join("\n"), ctx, inner);
      out.html += `${inner.html}</blockquote>`;
      out.text += inner.text.replace(/\n/g, "\n> ");
      out.formatted = true;
      if (i < lines.length - 1) out.text += "\n";
      continue;
    }
    inline(line, ctx, out);
    if (i < lines.length - 1) {
      out.text += "\n";
      out.html += "<br>";
    }
  }
}

/** Converts a Slack message text. */
export function mrkdwnToMatrix(src: string, ctx: MrkdwnContext): Converted {
  const out: Out = { text: "", html: "", formatted: false };
  const parts = src.split("```");
  // An odd number of fences leaves the last one literal.
  const closed = parts.length % 2 === 1 ? parts.length : parts.length - 1;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1 && i < closed) {
      const code = decodeSlack(part.replace(/^\n/, "").replace(/\n$/, "")).replace(
        /<([^|>]+)\|([^>]*)>|<([^>]+)>/g,
        (_w, u?: string, t?: string, bare?: string) => t ?? u ?? bare ?? "",
      );
      out.text += code;
      out.html += `<pre><code>${escapeHtml(code)}</code></pre>`;
      out.formatted = true;
      continue;
    }
    blocks(
      i > 0 && i < closed ? part.replace(/^\n/, "") : i >= closed && i > 0 ? `\`\`\`${part}` : part,
      ctx,
      out,
    );
  }
  return out.formatted ? { text: out.text, html: out.html } : { text: out.text };
}

/** The Slack user ids mentioned in a text (to look their names up first). */
export function mentionedUsers(src: string): string[] {
  return [...new Set([...src.matchAll(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g)].map((m) => m[1]!))];
}
