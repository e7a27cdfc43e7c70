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

/** WhatsApp text → Matrix HTML, or undefined when the text has no formatting. */
export function whatsappToHtml(text: string): string | undefined {
  const html = renderMatrixHtml(parseWhatsapp(text));
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
  quote: () => ({ open: "", close: "", prefix: "> " }),
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
