/**
 * The document model every connector converts through: Matrix HTML is parsed into it once
 * (`parseMatrixHtml`), and each network renders it to its own markup. Small on purpose: what the
 * networks can show, nothing about how HTML spelled it.
 */

/** Inline formatting that wraps other inlines. */
export type MarkKind = "bold" | "italic" | "strike" | "underline" | "spoiler";

export type Inline =
  | { kind: "text"; text: string }
  | { kind: MarkKind; children: Inline[] }
  /** Inline code: its text only, never formatting. May hold "\n" (a `<br>` inside the code). */
  | { kind: "code"; text: string }
  /** A link whose scheme passed `safeUrl`; links inside links are never made. */
  | { kind: "link"; href: string; children: Inline[] }
  /**
   * A pill: a matrix.to (or `matrix:`) link to a user (`@user:hs`) or a room (`#alias:hs`, `!id:hs`).
   * `children` is the label the sender saw, possibly empty.
   */
  | { kind: "mention"; target: "user" | "room"; id: string; children: Inline[] }
  | { kind: "break" };

export interface Paragraph {
  kind: "paragraph";
  children: Inline[];
  /**
   * Text that stood outside any paragraph element (loose text beside a block, a table row): a line of
   * its own, without the blank line some networks put around a real paragraph.
   */
  tight?: boolean;
}

export type Block =
  | Paragraph
  | { kind: "heading"; level: 1 | 2 | 3 | 4 | 5 | 6; children: Inline[] }
  | { kind: "quote"; children: Block[] }
  /** `text` without the final newline Matrix clients put before `</code></pre>`. */
  | { kind: "codeblock"; language?: string; text: string }
  /** Each item is a list of blocks (a nested list is a block of its item). */
  | { kind: "list"; ordered: boolean; start: number; items: Block[][] }
  | { kind: "rule" };

/** A parsed message: its blocks, top to bottom. */
export interface Doc {
  blocks: Block[];
}

/** The text a reader sees in some inlines, formatting dropped, breaks as "\n", pills as their label or id. */
export function inlineText(nodes: readonly Inline[]): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
      case "code":
        out += n.text;
        break;
      case "break":
        out += "\n";
        break;
      case "mention": {
        const label = inlineText(n.children);
        out += label.trim() === "" ? n.id : label;
        break;
      }
      default:
        out += inlineText(n.children);
    }
  }
  return out;
}

/** The text a reader sees in a whole document: blocks on their own lines, list items with their numbers. */
export function plainText(doc: Doc): string {
  return blocksText(doc.blocks);
}

function blockText(b: Block): string {
  switch (b.kind) {
    case "paragraph":
    case "heading":
      return inlineText(b.children);
    case "quote":
      return blocksText(b.children);
    case "codeblock":
      return b.text;
    case "list":
      return b.items
        .map((item, i) => `${b.ordered ? `${b.start + i}.` : "•"} ${blocksText(item)}`)
        .join("\n");
    case "rule":
      return "———";
  }
}

function blocksText(blocks: readonly Block[]): string {
  return blocks.map(blockText).join("\n");
}

/** The ids of every pill in a document (users and rooms), in order. */
export function mentionedIds(doc: Doc): string[] {
  const ids: string[] = [];
  const inl = (nodes: readonly Inline[]): void => {
    for (const n of nodes) {
      if (n.kind === "mention") ids.push(n.id);
      if ("children" in n) inl(n.children);
    }
  };
  const blk = (blocks: readonly Block[]): void => {
    for (const b of blocks) {
      if (b.kind === "paragraph" || b.kind === "heading") inl(b.children);
      else if (b.kind === "quote") blk(b.children);
      else if (b.kind === "list") for (const item of b.items) blk(item);
    }
  };
  blk(doc.blocks);
  return ids;
}
