/**
 * Matrix message content → Discord markdown: the document model (src/format) rendered with
 * Discord's markers, pills of Discord ghosts as `<@id>`, links to Discord portal rooms as `<#id>`,
 * other pills as the person's name, and every text run escaped so that it stays literal on Discord.
 */
import {
  type Block,
  type Inline,
  type LayoutRules,
  layoutBlocks,
  parseMatrixHtml,
  urlScheme,
  wrapMarker,
} from "../../../src/format";
import { escapeMarkdown } from "./escape";

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

const MARKERS = { bold: "**", italic: "*", underline: "__", strike: "~~", spoiler: "||" } as const;

function inlines(nodes: Inline[], r: PillResolver, users: Set<string>): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += escapeMarkdown(n.text);
        break;
      case "break":
        out += "\n";
        break;
      case "code":
        out += `\`${n.text.replace(/`/g, "ˋ").replace(/\n/g, " ")}\``;
        break;
      case "link": {
        const label = inlines(n.children, r, users).trim();
        if (!/^https?$/.test(urlScheme(n.href))) out += label ? `${label} (${n.href})` : n.href;
        else out += label && label !== escapeMarkdown(n.href) ? `[${label}](${n.href})` : n.href;
        break;
      }
      case "mention": {
        const id = n.target === "user" ? r.discordUser(n.id) : r.discordChannel(n.id);
        if (id !== undefined && n.target === "user") users.add(id);
        const label = inlines(n.children, r, users);
        out += id !== undefined ? `<${n.target === "user" ? "@" : "#"}${id}>` : label || escapeMarkdown(n.id);
        break;
      }
      default:
        out += wrapMarker(inlines(n.children, r, users), MARKERS[n.kind]);
    }
  }
  return out;
}

/** An empty line between blocks, a line break next to loose text. */
function separator(prev: Block, next: Block): "\n" | "\n\n" {
  return (prev.kind === "paragraph" && prev.tight) || (next.kind === "paragraph" && next.tight)
    ? "\n"
    : "\n\n";
}

/** Converts `formatted_body` HTML. Never throws; the caller splits what is over Discord's 2000 characters. */
export function htmlToDiscord(html: string, r: PillResolver): DiscordText {
  const users = new Set<string>();
  const rules: LayoutRules = {
    inlines: (nodes) => inlines(nodes, r, users),
    heading: (inner, level) => (level <= 3 ? `${"#".repeat(level)} ${inner}` : `**${inner}**`),
    codeBlock: (text, language) => `\`\`\`${/^\w+/.exec(language ?? "")?.[0] ?? ""}\n${text}\n\`\`\``,
    quote: () => ({ open: "", close: "", prefix: "> " }),
    rule: "───",
    bullet: (ordered, n) => (ordered ? `${n}. ` : "- "),
    indent: "  ",
    separator,
  };
  const content = layoutBlocks(parseMatrixHtml(html).blocks, rules).trim();
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
