/**
 * The document model → Matrix `formatted_body` (org.matrix.custom.html): the way back in for a
 * network that parses its own markup into the model.
 */
import { escapeHtml } from "./escape";
import { matrixToUrl } from "./mentions";
import type { Block, Doc, Inline } from "./model";

const TAGS = { bold: "strong", italic: "em", underline: "u", strike: "del" } as const;

function inlines(nodes: readonly Inline[]): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += escapeHtml(n.text);
        break;
      case "break":
        out += "<br>";
        break;
      case "code":
        out += `<code>${escapeHtml(n.text)}</code>`;
        break;
      case "link":
        out += `<a href="${escapeHtml(n.href)}">${inlines(n.children)}</a>`;
        break;
      case "mention": {
        const label = inlines(n.children);
        out += `<a href="${escapeHtml(matrixToUrl(n.id))}">${label.trim() === "" ? escapeHtml(n.id) : label}</a>`;
        break;
      }
      case "spoiler":
        out += `<span data-mx-spoiler>${inlines(n.children)}</span>`;
        break;
      default:
        out += `<${TAGS[n.kind]}>${inlines(n.children)}</${TAGS[n.kind]}>`;
    }
  }
  return out;
}

function block(b: Block): string {
  switch (b.kind) {
    case "paragraph":
      return b.tight ? inlines(b.children) : `<p>${inlines(b.children)}</p>`;
    case "heading":
      return `<h${b.level}>${inlines(b.children)}</h${b.level}>`;
    case "quote":
      return `<blockquote>${blocks(b.children)}</blockquote>`;
    case "codeblock": {
      const cls = b.language ? ` class="language-${escapeHtml(b.language)}"` : "";
      return `<pre><code${cls}>${escapeHtml(b.text)}</code></pre>`;
    }
    case "list": {
      const tag = b.ordered ? "ol" : "ul";
      const start = b.ordered && b.start !== 1 ? ` start="${b.start}"` : "";
      return `<${tag}${start}>${b.items.map((item) => `<li>${blocks(item)}</li>`).join("")}</${tag}>`;
    }
    case "rule":
      return "<hr>";
  }
}

function blocks(list: readonly Block[]): string {
  let out = "";
  let prev: Block | undefined;
  for (const b of list) {
    // Two lines of loose text need a break between them; blocks break lines by themselves.
    if (prev?.kind === "paragraph" && prev.tight && b.kind === "paragraph" && b.tight) out += "<br>";
    out += block(b);
    prev = b;
  }
  return out;
}

/** Matrix HTML for a document: well formed, every text escaped, pills as matrix.to links. */
export function renderMatrixHtml(doc: Doc): string {
  return blocks(doc.blocks);
}
