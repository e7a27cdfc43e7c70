/** Escaping for Discord markdown (HTML escaping is shared: src/format). */

/** Makes text literal in Discord markdown (what Matrix users typed is not formatting). */
export function escapeMarkdown(s: string): string {
  return s.replace(/([\\*_~`|[\]])/g, "\\$1").replace(/^(>|#{1,3} |-# )/gm, "\\$1");
}
