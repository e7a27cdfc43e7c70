/**
 * Discord markdown → Matrix: an HTML `formatted_body` and a readable plain `body`.
 * Handles bold, italic, underline, strike, spoiler, inline code, code blocks with a language,
 * block quotes (`>` and `>>>`), headers, masked links, user/channel/role mentions, custom emoji
 * and backslash escapes. Pure: everything about users, channels and roles comes from `names`.
 */
import { escapeHtml, matrixToUrl } from "../../../src/format";

/** What the converter needs to know about the guild. */
export interface MentionResolver {
  /** Display name and Matrix id of a user (`undefined` mxid: no pill). */
  user(id: string): { name: string; mxid?: string };
  /** Channel name and the portal alias of its room (`undefined`: plain text). */
  channel(id: string): { name: string; alias?: string };
  role(id: string): string | undefined;
  /**
   * A custom emoji shown as an image: the inline image id its `<img>` takes as source
   * (`clawbridge-inline:<id>`), or undefined to keep `:name:` as text.
   */
  emoji?(id: string, name: string, animated: boolean): string | undefined;
}

export interface MatrixText {
  body: string;
  /** Set only when the message has formatting that plain text would lose. */
  html?: string;
}

const INLINE =
  /(`+)([\s\S]*?[^`])\1(?!`)|\|\|([\s\S]+?)\|\||\*\*([\s\S]+?)\*\*(?!\*)|__([\s\S]+?)__(?!_)|\*(?=\S)([\s\S]*?\S)\*|(?<![\w])_(?=\S)([\s\S]*?\S)_(?!\w)|~~([\s\S]+?)~~|\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)|<@!?(\d+)>|<#(\d+)>|<@&(\d+)>|<(a?):(\w+):(\d+)>|\\([\\*_~`|>#[\]()-])/g;

const matrixTo = (id: string): string => matrixToUrl(id, "encoded");

/** Spans nested deeper than this keep their text without the markup (no recursion without end). */
const MAX_NESTING = 16;

/** Inline spans of one line group → [html, plain]. */
function inline(s: string, r: MentionResolver, depth = 0): [string, string] {
  if (depth > MAX_NESTING) return [escapeHtml(s), s];
  let html = "";
  let plain = "";
  let last = 0;
  const re = new RegExp(INLINE.source, "g");
  for (let m = re.exec(s); m; m = re.exec(s)) {
    html += escapeHtml(s.slice(last, m.index));
    plain += s.slice(last, m.index);
    last = m.index + m[0].length;
    const wrap = (tag: string, inner: string, attrs = ""): void => {
      const [h, p] = inline(inner, r, depth + 1);
      html += `<${tag}${attrs}>${h}</${tag}>`;
      plain += p;
    };
    if (m[1] !== undefined) {
      const code = m[2].replace(/^ (.*) $/s, "$1");
      html += `<code>${escapeHtml(code)}</code>`;
      plain += m[0];
    } else if (m[3] !== undefined) wrap("span", m[3], " data-mx-spoiler");
    else if (m[4] !== undefined) wrap("strong", m[4]);
    else if (m[5] !== undefined) wrap("u", m[5]);
    else if (m[6] !== undefined) wrap("em", m[6]);
    else if (m[7] !== undefined) wrap("em", m[7]);
    else if (m[8] !== undefined) wrap("del", m[8]);
    else if (m[9] !== undefined) {
      const [h, p] = inline(m[9], r, depth + 1);
      html += `<a href="${escapeHtml(m[10])}">${h}</a>`;
      plain += `${p} (${m[10]})`;
    } else if (m[11] !== undefined) {
      const u = r.user(m[11]);
      html += u.mxid ? `<a href="${matrixTo(u.mxid)}">${escapeHtml(u.name)}</a>` : `@${escapeHtml(u.name)}`;
      plain += u.mxid ? u.name : `@${u.name}`;
    } else if (m[12] !== undefined) {
      const c = r.channel(m[12]);
      html += c.alias
        ? `<a href="${matrixTo(c.alias)}">#${escapeHtml(c.name)}</a>`
        : `#${escapeHtml(c.name)}`;
      plain += `#${c.name}`;
    } else if (m[13] !== undefined) {
      const name = `@${r.role(m[13]) ?? "unknown-role"}`;
      html += escapeHtml(name);
      plain += name;
    } else if (m[15] !== undefined) {
      const image = r.emoji?.(m[16]!, m[15], m[14] === "a");
      const code = escapeHtml(`:${m[15]}:`);
      html += image
        ? `<img data-mx-emoticon height="32" src="clawbridge-inline:${escapeHtml(image)}" alt="${code}" title="${code}">`
        : code;
      plain += `:${m[15]}:`;
    } else if (m[17] !== undefined) {
      html += escapeHtml(m[17]);
      plain += m[17];
    }
  }
  html += escapeHtml(s.slice(last));
  plain += s.slice(last);
  return [html, plain];
}

/** Block structure: code blocks, quotes, headers; the rest line by line. */
function blocks(text: string, r: MentionResolver, depth = 0): [string, string] {
  const html: string[] = [];
  const plain: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const oneLine = line.indexOf("```", 3);
      if (oneLine >= 0) {
        html.push(`<pre><code>${escapeHtml(line.slice(3, oneLine))}</code></pre>`);
        plain.push(line.slice(0, oneLine + 3));
        const rest = line.slice(oneLine + 3);
        if (rest) lines.splice(i + 1, 0, rest);
        continue;
      }
      const end = lines.findIndex((l, j) => j > i && l.includes("```"));
      if (end >= 0) {
        const lang = /^```(\w+)$/.exec(line.trim())?.[1] ?? "";
        const firstLine = lang || line.length === 3 ? [] : [line.slice(3)];
        const fence = lines[end].indexOf("```");
        const last = lines[end].slice(0, fence);
        const body = [...firstLine, ...lines.slice(i + 1, end), ...(last ? [last] : [])].join("\n");
        const cls = lang ? ` class="language-${escapeHtml(lang)}"` : "";
        html.push(`<pre><code${cls}>${escapeHtml(body)}</code></pre>`);
        plain.push([...lines.slice(i, end), lines[end].slice(0, fence + 3)].join("\n"));
        // Text after the closing fence is a line of its own, not part of the code.
        const after = lines[end].slice(fence + 3);
        if (after) lines.splice(end + 1, 0, after);
        i = end;
        continue;
      }
    }
    if (line.startsWith(">>> ")) {
      const rest = [line.slice(4), ...lines.slice(i + 1)].join("\n");
      const [h, p] = depth > MAX_NESTING ? inline(rest, r) : blocks(rest, r, depth + 1);
      html.push(`<blockquote>${h}</blockquote>`);
      plain.push(
        p
          .split("\n")
          .map((l) => `> ${l}`)
          .join("\n"),
      );
      break;
    }
    if (line.startsWith("> ") || line === ">") {
      const quoted: string[] = [];
      while (i < lines.length && (lines[i].startsWith("> ") || lines[i] === ">"))
        quoted.push(lines[i++].slice(2));
      i--;
      const [h, p] =
        depth > MAX_NESTING ? inline(quoted.join("\n"), r) : blocks(quoted.join("\n"), r, depth + 1);
      html.push(`<blockquote>${h}</blockquote>`);
      plain.push(
        p
          .split("\n")
          .map((l) => `> ${l}`)
          .join("\n"),
      );
      continue;
    }
    const header = /^(#{1,3}) (.+)$/.exec(line);
    if (header) {
      const [h, p] = inline(header[2], r);
      html.push(`<h${header[1].length}>${h}</h${header[1].length}>`);
      plain.push(`${header[1]} ${p}`);
      continue;
    }
    const [h, p] = inline(line, r);
    html.push(`${h}\n`);
    plain.push(p);
  }
  const joined = html.join("").replace(/\n$/, "").replace(/\n/g, "<br>");
  return [joined, plain.join("\n")];
}

/** Converts a Discord message's content. */
export function discordToMatrix(content: string, r: MentionResolver): MatrixText {
  const [html, body] = blocks(content, r);
  const plainHtml = escapeHtml(body).replace(/\n/g, "<br>");
  return html === plainHtml ? { body } : { body, html };
}
