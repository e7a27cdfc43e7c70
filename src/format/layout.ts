/**
 * Laying blocks out as lines of text, for networks whose markup is text with markers (Discord,
 * Slack, WhatsApp, and Telegram's HTML with its line breaks). The network gives the pieces it
 * writes differently; order, list numbering, nesting indentation and spacing rules are here once.
 */
import type { Block, Inline } from "./model";

/** How one network writes each kind of block. */
export interface LayoutRules {
  /** Inline content; a break must come out as "\n". */
  inlines(nodes: Inline[]): string;
  heading(inner: string, level: number): string;
  codeBlock(text: string, language: string | undefined): string;
  /** A quote around its already laid-out content; `depth` is 0 for an outermost quote. */
  quote(inner: string, depth: number): string;
  rule: string;
  /** The marker starting a list item: "• ", "- ", "3. ". */
  bullet(ordered: boolean, n: number): string;
  /** What each further line of a list item starts with (nested lists, continued items). */
  indent: string;
  /** What goes between two blocks at the same level: a line break or an empty line. */
  separator(prev: Block, next: Block): string;
}

/** Blocks laid out as text, no leading or trailing line breaks added. */
export function layoutBlocks(blocks: readonly Block[], rules: LayoutRules, quoteDepth = 0): string {
  let out = "";
  let prev: Block | undefined;
  for (const b of blocks) {
    const text = layoutBlock(b, rules, quoteDepth);
    if (text === "") continue;
    if (prev) out += rules.separator(prev, b);
    out += text;
    prev = b;
  }
  return out;
}

function layoutBlock(b: Block, rules: LayoutRules, quoteDepth: number): string {
  switch (b.kind) {
    case "paragraph":
      return rules.inlines(b.children);
    case "heading": {
      const inner = rules.inlines(b.children);
      return inner.trim() === "" ? "" : rules.heading(inner, b.level);
    }
    case "codeblock":
      return rules.codeBlock(b.text, b.language);
    case "quote": {
      const inner = layoutBlocks(b.children, rules, quoteDepth + 1);
      return inner === "" ? "" : rules.quote(inner, quoteDepth);
    }
    case "rule":
      return rules.rule;
    case "list":
      return b.items
        .map((item, i) => {
          // Inside an item, blocks follow each other line by line: an item stays one compact entry.
          const body = layoutBlocks(item, { ...rules, separator: () => "\n" }, quoteDepth);
          const [first = "", ...rest] = body.split("\n");
          const more = rest.map((line) => (line === "" ? line : rules.indent + line));
          return [rules.bullet(b.ordered, b.start + i) + first, ...more].join("\n");
        })
        .join("\n");
  }
}

/** Prefixes every line: "> " for a quote in markdown-like markup. */
export function prefixLines(text: string, prefix: string): string {
  return text
    .split("\n")
    .map((line) => prefix + line)
    .join("\n");
}

/**
 * `inner` between two markers (`*bold*`), with the spaces at its edges moved outside: marker-based
 * markup does not see a marker next to a space as formatting. Blank content stays unmarked.
 */
export function wrapMarker(inner: string, open: string, close = open): string {
  const core = inner.trim();
  if (core === "") return inner;
  const start = inner.length - inner.trimStart().length;
  return `${inner.slice(0, start)}${open}${core}${close}${inner.slice(start + core.length)}`;
}

/** `text` without line breaks at its start and end (a scan, not a regex: no backtracking on long runs). */
export function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === "\n") start++;
  while (end > start && text[end - 1] === "\n") end--;
  return text.slice(start, end);
}
