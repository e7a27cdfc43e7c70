/**
 * Matrix `formatted_body` (org.matrix.custom.html) → the document model, with htmlparser2 as the
 * tokenizer and tree rules (implied closes, void elements, character references, unterminated tags
 * as a browser reads them). One pass, no recursion over the input: any nesting depth is safe, and
 * the model's own nesting is capped so renderers can recurse over it.
 */
import { Parser } from "htmlparser2";
import { safeUrl } from "./escape";
import { parseMatrixLink } from "./mentions";
import type { Block, Doc, Inline, MarkKind, Paragraph } from "./model";
import { tidyBlocks } from "./tidy";

/** Quotes and lists nested deeper than this keep their text but not their structure. */
export const MAX_BLOCK_DEPTH = 16;

/** Elements whose content is never text for a reader (and the reply fallback): skipped whole. */
const SKIP = new Set(["mx-reply", "script", "style", "template", "title", "textarea", "head", "noscript"]);
const MARKS: Record<string, MarkKind> = {
  b: "bold",
  strong: "bold",
  i: "italic",
  em: "italic",
  cite: "italic",
  u: "underline",
  ins: "underline",
  s: "strike",
  strike: "strike",
  del: "strike",
  "tg-spoiler": "spoiler",
};
/** Elements that only separate lines: what they hold goes to the surrounding block. */
const BOUNDARY = new Set(
  "div table thead tbody tfoot tr caption dl dt dd details summary section article header footer figure figcaption nav aside main center address hgroup".split(
    " ",
  ),
);
const HEADING = /^h([1-6])$/;
const BLOCKISH = new Set(["p", "blockquote", "pre", "ul", "ol", "li", "hr", ...BOUNDARY]);

/** Where blocks go: the document, a quote or a list item. */
interface Container {
  blocks: Block[];
  /** The paragraph loose text and inline elements go to, until a block starts. */
  loose?: Paragraph;
  /** A list made for `<li>`s outside any list, reused by the next stray `<li>`. */
  strayList?: Extract<Block, { kind: "list" }>;
  depth: number;
}

type Ctx =
  | { kind: "blocks"; c: Container }
  | { kind: "list"; list: Extract<Block, { kind: "list" }>; items: Container[]; depth: number }
  | { kind: "inline"; children: Inline[]; marks: ReadonlySet<string> }
  | { kind: "text"; parts: string[]; pre: boolean; sawContent: boolean; language?: string }
  | { kind: "skip" };

interface Frame {
  name: string;
  /** Where content inside this element goes. */
  ctx: Ctx;
  /** The table row this element is in, counting its cells. */
  row?: { cells: number };
  onClose?: () => void;
}

/** Runs of whitespace holding a line break are formatting, not content: one space, as a browser shows it. */
function collapse(text: string): string {
  return text.replace(/[ \t\f\r\n]*[\r\n][ \t\f\r\n]*/g, " ");
}

function appendText(children: Inline[], text: string): void {
  if (text === "") return;
  const last = children.at(-1);
  if (last?.kind === "text") last.text += text;
  else children.push({ kind: "text", text });
}

function hasContent(children: Inline[]): boolean {
  const last = children.at(-1);
  return last !== undefined && last.kind !== "break";
}

