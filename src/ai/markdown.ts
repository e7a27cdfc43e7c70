import { Marked } from "marked";
import { escapeHtml } from "../format";

// Raw HTML in a model's answer is shown as text, not interpreted: the answer is untrusted.
const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

/**
 * Matrix `formatted_body` for a markdown answer, or undefined when the text has no formatting
 * (a plain paragraph needs no HTML).
 */
export function markdownToHtml(text: string): string | undefined {
  const html = (marked.parse(text) as string).trim();
  const plain = `<p>${escapeHtml(text.trim()).replace(/\n/g, "<br>")}</p>`;
  if (html === plain || html === plain.replace(/<br>/g, "<br />")) return undefined;
  return html;
}
