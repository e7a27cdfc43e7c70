/**
 * Matrix message → Slack mrkdwn: the document model (src/format) rendered with Slack's markers.
 * Text is escaped the way Slack wants (`&`, `<`, `>` as entities), so a Matrix user can never
 * produce a Slack control token by typing one.
 */
import {
  type Block,
  type Inline,
  type LayoutRules,
  layoutBlocks,
  parseMatrixHtml,
  trimNewlines,
  urlScheme,
  wrapMarker,
} from "../../../src/format";

/** What the converter needs to know to render mentions. */
export interface HtmlContext {
  /** The Slack user id behind a Matrix user (a Slack ghost of the same workspace), if any. */
  slackUser(mxid: string): string | undefined;
}

export const escapeSlack = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const MARKERS: Partial<Record<Inline["kind"], string>> = { bold: "*", italic: "_", strike: "~" };
const LINK_SCHEMES = new Set(["http", "https", "mailto"]);

function inlines(nodes: Inline[], ctx: HtmlContext): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += escapeSlack(n.text);
        break;
      case "break":
        out += "\n";
        break;
      case "code":
        out += `\`${escapeSlack(n.text.replace(/`/g, "'").replace(/\n/g, " "))}\``;
        break;
      case "link": {
        const label = inlines(n.children, ctx);
        if (!LINK_SCHEMES.has(urlScheme(n.href))) out += label;
        else {
          const url = n.href.replace(/[<>|]/g, encodeURIComponent);
          out +=
            label === escapeSlack(n.href) || label.trim() === ""
              ? `<${url}>`
              : `<${url}|${label.replace(/[|>]/g, "")}>`;
        }
        break;
      }
      case "mention": {
        const id = n.target === "user" ? ctx.slackUser(n.id) : undefined;
        out += id !== undefined ? `<@${id}>` : inlines(n.children, ctx) || escapeSlack(n.id);
        break;
      }
      default: {
        // Slack has no underline or spoiler: their text stays.
        const marker = MARKERS[n.kind];
        const inner = inlines(n.children, ctx);
        out += marker ? wrapMarker(inner, marker) : inner;
      }
    }
  }
  return out;
}

/** Code blocks stand apart with an empty line; everything else goes line by line. */
function separator(prev: Block, next: Block): "\n" | "\n\n" {
  return prev.kind === "codeblock" || next.kind === "codeblock" ? "\n\n" : "\n";
}

/** Converts a Matrix message (plain body, and the HTML body when there is one). Never throws. */
export function matrixToMrkdwn(body: string, html: string | undefined, ctx: HtmlContext): string {
  if (html === undefined) return escapeSlack(body);
  const rules: LayoutRules = {
    inlines: (nodes) => inlines(nodes, ctx),
    heading: (inner) => wrapMarker(inner, "*"),
    codeBlock: (text) => `\`\`\`\n${escapeSlack(text)}\n\`\`\``,
    quote: () => ({ open: "", close: "", prefix: "&gt; " }),
    rule: "———",
    bullet: (ordered, n) => (ordered ? `${n}. ` : "• "),
    indent: "    ",
    separator,
  };
  return trimNewlines(layoutBlocks(parseMatrixHtml(html).blocks, rules));
}
