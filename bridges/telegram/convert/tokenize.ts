/** One piece of tolerantly tokenized HTML; text is already entity-decoded. */
export type HtmlToken =
  | { kind: "text"; text: string }
  | { kind: "open"; name: string; attrs: Map<string, string>; selfClosing: boolean }
  | { kind: "close"; name: string };

/** Elements whose content is never text for a reader; skipped whole. */
const RAW_SKIP = new Set(["script", "style", "template", "title", "textarea"]);

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decode the character references Matrix clients emit; unknown ones stay as written. */
export function decodeEntities(s: string): string {
  return s.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g, (whole, ref: string) => {
    if (ref[0] !== "#") return NAMED[ref.toLowerCase()] ?? whole;
    const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    // Out of range, a surrogate or NUL: replace rather than throw from fromCodePoint.
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return "\ufffd";
    return String.fromCodePoint(code);
  });
}

// Sticky, and `<` may not start an attribute name, so "<a <a <a …" fails fast instead of scanning to the end.
const TAG =
  /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(\/?)>/y;
const ATTR = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function parseAttrs(src: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const m of src.matchAll(ATTR)) {
    const name = m[1]!.toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ""));
  }
  return attrs;
}

/**
 * Split HTML into text, open and close tokens. Never throws: a `<` that does not start a well-formed tag is
 * text, comments and doctype-like `<!...>` vanish, and script/style content is dropped.
 */
export function tokenizeHtml(html: string): HtmlToken[] {
  const tokens: HtmlToken[] = [];
  let text = "";
  const flushText = (): void => {
    if (text !== "") tokens.push({ kind: "text", text: decodeEntities(text) });
    text = "";
  };
  let lower: string | undefined;
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf("<", i);
    if (lt < 0) {
      text += html.slice(i);
      break;
    }
    text += html.slice(i, lt);
    i = lt;
    if (html.startsWith("<!--", lt)) {
      const end = html.indexOf("-->", lt + 4);
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    if (html.startsWith("<!", lt) || html.startsWith("<?", lt)) {
      const end = html.indexOf(">", lt);
      i = end < 0 ? html.length : end + 1;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (!m) {
      text += "<";
      i = lt + 1;
      continue;
    }
    flushText();
    const name = m[2]!.toLowerCase();
    i = lt + m[0].length;
    if (m[1] === "/") {
      tokens.push({ kind: "close", name });
      continue;
    }
    if (RAW_SKIP.has(name)) {
      lower ??= html.toLowerCase();
      const end = lower.indexOf(`</${name}`, i);
      const close = end < 0 ? -1 : html.indexOf(">", end);
      i = close < 0 ? html.length : close + 1;
      continue;
    }
    tokens.push({ kind: "open", name, attrs: parseAttrs(m[3] ?? ""), selfClosing: m[4] === "/" });
  }
  flushText();
  return tokens;
}
