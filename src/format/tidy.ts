/**
 * Whitespace as a reader sees it: spaces at the start and end of a line dropped, one `<br>` ending a
 * paragraph dropped (a browser shows no empty line for it), and blocks with nothing visible removed.
 */
import type { Block, Inline } from "./model";

type TextNode = Extract<Inline, { kind: "text" }>;
type Leaf = TextNode | "hard" | "break";

function leaves(nodes: Inline[], out: Leaf[]): Leaf[] {
  for (const n of nodes) {
    if (n.kind === "text") out.push(n);
    else if (n.kind === "break") out.push("break");
    else if (n.kind === "code") out.push("hard");
    else if (n.kind === "mention") {
      // A pill with no label shows its id: content even when the label is blank.
      const before = out.length;
      leaves(n.children, out);
      if (out.length === before) out.push("hard");
    } else leaves(n.children, out);
  }
  return out;
}

function trimLineEdges(nodes: Inline[]): void {
  const seq = leaves(nodes, []);
  let lineStart = true;
  for (const leaf of seq) {
    if (leaf === "break") lineStart = true;
    else if (leaf === "hard") lineStart = false;
    else {
      if (lineStart) leaf.text = leaf.text.replace(/^[ \t]+/, "");
      if (leaf.text !== "") lineStart = false;
    }
  }
  let lineEnd = true;
  for (let i = seq.length - 1; i >= 0; i--) {
    const leaf = seq[i]!;
    if (leaf === "break") lineEnd = true;
    else if (leaf === "hard") lineEnd = false;
    else {
      if (lineEnd) leaf.text = leaf.text.replace(/[ \t]+$/, "");
      if (leaf.text !== "") lineEnd = false;
    }
  }
}

/** Drops empty text nodes and marks or links left with nothing in them. */
function prune(nodes: Inline[]): Inline[] {
  const out: Inline[] = [];
  for (const n of nodes) {
    if (n.kind === "text") {
      if (n.text !== "") out.push(n);
    } else if (n.kind === "break" || n.kind === "code") out.push(n);
    else {
      n.children = prune(n.children);
      const prev = out.at(-1);
      // <b>a</b><b>b</b> is one bold run: marker-based markup cannot show two touching ones.
      if (prev && prev.kind === n.kind && n.kind !== "mention" && n.kind !== "link" && "children" in prev)
        prev.children = prune([...prev.children, ...n.children]);
      else if (n.children.length > 0 || n.kind === "mention") out.push(n);
    }
  }
  return out;
}

function tidyInlines(nodes: Inline[]): Inline[] {
  trimLineEdges(nodes);
  const out = prune(nodes);
  if (out.at(-1)?.kind === "break") out.pop();
  return out;
}

function visible(nodes: Inline[]): boolean {
  return nodes.some((n) =>
    n.kind === "text"
      ? n.text.trim() !== ""
      : n.kind === "break"
        ? false
        : n.kind === "code" || n.kind === "mention" || visible(n.children),
  );
}

/** Tidies blocks in place and returns those with something to show. */
export function tidyBlocks(blocks: Block[]): Block[] {
  const out: Block[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case "paragraph":
      case "heading":
        b.children = tidyInlines(b.children);
        if (visible(b.children)) out.push(b);
        break;
      case "quote":
        b.children = tidyBlocks(b.children);
        if (b.children.length > 0) out.push(b);
        break;
      case "list":
        b.items = b.items.map(tidyBlocks);
        if (b.items.length > 0) out.push(b);
        break;
      case "codeblock":
        if (b.text !== "") out.push(b);
        break;
      case "rule":
        out.push(b);
    }
  }
  return out;
}
