import { escapeHtml, safeUrl } from "./escape";
import { type HtmlToken, tokenizeHtml } from "./tokenize";

export { escapeHtml } from "./escape";

/** The parts of a Matrix `m.room.message` content that carry text. */
export interface MatrixTextContent {
  body: string;
  format?: string;
  formatted_body?: string;
}

/** What `matrixToTelegramHtml` needs from its caller. */
export interface MatrixToTelegramOptions {
  /** The Telegram user behind a ghost mxid, or undefined when the mxid is not a Telegram ghost. */
  pillToTelegramUser(mxid: string): { id: number; name: string } | undefined;
}

/** An open source element and what it turned into on the Telegram side. */
interface Frame {
  name: string;
  /** Emitted on close; "" when the element was dropped and only its text is kept. */
  close: string;
  /** Index in `out` just after the emitted opening tag, to inspect a link's content on close. */
  at: number;
  block: boolean;
  tg?: "code" | "pre" | "a" | "blockquote";
  link?: { href: string } | { pillName: string };
  list?: { ordered: boolean; next: number };
  cells?: number;
}

/** Opening and closing Telegram markup for one element; empty strings when only its text is kept. */
interface Markup {
  open: string;
  close: string;
  frame?: Partial<Frame>;
}
const DROP: Markup = { open: "", close: "" };

const INLINE: Record<string, string> = {
  b: "b",
  strong: "b",
  i: "i",
  em: "i",
  u: "u",
  ins: "u",
  s: "s",
  strike: "s",
  del: "s",
  "tg-spoiler": "tg-spoiler",
};
const BLOCKS = new Set(
  "p div blockquote pre ul ol li h1 h2 h3 h4 h5 h6 table thead tbody tfoot tr dl dt dd details summary section article header footer figure figcaption".split(
    " ",
  ),
);
const PARAGRAPHS = new Set(["p", "ul", "ol"]);
const VOID = new Set("br hr img input meta wbr col source track area embed param link base".split(" "));
const MATRIX_TO = /^https:\/\/matrix\.to\/#\/([^?]*)/;

/** Renders tokens into Telegram's HTML parse_mode subset; one instance per message. */
class TelegramHtmlWriter {
  private readonly out: string[] = [];
  private readonly stack: Frame[] = [];
  /** Newlines already ending the output; Infinity at the start and right after a block opens. */
  private trailing = Number.POSITIVE_INFINITY;
  /** Newlines the next visible content must be preceded by. */
  private pending = 0;
  private skipReply = 0;

  constructor(private readonly opts: MatrixToTelegramOptions) {}

  write(tokens: HtmlToken[]): string {
    for (const token of tokens) {
      if (token.kind === "open" && token.name === "mx-reply") this.skipReply++;
      else if (token.kind === "close" && token.name === "mx-reply")
        this.skipReply = Math.max(0, this.skipReply - 1);
      else if (this.skipReply > 0) continue;
      else if (token.kind === "text") this.text(token.text);
      else if (token.kind === "open") this.open(token.name, token.attrs, token.selfClosing);
      else this.close(token.name);
    }
    while (this.stack.length > 0) this.closeFrame(this.stack.pop()!);
    return this.out.join("").replace(/^\n+|\n+$/g, "");
  }

  private inside(tg: Frame["tg"]): boolean {
    return this.stack.some((f) => f.tg === tg);
  }

  private get inCode(): boolean {
    return this.inside("code") || this.inside("pre");
  }

  private flush(): void {
    if (this.pending > 0 && this.trailing !== Number.POSITIVE_INFINITY && this.pending > this.trailing) {
      this.out.push("\n".repeat(this.pending - this.trailing));
      this.trailing = this.pending;
    }
    this.pending = 0;
  }

