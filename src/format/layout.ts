/**
 * Laying blocks out as lines of text, for networks whose markup is text with markers (Discord,
 * Slack, WhatsApp, and Telegram's HTML with its line breaks). The network gives the pieces it
 * writes differently; order, list numbering, nesting indentation and spacing rules are here once.
 */
import type { Block, Inline } from "./model";

/** How a network marks a quote: around it (`<blockquote>`), or at the start of each line (`> `). */
export interface QuoteMarkup {
  open: string;
  close: string;
  prefix: string;
}

/** How one network writes each kind of block. */
export interface LayoutRules {
  /** Inline content; a break must come out as "\n". */
  inlines(nodes: Inline[]): string;
  heading(inner: string, level: number): string;
  codeBlock(text: string, language: string | undefined): string;
  /**
   * Whether a code block's lines after its first are its content (Telegram's `<pre>`), never indented
   * in a list item; with fences (```` ``` ````) the indentation is markup and applies.
   */
  verbatimCode?: boolean;
  /** How a quote is marked; `depth` is 0 for an outermost quote. */
  quote(depth: number): QuoteMarkup;
  rule: string;
  /** The marker starting a list item: "• ", "- ", "3. ". */
  bullet(ordered: boolean, n: number): string;
  /** What each further line of a list item starts with (nested lists, continued items). */
  indent: string;
  /** What goes between two blocks at the same level: a line break or an empty line. */
  separator(prev: Block, next: Block): "\n" | "\n\n";
}

interface Line {
  text: string;
  /** Content of a code block: no indentation goes in front of it. */
  verbatim?: boolean;
}

const toLines = (text: string): Line[] => (text === "" ? [] : text.split("\n").map((t) => ({ text: t })));

/** Blocks laid out as text, no leading or trailing line breaks added. */
export function layoutBlocks(blocks: readonly Block[], rules: LayoutRules): string {
  return linesOf(blocks, rules, 0, false)
    .map((l) => l.text)
    .join("\n");
}

/** Inside a list item (`compact`), blocks follow each other line by line: an item stays one entry. */
function linesOf(blocks: readonly Block[], rules: LayoutRules, quoteDepth: number, compact: boolean): Line[] {
  const out: Line[] = [];
  let prev: Block | undefined;
  for (const b of blocks) {
    const lines = blockLines(b, rules, quoteDepth);
    if (lines.length === 0) continue;
    if (prev && !compact && rules.separator(prev, b) === "\n\n") out.push({ text: "" });
    out.push(...lines);
    prev = b;
  }
  return out;
}

function blockLines(b: Block, rules: LayoutRules, quoteDepth: number): Line[] {
  switch (b.kind) {
    case "paragraph":
      return toLines(rules.inlines(b.children));
    case "heading": {
      const inner = rules.inlines(b.children);
      return inner.trim() === "" ? [] : toLines(rules.heading(inner, b.level));
    }
    case "codeblock": {
      const lines = toLines(rules.codeBlock(b.text, b.language));
      if (rules.verbatimCode) for (const l of lines.slice(1)) l.verbatim = true;
      return lines;
    }
    case "quote": {
      const lines = linesOf(b.children, rules, quoteDepth + 1, false);
      if (lines.length === 0) return [];
      const q = rules.quote(quoteDepth);
      for (const l of lines) l.text = q.prefix + l.text;
      lines[0]!.text = q.open + lines[0]!.text;
      lines.at(-1)!.text += q.close;
      return lines;
    }
    case "rule":
      return [{ text: rules.rule }];
    case "list":
      return b.items.flatMap((item, i) => {
        const [first, ...rest] = linesOf(item, rules, quoteDepth, true);
        const bullet = rules.bullet(b.ordered, b.start + i);
        const head = { text: bullet + (first?.text ?? ""), verbatim: first?.verbatim };
        return [
          head,
          ...rest.map((l) => (l.verbatim || l.text === "" ? l : { text: rules.indent + l.text })),
        ];
      });
  }
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
