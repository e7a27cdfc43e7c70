/**
 * WhatsApp text formatting ↔ Matrix HTML. WhatsApp marks `*bold*`, `_italic_`, `~strike~`,
 * ```` ```monospace``` ```` and `` `inline code` ``; a marker counts only at word edges
 * (`2*3*4` stays as it is), as the WhatsApp apps render it.
 */

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const INLINE: Array<[string, string]> = [
  ["*", "strong"],
  ["_", "em"],
  ["~", "del"],
];

function inline(text: string): string {
  let out = escapeHtml(text);
  out = out.replace(/(^|[^\w`])`([^`\n]+)`(?=$|[^\w`])/g, "$1<code>$2</code>");
  for (const [mark, tag] of INLINE) {
    const m = `\\${mark}`;
    const re = new RegExp(`(^|[^\\w${m}])${m}(?=\\S)([^${m}\\n]*?\\S)${m}(?=$|[^\\w${m}])`, "g");
    out = out.replace(re, `$1<${tag}>$2</${tag}>`);
  }
  return out.replace(/\n/g, "<br>");
}

/** WhatsApp text → Matrix HTML, or undefined when the text has no formatting. */
export function whatsappToHtml(text: string): string | undefined {
  const blocks: string[] = [];
  // Monospace blocks first, set aside so that markers inside them stay literal.
  const rest = text.replace(/```([\s\S]+?)```/g, (_all, code: string) => {
    blocks.push(
      code.includes("\n")
        ? `<pre><code>${escapeHtml(code.replace(/^\n|\n$/g, ""))}</code></pre>`
        : `<code>${escapeHtml(code)}</code>`,
    );
    return `\uE000${blocks.length - 1}\uE000`;
  });
  const html = inline(rest).replace(/\uE000(\d+)\uE000/g, (_all, i: string) => blocks[Number(i)]);
  return html === escapeHtml(text).replace(/\n/g, "<br>") ? undefined : html;
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  "#39": "'",
  apos: "'",
  nbsp: " ",
};

function decodeEntities(s: string): string {
  return s.replace(/&(#x?[0-9a-f]+|\w+);/gi, (all, e: string) => {
    if (e[0] === "#") {
      const n =
        e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return Number.isFinite(n) ? String.fromCodePoint(n) : all;
    }
    return ENTITIES[e.toLowerCase()] ?? all;
  });
}

const WRAP: Record<string, string> = { strong: "*", b: "*", em: "_", i: "_", del: "~", s: "~", strike: "~" };

/** Matrix HTML → WhatsApp text. Unknown tags keep their text; a reply fallback is dropped. */
export function htmlToWhatsapp(html: string): string {
  let s = html.replace(/<mx-reply>[\s\S]*?<\/mx-reply>/gi, "");
  s = s.replace(
    /<pre[^>]*>\s*<code[^>]*>([\s\S]*?)<\/code>\s*<\/pre>/gi,
    (_a, code: string) => `\`\`\`${code.replace(/\n$/, "")}\`\`\``,
  );
  s = s.replace(/<pre[^>]*>([\s\S]*?)<\/pre>/gi, (_a, code: string) => `\`\`\`${code}\`\`\``);
  s = s.replace(/<code[^>]*>([\s\S]*?)<\/code>/gi, (_a, code: string) => `\`${code}\``);
  s = s.replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, (_a, href: string, text: string) => {
    const plain = text.replace(/<[^>]+>/g, "");
    const url = decodeEntities(href);
    if (url.startsWith("https://matrix.to/")) return plain;
    return plain === url || decodeEntities(plain) === url ? plain : `${plain} (${href})`;
  });
  for (const [tag, mark] of Object.entries(WRAP)) {
    s = s.replace(
      new RegExp(`<${tag}(\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "gi"),
      (_a, _attrs, inner: string) => (inner.trim() ? `${mark}${inner}${mark}` : inner),
    );
  }
  s = s.replace(/<br\s*\/?>/gi, "\n");
  s = s.replace(/<li[^>]*>/gi, "• ").replace(/<\/li>/gi, "\n");
  s = s.replace(/<\/(p|div|h[1-6]|blockquote|ul|ol)>/gi, "\n");
  s = s.replace(/<blockquote[^>]*>/gi, "> ");
  s = s.replace(/<[^>]+>/g, "");
  return decodeEntities(s)
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** The prefix of a message relayed for a Matrix user without a WhatsApp login. */
export function relayPrefix(template: string, name: string): string {
  return template.replace(/\{name\}/g, name);
}
