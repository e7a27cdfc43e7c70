import assert from "node:assert/strict";
import { type Doc, MAX_BLOCK_DEPTH, parseMatrixHtml, plainText } from "../../../src/format";

const text = (t: string) => ({ kind: "text", text: t });
const para = (...children: unknown[]) => ({ kind: "paragraph", children });
const tight = (...children: unknown[]) => ({ kind: "paragraph", children, tight: true });

/** Matrix HTML → the document model. */
const CASES: [string, string, Doc["blocks"] | unknown[]][] = [
  ["loose text is a tight paragraph", "hi", [tight(text("hi"))]],
  [
    "marks nest, the same mark twice is one",
    "<b>a <i>b <strong>c</strong></i></b>",
    [tight({ kind: "bold", children: [text("a "), { kind: "italic", children: [text("b c")] }] })],
  ],
  [
    "Element's line breaks: source newlines are not content",
    "one<br />\ntwo\n<br/>\nthree",
    [tight(text("one"), { kind: "break" }, text("two"), { kind: "break" }, text("three"))],
  ],
  [
    "a trailing <br> before a block adds no line",
    'code:<br><pre><code class="language-ts">x\n</code></pre>',
    [tight(text("code:")), { kind: "codeblock", language: "ts", text: "x" }],
  ],
  [
    "pills by matrix.to and matrix: links, percent-encoded or not",
    '<a href="https://matrix.to/#/%40a%3Ahs">A</a><a href="matrix:r/room:hs"></a><a href="https://matrix.to/#/!r:hs/$e">ev</a>',
    [
      tight(
        { kind: "mention", target: "user", id: "@a:hs", children: [text("A")] },
        { kind: "mention", target: "room", id: "#room:hs", children: [] },
        { kind: "link", href: "https://matrix.to/#/!r:hs/$e", children: [text("ev")] },
      ),
    ],
  ],
  [
    "a malformed % escape leaves the id as written",
    '<a href="https://matrix.to/#/@a%zz:hs">A</a>',
    [tight({ kind: "mention", target: "user", id: "@a%zz:hs", children: [text("A")] })],
  ],
  [
    "unsafe links keep their text only; a link inside a link is text",
    '<a href="javascript:x">j</a> <a href="https://e.org">e <a href="https://f.org">f</a></a>',
    [tight(text("j "), { kind: "link", href: "https://e.org", children: [text("e f")] })],
  ],
  [
    "reply fallback, script and comments vanish",
    "<mx-reply><blockquote>old</blockquote></mx-reply><script>x()</script>new<!-- c -->",
    [tight(text("new"))],
  ],
  [
    "nested lists, ordered with start",
    '<ol start="3"><li>a<ul><li>b</li></ul></li><li><p>c</p></li></ol>',
    [
      {
        kind: "list",
        ordered: true,
        start: 3,
        items: [
          [tight(text("a")), { kind: "list", ordered: false, start: 1, items: [[tight(text("b"))]] }],
          [para(text("c"))],
        ],
      },
    ],
  ],
  [
    "headings, quotes, rules and spoilers",
    "<h2>T</h2><blockquote><p>q <span data-mx-spoiler>s</span></p></blockquote><hr>",
    [
      { kind: "heading", level: 2, children: [text("T")] },
      { kind: "quote", children: [para(text("q "), { kind: "spoiler", children: [text("s")] })] },
      { kind: "rule" },
    ],
  ],
  [
    "table rows are lines, cells joined",
    "<table><tr><td>a</td><td>b</td></tr></table>",
    [tight(text("a | b"))],
  ],
  [
    "a block inside inline content is its own line",
    "<b>x<p>y</p>z</b>",
    [
      tight({
        kind: "bold",
        children: [text("x"), { kind: "break" }, text("y"), { kind: "break" }, text("z")],
      }),
    ],
  ],
  ["huge and zero character references", "&#99999999;&#0;&#xD800;&amp", [tight(text("\ufffd\ufffd\ufffd&"))]],
];

describe("format: Matrix HTML → document model", () => {
  for (const [name, html, blocks] of CASES) {
    it(name, () => assert.deepEqual(parseMatrixHtml(html).blocks, blocks));
  }

  it("caps nesting: structure stops at the depth limit, the text stays", () => {
    const depth = MAX_BLOCK_DEPTH * 4;
    const html = `${"<blockquote><ul><li>".repeat(depth)}deep${"</li></ul></blockquote>".repeat(depth)}`;
    const doc = parseMatrixHtml(html);
    let levels = 0;
    let blocks = doc.blocks;
    while (blocks.length === 1 && (blocks[0]!.kind === "quote" || blocks[0]!.kind === "list")) {
      const b = blocks[0]!;
      blocks = b.kind === "quote" ? b.children : b.items[0]!;
      levels++;
    }
    assert.equal(levels, MAX_BLOCK_DEPTH);
    assert.match(plainText(doc), /deep/);
  });

  it("reads 100,000 nested elements without recursion", () => {
    const html = `${"<span><b>".repeat(50_000)}x${"</b></span>".repeat(50_000)}`;
    assert.equal(plainText(parseMatrixHtml(html)), "x");
  });
});