  private emitText(raw: string): void {
    if (raw === "") return;
    this.flush();
    this.out.push(escapeHtml(raw));
    const tail = /\n*$/.exec(raw)![0].length;
    this.trailing =
      tail === raw.length && this.trailing !== Number.POSITIVE_INFINITY ? this.trailing + tail : tail;
  }

  private text(raw: string): void {
    // Outside pre, source newlines are formatting whitespace (Element writes "<br />\n"); <br> and blocks break lines.
    this.emitText(
      this.inside("pre")
        ? raw
        : raw
            .replace(/^[ \t\r\n]*\n[ \t\r\n]*/, "")
            .replace(/[ \t\r\n]*\n[ \t\r\n]*$/, "")
            .replace(/[ \t\r]*\n[ \t\r\n]*/g, " "),
    );
  }

  private push(name: string, m: Markup): void {
    const block = BLOCKS.has(name);
    if (block) this.pending = Math.max(this.pending, 1);
    if (m.open !== "") {
      this.flush();
      this.out.push(m.open);
      if (block) this.trailing = Number.POSITIVE_INFINITY;
    }
    this.stack.push({ name, close: m.close, at: this.out.length, block, ...m.frame });
  }

  private open(name: string, attrs: Map<string, string>, selfClosing: boolean): void {
    if (VOID.has(name)) {
      this.voidElement(name, attrs);
    } else if (name === "li") {
      this.listItem();
    } else if (!selfClosing) {
      if (name === "td" || name === "th") this.cellSeparator();
      this.push(name, this.markup(name, attrs));
    }
  }

