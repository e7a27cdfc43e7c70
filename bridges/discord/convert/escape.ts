/** Escaping for HTML (Matrix side) and Discord markdown. */

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function unescapeHtml(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, " ")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, "&");
}

/** Makes text literal in Discord markdown (what Matrix users typed is not formatting). */
export function escapeMarkdown(s: string): string {
  return s.replace(/([\\*_~`|[\]])/g, "\\$1").replace(/^(>|#{1,3} |-# )/gm, "\\$1");
}
