/**
 * WhatsApp text → the document model. WhatsApp marks `*bold*`, `_italic_`, `~strike~`,
 * ```` ```monospace``` ```` and `` `inline code` ``; a marker counts only at word edges (`2*3*4`
 * stays as it is) and a span ends on its line, as the WhatsApp apps render it. Spans nest
 * properly (`_a *b_ c*` is italic "a *b" then text), and nothing is formatted inside code.
 */
import type { Doc, Inline, MarkKind, Paragraph } from "../../../src/format";

const MARKS: Record<string, MarkKind> = { "*": "bold", _: "italic", "~": "strike" };
/** Spans inside spans deeper than this stay text: three markers can only nest three deep usefully. */
const MAX_NESTING = 8;
const WORD = /\w/;

/** Whether the marker at `i` can open a span: at a word's start, not doubled, content right after it. */
function opens(s: string, i: number, mark: string): boolean {
  const before = s[i - 1];
  if (before !== undefined && (WORD.test(before) || before === mark)) return false;
  const next = s[i + 1];
  if (next === undefined || next === "\n" || next === mark) return false;
  return mark === "`" || !/\s/.test(next);
}

/** Where the span opened at `i` closes: the next marker on the line, if it ends a word. */
function closer(s: string, i: number, mark: string): number {
  let j = i + 1;
  while (j < s.length && s[j] !== mark && s[j] !== "\n") j++;
  if (j >= s.length || s[j] !== mark) return -1;
  if (mark !== "`" && /\s/.test(s[j - 1]!)) return -1;
  const after = s[j + 1];
  return after === undefined || (!WORD.test(after) && after !== mark) ? j : -1;
}

function inlines(s: string, depth: number): Inline[] {
  const out: Inline[] = [];
  let text = "";
  const flush = (): void => {
    if (text !== "") out.push({ kind: "text", text });
    text = "";
  };
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === "\n") {
      flush();
      out.push({ kind: "break" });
      continue;
    }
    const mark = ch === "`" ? "code" : depth < MAX_NESTING ? MARKS[ch] : undefined;
    const end = mark !== undefined && opens(s, i, ch) ? closer(s, i, ch) : -1;
    if (end < 0) {
      text += ch;
      continue;
    }
    flush();
    const inner = s.slice(i + 1, end);
    out.push(
      mark === "code" ? { kind: "code", text: inner } : { kind: mark!, children: inlines(inner, depth + 1) },
    );
    i = end;
  }
  flush();
  return out;
}

/** WhatsApp text → document: monospace blocks set apart first, so markers inside them stay literal. */
export function parseWhatsapp(text: string): Doc {
  const blocks: Doc["blocks"] = [];
  let para: Paragraph = { kind: "paragraph", children: [], tight: true };
  const endParagraph = (): void => {
    if (para.children.length > 0) blocks.push(para);
    para = { kind: "paragraph", children: [], tight: true };
  };
  let last = 0;
  for (const m of text.matchAll(/```([\s\S]+?)```/g)) {
    para.children.push(...inlines(text.slice(last, m.index), 0));
    last = m.index + m[0].length;
    const code = m[1]!;
    if (code.includes("\n")) {
      endParagraph();
      blocks.push({ kind: "codeblock", text: code.replace(/^\n|\n$/g, "") });
    } else para.children.push({ kind: "code", text: code });
  }
  para.children.push(...inlines(text.slice(last), 0));
  endParagraph();
  return { blocks };
}
