/**
 * Hostile inputs for the converters' property tests, and the oracles they are checked against:
 * random Matrix HTML and random platform markup (character references up to huge numbers, deep
 * nesting, malformed and unclosed tags, malformed links and `%` escapes in pill hrefs, NUL and
 * lone surrogates, huge input), and "the words a reader sees".
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Parser } from "htmlparser2";
import { parseMatrixLink, safeUrl } from "../../../src/format";

/** Words: runs of letters and digits. Markers, escapes and whitespace never make or break one. */
export function words(text: string): string[] {
  return text.match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** The first word of `expected` missing from `text`, or undefined when every one is there. */
export function missingWord(expected: string[], text: string): string | undefined {
  return expected.find((w) => !text.includes(w));
}

const HIDDEN = new Set(["mx-reply", "script", "style", "template", "title", "textarea", "head", "noscript"]);

/**
 * The words a Matrix user sees in HTML: text nodes outside the reply fallback and script-like
 * elements, read by htmlparser2's tokenizer on its own (not through the model). A pill's label is
 * left out (networks replace a pill with their own mention), and every element boundary separates
 * words, so a block break can never join two.
 */
export function htmlWords(html: string): string[] {
  const stack: { name: string; hidden: boolean }[] = [];
  const out: string[] = [];
  const hidden = () => stack.at(-1)?.hidden ?? false;
  new Parser({
    onopentag: (name, attrs) =>
      stack.push({
        name,
        hidden:
          hidden() || HIDDEN.has(name) || (name === "a" && parseMatrixLink(attrs.href ?? "") !== undefined),
      }),
    onclosetag: (name) => {
      if (stack.at(-1)?.name === name) stack.pop();
    },
    ontext: (text) => {
      if (!hidden()) out.push(...words(text));
    },
  }).end(html);
  return out;
}

/** The visible text of HTML output (Telegram's, or Matrix's): tags dropped, references decoded, `<br>` a line. */
export function htmlText(html: string): string {
  let out = "";
  new Parser({
    ontext: (text) => {
      out += text;
    },
    onopentag: (name) => {
      if (name === "br") out += "\n";
    },
  }).end(html);
  return out;
}

/** The tags a converter may write into a Matrix `formatted_body`. */
export const MATRIX_TAGS = new Set(
  "strong em u del span a code pre blockquote br p h1 h2 h3 h4 h5 h6 ul ol li hr".split(" "),
);

/** Tags all in `allowed`, each closed explicitly and in order (`br`, `hr` void); link targets safe. */
export function assertWellFormed(out: string, allowed: Set<string>, why: string): void {
  const open: string[] = [];
  const isVoid = (name: string) => name === "br" || name === "hr";
  new Parser({
    onopentag: (name, attrs) => {
      assert.ok(allowed.has(name), `<${name}> ${why}`);
      if (name === "a") assert.ok(safeUrl(attrs.href ?? "") !== undefined, `href ${attrs.href} ${why}`);
      if (!isVoid(name)) open.push(name);
    },
    onclosetag: (name, implied) => {
      if (isVoid(name)) return;
      assert.equal(implied, false, `implied </${name}> in ${JSON.stringify(out.slice(0, 300))} ${why}`);
      assert.equal(open.pop(), name, why);
    },
  }).end(out);
  assert.deepEqual(open, [], why);
}

const WORD = fc.stringMatching(/^[A-Za-z0-9]{1,8}$/);
const JUNK = fc.constantFrom("\0", "\ud800", "\udfff", "\ufffe", "\u00a0", "\t", "\r\n", "\u200b", "é", "😀");

/** A `%` escape, good or broken, for pill hrefs. */
const PERCENT = fc.constantFrom("%40", "%3A", "%", "%zz", "%E0%A4%A", "%25", "%0");

const HREF = fc.oneof(
  fc
    .tuple(fc.constantFrom("@", "#", "!", "%40", ""), WORD, PERCENT, fc.constantFrom(":hs", ":hs/$ev", ""))
    .map(([sigil, w, pct, tail]) => `https://matrix.to/#/${sigil}${w}${pct}${tail}`),
  fc.constantFrom(
    "https://example.org/a?b=1&amp;c=2",
    "javascript:alert(1)",
    "java&#x09;script:x",
    "data:text/html,x",
    "mailto:a@b.org",
    "tg://user?id=1",
    "matrix:u/alice:hs",
    "matrix:r/room%zz:hs",
    "/relative",
    '"><script>x</script>',
    "",
  ),
);

const ENTITY = fc.oneof(
  fc.constantFrom(
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#39;",
    "&nbsp;",
    "&bogus;",
    "&amp",
    "&",
    "&#;",
    "&#x;",
  ),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map((n) => `&#${n};`),
  fc.bigInt({ min: 0n, max: 16n ** 20n }).map((n) => `&#x${n.toString(16)};`),
  fc.constantFrom("&#0;", "&#xD800;", "&#1114111;", "&#1114112;", "&#99999999;"),
);

const OPEN_TAG = fc.oneof(
  fc.constantFrom(
    "<b>",
    "<strong>",
    "<i>",
    "<em>",
    "<u>",
    "<s>",
    "<del>",
    "<strike>",
    "<code>",
    "<pre>",
    '<pre><code class="language-ts">',
    "<p>",
    "<div>",
    "<blockquote>",
    "<ul>",
    '<ol start="3">',
    '<ol start="-99999999999">',
    "<li>",
    "<h1>",
    "<h4>",
    "<br>",
    "<br/>",
    "<hr>",
    "<table>",
    "<tr>",
    "<td>",
    "<span data-mx-spoiler>",
    '<span data-mx-spoiler="why">',
    "<mx-reply>",
    "<script>",
    "<style>",
    '<img alt=":party:">',
    "<font color=red>",
    "<tg-spoiler>",
    "<sup>",
  ),
  HREF.map((h) => `<a href="${h}">`),
  HREF.map((h) => `<a href='${h}'>`),
);
const CLOSE_TAG = fc.constantFrom(
  "</b>",
  "</strong>",
  "</i>",
  "</em>",
  "</u>",
  "</s>",
  "</del>",
  "</code>",
  "</pre>",
  "</p>",
  "</div>",
  "</blockquote>",
  "</ul>",
  "</ol>",
  "</li>",
  "</h1>",
  "</a>",
  "</span>",
  "</mx-reply>",
  "</script>",
  "</td>",
  "</tr>",
  "</table>",
  "</br>",
  "</bogus>",
);
const MALFORMED = fc.constantFrom(
  "<",
  ">",
  "<a href=",
  "<b",
  "</",
  "<!--",
  "-->",
  "<!doctype x>",
  "<?x?>",
  "<<>>",
  '"',
  "'",
  "=",
);

/** One piece of Matrix HTML; words are separated from their neighbours by spaces often enough. */
const HTML_PIECE = fc.oneof(
  { weight: 6, arbitrary: WORD.map((w) => ` ${w} `) },
  { weight: 1, arbitrary: WORD },
  { weight: 5, arbitrary: OPEN_TAG },
  { weight: 4, arbitrary: CLOSE_TAG },
  { weight: 2, arbitrary: ENTITY },
  { weight: 2, arbitrary: JUNK },
  { weight: 1, arbitrary: MALFORMED },
  { weight: 1, arbitrary: fc.constantFrom("\n", " ", "  ") },
);

/** Random Matrix `formatted_body`: a soup of pieces, deeply nested runs, or a huge repetition. */
export const matrixHtml: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.array(HTML_PIECE, { maxLength: 60 }).map((p) => p.join("")) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          "<ul><li>",
          "<blockquote>",
          "<b><i>",
          "<ol><li><p>",
          "<span>",
          '<a href="https://e.org">',
        ),
        fc.integer({ min: 50, max: 5000 }),
        WORD,
      )
      .map(([open, n, w]) => `${open.repeat(n)} ${w} `),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(HTML_PIECE, { minLength: 1, maxLength: 8 }), fc.integer({ min: 100, max: 3000 }))
      .map(([p, n]) => p.join("").repeat(n)),
  },
);

/** Random marker-based markup (Discord, Slack, WhatsApp) from the given pieces. */
export function markup(pieces: string[]): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 6, arbitrary: WORD.map((w) => ` ${w} `) },
    { weight: 2, arbitrary: WORD },
    { weight: 6, arbitrary: fc.constantFrom(...pieces) },
    { weight: 2, arbitrary: JUNK },
    { weight: 1, arbitrary: ENTITY },
    { weight: 2, arbitrary: fc.constantFrom("\n", " ", "\n\n") },
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(piece, { maxLength: 60 }).map((p) => p.join("")) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.integer({ min: 100, max: 2000 }))
        .map(([p, n]) => p.join("").repeat(n)),
    },
  );
}
