/**
 * Matrix message content → Telegram's HTML parse mode: the document model (src/format) rendered
 * to the tags Telegram knows (b, i, u, s, tg-spoiler, a, code, pre, blockquote), lists and headings
 * spelled out as lines, ghost pills as `tg://user?id=` mentions.
 */
import {
  type Block,
  escapeHtml,
  type Inline,
  type LayoutRules,
  layoutBlocks,
  parseMatrixHtml,
  trimNewlines,
} from "../../../src/format";

export { escapeHtml } from "../../../src/format";

/** The parts of a Matrix `m.room.message` content that carry text. */
export interface MatrixTextContent {
  body: string;
  format?: string;
  formatted_body?: string;
}

/** What `matrixToTelegramHtml` needs from its caller. */
export interface MatrixToTelegramOptions {
  /** The Telegram user behind a ghost mxid, or undefined when the mxid is not a Telegram ghost. */
  pillToTelegramUser(mxid: string): { id: number; name: string } | undefined;
}

const TAGS = { bold: "b", italic: "i", underline: "u", strike: "s", spoiler: "tg-spoiler" } as const;

function inlines(nodes: Inline[], opts: MatrixToTelegramOptions): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += escapeHtml(n.text);
        break;
      case "break":
        out += "\n";
        break;
      case "code":
        out += `<code>${escapeHtml(n.text)}</code>`;
        break;
      case "link": {
        const inner = inlines(n.children, opts);
        const href = escapeHtml(n.href);
        // A link showing its own URL: Telegram links it by itself, so it goes as text.
        out += inner === href ? inner : `<a href="${href}">${inner}</a>`;
        break;
      }
      case "mention": {
        const inner = inlines(n.children, opts);
        const user = n.target === "user" ? opts.pillToTelegramUser(n.id) : undefined;
        const label = inner.trim() !== "" ? inner : escapeHtml(user?.name ?? n.id);
        out += user ? `<a href="tg://user?id=${user.id}">${label}</a>` : label;
        break;
      }
      default: {
        const inner = inlines(n.children, opts);
        const tag = TAGS[n.kind];
        out += inner === "" ? "" : `<${tag}>${inner}</${tag}>`;
      }
    }
  }
  return out;
}

const NO_QUOTE = { open: "", close: "", prefix: "" };

/** Paragraphs and lists end with an empty line; other blocks, loose lines and table rows with a line break. */
function separator(prev: Block): "\n" | "\n\n" {
  return (prev.kind === "paragraph" && !prev.tight) || prev.kind === "list" ? "\n\n" : "\n";
}

function rules(opts: MatrixToTelegramOptions): LayoutRules {
  return {
    inlines: (nodes) => inlines(nodes, opts),
    heading: (inner) => `<b>${inner}</b>`,
    codeBlock: (text, language) =>
      language
        ? `<pre><code class="language-${language}">${escapeHtml(text)}</code></pre>`
        : `<pre>${escapeHtml(text)}</pre>`,
    verbatimCode: true,
    // Telegram has no nested quotes: an inner quote's lines join the outer one.
    quote: (depth) => (depth === 0 ? { open: "<blockquote>", close: "</blockquote>", prefix: "" } : NO_QUOTE),
    rule: "———",
    bullet: (ordered, n) => (ordered ? `${n}. ` : "• "),
    indent: "  ",
    separator,
  };
}

/**
 * Matrix message content → text for Telegram's `parse_mode: "HTML"`. Never throws: anything without
 * visible text comes out as the escaped plain body. The result is not bounded: the sender splits
 * what is over Telegram's 4096 characters.
 */
export function matrixToTelegramHtml(content: MatrixTextContent, opts: MatrixToTelegramOptions): string {
  const plain = escapeHtml(typeof content.body === "string" ? content.body : "");
  if (content.format !== "org.matrix.custom.html" || typeof content.formatted_body !== "string") return plain;
  const html = trimNewlines(layoutBlocks(parseMatrixHtml(content.formatted_body).blocks, rules(opts)));
  return html.trim() === "" ? plain : html;
}
