/**
 * Matrix message content → Discord markdown. The `formatted_body` (org.matrix.custom.html) is
 * read with a small tag tokenizer: formatting becomes markdown, pills of Discord ghosts become
 * `<@id>`, links to Discord portal rooms become `<#id>`, other pills the person's name, reply
 * fallbacks are dropped and every text run is escaped so that it stays literal on Discord.
 */
import { escapeMarkdown, unescapeHtml } from "./escape";

export interface PillResolver {
  /** Discord user id behind a Matrix user (a Discord ghost), if any. */
  discordUser(mxid: string): string | undefined;
  /** Discord channel id behind a room alias or id, if it is a Discord portal. */
  discordChannel(roomRef: string): string | undefined;
}

export interface DiscordText {
  content: string;
  /** User ids mentioned (for `allowed_mentions`). */
  users: string[];
}

const TAG = /<(\/?)([a-zA-Z0-9-]+)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*(\/?)>/g;

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}(?:\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+)))?`, "i").exec(attrs);
  if (!m) return undefined;
  return unescapeHtml(m[1] ?? m[2] ?? m[3] ?? "");
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

interface Frame {
  tag: string;
  attrs: string;
  out: string;
}

const WRAP: Record<string, string> = {
  strong: "**",
  b: "**",
  em: "*",
  i: "*",
  u: "__",
  del: "~~",
  s: "~~",
  strike: "~~",
};

/** Converts `formatted_body` HTML. */
export function htmlToDiscord(html: string, r: PillResolver): DiscordText {
  const users = new Set<string>();
  const stack: Frame[] = [{ tag: "", attrs: "", out: "" }];
  let pre = 0;
  let code = 0;
  let skip = 0;
  const text = (raw: string): void => {
    if (skip) return;
    const t = unescapeHtml(raw);
    const top = stack[stack.length - 1];
    top.out += pre ? t : code ? t.replace(/\n/g, " ") : escapeMarkdown(t.replace(/\n/g, ""));
  };
  const close = (f: Frame): string => {
    const inner = f.out;
    const tag = f.tag;
    if (WRAP[tag]) return inner.trim() ? `${WRAP[tag]}${inner}${WRAP[tag]}` : inner;
    switch (tag) {
      case "code":
        return pre ? inner : `\`${inner.replace(/`/g, "ˋ")}\``;
      case "pre": {
        const lang = /language-(\w+)/.exec(f.attrs)?.[1] ?? "";
        return `\n\`\`\`${lang}\n${inner.replace(/\n$/, "")}\n\`\`\`\n`;
      }
      case "span":
        return attr(f.attrs, "data-mx-spoiler") !== undefined ? `||${inner}||` : inner;
      case "blockquote":
        return `\n${inner
          .trim()
          .split("\n")
          .map((l) => `> ${l}`)
          .join("\n")}\n`;
      case "h1":
      case "h2":
      case "h3":
        return `\n${"#".repeat(Number(tag[1]))} ${inner}\n`;
      case "h4":
      case "h5":
      case "h6":
        return `\n**${inner}**\n`;
      case "p":
      case "div":
        return `\n${inner}\n`;
      case "li":
        return `\n- ${inner.trim()}`;
      case "ul":
      case "ol":
        return `${inner}\n`;
      case "a": {
        const href = attr(f.attrs, "href") ?? "";
        const pill = /^https:\/\/matrix\.to\/#\/([^?/]+)/.exec(href);
        const target = pill ? safeDecode(pill[1]) : "";
        if (/^[@#!]/.test(target)) {
          if (target.startsWith("@")) {
            const id = r.discordUser(target);
            if (id) {
              users.add(id);
              return `<@${id}>`;
            }
            return inner || target;
          }
          const channel = r.discordChannel(target);
          if (channel) return `<#${channel}>`;
          return inner || target;
        }
        if (!href) return inner;
        const label = inner.trim();
        return label && label !== escapeMarkdown(href) ? `[${label}](${href})` : href;
      }
      default:
        return inner;
    }
  };
  let last = 0;
  const re = new RegExp(TAG.source, "g");
  for (let m = re.exec(html); m; m = re.exec(html)) {
    text(html.slice(last, m.index));
    last = m.index + m[0].length;
    const [, closing, rawTag, attrs, selfClose] = m;
    const tag = rawTag.toLowerCase();
    if (tag === "mx-reply") {
      skip += closing ? -1 : 1;
      continue;
    }
    if (skip) continue;
    if (tag === "br") {
      stack[stack.length - 1].out += "\n";
      continue;
    }
    if (tag === "img") {
      const alt = attr(attrs, "alt") ?? attr(attrs, "title") ?? "";
      stack[stack.length - 1].out += escapeMarkdown(alt);
      continue;
    }
    if (tag === "hr") {
      stack[stack.length - 1].out += "\n───\n";
      continue;
    }
    if (selfClose) continue;
    if (!closing) {
      if (tag === "pre") pre++;
      if (tag === "code") code++;
      if (tag === "code" && pre) {
        const outer = stack.map((x) => x.tag).lastIndexOf("pre");
        if (outer > 0) stack[outer].attrs += attrs;
      }
      stack.push({ tag, attrs, out: "" });
      continue;
    }
    const i = stack.map((f) => f.tag).lastIndexOf(tag);
    if (i <= 0) continue; // a stray closing tag
    while (stack.length > i) {
      const f = stack.pop()!;
      const s = close(f);
      if (f.tag === "pre") pre--;
      if (f.tag === "code") code--;
      stack[stack.length - 1].out += s;
    }
  }
  text(html.slice(last));
  while (stack.length > 1) {
    const f = stack.pop()!;
    stack[stack.length - 1].out += close(f);
  }
  const content = stack[0].out.replace(/\n{3,}/g, "\n\n").trim();
  return { content, users: [...users] };
}

/** Drops a plain-text reply fallback (`> <@user> quoted` lines and the blank line after). */
export function stripReplyFallback(body: string): string {
  if (!body.startsWith("> <")) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith(">")) i++;
  if (lines[i] === "") i++;
  return lines.slice(i).join("\n");
}