  /** What an element becomes in Telegram HTML, given where it sits. */
  private markup(name: string, attrs: Map<string, string>): Markup {
    const inCode = this.inCode;
    const tag = INLINE[name];
    if (tag !== undefined) return inCode ? DROP : { open: `<${tag}>`, close: `</${tag}>` };
    switch (name) {
      case "span": {
        const spoiler = attrs.has("data-mx-spoiler") || /\btg-spoiler\b/.test(attrs.get("class") ?? "");
        return spoiler && !inCode ? { open: "<tg-spoiler>", close: "</tg-spoiler>" } : DROP;
      }
      case "code": {
        const top = this.stack.at(-1);
        if (top?.tg === "pre" && this.out.length === top.at) {
          const lang = /(?:^|\s)language-([A-Za-z0-9_+#.-]+)/.exec(attrs.get("class") ?? "")?.[1];
          if (lang)
            return { open: `<code class="language-${lang}">`, close: "</code>", frame: { tg: "code" } };
        }
        return inCode ? DROP : { open: "<code>", close: "</code>", frame: { tg: "code" } };
      }
      case "pre":
        return inCode ? DROP : { open: "<pre>", close: "</pre>", frame: { tg: "pre" } };
      case "blockquote":
        return inCode || this.inside("blockquote")
          ? DROP
          : { open: "<blockquote>", close: "</blockquote>", frame: { tg: "blockquote" } };
      case "a":
        return this.link(attrs.get("href") ?? "");
      case "ul":
      case "ol": {
        const start = Number.parseInt(attrs.get("start") ?? "1", 10);
        const list = { ordered: name === "ol", next: Number.isFinite(start) ? start : 1 };
        return { ...DROP, frame: { list } };
      }
      default:
        return /^h[1-6]$/.test(name) && !inCode ? { open: "<b>", close: "</b>" } : DROP;
    }
  }

  private cellSeparator(): void {
    const row = this.stack.findLast((f) => f.name === "tr");
    if (row) row.cells = (row.cells ?? 0) + 1;
    if ((row?.cells ?? 1) > 1) this.emitText(" | ");
  }

  private voidElement(name: string, attrs: Map<string, string>): void {
    if (name === "br") {
      this.flush();
      this.out.push("\n");
      if (this.trailing !== Number.POSITIVE_INFINITY) this.trailing++;
    } else if (name === "img") {
      // Custom emoji and inline images: their alt text (":party:") is the best Telegram can show.
      this.emitText(attrs.get("alt") ?? attrs.get("title") ?? "");
    } else if (name === "hr") {
      this.pending = Math.max(this.pending, 1);
      this.emitText("———");
      this.pending = 1;
    }
  }

  private link(href: string): Markup {
    if (this.inCode || this.inside("a")) return DROP;
    const target = MATRIX_TO.exec(href)?.[1];
    if (target !== undefined) {
      let id = target;
      try {
        id = decodeURIComponent(target);
      } catch {
        // Keep the raw form; a malformed escape just won't match a ghost.
      }
      if (id.startsWith("@")) {
        const user = this.opts.pillToTelegramUser(id);
        if (!user) return DROP;
        const frame: Partial<Frame> = { tg: "a", link: { pillName: user.name } };
        return { open: `<a href="tg://user?id=${user.id}">`, close: "</a>", frame };
      }
      if (id.startsWith("#")) return DROP;
    }
    const url = safeUrl(href);
    if (url === undefined) return DROP;
    return { open: `<a href="${escapeHtml(url)}">`, close: "</a>", frame: { tg: "a", link: { href: url } } };
  }

  private listItem(): void {
    const lists = this.stack.filter((f) => f.list !== undefined);
    const list = lists.at(-1)?.list;
    this.push("li", DROP);
    const indent = "  ".repeat(Math.max(0, lists.length - 1));
    this.emitText(list?.ordered ? `${indent}${list.next++}. ` : `${indent}• `);
    // The bullet starts the item's line: a <p> inside a loose list item must not break it again.
    this.trailing = Number.POSITIVE_INFINITY;
  }

  private close(name: string): void {
    let i = this.stack.length - 1;
    while (i >= 0 && this.stack[i]!.name !== name) i--;
    if (i < 0) return; // a stray close tag: nothing to close
    while (this.stack.length > i) this.closeFrame(this.stack.pop()!);
  }

  private closeFrame(frame: Frame): void {
    const last = this.out.length - 1;
    // Matrix code blocks end with a newline Telegram would show as an empty line.
    if ((frame.tg === "pre" || frame.tg === "code") && last >= frame.at && this.out[last]!.endsWith("\n")) {
      this.out[last] = this.out[last]!.slice(0, -1);
    }
    if (frame.link !== undefined) {
      const content = this.out.slice(frame.at).join("");
      if ("pillName" in frame.link && content.trim() === "") this.emitText(frame.link.pillName);
      // A link showing its own URL: Telegram links it by itself, so send it as text.
      if ("href" in frame.link && content === escapeHtml(frame.link.href)) {
        this.out.splice(frame.at - 1, 1);
        return;
      }
    }
    if (frame.close !== "") {
      this.out.push(frame.close);
      if (frame.block) this.trailing = 0;
    }
    // Paragraphs and whole lists are followed by a blank line; other blocks (li, quote, pre) by a line break.
    if (frame.block) this.pending = PARAGRAPHS.has(frame.name) ? Math.max(this.pending, 2) : 1;
  }
}

/**
 * Matrix message content → text for Telegram's `parse_mode: "HTML"`: supported tags normalised (b, i, u, s,
 * tg-spoiler, a, code, pre, blockquote), everything else reduced to its text, lists and headings spelled out,
 * the reply fallback dropped, ghost pills turned into `tg://user?id=` mentions. Never throws: anything it cannot
 * handle comes out as the escaped plain body.
 */
export function matrixToTelegramHtml(content: MatrixTextContent, opts: MatrixToTelegramOptions): string {
  const plain = escapeHtml(content.body ?? "");
  if (content.format !== "org.matrix.custom.html" || typeof content.formatted_body !== "string") return plain;
  try {
    const html = new TelegramHtmlWriter(opts).write(tokenizeHtml(content.formatted_body));
    return html.trim() === "" ? plain : html;
  } catch {
    return plain;
  }
}