function languageOf(attrs: Record<string, string>): string | undefined {
  return /(?:^|\s)language-([A-Za-z0-9_+#.-]+)/.exec(attrs.class ?? "")?.[1];
}

function listStart(attrs: Record<string, string>): number {
  const start = attrs.start?.trim() ?? "";
  return /^-?\d{1,9}$/.test(start) ? Number(start) : 1;
}

/** Builds the model from htmlparser2's events; one instance per message. */
class DocBuilder {
  private readonly root: Container = { blocks: [], depth: 0 };
  private readonly stack: Frame[] = [{ name: "", ctx: { kind: "blocks", c: this.root } }];

  get doc(): Doc {
    return { blocks: tidyBlocks(this.root.blocks) };
  }

  private get top(): Frame {
    return this.stack.at(-1)!;
  }

  text(raw: string): void {
    const ctx = this.top.ctx;
    switch (ctx.kind) {
      case "skip":
        return;
      case "text":
        ctx.parts.push(ctx.pre ? raw : collapse(raw));
        if (raw !== "") ctx.sawContent = true;
        return;
      case "inline":
        appendText(ctx.children, collapse(raw));
        return;
      case "list":
        if (raw.trim() !== "") appendText(this.loose(this.itemOf(ctx)).children, collapse(raw));
        return;
      case "blocks":
        if (ctx.c.loose || raw.trim() !== "") appendText(this.loose(ctx.c).children, collapse(raw));
    }
  }

  open(name: string, attrs: Record<string, string>): void {
    const parent = this.top;
    const frame: Frame = { name, ctx: parent.ctx, row: parent.row };
    this.stack.push(frame);
    if (SKIP.has(name)) frame.ctx = { kind: "skip" };
    else this.place(frame, name, attrs, parent.ctx);
  }

  close(name: string): void {
    // An unterminated tag at the end of input is closed without having been opened: nothing to pop.
    if (this.stack.length <= 1 || this.top.name !== name) return;
    this.stack.pop()!.onClose?.();
  }

  /** Decides what an element becomes, given where it opens. */
  private place(frame: Frame, name: string, attrs: Record<string, string>, ctx: Ctx): void {
    switch (ctx.kind) {
      case "skip":
        return;
      case "text":
        if (name === "br") ctx.parts.push("\n");
        else if (name === "code" && ctx.pre && !ctx.sawContent) ctx.language ??= languageOf(attrs);
        return;
      case "list":
        if (name === "li") this.listItem(frame, ctx);
        else this.place(frame, name, attrs, { kind: "blocks", c: this.itemOf(ctx) });
        return;
      case "blocks":
        this.placeInBlocks(frame, name, attrs, ctx.c);
        return;
      case "inline":
        this.placeInline(frame, name, attrs, ctx);
    }
  }

  private placeInBlocks(frame: Frame, name: string, attrs: Record<string, string>, c: Container): void {
    const heading = HEADING.exec(name);
    if (name === "p" || heading) {
      c.loose = undefined;
      const block: Block = heading
        ? { kind: "heading", level: Number(heading[1]) as 1 | 2 | 3 | 4 | 5 | 6, children: [] }
        : { kind: "paragraph", children: [] };
      c.blocks.push(block);
      frame.ctx = { kind: "inline", children: block.children, marks: new Set() };
    } else if (name === "blockquote" && c.depth < MAX_BLOCK_DEPTH) {
      c.loose = undefined;
      const quote: Block = { kind: "quote", children: [] };
      c.blocks.push(quote);
      frame.ctx = { kind: "blocks", c: { blocks: quote.children, depth: c.depth + 1 } };
    } else if ((name === "ul" || name === "ol") && c.depth < MAX_BLOCK_DEPTH) {
      c.loose = undefined;
      const list: Block = { kind: "list", ordered: name === "ol", start: listStart(attrs), items: [] };
      c.blocks.push(list);
      frame.ctx = { kind: "list", list, items: [], depth: c.depth + 1 };
    } else if (name === "li" && c.depth < MAX_BLOCK_DEPTH) {
      if (!c.strayList || c.loose || c.blocks.at(-1) !== c.strayList) {
        c.loose = undefined;
        c.strayList = { kind: "list", ordered: false, start: 1, items: [] };
        c.blocks.push(c.strayList);
      }
      this.listItem(frame, { kind: "list", list: c.strayList, items: [], depth: c.depth + 1 });
    } else if (name === "pre") {
      c.loose = undefined;
      const block: Extract<Block, { kind: "codeblock" }> = { kind: "codeblock", text: "" };
      c.blocks.push(block);
      const ctx = {
        kind: "text" as const,
        parts: [],
        pre: true,
        sawContent: false,
        language: languageOf(attrs),
      };
      frame.ctx = ctx;
      frame.onClose = () => {
        block.text = ctx.parts.join("").replace(/\r?\n$/, "");
        if (ctx.language) block.language = ctx.language;
      };
    } else if (name === "hr") {
      c.loose = undefined;
      c.blocks.push({ kind: "rule" });
    } else if (BLOCKISH.has(name)) {
      // A boundary (div, table row, …) or a quote/list past the depth cap: its text becomes lines of the container.
      c.loose = undefined;
      if (name === "tr") frame.row = { cells: 0 };
      frame.onClose = () => {
        c.loose = undefined;
      };
    } else if (name === "br") {
      if (c.loose) c.loose.children.push({ kind: "break" });
    } else if (name === "td" || name === "th") {
      if (frame.row && frame.row.cells++ > 0) appendText(this.loose(c).children, " | ");
    } else if (
      MARKS[name] ||
      name === "a" ||
      name === "code" ||
      name === "img" ||
      this.isSpoiler(name, attrs)
    ) {
      const loose = this.loose(c);
      this.placeInline(frame, name, attrs, { kind: "inline", children: loose.children, marks: new Set() });
    }
    // Anything else (span, font, sup, unknown elements) is transparent: its text lands where it stands.
  }

  private placeInline(
    frame: Frame,
    name: string,
    attrs: Record<string, string>,
    ctx: Extract<Ctx, { kind: "inline" }>,
  ): void {
    const mark = MARKS[name] ?? (this.isSpoiler(name, attrs) ? "spoiler" : undefined);
    if (mark !== undefined) {
      if (ctx.marks.has(mark)) return;
      const node: Inline = { kind: mark, children: [] };
      ctx.children.push(node);
      frame.ctx = { kind: "inline", children: node.children, marks: new Set([...ctx.marks, mark]) };
    } else if (name === "a") {
      this.link(frame, attrs.href ?? "", ctx);
    } else if (name === "code") {
      const code = { kind: "text" as const, parts: [] as string[], pre: false, sawContent: false };
      frame.ctx = code;
      frame.onClose = () => {
        const text = code.parts.join("");
        if (text !== "") ctx.children.push({ kind: "code", text });
      };
    } else if (name === "br") {
      ctx.children.push({ kind: "break" });
    } else if (name === "img") {
      // Custom emoji and inline images: their alt text (":party:") is what a network can show.
      appendText(ctx.children, collapse(attrs.alt ?? attrs.title ?? ""));
    } else if (name === "td" || name === "th") {
      if (frame.row && frame.row.cells++ > 0) appendText(ctx.children, " | ");
    } else if (BLOCKISH.has(name) || HEADING.test(name)) {
      // A block inside inline content (a list in a bold span): its own line, its text kept.
      if (hasContent(ctx.children)) ctx.children.push({ kind: "break" });
      if (name === "li") appendText(ctx.children, "• ");
      if (name === "hr") appendText(ctx.children, "———");
      frame.onClose = () => {
        if (hasContent(ctx.children)) ctx.children.push({ kind: "break" });
      };
    }
  }

  private link(frame: Frame, href: string, ctx: Extract<Ctx, { kind: "inline" }>): void {
    if (ctx.marks.has("link")) return; // no link inside a link: the inner one keeps its text
    const marks = new Set([...ctx.marks, "link"]);
    const pill = parseMatrixLink(href);
    let node: Inline;
    if (pill) node = { kind: "mention", target: pill.target, id: pill.id, children: [] };
    else {
      const url = safeUrl(href);
      if (url === undefined) return;
      node = { kind: "link", href: url, children: [] };
    }
    ctx.children.push(node);
    frame.ctx = { kind: "inline", children: node.children, marks };
  }

  private isSpoiler(name: string, attrs: Record<string, string>): boolean {
    return name === "span" && ("data-mx-spoiler" in attrs || /\btg-spoiler\b/.test(attrs.class ?? ""));
  }

  private listItem(frame: Frame, ctx: Extract<Ctx, { kind: "list" }>): void {
    const item: Container = { blocks: [], depth: ctx.depth };
    ctx.items.push(item);
    ctx.list.items.push(item.blocks);
    frame.ctx = { kind: "blocks", c: item };
  }

  /** The item loose content of a list goes to: the last one, or a new one. */
  private itemOf(ctx: Extract<Ctx, { kind: "list" }>): Container {
    const last = ctx.items.at(-1);
    if (last) return last;
    const item: Container = { blocks: [], depth: ctx.depth };
    ctx.items.push(item);
    ctx.list.items.push(item.blocks);
    return item;
  }

  private loose(c: Container): Paragraph {
    if (!c.loose) {
      c.loose = { kind: "paragraph", children: [], tight: true };
      c.blocks.push(c.loose);
    }
    return c.loose;
  }
}

/**
 * Matrix HTML → document. Never throws: malformed markup is read as a browser would, unsafe links
 * lose their link and keep their text, the reply fallback (`<mx-reply>`) and script/style are dropped.
 */
export function parseMatrixHtml(html: string): Doc {
  const builder = new DocBuilder();
  const parser = new Parser(
    {
      onopentag: (name, attrs) => builder.open(name, attrs),
      onclosetag: (name) => builder.close(name),
      ontext: (text) => builder.text(text),
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  return builder.doc;
}
