/**
 * Matrix message → Slack mrkdwn. The formatted body (org.matrix.custom.html) is read with a
 * tolerant tokenizer; text is escaped the way Slack wants (`&`, `<`, `>` as entities), so a
 * Matrix user can never produce a Slack control token by typing one.
 */

/** What the converter needs to know to render mentions. */
export interface HtmlContext {
  /** The Slack user id behind a Matrix user (a Slack ghost of the same workspace), if any. */
  slackUser(mxid: string): string | undefined;
}

export const escapeSlack = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

function decodeEntities(s: string): string {
  return s.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g, (whole, ref: string) => {
    if (ref[0] !== "#") return NAMED[ref.toLowerCase()] ?? whole;
    const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return "\ufffd";
    return String.fromCodePoint(code);
  });
}

interface Node {
  tag: string;
  attrs: Record<string, string>;
  children: Array<Node | string>;
}

const VOID = new Set(["br", "hr", "img"]);
const TAG =
  /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(\/?)>/y;
const ATTR = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

/** A forgiving HTML tree: unknown closers are ignored, unclosed elements end with their parent. */
function parse(html: string): Node {
  const root: Node = { tag: "root", attrs: {}, children: [] };
  const stack: Node[] = [root];
  let i = 0;
  let text = "";
  const top = (): Node => stack[stack.length - 1]!;
  const flush = (): void => {
    if (text) top().children.push(decodeEntities(text));
    text = "";
  };
  while (i < html.length) {
    const lt = html.indexOf("<", i);
    if (lt < 0) {
      text += html.slice(i);
      break;
    }
    text += html.slice(i, lt);
    if (html.startsWith("<!--", lt)) {
      const end = html.indexOf("-->", lt + 4);
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (!m) {
      text += "<";
      i = lt + 1;
      continue;
    }
    flush();
    i = TAG.lastIndex;
    const name = m[2]!.toLowerCase();
    if (m[1]) {
      const at = stack.map((n) => n.tag).lastIndexOf(name);
      if (at > 0) stack.length = at;
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (m[3] ?? "").matchAll(ATTR)) {
      const k = a[1]!.toLowerCase();
      attrs[k] ??= decodeEntities(a[2] ?? a[3] ?? a[4] ?? "");
    }
    const node: Node = { tag: name, attrs, children: [] };
    top().children.push(node);
    if (!VOID.has(name) && !m[4]) stack.push(node);
  }
  flush();
  return root;
}

const textOf = (n: Node | string): string => (typeof n === "string" ? n : n.children.map(textOf).join(""));

/** Wraps `inner` in a mrkdwn mark, keeping surrounding spaces outside (Slack needs that). */
function wrap(inner: string, mark: string): string {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] ? `${m[1]}${mark}${m[2]}${mark}${m[3]}` : inner;
}

function render(n: Node | string, ctx: HtmlContext, inPre = false): string {
  if (typeof n === "string") return inPre ? n : escapeSlack(n.replace(/\n/g, " "));
  const kids = (pre = inPre): string => n.children.map((c) => render(c, ctx, pre)).join("");
  switch (n.tag) {
    case "mx-reply":
    case "script":
    case "style":
      return "";
    case "strong":
    case "b":
      return wrap(kids(), "*");
    case "em":
    case "i":
      return wrap(kids(), "_");
    case "del":
    case "s":
    case "strike":
      return wrap(kids(), "~");
    case "code":
      return inPre ? textOf(n) : `\`${escapeSlack(textOf(n).replace(/`/g, "'"))}\``;
    case "pre":
      return `\n\`\`\`\n${escapeSlack(textOf(n).replace(/\n$/, ""))}\n\`\`\`\n`;
    case "br":
      return "\n";
    case "p":
    case "div":
      return `${kids()}\n`;
    case "h1":
    case "h2":
    case "h3":
    case "h4":
    case "h5":
    case "h6":
      return `${wrap(kids(), "*")}\n`;
    case "blockquote":
      return `${kids()
        .replace(/\n+$/, "")
        .split("\n")
        .map((l) => `&gt; ${l}`)
        .join("\n")}\n`;
    case "li":
      return kids();
    case "ul":
    case "ol": {
      let k = Number(n.attrs.start ?? "1") || 1;
      const items = n.children.filter((c): c is Node => typeof c !== "string" && c.tag === "li");
      return `${items.map((li) => `${n.tag === "ol" ? `${k++}.` : "•"} ${render(li, ctx).trim()}`).join("\n")}\n`;
    }
    case "a": {
      const href = n.attrs.href ?? "";
      const label = kids();
      const pill = /^https:\/\/matrix\.to\/#\/(@[^/?]+)/.exec(href);
      if (pill) {
        const id = ctx.slackUser(decodeURIComponent(pill[1]!));
        return id ? `<@${id}>` : label;
      }
      if (/^https:\/\/matrix\.to\/#\//.test(href) || !/^(https?|mailto):/i.test(href)) return label;
      const url = href.replace(/[<>|]/g, encodeURIComponent);
      return label === escapeSlack(href) ? `<${url}>` : `<${url}|${label.replace(/[|>]/g, "")}>`;
    }
    case "img":
      return escapeSlack(n.attrs.alt ?? n.attrs.title ?? "");
    default:
      return kids();
  }
}

/** Converts a Matrix message (plain body, and the HTML body when there is one). */
export function matrixToMrkdwn(body: string, html: string | undefined, ctx: HtmlContext): string {
  if (html === undefined) return escapeSlack(body);
  return render(parse(html), ctx)
    .replace(/\n{3,}/g, "\n\n")
    .replace(/^\n+|\n+$/g, "");
}
