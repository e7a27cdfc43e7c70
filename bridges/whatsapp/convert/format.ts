/**
 * WhatsApp text formatting ↔ Matrix HTML. WhatsApp marks `*bold*`, `_italic_`, `~strike~`,
 * ```` ```monospace``` ```` and `` `inline code` ``; a marker counts only at word edges
 * (`2*3*4` stays as it is), as the WhatsApp apps render it.
 */

import {
  escapeHtml,
  type Inline,
  type LayoutRules,
  layoutBlocks,
  parseMatrixHtml,
  prefixLines,
  trimNewlines,
  wrapMarker,
} from "../../../src/format";

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

const MARKERS: Partial<Record<Inline["kind"], string>> = { bold: "*", italic: "_", strike: "~" };

function inlines(nodes: Inline[]): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += n.text;
        break;
      case "break":
        out += "\n";
        break;
      case "code":
        out += `\`${n.text.replace(/\n/g, " ")}\``;
        break;
      case "link": {
        const label = inlines(n.children);
        out += label.trim() === "" ? n.href : label === n.href ? label : `${label} (${n.href})`;
        break;
      }
      case "mention": {
        const label = inlines(n.children);
        out += label.trim() === "" ? n.id : label;
        break;
      }
      default: {
        // WhatsApp has no underline or spoiler: their text stays.
        const marker = MARKERS[n.kind];
        const inner = inlines(n.children);
        out += marker ? wrapMarker(inner, marker) : inner;
      }
    }
  }
  return out;
}

const RULES: LayoutRules = {
  inlines,
  heading: (inner) => wrapMarker(inner, "*"),
  codeBlock: (text) => `\`\`\`${text}\`\`\``,
  quote: (inner) => prefixLines(inner, "> "),
  rule: "———",
  bullet: (ordered, n) => (ordered ? `${n}. ` : "• "),
  indent: "  ",
  separator: () => "\n",
};

/**
 * Matrix HTML → WhatsApp text. Unknown tags keep their text; a reply fallback is dropped. Never
 * throws; WhatsApp's length limit (65,536 characters) is far above what a Matrix event can carry.
 */
export function htmlToWhatsapp(html: string): string {
  return trimNewlines(layoutBlocks(parseMatrixHtml(html).blocks, RULES));
}

/** The prefix of a message relayed for a Matrix user without a WhatsApp login. */
export function relayPrefix(template: string, name: string): string {
  return template.replace(/\{name\}/g, name);
}
