/**
 * WhatsApp text formatting ↔ Matrix HTML, both ways through the document model (src/format):
 * WhatsApp's markers are read by `parseWhatsapp` (markers.ts), Matrix HTML by `parseMatrixHtml`.
 */

import {
  escapeHtml,
  type Inline,
  type LayoutRules,
  layoutBlocks,
  parseMatrixHtml,
  renderMatrixHtml,
  trimNewlines,
  wrapMarker,
} from "../../../src/format";
import { parseWhatsapp } from "./markers";

/**
 * WhatsApp text → Matrix HTML, or undefined when the text has no formatting. `mentions`: the
 * Matrix user of each mentioned number (from the message's `mentionedJid`); its `@number` in the
 * text becomes a pill.
 */
export function whatsappToHtml(text: string, mentions?: ReadonlyMap<string, string>): string | undefined {
  const doc = parseWhatsapp(text);
  if (mentions?.size)
    for (const b of doc.blocks) if (b.kind === "paragraph") b.children = withPills(b.children, mentions);
  const html = renderMatrixHtml(doc);
  return html === escapeHtml(text).replace(/\n/g, "<br>") ? undefined : html;
}

/** `@15551234567` in text nodes → a mention of that number's Matrix user, where it was mentioned. */
function withPills(nodes: Inline[], mentions: ReadonlyMap<string, string>): Inline[] {
  const out: Inline[] = [];
  for (const n of nodes) {
    if (n.kind === "text") {
      let last = 0;
      for (const m of n.text.matchAll(/@(\d{5,20})(?!\d)/g)) {
        const mxid = mentions.get(m[1]!);
        if (!mxid) continue;
        if (m.index > last) out.push({ kind: "text", text: n.text.slice(last, m.index) });
        out.push({ kind: "mention", target: "user", id: mxid, children: [{ kind: "text", text: m[0] }] });
        last = m.index + m[0].length;
      }
      if (last < n.text.length) out.push(last === 0 ? n : { kind: "text", text: n.text.slice(last) });
    } else if ("children" in n && n.kind !== "mention" && n.kind !== "link") {
      out.push({ ...n, children: withPills(n.children, mentions) } as Inline);
    } else out.push(n);
  }
  return out;
}

const MARKERS: Partial<Record<Inline["kind"], string>> = { bold: "*", italic: "_", strike: "~" };

/** One conversion's mentions: the number of a WhatsApp user's ghost, and the numbers mentioned. */
interface Mentions {
  numberOf?: (mxid: string) => string | undefined;
  found: Set<string>;
}

function inlines(nodes: Inline[], m: Mentions): string {
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
        const label = inlines(n.children, m);
        out += label.trim() === "" ? n.href : label === n.href ? label : `${label} (${n.href})`;
        break;
      }
      case "mention": {
        const number = m.numberOf?.(n.id);
        if (number !== undefined) {
          // WhatsApp shows `@<number>` with `mentionedJid` as the person's name.
          m.found.add(number);
          out += `@${number}`;
          break;
        }
        const label = inlines(n.children, m);
        out += label.trim() === "" ? n.id : label;
        break;
      }
      default: {
        // WhatsApp has no underline or spoiler: their text stays.
        const marker = MARKERS[n.kind];
        const inner = inlines(n.children, m);
        out += marker ? wrapMarker(inner, marker) : inner;
      }
    }
  }
  return out;
}

const rules = (m: Mentions): LayoutRules => ({
  inlines: (nodes) => inlines(nodes, m),
  heading: (inner) => wrapMarker(inner, "*"),
  codeBlock: (text) => `\`\`\`${text}\`\`\``,
  quote: () => ({ open: "", close: "", prefix: "> " }),
  rule: "———",
  bullet: (ordered, n) => (ordered ? `${n}. ` : "• "),
  indent: "  ",
  separator: () => "\n",
});

/**
 * Matrix HTML → WhatsApp text. Unknown tags keep their text; a reply fallback is dropped. Never
 * throws; WhatsApp's length limit (65,536 characters) is far above what a Matrix event can carry.
 */
export function htmlToWhatsapp(html: string): string {
  return htmlToWhatsappWithMentions(html).text;
}

/**
 * Matrix HTML → WhatsApp text and the users it mentions: a pill of a WhatsApp user's ghost
 * (`numberOf` gives its number) becomes `@<number>`, listed for `mentions`; other pills keep
 * their label.
 */
export function htmlToWhatsappWithMentions(
  html: string,
  numberOf?: (mxid: string) => string | undefined,
): { text: string; mentions: string[] } {
  const m: Mentions = { numberOf, found: new Set() };
  const text = trimNewlines(layoutBlocks(parseMatrixHtml(html).blocks, rules(m)));
  return { text, mentions: [...m.found] };
}

/** The prefix of a message relayed for a Matrix user without a WhatsApp login. */
export function relayPrefix(template: string, name: string): string {
  return template.replace(/\{name\}/g, name);
}
